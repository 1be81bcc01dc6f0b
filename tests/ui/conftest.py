"""Browser tests of the pages: headless Chromium (Debian's package) driven by Playwright, against a real
uvicorn server on the test database loaded with the sample street, balanced and approved.

Playwright's own browser downloads are never used (no ``playwright install``): the browser is
``/usr/bin/chromium`` (``GRIDMAP_CHROMIUM`` overrides). The tests are skipped only when that browser
is missing; CI installs it (``.ci/run``). Screenshots go to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from geo.db import plans
from geo.db.imports import import_paths
from geo.db.people import import_dwellings, import_persons
from geo.db.users import add_user
from geo.db.workers import seed_sample_workers
from tests.conftest import ROOT, SAMPLE, clean
from tests.utils.server import live_server

CHROMIUM = os.environ.get("GRIDMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"
STREET = "150102003000"
WORKER_COMMUNITY = "150102003001"  # the worker tests read this community's active grids
PLANNER_COMMUNITY = "150102003002"  # the planner test re-plans this one

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


#: every test module here: ``pytestmark = needs_chromium``
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)


def one(engine: sa.Engine, q: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(q), params).first()


@pytest.fixture(scope="package")
def site(engine, db_url, keys) -> Iterator[dict[str, Any]]:
    """The sample street with people, balanced and approved, grid workers, users, and a live server."""
    clean(engine)
    import_paths(engine, [SAMPLE / "communities.shp", SAMPLE / "compounds.shp", SAMPLE / "buildings.shp"])
    import_dwellings(engine, SAMPLE / "dwellings.csv")
    import_persons(engine, SAMPLE / "persons.csv", keys=keys)
    with engine.connect() as conn:
        codes = plans.community_codes(conn, street=STREET)
    for r in plans.balance(engine, codes, jobs=2):
        plans.approve(engine, r["plan_id"])
    seed_sample_workers(engine)
    with engine.begin() as conn:  # as autovacuum would soon after a bulk load (the drill-down's plans need it)
        conn.execute(sa.text("ANALYZE"))
    # the worker's grid: the community's grid with the most dwellings' buildings; another grid beside it
    mine = one(
        engine,
        """
        SELECT g.code FROM grid g JOIN grid_plan p ON p.id = g.plan_id AND p.status = 'active'
        JOIN grid_assignment a ON a.grid_id = g.id
        WHERE g.community_code = :c AND g.kind = 'basic' AND a.households > 0 AND a.part = ''
        GROUP BY g.code ORDER BY count(*) DESC, g.code LIMIT 1""",
        c=WORKER_COMMUNITY,
    ).code
    other = one(
        engine,
        """
        SELECT g.code FROM grid g JOIN grid_plan p ON p.id = g.plan_id AND p.status = 'active'
        WHERE g.community_code = :c AND g.kind = 'basic' AND g.code <> :m ORDER BY g.code LIMIT 1""",
        c=WORKER_COMMUNITY,
        m=mine,
    ).code
    tokens = {
        "planner": add_user(engine, "规划员小王", "planner", [STREET])[1],
        "worker": add_user(engine, "网格员小李", "worker", [mine])[1],
        "viewer": add_user(engine, "viewer", "viewer", [STREET])[1],
        "other_planner": add_user(engine, "other", "planner", ["150102004000"])[1],
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with live_server(db_url) as base, httpx.Client(base_url=base, timeout=60) as http:
        yield {"base": base, "http": http, "engine": engine, "tokens": tokens, "grid": mine, "other_grid": other}


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """A page plus what it did: console errors and every URL it asked for (all must be local)."""

    def __init__(self, context: BrowserContext, base: str) -> None:
        self.context = context
        self.base = base
        self.page: Page = context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        # the pages run under a strict Content-Security-Policy: anything it refuses is a bug
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None,
        )

    def wait_for(self, expression: str, arg: Any = None, timeout: float = 30.0) -> Any:
        """Poll a JavaScript expression until it is truthy (``wait_for_function`` would need eval, which the
        pages' Content-Security-Policy forbids)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.page.evaluate(expression, arg)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            self.page.wait_for_timeout(50)

    def login(self, token: str) -> None:
        self.page.fill("#gm-token", token)
        self.page.click(".login-form button[type=submit]")
        self.page.wait_for_selector(".login-user")

    def idle(self) -> None:
        self.wait_for("document.body.getAttribute('aria-busy') !== 'true'")

    def shot(self, name: str, full_page: bool = False) -> Path:
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def check_clean(self) -> None:
        """No script errors, nothing fetched from anywhere but the server (the pages work offline)."""
        assert not self.errors, self.errors
        outside = [u for u in self.requests if not (u.startswith(self.base) or u.startswith(("data:", "blob:")))]
        assert not outside, outside


@pytest.fixture
def tab_factory(browser, site) -> Iterator[Any]:
    contexts: list[BrowserContext] = []

    def make(viewport: dict[str, int], **kw: Any) -> Tab:
        ctx = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai", **kw)
        contexts.append(ctx)
        return Tab(ctx, site["base"])

    yield make
    for c in contexts:
        c.close()
