"""OGC API – Features, checked by GDAL's own OAPIF driver against a live server."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from geo.db.imports import import_paths
from tests.conftest import SAMPLE
from tests.utils.server import live_server

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed")


@pytest.fixture
def loaded(db):
    import_paths(db, [SAMPLE / "communities.shp", SAMPLE / "compounds.shp", SAMPLE / "buildings.shp"])
    return db


def ogrinfo(*args: str) -> str:
    proc = subprocess.run(["ogrinfo", "-ro", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_gdal_reads_the_collections(loaded, db_url) -> None:
    with live_server(db_url) as base:
        listing = ogrinfo(f"OAPIF:{base}/ogc")
        for name in ("communities", "compounds", "grids", "buildings"):
            assert name in listing
        summary = ogrinfo("-so", f"OAPIF:{base}/ogc", "buildings")
        assert "Feature Count: 582" in summary or "Feature Count: -1" in summary
        # page through every building (limit 200 → 3 pages) and count them
        out = ogrinfo("-al", "-q", "-oo", "PAGE_SIZE=200", f"OAPIF:{base}/ogc", "buildings")
        assert out.count("OGRFeature(buildings)") == 582
        assert "number (String) = " in out and "id_number" not in out
        one = ogrinfo("-al", "-q", f"OAPIF:{base}/ogc", "communities")
        assert "新华社区居委会" in one and "150102003001" in one


def test_bbox_and_errors(loaded, client) -> None:
    r = client.get("/ogc/collections/buildings/items", params={"bbox": "111.6,40.7,111.7,40.9", "limit": 10})
    body = r.json()
    assert r.headers["content-type"] == "application/geo+json"
    assert body["numberReturned"] == 10 and body["numberMatched"] > 10
    assert any(link["rel"] == "next" for link in body["links"])
    assert client.get("/ogc/collections/buildings/items", params={"bbox": "1,2,3"}).status_code == 422
    assert client.get("/ogc/collections/people/items").status_code == 404
    assert client.get("/ogc/collections/buildings/items/NOPE").status_code == 404
