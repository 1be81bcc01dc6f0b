"""``gridmap balance``, ``gridmap balance-file`` and ``gridmap plan …``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo.balance import BalanceParams

plan_app = typer.Typer(help="Grid plans: list, diff, approve, discard.", no_args_is_help=True)
out = Console(width=None if Console().is_terminal else 120)
err = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 120)


def _params(min_households: int, max_households: int, target: int, seed: int) -> BalanceParams:
    return BalanceParams(min_households=min_households, max_households=max_households, target=target, seed=seed)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def _summary_table(rows: list[dict], title: str) -> Table:
    t = Table(title=title)
    for col in (
        "plan",
        "community",
        "households",
        "grids",
        "min",
        "median",
        "max",
        "in band",
        "compounds split",
        "moved",
        "kept",
    ):
        t.add_column(col, justify="left" if col in ("community",) else "right")
    for r in rows:
        kept = r.get("kept_share")
        t.add_row(
            str(r.get("plan_id", "")),
            str(r["community_code"]),
            f"{int(r['households']):,}",
            str(r["grids"]),
            str(r.get("min", "")),
            str(r.get("median", "")),
            str(r.get("max", "")),
            f"{(r.get('in_band_share') or 0) * 100:.0f}%",
            str(r.get("compounds_split", 0)),
            f"{int(r.get('households_moved') or 0):,}",
            "" if kept is None else f"{kept * 100:.1f}%",
        )
    return t


def _explanations(rows: list[dict]) -> None:
    for r in rows:
        if r.get("explanation"):
            out.print(f"[bold]{r['community_code']}[/bold]: {r['explanation']}", highlight=False)


def balance(
    community: Annotated[str | None, typer.Option(help="12-digit community code")] = None,
    street: Annotated[str | None, typer.Option(help="12-digit street code: every community in it")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every community with a boundary")] = False,
    rebalance: Annotated[
        bool, typer.Option(help="start from the active plan (where there is one) and move as little as possible")
    ] = False,
    jobs: Annotated[int, typer.Option(help="worker processes (0 = one per core)")] = 0,
    min_households: Annotated[int, typer.Option("--min", help="smallest grid")] = 300,
    max_households: Annotated[int, typer.Option("--max", help="largest grid")] = 500,
    target: Annotated[int, typer.Option(help="preferred grid size")] = 400,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same plan)")] = 0,
    approve: Annotated[bool, typer.Option(help="approve the drafts at once")] = False,
    user: Annotated[str, typer.Option(help="recorded as the plans' author")] = "cli",
) -> None:
    """Propose grids for communities and store them as draft plans."""
    from geo.cli import _engine
    from geo.db import plans

    engine = _engine()
    with engine.connect() as conn:
        codes = plans.community_codes(conn, community=community, street=street, all_=all_)
    errors: dict[str, str] = {}
    with _progress() as progress:
        task = progress.add_task(f"balancing {len(codes)} communities", total=len(codes))
        rows = plans.balance(
            engine,
            codes,
            rebalance=rebalance,
            params=_params(min_households, max_households, target, seed),
            jobs=jobs or None,
            created_by=user,
            errors=errors,
            progress=lambda done, total, code: progress.update(task, completed=done),
        )
    out.print(_summary_table(rows, "draft plans"))
    _explanations(rows)
    for code, msg in errors.items():
        err.print(f"error: {code}: {msg}", highlight=False)
    if approve:
        for r in rows:
            plans.approve(engine, r["plan_id"], approved_by=user)
        out.print(f"approved {len(rows)} plan(s)")


def balance_file(
    buildings: Annotated[Path, typer.Option(help="buildings: id, households, community_code[, compound_id]")],
    communities: Annotated[Path, typer.Option(help="communities: code")],
    out_path: Annotated[Path, typer.Option("--out", help="output GeoPackage")],
    layer: Annotated[str | None, typer.Option(help="buildings layer")] = None,
    community_layer: Annotated[str | None, typer.Option(help="communities layer")] = None,
    existing: Annotated[Path | None, typer.Option(help="CSV building_id,grid_code for a re-balance")] = None,
    jobs: Annotated[int, typer.Option(help="worker processes (0 = one per core)")] = 0,
    min_households: Annotated[int, typer.Option("--min")] = 300,
    max_households: Annotated[int, typer.Option("--max")] = 500,
    target: Annotated[int, typer.Option()] = 400,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Balance from files to a GeoPackage (grids layer + assignment table), no database needed."""
    from geo.balance import Proposal
    from geo.balance import balance_file as run

    with _progress() as progress:
        task = progress.add_task("balancing", total=None)
        proposals = run(
            buildings,
            communities,
            out_path,
            layer=layer,
            community_layer=community_layer,
            existing_csv=existing,
            params=_params(min_households, max_households, target, seed),
            jobs=jobs or None,
            progress=lambda d, t, c: progress.update(task, completed=d, total=t),
        )
    summary = Proposal.concat(proposals.values()).summary()
    rows = summary.astype(object).where(summary.notna(), None).to_dict("records")  # NaN kept share: no old grids
    out.print(_summary_table(rows, f"grids written to {out_path}"))


@plan_app.command("list")
def plan_list(
    community: Annotated[str | None, typer.Option(help="community code")] = None,
    street: Annotated[str | None, typer.Option(help="street code")] = None,
) -> None:
    """List plans (draft, active, retired, discarded)."""
    from geo.cli import _engine
    from geo.db import plans

    engine = _engine()
    codes = None
    if community or street:
        with engine.connect() as conn:
            codes = plans.community_codes(conn, community=community, street=street)
    t = Table(title="plans")
    for col in ("id", "community", "status", "grids", "in band", "created", "approved", "note"):
        t.add_column(col)
    for p in plans.list_plans(engine, codes):
        s = p["summary"] or {}
        band = s.get("in_band_share")
        t.add_row(
            str(p["id"]),
            f"{p['community_code']} {p['community']}",
            p["status"],
            str(p["grids"]),
            "" if band is None else f"{band * 100:.0f}%",
            f"{p['created_at']:%Y-%m-%d %H:%M}",
            f"{p['approved_at']:%Y-%m-%d %H:%M}" if p["approved_at"] else "",
            p["note"] or "",
        )
    out.print(t)


@plan_app.command("diff")
def plan_diff(
    plan: Annotated[int, typer.Argument(help="plan id")],
    other: Annotated[int | None, typer.Argument(help="plan to compare with (default: active)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Buildings and households that change grid between two plans."""
    from geo.cli import _engine
    from geo.db import plans

    d = plans.diff(_engine(), plan, other)
    if as_json:
        print(json.dumps(d, ensure_ascii=False, default=str, indent=2))
        return
    out.print(
        f"plan {d['plan_id']} vs {d['other_id']}: {d['buildings_moved']} building(s), "
        f"{d['households_moved']:,} households change grid "
        f"({(d['households_kept_share'] or 0) * 100:.1f}% keep theirs); grids added {d['grids_added']}, "
        f"removed {d['grids_removed']}",
        highlight=False,
    )


@plan_app.command("approve")
def plan_approve(
    plan: Annotated[int, typer.Argument(help="draft plan id")], user: Annotated[str, typer.Option()] = "cli"
) -> None:
    """Make a draft the active plan (the previous one is retired, and stays queryable)."""
    from geo.cli import _engine
    from geo.db import plans

    r = plans.approve(_engine(), plan, approved_by=user)
    out.print(f"plan {plan} is active" + (f"; plan {r['retired']} retired" if r["retired"] else ""))


@plan_app.command("discard")
def plan_discard(plan: Annotated[int, typer.Argument(help="draft plan id")]) -> None:
    """Discard a draft."""
    from geo.cli import _engine
    from geo.db import plans

    plans.discard(_engine(), plan)
    out.print(f"plan {plan} discarded")


@plan_app.command("validate")
def plan_validate(plan: Annotated[int, typer.Argument(help="plan id")]) -> None:
    """Band, contiguity, coverage and compounds split of a plan."""
    from geo.cli import _engine
    from geo.db import plans

    with _engine().connect() as conn:
        v = plans.validate(conn, plan)
    print(json.dumps(v, ensure_ascii=False, indent=2))
