"""The private cluster's lifecycle and the CLI's one-line errors, through the real `gridmap` command."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geo.db.cluster import Cluster
from geo.db.settings import DatabaseSettings

GRIDMAP = [sys.executable, "-m", "geo.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRIDMAP, *args], capture_output=True, text=True, env=env, timeout=180)


@pytest.fixture
def private_env(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GRIDMAP_DATABASE_URL")}
    env.update(GRIDMAP_HOME=str(tmp_path / "gm"), GRIDMAP_PG_PORT=str(free_port()))
    yield env
    cluster = Cluster(
        DatabaseSettings(home=Path(env["GRIDMAP_HOME"]), pg_port=int(env["GRIDMAP_PG_PORT"])),
        say=lambda _m: None,
    )
    if cluster.running():
        cluster.down()
    shutil.rmtree(cluster.data_home, ignore_errors=True)


@pytest.mark.skipif(os.environ.get("DATABASE_URL") is not None, reason="needs a local PostgreSQL to start clusters")
def test_db_up_twice_is_a_no_op_and_a_stale_pid_file_is_handled(private_env) -> None:
    first = run(["db", "up"], private_env)
    assert first.returncode == 0, first.stderr
    assert "PostGIS started" in first.stdout and "database gridmap created" in first.stdout
    second = run(["db", "up"], private_env)
    assert second.returncode == 0 and "already running" in second.stdout
    assert "created" not in second.stdout

    cluster = Cluster(
        DatabaseSettings(home=Path(private_env["GRIDMAP_HOME"]), pg_port=int(private_env["GRIDMAP_PG_PORT"])),
        say=lambda _m: None,
    )
    pid = cluster._pid()
    assert pid and cluster.running()
    os.kill(pid, signal.SIGKILL)  # a crash: postmaster.pid stays behind
    for _ in range(100):
        if not cluster.running():
            break
        time.sleep(0.05)
    time.sleep(1.0)  # let the orphaned backends notice and exit
    assert (cluster.pgdata / "postmaster.pid").exists()
    third = run(["db", "up"], private_env)
    assert third.returncode == 0, third.stderr
    assert "PostGIS started" in third.stdout
    down = run(["db", "down"], private_env)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not cluster.running()


def test_port_taken_is_one_clear_line(private_env) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(private_env["GRIDMAP_PG_PORT"])))
        s.listen()
        proc = run(["db", "up"], private_env)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("·")]
    assert len(lines) == 1, proc.stderr
    assert f"port {private_env['GRIDMAP_PG_PORT']} is taken" in lines[0]
    assert "Traceback" not in proc.stderr


def test_unreachable_database_is_one_clear_line() -> None:
    env = {**os.environ, "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"}
    proc = run(["db", "migrate"], env)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert proc.stderr.startswith("error: cannot reach the database at postgresql+psycopg2://nobody@127.0.0.1")
    assert "gridmap db up" in proc.stderr


def test_database_url_means_nothing_is_started(engine) -> None:
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    proc = run(["db", "up"], env)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to start" in proc.stdout
