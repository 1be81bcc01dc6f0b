"""Write a benchmark's results into docs/benchmarks.md between its own markers."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Every figure here is written by a script under `bench/`, on this project's 2-core, 24 GB machine, with
the peer (where one exists) measured in the same run on the same data. Re-run a script to refresh its
section; the others stay as they are.
"""


def write_section(key: str, title: str, body: str) -> None:
    """Replace (or append) the section ``key`` of docs/benchmarks.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"<!-- bench:{key}:start -->\n## {title}\n\n_Measured {stamp} by `bench/{key}.py`._\n\n"
        f"{body.strip()}\n<!-- bench:{key}:end -->"
    )
    pattern = re.compile(rf"<!-- bench:{key}:start -->.*?<!-- bench:{key}:end -->", re.S)
    text = pattern.sub(block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")
