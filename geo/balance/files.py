"""``balance_file``: balance the communities of a file and write a GeoPackage (for ``gridmap balance-file``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from geo.balance.proposal import BalanceParams, Proposal, propose_many
from geo.errors import InvalidInput


def _read(path: str | Path, layer: str | None, what: str) -> gpd.GeoDataFrame:
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"{what} file not found: {p}")
    try:
        gdf = gpd.read_file(p, layer=layer, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001 - any reader error is the user's file
        raise InvalidInput(f"cannot read {what} from {p}: {exc}") from None
    if gdf.crs is None:
        raise InvalidInput(f"{what} in {p} have no CRS (a .prj file or a GeoPackage SRS is needed)")
    return gdf


def read_existing(path: str | Path) -> pd.DataFrame:
    """Read an existing assignment CSV (``building_id``, ``grid_code`` and optionally ``units``)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read existing assignment {path}: {exc}") from None
    cols = {c.lower(): c for c in df.columns}
    if "building_id" not in cols or "grid_code" not in cols:
        raise InvalidInput(f"{path}: the existing assignment needs columns building_id and grid_code")
    return df.rename(columns={cols["building_id"]: "building_id", cols["grid_code"]: "grid_code"})


def balance_file(
    buildings_path: str | Path,
    communities_path: str | Path,
    out_path: str | Path,
    layer: str | None = None,
    community_layer: str | None = None,
    existing_csv: str | Path | None = None,
    params: BalanceParams = BalanceParams(),  # noqa: B008 - frozen dataclass
    *,
    compounds_path: str | Path | None = None,
    compounds_layer: str | None = None,
    dedicated_path: str | Path | None = None,
    dedicated_layer: str | None = None,
    issued_codes: set[str] | None = None,
    jobs: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Proposal]:
    """Balance every community of ``communities_path`` and write ``out_path`` (GeoPackage).

    Layers written: ``grids`` (code, community_code, households, buildings, in_band, reason,
    polsby_popper, inertia_compactness, geometry, in the buildings' CRS) and ``assignment``, a
    non-spatial table (building_id, grid_code, units, households, note). ``compounds_path`` and
    ``dedicated_path`` default to the buildings file when ``compounds_layer`` /
    ``dedicated_layer`` are given. Returns ``{community_code: Proposal}`` for printing.
    """
    buildings = _read(buildings_path, layer, "buildings")
    communities = _read(communities_path, community_layer, "communities")
    compounds = None
    if compounds_path is not None or compounds_layer is not None:
        compounds = _read(compounds_path or buildings_path, compounds_layer, "compounds")
    dedicated = None
    if dedicated_path is not None or dedicated_layer is not None:
        dedicated = _read(dedicated_path or buildings_path, dedicated_layer, "dedicated grids")
    existing = read_existing(existing_csv) if existing_csv is not None else None
    proposals = propose_many(
        buildings,
        communities,
        existing=existing,
        params=params,
        compounds=compounds,
        dedicated=dedicated,
        issued_codes=issued_codes,
        jobs=jobs,
        progress=progress,
    )
    write_gpkg(Proposal.concat(proposals.values()), out_path)
    return proposals


def write_gpkg(proposal: Proposal, out_path: str | Path) -> Path:
    """Write a proposal's ``grids`` layer and ``assignment`` table to a GeoPackage (replaced)."""
    out = Path(out_path)
    if out.exists():
        out.unlink()
    cols = [
        "code",
        "community_code",
        "households",
        "buildings",
        "in_band",
        "reason",
        "polsby_popper",
        "inertia_compactness",
    ]
    grids = proposal.grids.loc[:, [*cols, "geometry"]].copy()
    grids["households"] = grids["households"].astype("int64")
    grids["buildings"] = grids["buildings"].astype("int64")
    grids["in_band"] = grids["in_band"].astype(bool)
    # grids may mix Polygon and (rarely) MultiPolygon: declare MultiPolygon only when needed
    gtypes = set(grids.geom_type)
    pyogrio.write_dataframe(
        grids,
        out,
        layer="grids",
        driver="GPKG",
        geometry_type="MultiPolygon" if "MultiPolygon" in gtypes else "Polygon",
        promote_to_multi="MultiPolygon" in gtypes,
    )
    table = proposal.assignment.drop(columns=["cell"], errors="ignore").copy()
    table["building_id"] = table["building_id"].astype(str)
    table["grid_code"] = table["grid_code"].astype(str)
    table["units"] = table["units"].astype(str)
    table["note"] = table["note"].astype(str)
    table["households"] = table["households"].astype("int64")
    pyogrio.write_dataframe(table, out, layer="assignment", driver="GPKG", append=True)
    return out
