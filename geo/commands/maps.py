"""``gridmap maps`` (the 以房找人 HTML map of each grid) and ``gridmap signboards`` (网格公示牌 PDF + PNG)."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from geo.errors import GeoError

console = Console(width=None if Console().is_terminal else 120)
err = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 120)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


# -- one grid per task (in this process or a worker process) -----------------------------------------
_ENGINE = None


def _init_worker(url: str) -> None:
    global _ENGINE
    from geo.db.engine import make_engine

    _ENGINE = make_engine(url, pool_size=1, max_overflow=0)


def _render_map(code: str, out_dir: str, role: str, measure: str, basemap: str | None) -> tuple[str, str | None, float]:
    """Write ``<out_dir>/<code>.html``; returns (code, error or None, seconds)."""
    from geo.db.mapdata import grid_map_html

    t0 = time.perf_counter()
    try:
        page = grid_map_html(_ENGINE, code, role, measure, basemap)
        path = Path(out_dir) / f"{code}.html"
        tmp = path.with_suffix(".html.tmp")
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(path)
    except GeoError as exc:
        return code, str(exc), time.perf_counter() - t0
    except Exception as exc:  # one grid's failure is one line; the others are still written
        return code, f"unexpected {type(exc).__name__}: {exc}", time.perf_counter() - t0
    return code, None, time.perf_counter() - t0


def _report(done: int, errors: dict[str, str], out_dir: Path, what: str) -> None:
    console.print(f"wrote {done} {what} to {out_dir}", highlight=False)
    for code, msg in sorted(errors.items()):
        err.print(f"error: {code}: {msg}", highlight=False, soft_wrap=True)
    if errors:
        raise typer.Exit(1)


def maps(
    grid: Annotated[str | None, typer.Option(help="15-digit grid code")] = None,
    community: Annotated[str | None, typer.Option(help="12-digit community code: each of its active grids")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every active grid")] = False,
    out: Annotated[Path, typer.Option("--out", help="output folder: one <grid code>.html each")] = Path("out/maps"),
    jobs: Annotated[int, typer.Option(help="worker processes (0 = one per core)")] = 0,
    role: Annotated[
        str, typer.Option(help="whose view: admin|planner|worker see names, viewer sees them masked")
    ] = "worker",
    measure: Annotated[str, typer.Option(help="colour buildings by occupancy | residents | care")] = "occupancy",
    basemap: Annotated[
        str | None, typer.Option(help="tianditu | tianditu-satellite | amap (default: none, works offline)")
    ] = None,
) -> None:
    """Write the 以房找人 map of grids as standalone HTML pages (no network needed to open them)."""
    import os

    from geo.cli import _engine
    from geo.db.mapdata import grid_codes
    from geo.maps.data import check_role
    from geo.maps.style import basemap as check_basemap
    from geo.maps.style import measure as check_measure

    check_role(role)
    check_measure(measure)
    check_basemap(basemap)
    engine = _engine()
    with engine.connect() as conn:
        codes = grid_codes(conn, grid=grid, community=community, all_=all_)
    out.mkdir(parents=True, exist_ok=True)
    url = engine.url.render_as_string(hide_password=False)
    workers = min(jobs if jobs > 0 else (os.cpu_count() or 1), len(codes))
    errors: dict[str, str] = {}
    done = 0
    with _progress() as progress:
        task = progress.add_task(f"drawing {len(codes)} grid map(s)", total=len(codes))
        if workers <= 1:
            global _ENGINE
            _ENGINE = engine
            for code in codes:
                c, e, _ = _render_map(code, str(out), role, measure, basemap)
                if e:
                    errors[c] = e
                else:
                    done += 1
                progress.advance(task)
        else:
            engine.dispose()  # no pooled connection is inherited by the workers
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(url,)) as pool:
                futs = [pool.submit(_render_map, code, str(out), role, measure, basemap) for code in codes]
                for fut in as_completed(futs):
                    c, e, _ = fut.result()
                    if e:
                        errors[c] = e
                    else:
                        done += 1
                    progress.advance(task)
    _report(done, errors, out, "map(s)")


def signboards(
    community: Annotated[str, typer.Option(help="12-digit community code: a signboard for each of its active grids")],
    out: Annotated[Path, typer.Option("--out", help="output folder: <grid code>.pdf and .png each")] = Path(
        "out/signboards"
    ),
    size: Annotated[str, typer.Option(help="paper: A3 or A4 (portrait)")] = "A3",
    base_url: Annotated[
        str, typer.Option(help="public address of GridMap; the QR code opens <base-url>/grids/<code>/map")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Print the 网格公示牌 of a community's grids: plan, code, worker and phone, counts and QR code (一格一码)."""
    from geo.cli import _engine
    from geo.db.mapdata import grid_codes, grid_signboard
    from geo.errors import InvalidInput
    from geo.maps.signboard import PAPER_MM, cjk_font, grid_url

    size = size.upper()
    if size not in PAPER_MM:
        raise InvalidInput(f"unknown paper size {size!r}; use A3 or A4")
    grid_url(base_url, "0" * 15)  # checks the URL before any work
    cjk_font()  # a missing font is one clear error, not one per grid
    engine = _engine()
    with engine.connect() as conn:
        codes = grid_codes(conn, community=community)
    out.mkdir(parents=True, exist_ok=True)
    errors: dict[str, str] = {}
    done = 0
    with _progress() as progress:
        task = progress.add_task(f"printing {len(codes)} signboard(s)", total=len(codes))
        for code in codes:
            try:
                grid_signboard(engine, code, base_url, size=size, pdf=out / f"{code}.pdf", png=out / f"{code}.png")
                done += 1
            except GeoError as exc:
                errors[code] = str(exc)
            progress.advance(task)
    _report(done, errors, out, f"{size} signboard(s) (PDF + PNG)")
