"""Read vector layers as planners receive them: Shapefile (.shp or .zip), GeoPackage, GeoJSON.

Shapefile attribute encodings: a ``.cpg`` file is honoured; without one the ``.dbf`` bytes are
decoded as UTF-8 and, when that fails, as GBK (GB18030, its superset), and the choice is reported.
Every layer must carry a CRS (a ``.prj`` for shapefiles) unless the caller names one.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pyogrio

from geo.errors import InvalidInput

SUPPORTED = (".shp", ".zip", ".gpkg", ".geojson", ".json")

#: words in a file or layer name that tell which kind of layer it is
KIND_HINTS: dict[str, tuple[str, ...]] = {
    "communities": ("communit", "社区", "sq", "village", "嘎查"),
    "compounds": ("compound", "小区", "xq", "estate"),
    "buildings": ("building", "楼", "jz", "fw", "房屋", "建筑", "bldg"),
}


@dataclass
class Layer:
    """One layer read from a file, with what we learnt while reading it."""

    source: str
    name: str
    frame: gpd.GeoDataFrame
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


def _dbf_text_bytes(raw: bytes) -> bytes:
    """The bytes of a .dbf that hold text: field names and records (header numbers skipped)."""
    if len(raw) < 32:
        return b""
    header_len = struct.unpack("<H", raw[8:10])[0]
    names = b"".join(raw[i : i + 11].split(b"\0", 1)[0] for i in range(32, header_len - 1, 32))
    return names + raw[header_len:]


def detect_encoding(dbf_bytes: bytes) -> str:
    """Return ``UTF-8`` when the text decodes as UTF-8, else ``GBK`` when it decodes as GB18030."""
    text = _dbf_text_bytes(dbf_bytes)
    if all(b < 0x80 for b in text[:1_000_000]) and all(b < 0x80 for b in text):
        return "UTF-8"
    try:
        text.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        text.decode("gb18030")
        return "GBK"
    except UnicodeDecodeError:
        raise InvalidInput(
            "the .dbf attribute table is neither UTF-8 nor GBK: add a .cpg file naming its encoding"
        ) from None


def _shapefile_encoding(path: Path, member: str | None = None) -> tuple[str | None, str]:
    """(encoding to pass to GDAL, how we know it) for a shapefile on disk or inside a zip."""
    stem_cpg = (member or str(path))[: -len(".shp")] + ".cpg"
    stem_dbf = (member or str(path))[: -len(".shp")] + ".dbf"
    if member is None:
        cpg = Path(stem_cpg)
        if cpg.exists():
            return cpg.read_text(errors="replace").strip() or None, ".cpg"
        dbf = Path(stem_dbf)
        if not dbf.exists():
            raise InvalidInput(f"{path}: the .dbf attribute table is missing")
        return detect_encoding(dbf.read_bytes()), "detected (no .cpg)"
    with zipfile.ZipFile(path) as zf:
        names = {n.lower(): n for n in zf.namelist()}
        if stem_cpg.lower() in names:
            return zf.read(names[stem_cpg.lower()]).decode(errors="replace").strip() or None, ".cpg"
        if stem_dbf.lower() not in names:
            raise InvalidInput(f"{path}: {Path(stem_dbf).name} is missing from the zip")
        return detect_encoding(zf.read(names[stem_dbf.lower()])), "detected (no .cpg)"


def _normalise_encoding(enc: str | None) -> str | None:
    if enc is None:
        return None
    e = enc.strip().upper().replace("_", "-")
    aliases = {
        "936": "GBK",
        "CP936": "GBK",
        "GB2312": "GBK",
        "GB18030": "GB18030",
        "UTF8": "UTF-8",
        "65001": "UTF-8",
    }
    return aliases.get(e, e)


def list_layers(path: str | Path) -> list[tuple[str, str | None]]:
    """(dataset path for GDAL, layer name) of every layer in ``path``."""
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED:
        raise InvalidInput(f"{p}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED)}")
    if suffix == ".zip":
        with zipfile.ZipFile(p) as zf:
            shps = sorted(n for n in zf.namelist() if n.lower().endswith(".shp"))
        if not shps:
            raise InvalidInput(f"{p}: the zip holds no .shp file")
        return [(f"/vsizip/{p.resolve()}/{m}", None) for m in shps]
    try:
        layers = pyogrio.list_layers(p)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InvalidInput(f"{p}: cannot be opened as a vector file ({exc})") from None
    return [(str(p), str(name)) for name, _geom in layers]


def read_layer(dataset: str, layer: str | None = None, *, crs: str | None = None) -> Layer:
    """Read one layer; raise :class:`InvalidInput` with a clear reason when it cannot be used."""
    encoding, how = None, None
    notes: list[str] = []
    if dataset.startswith("/vsizip/"):
        zip_part, member = dataset[len("/vsizip/") :].split(".zip/", 1)
        encoding, how = _shapefile_encoding(Path(zip_part + ".zip"), member)
    elif dataset.lower().endswith(".shp"):
        encoding, how = _shapefile_encoding(Path(dataset))
    encoding = _normalise_encoding(encoding)
    if encoding:
        notes.append(f"encoding {encoding} ({how})")
    try:
        frame = pyogrio.read_dataframe(dataset, layer=layer, encoding=encoding, use_arrow=True)
    except Exception as exc:
        raise InvalidInput(f"{dataset}: cannot be read ({str(exc).splitlines()[0]})") from None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry is None:
        raise InvalidInput(f"{dataset}: layer {layer or ''} has no geometry")
    if frame.crs is None:
        if crs is None:
            raise InvalidInput(
                f"{dataset}: no coordinate reference system (.prj missing?); name it with --crs, e.g. --crs EPSG:4546"
            )
        frame = frame.set_crs(crs)
        notes.append(f"CRS {crs} (given)")
    else:
        epsg = frame.crs.to_epsg()
        notes.append(f"CRS {'EPSG:' + str(epsg) if epsg else frame.crs.name}")
    name = layer or Path(dataset).stem
    return Layer(source=dataset, name=name, frame=frame, encoding=encoding, notes=notes)


def guess_kind(dataset: str, layer: str | None) -> str | None:
    """Guess the layer kind from its layer or file name."""
    text = f"{layer or ''} {Path(dataset).stem}".lower()
    for kind, hints in KIND_HINTS.items():
        if any(h in text for h in hints):
            return kind
    return None
