"""Grid workers (网格员): bound to a grid code, which stays stable across plans."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.errors import InvalidInput, NotFound

PHONE = re.compile(r"^1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")


def add_worker(
    engine: Engine, name: str, grid_code: str, phone: str | None = None, role: str = "worker", user: str | None = None
) -> int:
    """Register a worker (or grid head) for a grid of an active plan."""
    if not re.fullmatch(r"\d{15}", grid_code):
        raise InvalidInput(f"a grid code has 15 digits, got {grid_code!r}")
    if phone and not PHONE.match(phone):
        raise InvalidInput(f"{phone!r} is not a mobile (11 digits) or landline number")
    with engine.begin() as conn:
        known = conn.execute(
            sa.text(
                "SELECT 1 FROM grid g JOIN grid_plan p ON p.id = g.plan_id AND p.status = 'active' WHERE g.code = :c"
            ),
            {"c": grid_code},
        ).scalar()
        if not known:
            raise NotFound(f"no grid {grid_code} in an active plan")
        uid = None
        if user:
            uid = conn.execute(sa.text("SELECT id FROM app_user WHERE name = :n"), {"n": user}).scalar()
            if uid is None:
                raise NotFound(f"no user {user!r}")
        conn.execute(
            sa.text("UPDATE grid_worker SET active = false WHERE grid_code = :c AND role = :r AND active"),
            {"c": grid_code, "r": role},
        )
        return int(
            conn.execute(
                sa.text(
                    "INSERT INTO grid_worker (name, phone, grid_code, role, user_id) VALUES (:n, :p, :c, :r, :u) RETURNING id"
                ),
                {"n": name, "p": phone, "c": grid_code, "r": role, "u": uid},
            ).scalar_one()
        )


def import_workers(engine: Engine, csv_path: str | Path) -> int:
    """Load ``grid_code,name,phone`` rows; returns how many were registered."""
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    if not {"grid_code", "name"} <= set(frame.columns):
        raise InvalidInput(f"{csv_path}: needs columns grid_code,name[,phone]")
    for row in frame.itertuples():
        add_worker(engine, row.name, row.grid_code, getattr(row, "phone", None) or None)
    return len(frame)


SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "建国志强秀英桂兰海燕丽娟晓东春梅宏伟雅琴文博思远乌兰其其格巴特尔萨仁苏和"


def seed_sample_workers(engine: Engine, seed: int = 7) -> int:
    """Give every active basic grid without a worker an invented one (for the demo only)."""
    rng = np.random.default_rng(seed)
    with engine.connect() as conn:
        codes = (
            conn.execute(
                sa.text(
                    "SELECT g.code FROM grid g JOIN grid_plan p ON p.id = g.plan_id AND p.status = 'active' "
                    "WHERE g.kind = 'basic' AND NOT EXISTS (SELECT 1 FROM grid_worker w WHERE w.grid_code = g.code AND w.active) "
                    "ORDER BY g.code"
                )
            )
            .scalars()
            .all()
        )
    for code in codes:
        name = SURNAMES[rng.integers(len(SURNAMES))] + "".join(GIVEN[i] for i in rng.integers(len(GIVEN), size=2))
        phone = "13" + "".join(str(d) for d in rng.integers(10, size=9))
        add_worker(engine, name, code, phone)
    return len(codes)
