"""The private PostgreSQL + PostGIS cluster that GridMap starts for itself.

``up()`` finds PostgreSQL and PostGIS (installing them with apt when they are missing and we run
as root on Debian), creates a cluster under ``.gridmap/pgdata`` listening on 127.0.0.1 only, on a
non-default port, starts it, and creates the database with the ``postgis`` extension. Every step is
idempotent, so a second ``up()`` is a no-op, and a stale ``postmaster.pid`` left by a crash is
removed. With ``DATABASE_URL`` set, nothing is installed or started.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from geo.db.settings import DatabaseSettings
from geo.errors import SetupError

Say = Callable[[str], None]

PG_CONF = """
# --- GridMap private cluster (written by `gridmap db up`) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 100
shared_buffers = 256MB
work_mem = 32MB
maintenance_work_mem = 256MB
synchronous_commit = off
max_wal_size = 2GB
jit = off
log_min_messages = warning
log_statement = 'none'
"""


def _world_traversable(path: Path) -> bool:
    """Whether every existing folder on the way to ``path`` lets other users through (o+x)."""
    p = path.resolve()
    for folder in [*reversed(p.parents), p]:
        if folder.exists() and not folder.stat().st_mode & 0o001:
            return False
    return True


@dataclass(frozen=True)
class PgInstall:
    """Where the PostgreSQL server binaries are and whether PostGIS is there for them."""

    version: int
    bindir: Path
    has_postgis: bool


def _versions() -> list[int]:
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        m = re.search(r"/postgresql/(\d+)/bin", initdb)
        if m:
            found.append(int(m.group(1)))
    return sorted(found)


def _has_postgis(version: int) -> bool:
    return any(Path(p).exists() for p in glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control"))


def find_postgres() -> PgInstall | None:
    """Return the newest PostgreSQL server installed, preferring one that has PostGIS."""
    versions = _versions()
    if not versions:
        initdb = shutil.which("initdb")
        if not initdb:
            return None
        bindir = Path(os.path.realpath(initdb)).parent
        out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True)
        m = re.search(r"(\d+)", out.stdout)
        version = int(m.group(1)) if m else 0
        return PgInstall(version, bindir, _has_postgis(version))
    with_postgis = [v for v in versions if _has_postgis(v)]
    v = (with_postgis or versions)[-1]
    return PgInstall(v, Path(f"/usr/lib/postgresql/{v}/bin"), _has_postgis(v))


def _apt_install(packages: list[str], log: Path, say: Say) -> None:
    say(f"installing {' '.join(packages)} with apt (log: {log})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log.open("ab") as fh:
        for cmd in (
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", *packages],
        ):
            if subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode != 0:
                raise SetupError(f"`{' '.join(cmd)}` failed; see {log}")


def ensure_installed(settings: DatabaseSettings, say: Say) -> PgInstall:
    """Find PostgreSQL with PostGIS, installing the Debian packages when allowed."""
    pg = find_postgres()
    if pg and pg.has_postgis:
        return pg
    missing = "PostGIS" if pg else "PostgreSQL and PostGIS"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pkg = f"postgresql-{pg.version}-postgis-3" if pg else "postgresql and postgresql-NN-postgis-3"
        who = "not running as root" if os.geteuid() != 0 else "apt-get is not available"
        raise SetupError(
            f"{missing} not found and {who}: install {pkg} yourself, or set DATABASE_URL to a PostGIS server"
        )
    settings.home.mkdir(parents=True, exist_ok=True)
    log = settings.home / "apt.log"
    if pg is None:
        _apt_install(["postgresql"], log, say)
        pg = find_postgres()
        if pg is None:
            raise SetupError(f"apt installed postgresql but no server binaries were found; see {log}")
    # the PostGIS package is per server major version (15 on Debian 12, 17 on Debian 13)
    _apt_install([f"postgresql-{pg.version}-postgis-3"], log, say)
    pg = find_postgres()
    if pg is None or not pg.has_postgis:
        raise SetupError(f"PostGIS is still missing after apt install; see {log}")
    return pg


class Cluster:
    """The private cluster in ``settings.home``."""

    def __init__(self, settings: DatabaseSettings, say: Say = print) -> None:
        self.settings = settings
        self.say = say
        self.home = settings.home
        data_home = self.home
        if os.geteuid() == 0 and not _world_traversable(self.home):
            # root runs the server as `postgres`, which cannot enter e.g. /root/...: keep the data in /var/tmp
            digest = hashlib.sha1(str(self.home.resolve()).encode()).hexdigest()[:10]
            data_home = Path("/var/tmp") / f"gridmap-{digest}"
        self.data_home = data_home
        self.pgdata = data_home / "pgdata"
        self.logfile = data_home / "postgres.log"

    # -- running commands as the cluster's owner -------------------------------------------
    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        tool = Path(argv[0]).name
        if self._as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise SetupError(
                f"`{tool}` failed: {detail[-1] if detail else 'exit ' + str(proc.returncode)} (log: {self.logfile})"
            )
        return proc

    def _prepare_dirs(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.data_home.mkdir(parents=True, exist_ok=True)
        if self.data_home != self.home and not self.pgdata.exists():
            self.say(f"{self.home} is not reachable by the postgres user; cluster data kept in {self.data_home}")
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.logfile.touch(exist_ok=True)
        if self._as_root:
            try:
                import pwd

                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise SetupError("running as root but there is no `postgres` system user to own the cluster") from None
            for p in (self.pgdata, self.logfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            # the server must be able to reach its data directory
            probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(self.data_home)])
            if probe.returncode != 0:
                raise SetupError(
                    f"the postgres user cannot enter {self.data_home}: make its parent folders world-executable "
                    "(chmod o+x) or set GRIDMAP_HOME to another folder"
                )

    # -- state ------------------------------------------------------------------------------
    def _pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        """True when the cluster's postmaster is alive."""
        pid = self._pid()
        if pid is None:
            return False
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return False
        return comm in ("postgres", "postmaster")

    def _clear_stale_pid(self) -> None:
        pidfile = self.pgdata / "postmaster.pid"
        if pidfile.exists() and not self.running():
            self.say(f"removing stale {pidfile.name} (pid {self._pid()} is not running)")
            pidfile.unlink()

    def _port_taken(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.settings.pg_port)) == 0

    # -- lifecycle --------------------------------------------------------------------------
    def up(self) -> str:
        """Install if needed, initialise, start, create the database; return a status line."""
        pg = ensure_installed(self.settings, self.say)
        self._prepare_dirs()
        was_running = self.running()
        if not was_running:
            self._clear_stale_pid()
            if self._port_taken():
                raise SetupError(
                    f"port {self.settings.pg_port} is taken by another program: set GRIDMAP_PG_PORT to a free port, "
                    "or DATABASE_URL to use an existing PostGIS server"
                )
        if not (self.pgdata / "PG_VERSION").exists():
            self.say(f"initialising a PostgreSQL {pg.version} cluster in {self.pgdata}")
            self._run(
                [
                    str(pg.bindir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    self.settings.pg_user,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            )
            with (self.pgdata / "postgresql.conf").open("a") as fh:
                fh.write(PG_CONF)
        else:
            data_version = int((self.pgdata / "PG_VERSION").read_text().strip())
            if data_version != pg.version:
                pg = PgInstall(
                    data_version,
                    Path(f"/usr/lib/postgresql/{data_version}/bin"),
                    _has_postgis(data_version),
                )
                if not (pg.bindir / "postgres").exists():
                    raise SetupError(
                        f"{self.pgdata} was made by PostgreSQL {data_version}, which is not installed; "
                        f"remove {self.data_home} to start afresh"
                    )
        started = False
        if not was_running:
            self.say(f"starting PostgreSQL on 127.0.0.1:{self.settings.pg_port}")
            self._run(
                [
                    str(pg.bindir / "pg_ctl"),
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.logfile),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {self.settings.pg_port}",
                    "start",
                ]
            )
            started = True
        created = create_database(self.settings.url, self.settings.pg_database)
        what = "started" if started else "already running"
        extra = f", database {self.settings.pg_database} created" if created else ""
        return f"PostGIS {what} at {self.settings.url}{extra}"

    def down(self) -> str:
        """Stop the cluster when it runs."""
        if not self.running():
            self._clear_stale_pid() if self.pgdata.exists() else None
            return "PostgreSQL is not running"
        pg = find_postgres()
        version = int((self.pgdata / "PG_VERSION").read_text().strip())
        bindir = Path(f"/usr/lib/postgresql/{version}/bin") if pg is None or pg.version != version else pg.bindir
        self._run([str(bindir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        return "PostgreSQL stopped"


def create_database(url: str, name: str, template: str | None = None) -> bool:
    """Create database ``name`` on the server of ``url`` with PostGIS; return whether it was new."""
    import sqlalchemy as sa

    from geo.db.engine import make_engine

    admin = make_engine(url, database="postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            if not exists:
                tmpl = f' TEMPLATE "{template}"' if template else ""
                conn.execute(sa.text(f'CREATE DATABASE "{name}"{tmpl}'))
    finally:
        admin.dispose()
    db = make_engine(url, database=name, isolation_level="AUTOCOMMIT")
    try:
        with db.connect() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    finally:
        db.dispose()
    return not exists


def drop_database(url: str, name: str) -> None:
    """Drop database ``name`` (terminating its sessions) when it exists."""
    import sqlalchemy as sa

    from geo.db.engine import make_engine

    admin = make_engine(url, database="postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
