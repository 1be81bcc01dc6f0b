"""Deterministic synthetic cities: communities, compounds, buildings, dwellings and residents.

Everything is generated from a seed (an ``int`` or a :class:`numpy.random.Generator`); the same
seed gives the same frames and byte-identical files. Geometry is in metres, CGCS2000 / 3-degree
Gauss-Krüger CM 111°E (EPSG:4546); ``frame.to_crs("EPSG:4490")`` gives storage coordinates.

- :func:`generate_street` — the sample street 中山东路街道 (Hohhot) that
  ``sample_shapefiles/generate.py`` writes: layers, dwellings and residents.
- :func:`generate_city` — a Hohhot-sized city (``n_communities=500``: ~170,000 buildings,
  ~2 million dwellings) for benchmarks; ``city.dwellings(seed)`` and
  ``city.iter_persons(dwellings, seed)`` add dwellings and stream residents chunk by chunk.
- :func:`iter_persons` — residents of any dwellings frame from
  :func:`geo.synth.dwellings.make_dwellings`, one DataFrame per chunk.

Modules: ``layout`` (road grid, blocks, community tiling), ``buildings`` (footprints),
``plan`` (one community's compounds and buildings), ``street`` / ``city`` (the two areas),
``dwellings``, ``people``, ``names``, ``address``, ``idnumbers``, ``divisions`` (the division
codes file), ``bad`` (faulty records with expected outcomes), ``export`` (GBK shapefiles).
"""

from geo.synth.city import City, generate_city
from geo.synth.dwellings import make_dwellings
from geo.synth.people import iter_persons
from geo.synth.street import Sample, generate_street, generate_street_layout

__all__ = [
    "City",
    "Sample",
    "generate_city",
    "generate_street",
    "generate_street_layout",
    "iter_persons",
    "make_dwellings",
]
