"""``gridmap sync push FILE`` / ``status BATCH`` / ``review``: the public-security (公安) sync.

``push`` applies a batch file (NDJSON or CSV, UTF-8 or GBK; docs/sync-format.md) in crash-safe
chunks; running it again on the same file resumes a killed run, or does nothing when the batch
is done. Run on its own: ``python -m geo.commands.sync push FILE``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from geo.errors import GeoError

app = typer.Typer(
    help="Public-security sync: push batches, read their reports, list the review queue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


def _engine():  # noqa: ANN202
    from geo.db.engine import check, make_engine
    from geo.db.settings import get_db_settings

    engine = make_engine(get_db_settings().url)
    check(engine)
    return engine


def _pct(v: object) -> str:
    return "-" if v is None else f"{float(v) * 100:.2f}%"  # type: ignore[arg-type]


def print_report(report: dict) -> None:
    """The batch report as tables: counts, rejects by reason, matching, link rates."""
    t = Table(title=f"sync batch {report['batch_id']} ({report['kind']}, {report['status']})")
    for col in ("received", "accepted", "rejected", "unchanged", "to review", "moved"):
        t.add_column(col, justify="right")
    t.add_row(
        *(f"{int(report[k]):,}" for k in ("received", "accepted", "rejected", "unchanged", "review_open", "moved"))
    )
    out.print(t)
    if not report.get("balanced", True):
        err.print("warning: received ≠ accepted + rejected + unchanged", highlight=False)
    if report.get("actions"):
        out.print(
            "actions: " + ", ".join(f"{k} {v:,}" for k, v in report["actions"].items()),
            highlight=False,
        )
    if report.get("matching"):
        out.print(
            "addresses: " + ", ".join(f"{k} {v:,}" for k, v in report["matching"].items()),
            highlight=False,
        )
    if report.get("legacy_upgraded"):
        out.print(f"legacy 15-digit ID numbers upgraded: {report['legacy_upgraded']:,}")
    for reason, n in report.get("rejected_by_reason", {}).items():
        out.print(f"  rejected {n:,} × {reason}", highlight=False)
    for r in report.get("rejects", [])[:10]:
        out.print(
            f"    line {r['line_no']}: {r['id_masked'] or '-'} {r['reason']} ({r['detail']})",
            highlight=False,
        )
    lr = report.get("link_rate")
    if lr:
        a = lr["all"]
        out.print(
            f"link rate (人房关联完善率), all residents: {_pct(a['before']['rate'])} → "
            f"{_pct(a['after']['rate'])} ({a['after']['linked']:,} of {a['after']['persons']:,})",
            highlight=False,
        )
        for level in ("streets", "communities", "grids"):
            rows = lr.get(level) or []
            if not rows:
                continue
            lt = Table(title=f"link rate per {level[:-1] if level != 'communities' else 'community'}")
            for col in ("code", "name", "before", "after", "residents"):
                lt.add_column(col, justify="left" if col in ("code", "name") else "right")
            for r in rows[:30]:
                lt.add_row(
                    r["code"],
                    r.get("name") or "",
                    _pct(r["before"]["rate"]),
                    _pct(r["after"]["rate"]),
                    f"{r['after']['persons']:,}",
                )
            if len(rows) > 30:
                lt.caption = f"{len(rows) - 30} more in the JSON report"
            out.print(lt)
    if report.get("error"):
        err.print(f"error: {report['error']}", highlight=False)


@app.command("push")
def push_cmd(
    file: Annotated[Path, typer.Argument(help="the batch file (NDJSON or CSV, UTF-8 or GBK)")],
    chunk_size: Annotated[
        int | None,
        typer.Option(
            help="records per committed chunk (default: 50,000 for a batch over 16 MB, else 2,500; "
            "fixed when a batch is first seen)"
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes preparing chunks (default: per CPU)")] = None,
    report_json: Annotated[Path | None, typer.Option("--report", help="also write the report as JSON here")] = None,
) -> None:
    """Apply a batch (or resume a killed run of it) and print its report."""
    from geo.db.sync import push
    from geo.sync import read_header

    if chunk_size is not None and chunk_size < 1:
        raise typer.BadParameter("--chunk-size must be at least 1")
    read_header(file)  # a bad file is one error line, before any progress is shown
    engine = _engine()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(f"sync {file.name}", total=None)

        def progress(done: int, total: int | None, msg: str) -> None:
            if msg.startswith(("resuming", "batch already")):
                bar.console.print(f"{file.name}: {msg}", highlight=False)
            bar.update(task, completed=done, total=total, description=f"sync {file.name}: {msg}")

        report = push(engine, file, progress=progress, workers=workers, chunk_size=chunk_size)
    print_report(report)
    if report_json is not None:
        report_json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        out.print(f"report written to {report_json}")


@app.command("status")
def status_cmd(
    batch: Annotated[str, typer.Argument(help="the batch id (UUID)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Status, progress and report of a batch."""
    import uuid

    from geo.db.sync import batch_report
    from geo.errors import InvalidInput

    try:
        uuid.UUID(batch)
    except ValueError:
        raise InvalidInput(f"{batch!r} is not a batch id (a UUID)") from None
    report = batch_report(_engine(), batch)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print_report(report)


@app.command("review")
def review_cmd(
    community: Annotated[str | None, typer.Option(help="12-digit community code")] = None,
    batch: Annotated[str | None, typer.Option(help="only this batch's entries")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
) -> None:
    """The open review queue: addresses that matched no dwelling for certain, with candidates."""
    from geo.db.sync import list_reviews

    rows = list_reviews(_engine(), community=community, batch_id=batch, limit=limit)
    t = Table(title=f"open reviews ({len(rows)} shown)")
    for col in ("id", "person", "reason", "address", "best candidates"):
        t.add_column(col, justify="right" if col == "id" else "left")
    for r in rows:
        cands = "; ".join(
            f"{c['dwelling_id']} {c.get('address') or ''} ({c['score']:.2f})" for c in r["candidates"][:3]
        )
        t.add_row(
            str(r["id"]),
            f"{r['person']['id_masked']} {r['person']['name']}",
            r["reason"],
            r["address"] or "",
            cands,
        )
    out.print(t)


def main() -> None:
    """Run the sync commands on their own, with one-line errors (like ``gridmap``)."""
    try:
        app()
    except GeoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("GRIDMAP_DEBUG"):
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (set GRIDMAP_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
