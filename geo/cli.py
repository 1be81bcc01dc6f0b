"""The ``gridmap`` command. Errors are printed as one clear line (no traceback) with exit code 1."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from geo.errors import GeoError

app = typer.Typer(
    help="GridMap: community grids, PostGIS store, maps and sync.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database: a private local PostGIS, or DATABASE_URL.", no_args_is_help=True)
app.add_typer(db_app, name="db")
user_app = typer.Typer(help="Users, roles and bearer tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
worker_app = typer.Typer(help="Grid workers (网格员).", no_args_is_help=True)
app.add_typer(worker_app, name="worker")


def _register_commands() -> None:
    from geo.commands import balance, maps, sync

    app.add_typer(sync.app, name="sync")

    app.command("maps")(maps.maps)
    app.command("signboards")(maps.signboards)
    app.command("balance")(balance.balance)
    app.command("balance-file")(balance.balance_file)
    app.add_typer(balance.plan_app, name="plan")


out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

SAMPLE = Path(__file__).resolve().parents[1] / "sample_shapefiles"


def _engine():  # noqa: ANN202
    from geo.db.engine import check, make_engine
    from geo.db.settings import get_db_settings

    engine = make_engine(get_db_settings().url)
    check(engine)
    return engine


def _say(msg: str) -> None:
    print(f"· {msg}", file=sys.stderr, flush=True)


# -- database ------------------------------------------------------------------------------------
@db_app.command("up")
def db_up() -> None:
    """Install (if needed) and start the private PostGIS cluster and create the database."""
    from geo.db.cluster import Cluster
    from geo.db.settings import get_db_settings

    settings = get_db_settings()
    if not settings.managed:
        from geo.db.engine import describe

        _engine()
        out.print(f"using DATABASE_URL {describe(settings.url)}; nothing to start")
        return
    out.print(Cluster(settings, say=_say).up(), highlight=False)


@db_app.command("down")
def db_down() -> None:
    """Stop the private PostGIS cluster."""
    from geo.db.cluster import Cluster
    from geo.db.settings import get_db_settings

    settings = get_db_settings()
    if not settings.managed:
        out.print("using DATABASE_URL; nothing to stop")
        return
    out.print(Cluster(settings, say=_say).down())


@db_app.command("migrate")
def db_migrate(revision: Annotated[str, typer.Option(help="target revision")] = "head") -> None:
    """Upgrade the schema to the latest (or given) revision."""
    from geo.db import migrate

    engine = _engine()
    migrate.upgrade(engine, revision)
    out.print(f"schema at revision {migrate.current(engine)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, 'base' drops everything")],
) -> None:
    """Downgrade the schema."""
    from geo.db import migrate

    engine = _engine()
    migrate.downgrade(engine, revision)
    out.print(f"schema at revision {migrate.current(engine) or 'base'}")


@app.command("load-divisions")
def load_divisions_cmd(
    csv: Annotated[Path, typer.Argument(help="code,name,level,parent_code CSV")] = SAMPLE / "nmg_divisions.csv",
) -> None:
    """Load the official division codes (province → community/village)."""
    from geo.db.load import load_divisions

    _print_reports([load_divisions(_engine(), csv)])


# -- import --------------------------------------------------------------------------------------
@app.command("import")
def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Shapefile (.shp/.zip), GeoPackage or GeoJSON files")],
    kind: Annotated[
        str | None,
        typer.Option(help="communities | compounds | buildings (else guessed from the name)"),
    ] = None,
    fields: Annotated[Path | None, typer.Option(help="JSON/TOML field-name mapping override")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of files that have none, e.g. EPSG:4546")] = None,
    report_dir: Annotated[Path, typer.Option(help="where the JSON reports go")] = Path(".gridmap/reports"),
) -> None:
    """Import communities, compounds and buildings; report inserted/updated/unchanged/repaired/rejected."""
    from geo.db.imports import import_paths

    engine = _engine()
    with err.status("importing") as status:
        reports = import_paths(
            engine,
            paths,
            kind=kind,
            fields=fields,
            crs=crs,
            report_dir=report_dir,
            progress=lambda m: status.update(m),
        )
    _print_reports(reports)


@app.command("import-people")
def import_people_cmd(
    dwellings: Annotated[Path, typer.Option(help="dwellings CSV")] = SAMPLE / "dwellings.csv",
    persons: Annotated[Path, typer.Option(help="persons CSV")] = SAMPLE / "persons.csv",
    report_dir: Annotated[Path, typer.Option(help="where the JSON reports go")] = Path(".gridmap/reports"),
) -> None:
    """Load dwellings and the persons living in them (ID numbers validated, hashed and encrypted)."""
    from geo.db.people import import_dwellings, import_persons

    engine = _engine()
    reports = [import_dwellings(engine, dwellings, report_dir=report_dir)]
    reports.append(import_persons(engine, persons, report_dir=report_dir, progress=_say))
    _print_reports(reports)


@app.command("summary")
def summary_cmd() -> None:
    """Print what the database holds, per community."""
    from geo.db.stats import community_summary

    rows = community_summary(_engine())
    t = Table(title="communities")
    for col in ("code", "name", "compounds", "buildings", "dwellings", "persons", "linked %"):
        t.add_column(col, justify="right" if col not in ("code", "name") else "left")

    def n(v: object) -> str:
        return "-" if v is None else f"{v:,}"

    for r in rows:
        t.add_row(
            r["code"],
            r["name"],
            n(r["compounds"]),
            n(r["buildings"]),
            n(r["dwellings"]),
            n(r["persons"]),
            f"{r['link_rate'] * 100:.2f}" if r["link_rate"] is not None else "-",
        )
    out.print(t)


# -- users ---------------------------------------------------------------------------------------
@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="admin | planner | worker | sync | viewer")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="street/community code (planner, viewer) or grid code (worker); repeatable"),
    ] = None,
) -> None:
    """Create a user and print its bearer token once (only a hash is stored)."""
    from geo.db.users import add_user

    _uid, token = add_user(_engine(), name, role, scope or [])
    err.print(f"user {name} ({role}) created; its token, shown only now:")
    print(token)


@user_app.command("token")
def user_token(name: Annotated[str, typer.Argument()]) -> None:
    """Issue another token for a user (printed once)."""
    from geo.db.users import new_token

    print(new_token(_engine(), name))


@user_app.command("revoke")
def user_revoke(name: Annotated[str, typer.Argument()]) -> None:
    """Revoke every token of a user."""
    from geo.db.users import revoke

    out.print(f"{revoke(_engine(), name)} token(s) revoked")


@user_app.command("list")
def user_list() -> None:
    """List users, roles, scopes and live tokens."""
    from geo.db.users import list_users

    t = Table(title="users")
    for col in ("name", "role", "scopes", "tokens", "created"):
        t.add_column(col)
    for u in list_users(_engine()):
        t.add_row(
            u["name"],
            u["role"],
            " ".join(u["scopes"] or []),
            str(u["tokens"]),
            f"{u['created_at']:%Y-%m-%d %H:%M}",
        )
    out.print(t)


# -- grid workers --------------------------------------------------------------------------------
@worker_app.command("add")
def worker_add(
    name: Annotated[str, typer.Argument(help="the worker's name")],
    grid: Annotated[str, typer.Option(help="15-digit grid code")],
    phone: Annotated[str | None, typer.Option(help="public phone on the grid's signboard")] = None,
    head: Annotated[bool, typer.Option(help="a grid head (网格长) rather than a worker")] = False,
    user: Annotated[str | None, typer.Option(help="the login (gridmap user) of this worker")] = None,
) -> None:
    """Register the worker of a grid (replaces the previous one)."""
    from geo.db.workers import add_worker

    add_worker(_engine(), name, grid, phone, "head" if head else "worker", user)
    out.print(f"{name} now looks after {grid}")


@worker_app.command("import")
def worker_import(csv: Annotated[Path, typer.Argument(help="grid_code,name,phone")]) -> None:
    """Register workers from a CSV."""
    from geo.db.workers import import_workers

    out.print(f"{import_workers(_engine(), csv)} worker(s) registered")


@worker_app.command("seed-sample")
def worker_seed() -> None:
    """Give every active grid without a worker an invented one (demo data)."""
    from geo.db.workers import seed_sample_workers

    out.print(f"{seed_sample_workers(_engine())} invented worker(s) added")


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option()] = 1,
) -> None:
    """Run the HTTP API."""
    import uvicorn

    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


def _print_reports(reports) -> None:  # noqa: ANN001
    t = Table(title="import report")
    for col in (
        "layer",
        "kind",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "repaired",
        "rejected",
    ):
        t.add_column(col, justify="left" if col in ("layer", "kind") else "right")
    for r in reports:
        t.add_row(
            r.layer,
            r.kind,
            *(f"{getattr(r, c):,}" for c in ("read", "inserted", "updated", "unchanged", "repaired", "rejected")),
        )
    out.print(t)
    for r in reports:
        for reason, n in r.rejected_by_reason.items():
            out.print(f"  {r.layer}: rejected {n} × {reason}", highlight=False)
        for note in r.notes:
            out.print(f"  {r.layer}: {note}", highlight=False)
        if r.warnings:
            out.print(f"  {r.layer}: {len(r.warnings)} warning(s), e.g. {r.warnings[0]}", highlight=False)


_register_commands()


def main() -> None:
    """Entry point: run the app, turning domain errors into one line on stderr."""
    try:
        app()
    except GeoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # an unexpected failure: still one line, the traceback on request
        if os.environ.get("GRIDMAP_DEBUG"):
            raise
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            print(
                f"error: the database stopped answering ({str(exc.orig).strip().splitlines()[0]})",
                file=sys.stderr,
            )
        else:
            print(
                f"error: unexpected {type(exc).__name__}: {exc} (set GRIDMAP_DEBUG=1 for the traceback)",
                file=sys.stderr,
            )
        sys.exit(2)


if __name__ == "__main__":
    main()
