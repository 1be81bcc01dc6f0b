"""Import against the real PostGIS: CRS, encodings, validation, idempotency."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from shapely.geometry import box

from geo.db.imports import import_paths
from geo.errors import InvalidInput
from tests.utils import layers


@pytest.fixture
def with_communities(db, tmp_path: Path):
    path = layers.write_shp(layers.communities(), tmp_path / "communities.shp")
    (report,) = import_paths(db, [path])
    assert (report.inserted, report.rejected) == (2, 0)
    return db


def _import(engine, frame, path: Path, **kw):
    layers.write_shp(frame, path, **{k: v for k, v in kw.items() if k in ("encoding", "cpg")})
    (report,) = import_paths(engine, [path], **{k: v for k, v in kw.items() if k not in ("encoding", "cpg")})
    return report


def test_known_point_lands_within_a_metre_of_its_wgs84_position(with_communities, tmp_path: Path) -> None:
    _import(with_communities, layers.buildings(1), tmp_path / "buildings.shp")
    with with_communities.connect() as conn:
        metres = conn.execute(
            sa.text(
                "SELECT ST_Distance(ST_SetSRID(ST_MakePoint(ST_XMin(geom), ST_YMin(geom)), 4326)::geography, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) FROM building WHERE ext_id = 'B0000'"
            ),
            {"lon": layers.ORIGIN[0], "lat": layers.ORIGIN[1]},
        ).scalar_one()
        srid = conn.execute(sa.text("SELECT DISTINCT ST_SRID(geom) FROM building")).scalar_one()
    assert metres < 1.0
    assert srid == 4490


@pytest.mark.parametrize("target", ["EPSG:4526", "EPSG:4326", "EPSG:3857"])
def test_any_crs_is_reprojected(with_communities, tmp_path: Path, target: str) -> None:
    path = tmp_path / "buildings.gpkg"
    layers.buildings(2).to_crs(target).to_file(path, layer="buildings", engine="pyogrio")
    (report,) = import_paths(with_communities, [path])
    assert report.inserted == 2
    assert f"CRS {target}" in report.notes
    with with_communities.connect() as conn:
        lon, lat = conn.execute(
            sa.text("SELECT ST_XMin(geom), ST_YMin(geom) FROM building WHERE ext_id = 'B0000'")
        ).one()
    assert abs(lon - layers.ORIGIN[0]) < 1e-5 and abs(lat - layers.ORIGIN[1]) < 1e-5


@pytest.mark.parametrize(
    ("encoding", "cpg", "expected"),
    [
        ("GBK", True, "GBK (.cpg)"),
        ("GBK", False, "GBK (detected (no .cpg))"),
        ("UTF-8", False, "UTF-8 (detected (no .cpg))"),
    ],
)
def test_chinese_names_survive_gbk_and_utf8(with_communities, tmp_path: Path, encoding, cpg, expected) -> None:
    report = _import(
        with_communities,
        layers.buildings(3),
        tmp_path / "buildings.shp",
        encoding=encoding,
        cpg=cpg,
    )
    assert f"encoding {expected}" in report.notes
    with with_communities.connect() as conn:
        names = conn.execute(sa.text("SELECT number, name FROM building ORDER BY ext_id")).all()
    assert names == [
        ("1号楼", "幸福小区1号楼"),
        ("2号楼", "幸福小区2号楼"),
        ("3号楼", "幸福小区3号楼"),
    ]


def test_shapefile_in_a_zip(with_communities, tmp_path: Path) -> None:
    shp = (
        layers.write_shp(layers.buildings(2), tmp_path / "bld" / "buildings.shp")
        if (tmp_path / "bld").mkdir() is None
        else None
    )
    z = tmp_path / "楼栋.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in shp.parent.iterdir():
            zf.write(f, f.name)
    (report,) = import_paths(with_communities, [z], kind="buildings")
    assert (report.read, report.inserted) == (2, 2)


def test_bad_features_are_reported_and_valid_ones_still_go_in(with_communities, tmp_path: Path) -> None:
    frame = layers.buildings(8)
    x, y = layers.to_gk(*layers.ORIGIN)
    frame.loc[1, "geometry"] = layers.bowtie(x + 40, y + 100)  # repairable
    frame.loc[2, "geometry"] = box(x + 9000, y, x + 9020, y + 10)  # outside every community
    frame.loc[3, "编号"] = "B0004"  # duplicate of feature 4
    frame.loc[5, "层数"] = None  # missing floors
    frame.loc[6, "层数"] = 0  # impossible floors
    report = _import(with_communities, frame, tmp_path / "buildings.shp")
    assert report.read == 8
    assert (report.inserted, report.repaired) == (3, 1)
    assert report.rejected_by_reason == {
        "duplicate_id": 2,
        "invalid_floors": 1,
        "missing_floors": 1,
        "outside_communities": 1,
    }
    assert report.inserted + report.updated + report.unchanged + report.rejected == report.read
    with with_communities.connect() as conn:
        stored = {
            r.feature_id: r.reason
            for r in conn.execute(
                sa.text("SELECT feature_id, reason FROM import_reject WHERE run_id = :r"),
                {"r": report.run_id},
            )
        }
        kept = set(conn.execute(sa.text("SELECT ext_id FROM building")).scalars())
        repaired_valid = conn.execute(sa.text("SELECT ST_IsValid(geom) FROM building WHERE ext_id='B0001'")).scalar()
    assert stored == {
        "B0002": "outside_communities",
        "B0004": "duplicate_id",
        "B0005": "missing_floors",
        "B0006": "invalid_floors",
    }
    assert kept == {"B0000", "B0001", "B0007"}
    assert repaired_valid is True


def test_building_outside_its_stated_community_is_rejected(with_communities, tmp_path: Path) -> None:
    frame = layers.buildings(2)
    frame["社区代码"] = [
        layers.COMMUNITY,
        layers.NEIGHBOUR,
    ]  # the second lies in the first community
    frame.loc[0, "社区代码"] = "15010200300X"
    report = _import(with_communities, frame, tmp_path / "buildings.shp")
    assert report.rejected_by_reason == {"invalid_community_code": 1, "outside_community": 1}


def test_reimport_changes_nothing(with_communities, tmp_path: Path) -> None:
    path = tmp_path / "buildings.shp"
    first = _import(with_communities, layers.buildings(6), path)
    with with_communities.connect() as conn:
        before = conn.execute(sa.text("SELECT ext_id, updated_at FROM building ORDER BY ext_id")).all()
    (again,) = import_paths(with_communities, [path])
    with with_communities.connect() as conn:
        after = conn.execute(sa.text("SELECT ext_id, updated_at FROM building ORDER BY ext_id")).all()
    assert first.inserted == 6
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 6)
    assert before == after


def test_updated_file_updates_exactly_the_changed_features(with_communities, tmp_path: Path) -> None:
    frame = layers.buildings(6)
    _import(with_communities, frame, tmp_path / "v1.shp", kind="buildings")
    frame.loc[1, "层数"] = 7
    frame.loc[2, "geometry"] = frame.loc[2, "geometry"].buffer(1, join_style="mitre")
    extra = layers.buildings(7).iloc[[6]]
    import pandas as pd

    v2 = pd.concat([frame, extra])
    report = _import(with_communities, v2, tmp_path / "v2.shp", kind="buildings")
    assert (report.inserted, report.updated, report.unchanged) == (1, 2, 4)
    with with_communities.connect() as conn:
        assert conn.execute(sa.text("SELECT floors FROM building WHERE ext_id='B0001'")).scalar() == 7
        assert conn.execute(sa.text("SELECT count(*) FROM building")).scalar() == 7


def test_missing_prj_is_a_clear_error_and_crs_option_fixes_it(with_communities, tmp_path: Path) -> None:
    path = layers.write_shp(layers.buildings(2), tmp_path / "buildings.shp")
    path.with_suffix(".prj").unlink()
    with pytest.raises(InvalidInput, match=r"no coordinate reference system.*--crs"):
        import_paths(with_communities, [path])
    (report,) = import_paths(with_communities, [path], crs="EPSG:4546")
    assert report.inserted == 2


def test_field_mapping_override(with_communities, tmp_path: Path) -> None:
    frame = layers.buildings(2).rename(columns={"层数": "LC", "编号": "FWBM"})
    layers.write_shp(frame, tmp_path / "buildings.shp")
    with pytest.raises(InvalidInput, match="no field for id"):
        import_paths(with_communities, [tmp_path / "buildings.shp"])
    override = tmp_path / "fields.json"
    override.write_text('{"buildings": {"id": ["FWBM"], "floors": ["LC"]}}', encoding="utf-8")
    (report,) = import_paths(with_communities, [tmp_path / "buildings.shp"], fields=override)
    assert (report.inserted, report.rejected) == (2, 0)


def test_unknown_community_code_is_rejected(db, tmp_path: Path) -> None:
    frame = layers.communities()
    frame.loc[1, "代码"] = "150102003999"
    path = layers.write_shp(frame, tmp_path / "communities.shp")
    (report,) = import_paths(db, [path])
    assert (report.inserted, report.rejected_by_reason) == (1, {"unknown_code": 1})


def test_kind_must_be_known(db, tmp_path: Path) -> None:
    path = layers.write_shp(layers.buildings(1), tmp_path / "data.shp")
    with pytest.raises(InvalidInput, match="use --kind"):
        import_paths(db, [path])
