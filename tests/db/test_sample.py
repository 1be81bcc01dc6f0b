"""The committed sample street goes in whole; its faulty files are rejected row by row as expected."""

from __future__ import annotations

import csv

import pandas as pd
import pyogrio
import pytest
import sqlalchemy as sa

from geo.db.imports import import_paths
from geo.db.people import import_dwellings, import_persons
from tests.conftest import SAMPLE

LAYERS = [SAMPLE / "communities.shp", SAMPLE / "compounds.shp", SAMPLE / "buildings.shp"]


@pytest.fixture(scope="module")
def sample_db(engine):
    from tests.conftest import clean

    clean(engine)
    reports = import_paths(engine, LAYERS)
    return engine, reports


def count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def test_sample_round_trip_counts_equal_the_files(sample_db) -> None:
    engine, reports = sample_db
    for path, report in zip(LAYERS, reports, strict=True):
        n = pyogrio.read_info(path)["features"]
        assert (report.read, report.inserted, report.rejected) == (n, n, 0), path.name
    assert count(engine, "SELECT count(*) FROM admin_area WHERE geom IS NOT NULL") == 4
    assert count(engine, "SELECT count(*) FROM compound") == pyogrio.read_info(LAYERS[1])["features"]
    assert count(engine, "SELECT count(*) FROM building") == pyogrio.read_info(LAYERS[2])["features"]
    # every building sits in its community, and a compound's buildings in that compound
    assert (
        count(
            engine,
            "SELECT count(*) FROM building b JOIN admin_area a ON a.code = b.community_code "
            "WHERE NOT ST_Covers(a.geom, ST_PointOnSurface(b.geom))",
        )
        == 0
    )
    assert count(engine, "SELECT count(*) FROM building WHERE compound_id IS NULL AND use = 'residential'") < count(
        engine, "SELECT count(*) FROM building WHERE use = 'residential'"
    )


def test_sample_reimport_changes_nothing(sample_db) -> None:
    engine, _ = sample_db
    for report in import_paths(engine, LAYERS):
        assert (report.inserted, report.updated, report.unchanged) == (0, 0, report.read)


def test_people_round_trip_and_bad_rows(sample_db, keys) -> None:
    engine, _ = sample_db
    dwellings = pd.read_csv(SAMPLE / "dwellings.csv", dtype=str)
    persons = pd.read_csv(SAMPLE / "persons.csv", dtype=str, keep_default_na=False)
    d = import_dwellings(engine, SAMPLE / "dwellings.csv")
    assert (d.read, d.inserted, d.rejected) == (len(dwellings), len(dwellings), 0)
    p = import_persons(engine, SAMPLE / "persons.csv", keys=keys)
    assert (p.read, p.inserted, p.rejected) == (len(persons), len(persons), 0)
    linked = (persons["dwelling_id"] != "").sum()
    assert count(engine, "SELECT count(*) FROM person WHERE dwelling_id IS NOT NULL") == linked
    assert 0.99 < linked / len(persons) < 0.999

    again = import_persons(engine, SAMPLE / "persons.csv", keys=keys)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(persons))

    bad = import_persons(engine, SAMPLE / "persons_bad.csv", keys=keys)
    with open(SAMPLE / "persons_bad_expected.csv", encoding="utf-8") as fh:
        expected = {int(r["line_no"]): r["expected_reason"] for r in csv.DictReader(fh)}
    got = {r["line_no"]: r["reason"] for r in bad.rejects}
    for line, reason in expected.items():
        if reason.startswith("ok_"):
            assert line not in got, (line, reason, got.get(line))
        else:
            assert got.get(line) == reason, (line, reason, got.get(line))
    assert bad.read == bad.inserted + bad.updated + bad.unchanged + bad.rejected
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT line_no, reason FROM import_reject WHERE run_id = :r"),
            {"r": bad.run_id},
        ).all()
    assert dict(stored) == got


def test_id_numbers_are_never_stored_in_plain_text(sample_db, keys) -> None:
    engine, _ = sample_db
    persons = pd.read_csv(SAMPLE / "persons.csv", dtype=str, keep_default_na=False)
    import_dwellings(engine, SAMPLE / "dwellings.csv")
    import_persons(engine, SAMPLE / "persons.csv", keys=keys)
    sample_ids = persons["id_number"].head(200).tolist()
    with engine.connect() as conn:
        dump = conn.execute(sa.text("SELECT string_agg(p::text, '\n') FROM person p")).scalar_one()
        rejects = conn.execute(
            sa.text("SELECT coalesce(string_agg(r::text, '\n'), '') FROM import_reject r")
        ).scalar_one()
        one = conn.execute(
            sa.text("SELECT id_cipher, id_masked FROM person WHERE id_hash = :h"),
            {"h": keys.id_hash(sample_ids[0])},
        ).one()
    assert not any(i in dump or i in rejects for i in sample_ids)
    assert keys.decrypt(one.id_cipher) == sample_ids[0]
    assert one.id_masked == sample_ids[0][:6] + "********" + sample_ids[0][-4:]


def test_bad_buildings_file(sample_db) -> None:
    engine, _ = sample_db
    (report,) = import_paths(engine, [SAMPLE / "buildings_bad.shp"])
    with open(SAMPLE / "buildings_bad_expected.csv", encoding="utf-8") as fh:
        expected = list(csv.DictReader(fh))
    rejected = {(r["feature_no"] - 1): r["reason"] for r in report.rejects}
    with engine.connect() as conn:
        present = set(conn.execute(sa.text("SELECT ext_id FROM building WHERE ext_id LIKE 'B9%'")).scalars())
    for row in expected:
        outcome = row["expected"]
        if outcome.startswith("rejected:"):
            assert rejected.get(int(row["row"])) == outcome.split(":", 1)[1], row
        else:
            assert row["编号"] in present, row
    assert report.repaired == sum(r["expected"] == "repaired" for r in expected)
