"""Validate and normalise a layer before it is loaded: fields, geometry, CRS, containment.

Pure (no database): the communities and compounds to check against are passed in. Every feature
ends up either in the clean frame (possibly repaired, the repair recorded) or in the rejects with
its id, a reason code and a human-readable detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.validation import explain_validity

from geo.crs import STORAGE_CRS, metric_crs_for
from geo.ingest.fields import BUILDING_USES, REQUIRED, resolve

CODE12 = re.compile(r"^\d{12}$")
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


@dataclass
class Reject:
    """A feature that was not loaded, and why."""

    feature_id: str | None
    reason: str
    detail: str
    index: int
    properties: dict[str, object] = field(default_factory=dict)
    geom_wkt: str | None = None


@dataclass
class Validated:
    """What validation made of a layer."""

    kind: str
    clean: gpd.GeoDataFrame
    rejects: list[Reject]
    repairs: list[tuple[str, str]]
    warnings: list[tuple[str, str]]
    mapped: dict[str, str]


def _text(series: pd.Series) -> pd.Series:
    out = series.astype("string").str.strip().str.translate(_FULLWIDTH) if series.dtype != "string" else series
    return out.mask(out == "", pd.NA)


def _ints(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").round().astype("Int64")


def _props(row: pd.Series) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in row.items():
        if k == "geometry":
            continue
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out[str(k)] = None
        elif isinstance(v, np.generic):
            out[str(k)] = v.item()
        else:
            out[str(k)] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out


def _safe_repair(geom: shapely.Geometry, metric: shapely.Geometry) -> tuple[shapely.Geometry | None, str]:
    """Repair an invalid polygon when nothing of substance is lost; (None, why) otherwise."""
    why = explain_validity(geom)
    fixed = shapely.make_valid(geom)
    polys = [g for g in shapely.get_parts(fixed) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        return None, f"invalid geometry ({why}) cannot be repaired into a polygon"
    fixed = shapely.union_all(polys)
    # the repaired shape must still span the original (no part dropped); compare in metres
    ob, fb = metric.bounds, None
    fm = shapely.make_valid(metric)
    fm = shapely.union_all([g for g in shapely.get_parts(fm) if g.geom_type in ("Polygon", "MultiPolygon")])
    fb = fm.bounds
    if fm.is_empty or fm.area < 1.0 or max(abs(a - b) for a, b in zip(ob, fb, strict=True)) > 1.0:
        return None, f"invalid geometry ({why}); repair would change its shape"
    return fixed, why


def _geometry_checks(
    frame: gpd.GeoDataFrame, ids: pd.Series, rejects: list[Reject], repairs: list[tuple[str, str]]
) -> gpd.GeoSeries:
    """Check and repair geometries in place of the source CRS; returns the geometry series (None = rejected)."""
    geoms = frame.geometry.values.copy()
    metric_crs = metric_crs_for(frame)
    metric = frame.geometry.to_crs(metric_crs).values if metric_crs != frame.crs else frame.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, (3, 6))
    valid = shapely.is_valid(geoms)
    out = list(geoms)
    for i in np.flatnonzero(missing | ~polygonal | ~valid):
        fid = ids.iloc[i]
        if missing[i]:
            rejects.append(Reject(fid, "missing_geometry", "the feature has no geometry", int(i)))
            out[i] = None
        elif not polygonal[i]:
            rejects.append(
                Reject(
                    fid,
                    "not_a_polygon",
                    f"geometry is a {geoms[i].geom_type}, a polygon was expected",
                    int(i),
                )
            )
            out[i] = None
        else:
            fixed, why = _safe_repair(geoms[i], metric[i])
            if fixed is None:
                rejects.append(
                    Reject(
                        fid,
                        "invalid_geometry",
                        why,
                        int(i),
                        geom_wkt=shapely.to_wkt(geoms[i], rounding_precision=8),
                    )
                )
                out[i] = None
            else:
                repairs.append((str(fid), f"repaired invalid geometry: {why}"))
                out[i] = fixed
    return gpd.GeoSeries(out, index=frame.index, crs=frame.crs)


def duplicated_ids(kind: str, frame: pd.DataFrame, mapping: dict[str, dict[str, list[str]]]) -> set[str]:
    """Ids that occur more than once in a layer (each occurrence is rejected)."""
    src = resolve(kind, frame.columns, mapping).get("code" if kind == "communities" else "id")
    if src is None:
        return set()
    ids = _text(frame[src].astype("string"))
    return set(ids[ids.duplicated(keep=False) & ids.notna()].astype(str))


def validate(
    kind: str,
    frame: gpd.GeoDataFrame,
    mapping: dict[str, dict[str, list[str]]],
    *,
    communities: gpd.GeoDataFrame | None = None,
    known_codes: set[str] | None = None,
    duplicates: set[str] | None = None,
    offset: int = 0,
) -> Validated:
    """Validate a layer of ``kind``; ``communities`` (code, geometry in EPSG:4490) is needed for
    compounds and buildings, ``known_codes`` (community codes in the division table) for communities.

    To validate a large layer in chunks, pass the ids duplicated anywhere in the layer
    (:func:`duplicated_ids`) and each chunk's ``offset``, so rejects carry their feature number.
    """
    mapped = resolve(kind, frame.columns, mapping)
    rejects: list[Reject] = []
    repairs: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    missing_cols = [c for c in REQUIRED[kind] if c not in mapped]
    if missing_cols:
        from geo.errors import InvalidInput

        wanted = {c: mapping[kind][c] for c in missing_cols}
        raise InvalidInput(
            f"layer has no field for {', '.join(missing_cols)} (looked for {wanted}; fields are {list(frame.columns)[:-1]}); "
            "map it with --fields FILE"
        )
    frame = frame.reset_index(drop=True)
    data = pd.DataFrame(index=frame.index)
    for col, src in mapped.items():
        data[col] = frame[src]
    id_col = "code" if kind == "communities" else "id"
    ids = (
        _text(data[id_col].astype("string")) if id_col in data else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    data[id_col] = ids
    keep = np.ones(len(frame), dtype=bool)

    def reject(mask: np.ndarray, reason: str, detail) -> None:  # noqa: ANN001
        for i in np.flatnonzero(mask & keep):
            d = detail(i) if callable(detail) else detail
            rejects.append(Reject(None if pd.isna(ids.iloc[i]) else str(ids.iloc[i]), reason, d, int(i)))
        keep[mask] = False

    reject(
        ids.isna().to_numpy(),
        f"missing_{id_col}",
        f"the {id_col} field ({mapped[id_col]}) is empty",
    )
    if duplicates is None:
        dup = ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
    else:
        dup = ids.isin(duplicates).to_numpy()
    reject(
        dup,
        f"duplicate_{id_col}",
        lambda i: f"{id_col} {ids.iloc[i]} appears more than once in the file",
    )

    geoms = _geometry_checks(frame, ids, rejects, repairs)
    keep &= geoms.notna().to_numpy()
    geoms = geoms.to_crs(STORAGE_CRS)

    if kind == "communities":
        codes = ids
        bad = ~codes.fillna("").str.match(CODE12).to_numpy()
        reject(bad, "invalid_code", lambda i: f"code {codes.iloc[i]!r} is not a 12-digit division code")
        if known_codes is not None:
            unknown = ~codes.isin(known_codes).to_numpy()
            reject(
                unknown,
                "unknown_code",
                lambda i: f"code {codes.iloc[i]} is not in the division table (run `gridmap load-divisions` first)",
            )
        out = pd.DataFrame({"code": codes, "name": _text(data["name"]) if "name" in data else pd.NA})
    else:
        comm = (
            _text(data["community_code"])
            if "community_code" in data
            else pd.Series(pd.NA, index=frame.index, dtype="string")
        )
        has = comm.notna().to_numpy()
        bad = has & ~comm.fillna("").str.match(CODE12).to_numpy()
        reject(
            bad,
            "invalid_community_code",
            lambda i: f"community code {comm.iloc[i]!r} is not a 12-digit division code",
        )
        comm = comm.where(~bad)
        comm = _assign_communities(geoms, comm, communities, keep, reject)
        out = pd.DataFrame({"id": ids, "community_code": comm})
        if kind == "compounds":
            out["name"] = _text(data["name"]) if "name" in data else pd.NA
        else:
            _building_attributes(data, out, keep, reject, warnings, ids)
    out = gpd.GeoDataFrame(out, geometry=geoms, crs=STORAGE_CRS)
    clean = out[keep].copy()
    kept_ids = set(clean[id_col].astype(str))
    repairs = [(fid, r) for fid, r in repairs if fid in kept_ids]
    for r in rejects:
        if r.index < len(frame):
            r.properties = _props(frame.iloc[r.index])
            if r.geom_wkt is None and frame.geometry.iloc[r.index] is not None:
                r.geom_wkt = shapely.to_wkt(frame.geometry.iloc[r.index], rounding_precision=8)
        r.index += offset
    return Validated(kind, clean, rejects, repairs, warnings, mapped)


def _assign_communities(geoms, comm, communities, keep, reject):  # noqa: ANN001, ANN202
    """Check each feature lies in its stated community, or find the community it lies in (vectorised)."""
    n = len(comm)
    if communities is None or communities.empty:
        reject(
            np.ones(n, dtype=bool),
            "no_communities",
            "no community boundaries are loaded; import communities first",
        )
        return comm
    polys = communities.geometry.values
    shapely.prepare(polys)
    codes = communities["code"].astype(str).to_numpy()
    by_code = {c: i for i, c in enumerate(codes)}
    points = shapely.point_on_surface(geoms.values)
    comm = comm.copy()
    stated = comm.notna().to_numpy() & keep
    j = np.array([by_code.get(c, -1) if s else -1 for c, s in zip(comm.fillna(""), stated, strict=True)])
    unknown = stated & (j < 0)
    reject(unknown, "unknown_community", lambda i: f"community {comm.iloc[i]} has no boundary loaded")
    check = stated & (j >= 0)
    inside = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(check)
    inside[idx] = shapely.covers(polys[j[idx]], points[idx])
    reject(
        check & ~inside,
        "outside_community",
        lambda i: f"the feature lies outside its community {comm.iloc[i]}",
    )
    free = ~comm.notna().to_numpy() & keep
    idx = np.flatnonzero(free)
    if len(idx):
        tree = shapely.STRtree(polys)
        pt_i, poly_i = tree.query(points[idx], predicate="covered_by")
        first = pd.Series(poly_i).groupby(pt_i).min()
        found = np.zeros(n, dtype=bool)
        found[idx[first.index.to_numpy()]] = True
        comm.iloc[idx[first.index.to_numpy()]] = codes[first.to_numpy()]
        reject(free & ~found, "outside_communities", "the feature lies outside every loaded community")
    return comm


def _one(n: int, i: int) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[i] = True
    return m


def _building_attributes(data, out, keep, reject, warnings, ids) -> None:  # noqa: ANN001
    floors = _ints(data["floors"]) if "floors" in data else pd.Series(pd.NA, index=data.index, dtype="Int64")
    reject(floors.isna().to_numpy(), "missing_floors", "the number of floors is empty")
    reject(
        (floors.fillna(1) < 1).to_numpy(),
        "invalid_floors",
        lambda i: f"floors must be ≥ 1, got {floors.iloc[i]}",
    )
    units = _ints(data["units"]) if "units" in data else pd.Series(1, index=data.index, dtype="Int64")
    reject(
        (units.fillna(1) < 1).to_numpy(),
        "invalid_units",
        lambda i: f"stairwell units must be ≥ 1, got {units.iloc[i]}",
    )
    dwellings = _ints(data["dwellings"]) if "dwellings" in data else pd.Series(pd.NA, index=data.index, dtype="Int64")
    reject(
        (dwellings.fillna(0) < 0).to_numpy(),
        "invalid_dwellings",
        lambda i: f"dwellings must be ≥ 0, got {dwellings.iloc[i]}",
    )
    use_raw = _text(data["use"]) if "use" in data else pd.Series(pd.NA, index=data.index, dtype="string")
    use = use_raw.map(lambda u: BUILDING_USES.get(str(u).lower()) if pd.notna(u) else "residential")
    unknown_use = use.isna() & use_raw.notna()
    for i in np.flatnonzero(unknown_use.to_numpy() & keep):
        warnings.append((str(ids.iloc[i]), f"unknown use {use_raw.iloc[i]!r}, stored as other"))
    out["number"] = _text(data["number"]) if "number" in data else pd.NA
    out["name"] = _text(data["name"]) if "name" in data else pd.NA
    out["floors"] = floors
    out["units"] = units.fillna(1)
    out["dwellings"] = dwellings
    out["compound_id"] = _text(data["compound_id"]) if "compound_id" in data else pd.NA
    out["use"] = use.fillna("other")
