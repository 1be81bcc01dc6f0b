"""``gridmap import``: read files, validate every feature, load, report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy.engine import Engine

from geo.db.load import ImportReport, communities_frame, known_community_codes, load_validated
from geo.errors import InvalidInput
from geo.ingest.fields import load_overrides
from geo.ingest.read import guess_kind, list_layers, read_layer
from geo.ingest.validate import validate

KIND_ORDER = {"communities": 0, "compounds": 1, "buildings": 2}
Progress = Callable[[str], None]


def plan_layers(paths: Iterable[str | Path], kind: str | None) -> list[tuple[str, str | None, str]]:
    """(dataset, layer, kind) for every layer of ``paths``, communities first, then compounds, buildings."""
    out = []
    for path in paths:
        for dataset, layer in list_layers(path):
            k = kind or guess_kind(dataset, layer)
            if k is None:
                raise InvalidInput(
                    f"{dataset}{':' + layer if layer else ''}: cannot tell whether it holds communities, compounds "
                    "or buildings from its name; use --kind"
                )
            if k not in KIND_ORDER:
                raise InvalidInput(f"unknown kind {k!r}: use communities, compounds or buildings")
            out.append((dataset, layer, k))
    return sorted(out, key=lambda t: KIND_ORDER[t[2]])


def import_paths(
    engine: Engine,
    paths: Iterable[str | Path],
    *,
    kind: str | None = None,
    fields: str | Path | None = None,
    crs: str | None = None,
    report_dir: Path | None = None,
    progress: Progress = lambda _msg: None,
) -> list[ImportReport]:
    """Import every layer of ``paths``; each layer is one transaction and one report."""
    mapping = load_overrides(fields)
    reports = []
    for dataset, layer, k in plan_layers(paths, kind):
        label = (
            f"{Path(dataset).name}{':' + layer if layer and layer != Path(dataset).stem else ''}"
        )
        progress(f"reading {label}")
        lay = read_layer(dataset, layer, crs=crs)
        progress(f"validating {len(lay.frame):,} {k} of {label}")
        with engine.connect() as conn:
            communities = communities_frame(conn) if k != "communities" else None
            known = known_community_codes(conn) if k == "communities" else None
        v = validate(k, lay.frame, mapping, communities=communities, known_codes=known)
        progress(f"loading {len(v.clean):,} {k}")
        report = load_validated(
            engine, v, source=dataset, layer=lay.name, notes=lay.notes, read=len(lay.frame)
        )
        if report_dir is not None:
            report_dir.mkdir(parents=True, exist_ok=True)
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = report_dir / f"import-{stamp}-{report.run_id}-{k}.json"
            path.write_text(report.to_json(), encoding="utf-8")
            report.notes.append(f"report written to {path}")
        reports.append(report)
    return reports
