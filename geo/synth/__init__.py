"""Deterministic synthetic cities: communities, compounds, buildings, dwellings and residents.

Everything is generated from a seed (an ``int`` or a :class:`numpy.random.Generator`); the same
seed gives the same frames and byte-identical files. Geometry is in metres, CGCS2000 / 3-degree
Gauss-Krüger CM 111°E (EPSG:4546); ``to_crs("EPSG:4490")`` gives storage coordinates.

- :func:`generate_street` — the sample street 中山东路街道 (Hohhot) written to ``sample_shapefiles/``.
- :func:`iter_persons` — residents of a dwellings frame, chunk by chunk.
"""

from geo.synth.people import iter_persons
from geo.synth.street import generate_street, generate_street_layout

__all__ = ["generate_street", "generate_street_layout", "iter_persons"]
