"""``gridmap import``: read files, validate every feature, load, report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.engine import Engine

from geo.db.load import ImportReport, LayerLoader, communities_frame, known_community_codes
from geo.errors import InvalidInput
from geo.ingest.fields import load_overrides
from geo.ingest.read import guess_kind, list_layers, read_layer
from geo.ingest.validate import duplicated_ids, validate

#: features validated and merged per chunk; validation of the next chunk overlaps the merge of this one
CHUNK = 50_000
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
        label = f"{Path(dataset).name}{':' + layer if layer and layer != Path(dataset).stem else ''}"
        progress(f"reading {label}")
        lay = read_layer(dataset, layer, crs=crs)
        progress(f"validating {len(lay.frame):,} {k} of {label}")
        with engine.connect() as conn:
            communities = communities_frame(conn) if k != "communities" else None
            known = known_community_codes(conn) if k == "communities" else None
        report = _load_in_chunks(engine, k, lay, mapping, communities, known, progress, label)
        if report_dir is not None:
            report_dir.mkdir(parents=True, exist_ok=True)
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = report_dir / f"import-{stamp}-{report.run_id}-{k}.json"
            path.write_text(report.to_json(), encoding="utf-8")
            report.notes.append(f"report written to {path}")
        reports.append(report)
    return reports


def _load_in_chunks(
    engine: Engine,
    kind: str,
    lay,
    mapping,
    communities,
    known,
    progress: Progress,  # noqa: ANN001
    label: str,
) -> ImportReport:
    """Validate chunk k+1 in a worker thread while the database merges chunk k (2 cores, both busy)."""
    frame = lay.frame
    n = len(frame)
    dups = duplicated_ids(kind, frame, mapping)
    starts = list(range(0, max(n, 1), CHUNK))

    def check(start: int):  # noqa: ANN202
        return validate(
            kind,
            frame.iloc[start : start + CHUNK],
            mapping,
            communities=communities,
            known_codes=known,
            duplicates=dups,
            offset=start,
        )

    with (
        LayerLoader(engine, kind, source=lay.source, layer=lay.name, read=n, notes=lay.notes) as loader,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        pending = pool.submit(check, starts[0])
        for i, _start in enumerate(starts):
            v = pending.result()
            if i + 1 < len(starts):
                pending = pool.submit(check, starts[i + 1])
            loader.add(v)
            progress(f"{label}: {min((i + 1) * CHUNK, n):,} of {n:,} {kind} loaded")
    return loader.report
