"""The public-security (公安) sync: batch files, record validation and staging rows (pure).

A batch is one file, NDJSON or CSV, UTF-8 or GBK (GB 18030), with a batch header and one record
per line; ``docs/sync-format.md`` is the reference. This module reads batches in chunks of whole
lines (so a chunk can be handed to another process and a run resumed at a byte offset), validates
every record with the rules of :mod:`geo.people` (ID number check digit and birth date via
:mod:`geo.ids`, 15-digit numbers upgraded and flagged, required fields), matches the residence
address (:mod:`geo.matching`) and turns the chunk into staging rows for COPY: the ID number
replaced by its keyed hash and AES-GCM cipher, masked for display. Nothing here touches the
database; :mod:`geo.db.sync` does.

Every record read ends in exactly one place: a staging row, or a reject with a reason code
(:data:`REASONS`) and the masked ID number.

Test hook: :func:`crash_point` kills the process applying a batch with ``SIGKILL`` at a point
named in the environment variable ``GRIDMAP_SYNC_CRASH_AT`` (see :mod:`geo.db.sync`), for the
crash-safety tests; without the variable it does nothing.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import mul
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from geo import ids
from geo.errors import InvalidInput

try:  # about three times faster; optional
    from orjson import JSONDecodeError as _JSONError
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    _loads = json.loads
    _JSONError = json.JSONDecodeError
from geo.people import RowReject
from geo.privacy import PersonKeys

FORMAT_VERSION = "gridmap-sync/1"
OPS = ("upsert", "move_out", "death", "delete")
KINDS = ("full", "incremental")
POPULATION_TYPES = ("户籍", "流动", "境外")
#: person.residence_type given to a new person by population type (GridMap's own classification)
RESIDENCE_BY_POPULATION = {"户籍": "常住", "流动": "流动", "境外": "流动", None: "常住"}

#: every reason a record can be rejected for, with its meaning (docs/sync-format.md lists them)
REASONS = {
    "encoding_invalid": "the line is not text in the batch's encoding",
    "record_malformed": "the line is not a JSON object / a CSV row with the header's columns",
    "op_invalid": "op is not one of upsert, move_out, death, delete",
    "version_missing": "neither version nor updated_at is given",
    "version_invalid": "version is not a whole number ≥ 0, or updated_at not an ISO date-time",
    "id_missing": "the ID number is empty",
    "id_format": "the ID number has neither 18 characters nor 15 digits",
    "id_checksum": "the check digit does not match (ISO 7064 MOD 11-2)",
    "id_birth_date": "the birth date inside the ID number does not exist or is in the future",
    "name_missing": "an upsert without a name",
    "birth_date_invalid": "birth_date is not a date",
    "id_birth_mismatch": "birth_date differs from the ID number's",
    "sex_invalid": "sex is not 男/女 (or GB/T 2261.1 code 1/2)",
    "id_sex_mismatch": "sex differs from the ID number's sequence parity",
    "population_type_invalid": "population_type is not 户籍/流动/境外",
    "field_too_long": "a text field is longer than 200 characters",
    "person_unknown": "move_out or death for a person GridMap does not hold",
    "version_conflict": "same ID number and version as a stored record, but different data",
}

#: column / key aliases (Chinese headers, pinyin initials) → field name
FIELD_ALIASES = {
    "op": ("op", "operation", "操作", "操作类型", "变动类型", "czlx"),
    "version": ("version", "版本", "版本号", "record_version", "bbh"),
    "updated_at": ("updated_at", "更新时间", "变动时间", "gxsj"),
    "id_number": ("id_number", "公民身份号码", "身份证号", "身份证号码", "sfzh", "gmsfhm"),
    "name": ("name", "姓名", "xm"),
    "sex": ("sex", "性别", "xb"),
    "ethnicity": ("ethnicity", "民族", "mz"),
    "birth_date": ("birth_date", "出生日期", "csrq"),
    "phone": ("phone", "联系电话", "电话", "手机号", "lxdh"),
    "address": ("address", "现住址", "现住地址", "现住地详址", "居住地址", "xzz"),
    "hukou_address": ("hukou_address", "户籍地址", "户籍地详址", "户籍地", "hjdz"),
    "population_type": ("population_type", "人口类型", "rklx"),
    "relation": ("relation", "与户主关系", "yhzgx"),
    "care_tags": ("care_tags", "关怀标签", "重点人群", "标签"),
}
_ALIAS = {a.lower(): f for f, names in FIELD_ALIASES.items() for a in names}
OP_ALIASES = {
    "upsert": "upsert",
    "insert": "upsert",
    "update": "upsert",
    "新增": "upsert",
    "变更": "upsert",
    "登记": "upsert",
    "迁入": "upsert",
    "出生": "upsert",
    "move_out": "move_out",
    "moveout": "move_out",
    "迁出": "move_out",
    "death": "death",
    "死亡": "death",
    "delete": "delete",
    "注销": "delete",
    "删除": "delete",
}
SEX_CODES = {"男": "男", "女": "女", "1": "男", "2": "女", "M": "男", "F": "女"}
POPULATION_ALIASES = {
    "户籍": "户籍",
    "户籍人口": "户籍",
    "常住": "户籍",
    "1": "户籍",
    "流动": "流动",
    "流动人口": "流动",
    "2": "流动",
    "境外": "境外",
    "境外人员": "境外",
    "境外人口": "境外",
    "3": "境外",
}
#: GB/T 3304 民族 codes
ETHNICITIES = (
    "汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 哈尼族 "
    "哈萨克族 傣族 黎族 傈僳族 佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 "
    "达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 锡伯族 阿昌族 普米族 塔吉克族 怒族 乌孜别克族 "
    "俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族 独龙族 鄂伦春族 赫哲族 门巴族 珞巴族 基诺族"
).split()
ETHNICITY_CODES = {f"{i:02d}": name for i, name in enumerate(ETHNICITIES, start=1)}
MAX_TEXT = 200

#: columns of the staging table, in COPY order
STAGE_COLUMNS = (
    "line_no",
    "rnd",
    "op",
    "version",
    "id_hash",
    "id_cipher",
    "id_masked",
    "name",
    "sex",
    "ethnicity",
    "birth_date",
    "phone",
    "population_type",
    "residence_type",
    "relation",
    "care_tags",
    "address",
    "hukou_address",
    "effective_at",
    "match_status",
    "dwelling_id",
    "confidence",
    "cand_ids",
    "candidates",
    "area_community",
    "area_building",
    "upgraded",
    "content_hash",
)


@dataclass(frozen=True)
class BatchHeader:
    """What the first line(s) of a batch say about it."""

    batch_id: uuid.UUID
    source: str
    kind: str
    produced_at: dt.datetime | None
    format: str  # ndjson | csv
    encoding: str  # utf-8 | gb18030
    columns: tuple[str, ...] = ()  # CSV: the field of each column ('' for an unknown column)
    data_offset: int = 0  # byte offset of the first record line

    def to_dict(self) -> dict[str, object]:
        return {
            "batch_id": str(self.batch_id),
            "source": self.source,
            "kind": self.kind,
            "produced_at": self.produced_at.isoformat() if self.produced_at else None,
            "format": self.format,
            "encoding": self.encoding,
        }


@dataclass
class Chunk:
    """Consecutive record lines of a batch: record numbers ``first_no`` …, ending at byte ``end``.

    :func:`iter_chunks` sends a run of plain lines (no blank line, no CR) as ``raw`` bytes, one
    line per ``\\n``, and leaves ``lines`` empty: one buffer is cheaper to cut and to hand to a
    worker process than 50,000 small ones. :meth:`split` fills ``lines`` from it there."""

    index: int
    first_no: int
    lines: list[bytes]
    end: int
    raw: bytes | None = None

    def split(self) -> list[bytes]:
        if self.raw is not None and not self.lines:
            self.lines = self.raw.removesuffix(b"\n").split(b"\n")
        return self.lines


@dataclass
class Prepared:
    """A chunk turned into staging rows (CSV text for COPY) and rejects."""

    index: int
    first_no: int
    end: int
    received: int
    stage: pa.Table | None
    staged: int
    rounds: int
    rejects: list[RowReject]
    tallies: dict[str, int] = field(default_factory=dict)


# -- the crash test hook -------------------------------------------------------------------------
#: the environment variable naming crash points: ``<chunk>:<phase>`` or ``finish``, comma-separated
CRASH_ENV = "GRIDMAP_SYNC_CRASH_AT"
#: where a chunk can be crashed, in the order a chunk passes them (geo.db.sync describes them)
CRASH_PHASES = ("prepare", "staged", "merged", "committed")
#: a worker process that reaches a crash point kills this process too (the one applying the batch)
crash_applier: int | None = None


def crash_points(spec: str | None = None) -> frozenset[tuple[int | None, str]]:
    """The crash points of ``spec`` (default: the environment): ``(chunk index, phase)``, and
    ``(None, "finish")`` for ``finish``. A malformed spec is an error, never ignored."""
    spec = os.environ.get(CRASH_ENV, "") if spec is None else spec
    out: set[tuple[int | None, str]] = set()
    for item in (x.strip() for x in spec.split(",")):
        if not item:
            continue
        if item == "finish":
            out.add((None, "finish"))
            continue
        chunk, _, phase = item.partition(":")
        if not chunk.strip().isdigit() or phase.strip() not in CRASH_PHASES:
            raise InvalidInput(
                f"{CRASH_ENV}: {item!r} is not <chunk>:<phase> (phase one of {', '.join(CRASH_PHASES)}) or finish"
            )
        out.add((int(chunk), phase.strip()))
    return frozenset(out)


def crash_point(chunk: int | None, phase: str) -> None:
    """Test hook: die by ``SIGKILL`` here when ``GRIDMAP_SYNC_CRASH_AT`` names this chunk (its
    index counted from the batch's first record, the same in a resumed run) and phase. In a
    worker process the process applying the batch is killed first, then the worker."""
    if not os.environ.get(CRASH_ENV) or (chunk, phase) not in crash_points():
        return
    where = "finish" if chunk is None else f"chunk {chunk} {phase}"
    os.write(sys.stderr.fileno(), f"\n{CRASH_ENV}: killed at {where}\n".encode())
    if crash_applier is not None and crash_applier != os.getpid():
        os.kill(crash_applier, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


# -- reading -------------------------------------------------------------------------------------
def _parse_time(value: object) -> dt.datetime | None:
    if value in (None, ""):
        return None
    text = str(value).strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    t = dt.datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))  # Beijing time
    return t


def detect_encoding(head: bytes) -> str:
    """``utf-8`` when the first bytes decode as UTF-8 (a cut multi-byte tail allowed), else GBK's
    superset ``gb18030``."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _header_fields(meta: dict[str, object], fmt: str, encoding: str) -> BatchHeader:
    try:
        batch_id = uuid.UUID(str(meta.get("batch_id") or meta.get("id") or ""))
    except ValueError:
        raise InvalidInput("the batch header needs a batch_id (a UUID, e.g. 0b9c6c1e-…)") from None
    kind = str(meta.get("kind") or "").strip().lower()
    if kind not in KINDS:
        raise InvalidInput(f"the batch header's kind must be full or incremental, not {kind!r}")
    source = str(meta.get("source") or "").strip()
    if not source:
        raise InvalidInput("the batch header needs a source (the sending system)")
    try:
        produced = _parse_time(meta.get("produced_at"))
    except ValueError:
        raise InvalidInput(f"produced_at {meta.get('produced_at')!r} is not an ISO date-time") from None
    enc = str(meta.get("encoding") or encoding).lower().replace("_", "-")
    if enc in ("gbk", "gb2312", "gb18030", "cp936"):
        enc = "gb18030"
    elif enc in ("utf-8", "utf8", "utf-8-sig"):
        enc = "utf-8"
    else:
        raise InvalidInput(f"encoding {enc!r}: a batch is UTF-8 or GBK")
    return BatchHeader(batch_id, source, kind, produced, fmt, enc)


def read_header(path: str | Path) -> BatchHeader:
    """Read and check a batch's header; the format is told by the first character ({ = NDJSON)."""
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"{p}: no such file")
    with p.open("rb") as fh:
        head = fh.read(1 << 16)
    bom = 3 if head.startswith(codecs.BOM_UTF8) else 0
    encoding = "utf-8" if bom else detect_encoding(head)
    pos = bom
    lines: list[tuple[str, int]] = []  # (text, byte offset after the line)
    while pos < len(head) and len(lines) < 64:
        nl = head.find(b"\n", pos)
        if nl < 0:
            nl = len(head)
        raw = head[pos:nl].rstrip(b"\r")
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            raise InvalidInput(f"{p}: the batch header is not {encoding} text") from None
        lines.append((text, nl + 1))
        pos = nl + 1
    first = next(((t, e) for t, e in lines if t.strip()), None)
    if first is None:
        raise InvalidInput(f"{p}: the file is empty")
    if first[0].lstrip().startswith("{"):
        try:
            meta = json.loads(first[0])
        except json.JSONDecodeError:
            raise InvalidInput(f"{p}: the first line is not a JSON batch header") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("batch"), dict):
            raise InvalidInput(
                f'{p}: an NDJSON batch starts with a header line {{"batch": {{"batch_id": …, '
                '"source": …, "kind": "full"|"incremental", "produced_at": …}}'
            )
        h = _header_fields(meta["batch"], "ndjson", encoding)
        return BatchHeader(**{**h.__dict__, "data_offset": first[1]})
    meta: dict[str, object] = {}
    columns_line = None
    for text, end in lines:
        s = text.strip()
        if not s:
            continue
        if s.startswith("#"):
            body = s.lstrip("#").strip()
            for sep in ("=", ":", "："):
                if sep in body:
                    k, v = body.split(sep, 1)
                    meta[k.strip().lower()] = v.strip()
                    break
            continue
        columns_line = (text, end)
        break
    if columns_line is None:
        raise InvalidInput(f"{p}: a CSV batch needs #key=value header lines and a column header")
    h = _header_fields(meta, "csv", encoding)
    raw_cols = next(csv.reader([columns_line[0]]))
    columns = tuple(_ALIAS.get(c.strip().lower(), "") for c in raw_cols)
    if "id_number" not in columns:
        raise InvalidInput(f"{p}: the CSV columns {raw_cols} have no id_number (公民身份号码) column")
    return BatchHeader(**{**h.__dict__, "columns": columns, "data_offset": columns_line[1]})


def iter_chunks(
    path: str | Path,
    header: BatchHeader,
    *,
    chunk_size: int,
    start_offset: int | None = None,
    start_no: int = 1,
    block: int = 8 << 20,
) -> Iterator[Chunk]:
    """Chunks of ``chunk_size`` record lines from ``start_offset`` (the first record by default).

    Blank lines are not records and are skipped. Chunk ``k`` always holds records
    ``k·chunk_size + 1 …``, so a resumed run cuts the same chunks as an uninterrupted one.
    A block of plain lines (the usual case) is cut at newlines found in C, not line by line.
    """
    offset = header.data_offset if start_offset is None else start_offset
    no, index = start_no, (start_no - 1) // chunk_size
    parts: list[bytes | list[bytes]] = []  # the pending chunk: raw runs and lists of lines
    count = 0  # lines in ``parts``
    pos = offset  # byte offset just past what ``parts`` holds

    def emit() -> Chunk:
        nonlocal parts, count, index, no
        if all(isinstance(x, bytes) for x in parts):
            ch = Chunk(index, no, [], pos, b"".join(parts))  # type: ignore[arg-type]
        else:
            lines = [ln for x in parts for ln in (x.removesuffix(b"\n").split(b"\n") if isinstance(x, bytes) else x)]
            ch = Chunk(index, no, lines, pos)
        no += count
        index += 1
        parts, count = [], 0
        return ch

    with Path(path).open("rb") as fh:
        fh.seek(offset)
        rest = b""
        while True:
            data = fh.read(block)
            buf = rest + data if data else rest
            if not buf:
                break
            cut = buf.rfind(b"\n") + 1 if data else len(buf)  # whole lines only, but at the end
            body, rest = buf[:cut], buf[cut:]
            if body and not body.endswith(b"\n"):
                body += b"\n"  # the last line has no newline: as if it had (``end`` is one past)
            nl = _plain_newlines(body)
            if nl is not None:
                at, done = 0, 0  # bytes and lines of ``body`` taken so far
                while done < len(nl):
                    take = min(len(nl) - done, chunk_size - count)
                    upto = int(nl[done + take - 1]) + 1
                    parts.append(body[at:upto])
                    pos += upto - at
                    at, done, count = upto, done + take, count + take
                    if count == chunk_size:
                        yield emit()
            else:
                lines: list[bytes] = []
                for raw in body.split(b"\n")[:-1]:
                    pos += len(raw) + 1
                    line = raw.rstrip(b"\r")
                    if not line.strip():
                        continue
                    lines.append(line)
                    if count + len(lines) == chunk_size:
                        parts.append(lines)
                        count += len(lines)
                        yield emit()
                        lines = []
                if lines:
                    parts.append(lines)
                    count += len(lines)
            if not data:
                break
    if count:
        yield emit()


#: bytes a line may not start with when the fast path takes it (blank lines start so)
_BLANK_START = np.zeros(256, bool)
_BLANK_START[list(b" \t\n\x0b\x0c")] = True


def _plain_newlines(body: bytes) -> np.ndarray | None:
    """The newline offsets of ``body`` (whole lines) when it has no CR and no blank line (a blank
    line is empty or starts with white space), else None: then it is cut line by line."""
    if not body or b"\r" in body:
        return None
    arr = np.frombuffer(body, np.uint8)
    nl = np.flatnonzero(arr == 10)
    if _BLANK_START[arr[0]] or _BLANK_START[arr[nl[:-1] + 1]].any():
        return None
    return nl


# -- decoding and validation ---------------------------------------------------------------------
def _text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v != v:
        return ""
    return str(v).strip()


def decode_lines(header: BatchHeader, lines: list[bytes], first_no: int) -> Iterator[object]:
    """``(record number, dict)`` or a :class:`RowReject` per line."""
    enc = header.encoding
    cols = header.columns
    ndjson = header.format == "ndjson"
    utf8 = enc == "utf-8"
    for i, raw in enumerate(lines):
        n = first_no + i
        if ndjson and utf8:  # the JSON parser reads UTF-8 bytes itself
            try:
                rec = _loads(raw)
            except _JSONError:
                try:
                    raw.decode(enc)
                except UnicodeDecodeError:
                    yield RowReject(n, None, "encoding_invalid", f"line is not {enc} text")
                else:
                    yield RowReject(n, None, "record_malformed", "not a JSON object")
                continue
        else:
            try:
                text = raw.decode(enc)
            except UnicodeDecodeError:
                yield RowReject(n, None, "encoding_invalid", f"line is not {enc} text")
                continue
        if ndjson:
            if not utf8:
                try:
                    rec = _loads(text)
                except _JSONError:
                    yield RowReject(n, None, "record_malformed", "not a JSON object")
                    continue
            if not isinstance(rec, dict):
                yield RowReject(n, None, "record_malformed", "a record is a JSON object")
                continue
            if len(rec) and not rec.keys() <= _FIELDS:
                rec = {_ALIAS.get(str(k).lower(), k): v for k, v in rec.items()}
            yield n, rec
        else:
            try:
                row = next(csv.reader([text]))
            except (csv.Error, StopIteration):
                yield RowReject(n, None, "record_malformed", "not a CSV row")
                continue
            if len(row) != len(cols):
                yield RowReject(
                    n,
                    _mask_raw(row, cols),
                    "record_malformed",
                    f"{len(row)} fields, the header has {len(cols)}",
                )
                continue
            yield n, {c: v for c, v in zip(cols, row, strict=True) if c}


_FIELDS = frozenset(FIELD_ALIASES)


def _mask_raw(row: list[str], cols: tuple[str, ...]) -> str | None:
    for c, v in zip(cols, row, strict=False):
        if c == "id_number" and v:
            return ids.mask(v)
    return None


def _version(rec: dict[str, object]) -> int:
    """The record version: ``version``, else ``updated_at`` in microseconds since 1970."""
    v = rec.get("version")
    if v not in (None, ""):
        if isinstance(v, bool):
            raise ValueError
        n = int(str(v).strip()) if not isinstance(v, int) else v
        if n < 0:
            raise ValueError
        return n
    t = _parse_time(rec.get("updated_at"))
    if t is None:
        raise LookupError
    return int(t.timestamp() * 1_000_000)


def _birth(text: str) -> dt.date:
    t = text.replace("/", "-").replace(".", "-")
    if len(t) == 8 and t.isdigit():
        t = f"{t[:4]}-{t[4:6]}-{t[6:]}"
    return dt.date.fromisoformat(t[:10])


def _tags(v: object) -> list[str]:
    if isinstance(v, list):
        items = [_text(x) for x in v]
    else:
        items = _text(v).replace("；", ";").replace(",", ";").replace("，", ";").split(";")
    return sorted({t.strip() for t in items if t and t.strip()})


@dataclass
class Record:
    """A valid record (the ID number normalised, values cleaned)."""

    line_no: int
    op: str
    version: int
    id_number: str
    id_masked: str
    upgraded: bool
    name: str | None = None
    sex: str | None = None
    ethnicity: str | None = None
    birth_date: dt.date | None = None
    phone: str | None = None
    population_type: str | None = None
    relation: str | None = None
    care_tags: list[str] = field(default_factory=list)
    address: str | None = None
    hukou_address: str | None = None
    effective_at: dt.datetime | None = None


_W = ids.WEIGHTS
_W48 = 48 * sum(ids.WEIGHTS)


def parse_id(raw: str, today: dt.date) -> ids.IdNumber:
    """:func:`geo.ids.parse`, with a fast path for the usual case (18 ASCII characters, valid):
    anything else goes to ``ids.parse``, which gives the reason of a failure."""
    if len(raw) == 18 and raw.isascii() and raw[:17].isdigit():
        last = raw[17].upper()
        b = raw.encode("ascii")
        if ids.CHECK_CHARS[(sum(map(mul, b[:17], _W)) - _W48) % 11] == last:
            try:
                birth = dt.date(int(raw[6:10]), int(raw[10:12]), int(raw[12:14]))
            except ValueError:
                birth = None
            if birth is not None and birth.year >= 1880 and birth <= today:
                value = raw if last == raw[17] else raw[:17] + last
                sex = "男" if (b[16] - 48) % 2 == 1 else "女"
                return ids.IdNumber(value, raw[:6], birth, sex, False)
    return ids.parse(raw, today=today)


def _s(v: object) -> str:
    return v.strip() if type(v) is str else _text(v)


def validate_record(n: int, rec: dict[str, object], *, today: dt.date) -> Record | RowReject:
    """Validate one record with the rules of :func:`geo.people.validate_persons` (same reason
    codes: ``id_*``, ``name_missing``, ``birth_date_invalid``, ``id_birth_mismatch``,
    ``id_sex_mismatch``) plus the sync's own (op, version, population type)."""
    g = rec.get
    raw_id = _s(g("id_number"))
    try:
        parsed = parse_id(raw_id, today)
    except ids.InvalidIdNumber as exc:
        return RowReject(n, ids.mask(raw_id) if raw_id else None, exc.code, str(exc))
    value = parsed.value
    masked = value[:6] + "********" + value[-4:]
    op_txt = _s(g("op"))
    op = OP_ALIASES.get(op_txt.lower()) if op_txt else "upsert"
    if op is None:
        return RowReject(n, masked, "op_invalid", f"op {op_txt!r} is not one of {OPS}")
    try:
        version = _version(rec)
    except LookupError:
        return RowReject(n, masked, "version_missing", "neither version nor updated_at")
    except (ValueError, TypeError):
        return RowReject(n, masked, "version_invalid", "version must be a whole number, updated_at ISO 8601")
    upd = g("updated_at")
    effective = None
    if upd:
        try:
            effective = _parse_time(upd)
        except ValueError:
            effective = None
    r = Record(n, op, version, value, masked, parsed.upgraded_from_15, effective_at=effective)
    name = _s(g("name"))
    if op != "upsert":
        r.name = name or None
        return r
    if not name:
        return RowReject(n, masked, "name_missing", "the name is empty")
    birth_txt = _s(g("birth_date"))
    if birth_txt:
        try:
            birth = _birth(birth_txt)
        except ValueError:
            return RowReject(n, masked, "birth_date_invalid", f"birth date {birth_txt!r} is not a date")
        if birth != parsed.birth_date:
            return RowReject(
                n,
                masked,
                "id_birth_mismatch",
                f"birth date {birth} differs from the ID's {parsed.birth_date}",
            )
    sex_txt = _s(g("sex"))
    if sex_txt:
        sex = SEX_CODES.get(sex_txt.upper())
        if sex is None:
            return RowReject(n, masked, "sex_invalid", f"sex {sex_txt!r} is not 男/女")
        if sex != parsed.sex:
            return RowReject(n, masked, "id_sex_mismatch", f"sex {sex} differs from the ID's {parsed.sex}")
    ptype_txt = _s(g("population_type"))
    ptype = POPULATION_ALIASES.get(ptype_txt) if ptype_txt else None
    if ptype_txt and ptype is None:
        return RowReject(
            n,
            masked,
            "population_type_invalid",
            f"population type {ptype_txt!r} is not 户籍/流动/境外",
        )
    eth = _s(g("ethnicity"))
    r.name = name
    r.sex = parsed.sex
    r.ethnicity = ETHNICITY_CODES.get(eth.zfill(2), eth) if eth.isdigit() else (eth or None)
    r.birth_date = parsed.birth_date
    r.phone = _s(g("phone")) or None
    r.population_type = ptype
    r.relation = _s(g("relation")) or None
    tags = g("care_tags")
    r.care_tags = _tags(tags) if tags else []
    r.address = _s(g("address")) or None
    r.hukou_address = _s(g("hukou_address")) or None
    if (
        len(name) > MAX_TEXT
        or (r.address is not None and len(r.address) > MAX_TEXT)
        or (r.hukou_address is not None and len(r.hukou_address) > MAX_TEXT)
        or (r.phone is not None and len(r.phone) > MAX_TEXT)
        or (r.relation is not None and len(r.relation) > MAX_TEXT)
        or (r.ethnicity is not None and len(r.ethnicity) > MAX_TEXT)
    ):
        return RowReject(n, masked, "field_too_long", f"a field is longer than {MAX_TEXT}")
    return r


# -- staging -------------------------------------------------------------------------------------
class Encoder:
    """Keyed hashes and ciphers of a chunk's ID numbers, with the key objects built once (the
    format is :class:`geo.privacy.PersonKeys`'s, whose methods do one value: ``nonce ‖
    AES-GCM(id)``, AAD ``person.id``)."""

    def __init__(self, keys: PersonKeys) -> None:
        self.keys = keys
        self._aes = AESGCM(keys.enc_key)
        self._keyed = hmac.new(keys.hmac_key, digestmod=hashlib.sha256)  # copied for each value

    def id_hashes(self, values: Iterable[str]) -> list[bytes]:
        """:meth:`PersonKeys.id_hash` of each value (HMAC-SHA256), each from a copy of one keyed
        HMAC object: a quarter less time than ``hmac.digest``, which keys it again for every value."""
        keyed = self._keyed.copy
        out = []
        for v in values:
            h = keyed()
            h.update(v.encode("ascii"))
            out.append(h.digest())
        return out

    def encrypt_many(self, values: Iterable[str]) -> list[bytes]:
        """:meth:`PersonKeys.encrypt` of each value, the random nonces drawn from the OS in one call."""
        values = list(values)
        nonces = os.urandom(12 * len(values))
        enc = self._aes.encrypt
        out = []
        for i, v in enumerate(values):
            nonce = nonces[12 * i : 12 * i + 12]
            out.append(nonce + enc(nonce, v.encode("ascii"), b"person.id"))
        return out


def _pg_array(items: list[str] | list[int]) -> str:
    if not items:
        return "{}"
    return "{" + ",".join(json.dumps(x, ensure_ascii=False) for x in items) + "}"


def content_hash(r: Record) -> bytes:
    """What a police record says, hashed: the same version with another hash is a conflict."""
    if r.op != "upsert":
        return hashlib.md5(r.op.encode()).digest()
    text = (
        f"{r.op}\x1f{r.name}\x1f{r.sex}\x1f{r.ethnicity or ''}\x1f{r.birth_date}\x1f{r.phone or ''}"
        f"\x1f{r.population_type or ''}\x1f{r.relation or ''}\x1f{';'.join(r.care_tags)}"
        f"\x1f{r.address or ''}\x1f{r.hukou_address or ''}"
    )
    return hashlib.md5(text.encode("utf-8")).digest()


def rounds_of(records: list[Record]) -> list[int]:
    """Round of each record: records of one person are applied in version order, one per round
    (most persons appear once, in round 1)."""
    rnd = [1] * len(records)
    first: dict[str, int] = {}
    dups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        j = first.setdefault(r.id_number, i)
        if j != i:
            dups.setdefault(r.id_number, [j]).append(i)
    for group in dups.values():
        for k, i in enumerate(sorted(group, key=lambda i: (records[i].version, i)), start=1):
            rnd[i] = k
    return rnd


@dataclass
class Context:
    """What preparing a chunk needs (built once per process)."""

    header: BatchHeader
    encoder: Encoder
    index: object  # geo.matching.DwellingIndex
    today: dt.date


_STAGE_SCHEMA = pa.schema(
    [
        ("line_no", pa.int64()),
        ("rnd", pa.int64()),
        ("op", pa.string()),
        ("version", pa.int64()),
        ("id_hash", pa.binary()),
        ("id_cipher", pa.binary()),
        ("id_masked", pa.string()),
        ("name", pa.string()),
        ("sex", pa.string()),
        ("ethnicity", pa.string()),
        ("birth_date", pa.date32()),
        ("phone", pa.string()),
        ("population_type", pa.string()),
        ("residence_type", pa.string()),
        ("relation", pa.string()),
        ("care_tags", pa.list_(pa.string())),
        ("address", pa.string()),
        ("hukou_address", pa.string()),
        ("effective_at", pa.timestamp("us", tz="UTC")),
        ("match_status", pa.string()),
        ("dwelling_id", pa.int64()),
        ("confidence", pa.float64()),
        ("cand_ids", pa.string()),
        ("candidates", pa.string()),
        ("area_community", pa.string()),
        ("area_building", pa.int64()),
        ("upgraded", pa.bool_()),
        ("content_hash", pa.binary()),
    ]
)
#: what a record carries into staging, column by column (see :func:`_columns_of_records`)
_FIELDS_OUT = (
    "line_no",
    "op",
    "version",
    "id_number",
    "id_masked",
    "name",
    "sex",
    "ethnicity",
    "birth_date",
    "phone",
    "population_type",
    "relation",
    "care_tags",
    "address",
    "hukou_address",
    "effective_at",
    "upgraded",
)


def _columns_of_records(records: list[Record], produced: dt.datetime | None) -> dict[str, list]:
    out: dict[str, list] = {f: [] for f in _FIELDS_OUT}
    for r in records:
        out["line_no"].append(r.line_no)
        out["op"].append(r.op)
        out["version"].append(r.version)
        out["id_number"].append(r.id_number)
        out["id_masked"].append(r.id_masked)
        out["name"].append(r.name)
        out["sex"].append(r.sex)
        out["ethnicity"].append(r.ethnicity)
        out["birth_date"].append(r.birth_date.isoformat() if r.birth_date else None)
        out["phone"].append(r.phone)
        out["population_type"].append(r.population_type)
        out["relation"].append(r.relation)
        out["care_tags"].append(";".join(r.care_tags))
        out["address"].append(r.address)
        out["hukou_address"].append(r.hukou_address)
        out["effective_at"].append(r.effective_at or produced)
        out["upgraded"].append(r.upgraded)
    return out


_JSON_SCHEMAS = [
    pa.schema([(f, pa.int64() if f == "version" else pa.string()) for f in FIELD_ALIASES]),
    pa.schema(
        [
            (
                f,
                pa.int64() if f == "version" else (pa.list_(pa.string()) if f == "care_tags" else pa.string()),
            )
            for f in FIELD_ALIASES
        ]
    ),
]


def _arrow_table(header: BatchHeader, lines: list[bytes]) -> pa.Table | None:
    """The chunk as an Arrow table of the known fields, or None when it does not parse as a
    whole (a malformed line, a field of another type): then every line is read on its own."""
    data = b"\n".join(lines)
    if header.format == "ndjson":
        if header.encoding != "utf-8":
            try:
                data = data.decode(header.encoding).encode("utf-8")
            except UnicodeDecodeError:
                return None
        for schema in _JSON_SCHEMAS:
            try:
                t = pajson.read_json(
                    io.BytesIO(data),
                    read_options=pajson.ReadOptions(use_threads=False, block_size=1 << 26),
                    parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                continue
            return t if t.num_rows == len(lines) else None
        return None
    names = [c or f"_unused{i}" for i, c in enumerate(header.columns)]
    try:
        t = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, encoding=header.encoding, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    if t.num_rows != len(lines):
        return None
    if "version" in t.column_names:  # a CSV version is text: whole numbers only on the fast path
        v = pc.utf8_trim_whitespace(t.column("version"))
        digits = pc.and_(pc.utf8_is_digit(v), pc.less_equal(pc.utf8_length(v), 18))
        t = t.set_column(
            t.column_names.index("version"),
            "version",
            pc.cast(pc.if_else(digits, v, pa.scalar(None, pa.string())), pa.int64()),
        )
    return t


def fixed_width_bytes(values: pa.Array | pa.ChunkedArray, width: int) -> np.ndarray:
    """The bytes of a text or binary column whose every value is ``width`` bytes long, as an
    ``(n, width)`` array (any other length is an error)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_string(values.type):
        values = values.cast(pa.binary())
    fixed = values.cast(pa.binary(width))
    n = len(fixed)
    return np.frombuffer(fixed.buffers()[1], np.uint8, width * n, width * fixed.offset).reshape(n, width)


def _column_text(t: pa.Table, name: str) -> pa.Array:
    """A text column trimmed, '' as null (all null when absent or not text)."""
    if name not in t.column_names or not pa.types.is_string(t.column(name).type):
        return pa.nulls(t.num_rows, pa.string())
    c = pc.utf8_trim_whitespace(t.column(name).combine_chunks())
    return pc.if_else(pc.equal(c, ""), pa.scalar(None, pa.string()), c)


def _true(mask: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, null as False."""
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _absent_or(c: pa.Array, cond: pa.Array) -> np.ndarray:
    """Rows where the text ``c`` is null or ``cond`` holds."""
    return _true(pc.or_kleene(pc.is_null(c), cond))


def _objects(c: pa.Array) -> np.ndarray:
    return c.to_numpy(zero_copy_only=False)


def _fast_rows(ctx: Context, t: pa.Table) -> tuple[np.ndarray, dict[str, object]]:
    """Which rows are plainly valid upserts (the usual case), checked column by column with the
    rules of :func:`validate_record`, and their cleaned columns. Every other row (anything
    unusual, valid or not) goes through :func:`validate_record` one by one."""
    n = t.num_rows
    ok = np.ones(n, dtype=bool)
    # op: absent or upsert (other operations and aliases take the per-record path)
    ok &= _absent_or(op := _column_text(t, "op"), pc.equal(op, "upsert"))
    # version: a whole number ≥ 0; updated_at given → per-record path
    if "version" in t.column_names and pa.types.is_integer(t.column("version").type):
        v = t.column("version")
        ok &= _true(pc.greater_equal(v, 0))
        version = pc.fill_null(v, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        ok[:] = False
        version = np.zeros(n, dtype=np.int64)
    ok &= _true(pc.is_null(_column_text(t, "updated_at")))
    # the ID number: 18 ASCII characters (as many bytes as characters), digits, check character,
    # a real birth date
    raw = _column_text(t, "id_number")
    id_ok = _true(pc.and_(pc.equal(pc.utf8_length(raw), 18), pc.equal(pc.binary_length(raw), 18)))
    idn = pc.if_else(pa.array(id_ok), pc.utf8_upper(raw), "000000000000000000")
    b = fixed_width_bytes(idn, 18)
    d = b[:, :17].astype(np.int64) - 48
    id_ok &= ((d >= 0) & (d <= 9)).all(axis=1)
    check = np.frombuffer(ids.CHECK_CHARS.encode(), dtype=np.uint8)[(d * np.array(_W, dtype=np.int64)).sum(axis=1) % 11]
    id_ok &= check == b[:, 17]
    ymd = pd.to_datetime(
        pd.DataFrame(
            {
                "year": d[:, 6:10] @ np.array([1000, 100, 10, 1]),
                "month": d[:, 10:12] @ np.array([10, 1]),
                "day": d[:, 12:14] @ np.array([10, 1]),
            }
        ),
        errors="coerce",
    )
    births = ymd.to_numpy()
    id_ok &= ~pd.isna(births)
    id_ok &= (births >= np.datetime64("1880-01-01")) & (births <= np.datetime64(ctx.today))
    ok &= id_ok
    male = pa.array((d[:, 16] % 2) == 1)
    sex_id = pc.if_else(male, "男", "女")
    birth = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(idn, 6, 10),
        pc.utf8_slice_codeunits(idn, 10, 12),
        pc.utf8_slice_codeunits(idn, 12, 14),
        "-",
    )
    # name; birth date and sex as the ID says; population type; ethnicity as a name (letters only:
    # a code, or anything else, takes the per-record path)
    name = _column_text(t, "name")
    ok &= _true(pc.less_equal(pc.utf8_length(name), MAX_TEXT))
    ok &= _absent_or(given := _column_text(t, "birth_date"), pc.equal(given, birth))
    ok &= _absent_or(given := _column_text(t, "sex"), pc.equal(given, sex_id))
    ok &= _absent_or(ptype := _column_text(t, "population_type"), pc.is_in(ptype, pa.array(POPULATION_TYPES)))
    ok &= _absent_or(eth := _column_text(t, "ethnicity"), pc.utf8_is_alpha(eth))
    cols: dict[str, object] = {"version": version, "id_number": _objects(idn), "sex": _objects(sex_id)}
    cols["birth_date"] = _objects(birth)
    cols["name"], cols["ethnicity"], cols["population_type"] = _objects(name), _objects(eth), _objects(ptype)
    for f in ("phone", "relation", "address", "hukou_address"):
        c = _column_text(t, f)
        ok &= _absent_or(c, pc.less_equal(pc.utf8_length(c), MAX_TEXT))
        cols[f] = _objects(c)
    # care tags: cleaned one by one where there are any
    tags = np.full(n, "", dtype=object)
    if "care_tags" in t.column_names:
        tc = t.column("care_tags").combine_chunks()
        size = pc.utf8_length(tc) if pa.types.is_string(tc.type) else pc.list_value_length(tc)
        some = np.flatnonzero(_true(pc.greater(size, 0)))
        if len(some):
            tags[some] = [";".join(_tags(x)) for x in tc.take(pa.array(some)).to_pylist()]
    cols["care_tags"] = tags
    return ok, cols


def prepare_chunk(ctx: Context, chunk: Chunk) -> Prepared:
    """Decode, validate, match and encode one chunk (pure; runs in worker processes).

    The usual records are checked column by column on an Arrow table; anything unusual (another
    operation, a 15-digit ID number, a code instead of a name, an error) is validated record by
    record with :func:`validate_record`, so both paths give the same result."""
    from geo.matching import DwellingIndex

    index: DwellingIndex = ctx.index  # type: ignore[assignment]
    rejects: list[RowReject] = []
    tallies: Counter[str] = Counter()
    produced = ctx.header.produced_at
    chunk.split()
    table = _arrow_table(ctx.header, chunk.lines)
    if table is not None and table.num_rows:
        ok, fc = _fast_rows(ctx, table)
    else:
        ok, fc = np.zeros(len(chunk.lines), dtype=bool), {}
    slow = np.flatnonzero(~ok)
    records: list[Record] = []
    if len(slow):
        lines = [chunk.lines[i] for i in slow]
        for item in _decode_some(ctx.header, lines, [chunk.first_no + int(i) for i in slow]):
            if isinstance(item, RowReject):
                rejects.append(item)
                continue
            n, rec = item  # type: ignore[misc]
            r = validate_record(n, rec, today=ctx.today)
            if isinstance(r, RowReject):
                rejects.append(r)
            else:
                records.append(r)
                tallies["legacy_upgraded"] += r.upgraded
    cols = _columns_of_records(records, produced)
    fast = np.flatnonzero(ok)
    if len(fast):
        cols["line_no"] = np.concatenate([np.asarray(cols["line_no"], dtype=np.int64), fast + chunk.first_no])
        value = fc["id_number"][fast]  # type: ignore[index]
        masked = np.array([v[:6] + "********" + v[-4:] for v in value], dtype=object)
        extra = {
            "op": np.full(len(fast), "upsert", dtype=object),
            "version": fc["version"][fast],  # type: ignore[index]
            "id_number": value,
            "id_masked": masked,
            "effective_at": np.full(len(fast), produced, dtype=object),
            "upgraded": np.zeros(len(fast), dtype=bool),
        }
        for f in _FIELDS_OUT:
            if f == "line_no":
                continue
            part = extra[f] if f in extra else fc[f][fast]  # type: ignore[index]
            cols[f] = np.concatenate([np.asarray(cols[f], dtype=object), np.asarray(part, dtype=object)])
    staged = len(cols["line_no"])
    stage = None
    rounds = 0
    if staged:
        stage, rounds = _stage(ctx, index, cols, tallies, chunk.index)
    for rj in rejects:
        tallies[f"reject_{rj.reason}"] += 1
    return Prepared(
        chunk.index,
        chunk.first_no,
        chunk.end,
        len(chunk.lines),
        stage,
        staged,
        rounds,
        sorted(rejects, key=lambda x: x.line_no),
        dict(tallies),
    )


def _decode_some(header: BatchHeader, lines: list[bytes], numbers: list[int]) -> Iterator[object]:
    for raw, n in zip(lines, numbers, strict=True):
        yield from decode_lines(header, [raw], n)


def _stage(
    ctx: Context, index: object, cols: dict[str, object], tallies: Counter[str], chunk: int | None = None
) -> tuple[bytes, int]:
    """Rounds, address matches, keyed hash and cipher, content hash: the staging CSV."""
    line_no = np.asarray(cols["line_no"], dtype=np.int64)
    op = np.asarray(cols["op"], dtype=object)
    version = np.asarray(cols["version"], dtype=np.int64)
    idn = np.asarray(cols["id_number"], dtype=object)
    n = len(line_no)
    # rounds: the records of one person in version order
    rnd = np.ones(n, dtype=np.int64)
    ser = pd.Series(idn)
    dup = ser.duplicated(keep=False).to_numpy()
    if dup.any():
        frame = pd.DataFrame({"id": idn[dup], "v": version[dup], "l": line_no[dup]})
        frame["r"] = frame.sort_values(["id", "v", "l"]).groupby("id").cumcount() + 1
        rnd[dup] = frame["r"].to_numpy()
    # addresses: each distinct string of an upsert once
    address = np.asarray(cols["address"], dtype=object)
    is_up = op == "upsert"
    distinct = {a for a in address[is_up] if a}
    # standard addresses (most records) straight away, as index.match finds them; the rest parsed,
    # their dwellings loaded when the index is partial, and matched part by part
    norms: dict[str, str] = {}
    found = index.exact_ids(distinct, norms)  # type: ignore[attr-defined]
    mcols: dict[str, tuple] = {a: ("exact", d, 1.0, None, None, None, None) for a, d in found.items()}
    parsed = {a: index.parse(a, norms.get(a)) for a in distinct if a not in found}  # type: ignore[attr-defined]
    index.ensure(parsed.values())  # type: ignore[attr-defined]
    matches = {a: index.match_parsed(p) for a, p in parsed.items()}  # type: ignore[attr-defined]
    crash_point(chunk, "prepare")  # test hook: matched, not yet hashed and encrypted
    for a, m in matches.items():
        cands = m.candidates if not m.linked else []
        mcols[a] = (
            m.status,
            m.dwelling_id,
            m.confidence,
            _pg_array([c.dwelling_id for c in cands]) if cands else None,
            json.dumps(
                [{"dwelling_id": c.dwelling_id, "score": c.score, "why": c.why} for c in cands],
                ensure_ascii=False,
            )
            if not m.linked
            else None,
            m.community_code,
            m.building_id,
        )
    none7 = (None,) * 7
    per_row = [mcols.get(a, none7) if u else none7 for a, u in zip(address, is_up, strict=True)]
    status = [r[0] for r in per_row]
    for s_, c_ in Counter(x for x in status if x is not None).items():
        tallies[f"match_{s_}"] += c_
    # the ID number never leaves this function: keyed hash, cipher and mask only
    id_hash = ctx.encoder.id_hashes(idn)
    id_cipher = ctx.encoder.encrypt_many(idn)
    name = cols["name"]
    sex = cols["sex"]
    eth = cols["ethnicity"]
    birth = cols["birth_date"]
    phone = cols["phone"]
    ptype = cols["population_type"]
    rel = cols["relation"]
    tags = cols["care_tags"]
    hukou = cols["hukou_address"]
    md5 = hashlib.md5
    chash = []
    for i in range(n):
        if op[i] != "upsert":
            chash.append(md5(op[i].encode()).digest())
            continue
        text = (
            f"upsert\x1f{name[i]}\x1f{sex[i]}\x1f{eth[i] or ''}\x1f{birth[i]}\x1f{phone[i] or ''}"
            f"\x1f{ptype[i] or ''}\x1f{rel[i] or ''}\x1f{tags[i]}\x1f{address[i] or ''}"
            f"\x1f{hukou[i] or ''}"
        )
        chash.append(md5(text.encode("utf-8")).digest())
    tag_lists = [t.split(";") if t else [] for t in tags]
    residence = [RESIDENCE_BY_POPULATION.get(p, "常住") for p in ptype]
    arrays = [
        pa.array(line_no),
        pa.array(rnd),
        pa.array(list(op), pa.string()),
        pa.array(version),
        pa.array(id_hash, pa.binary()),
        pa.array(id_cipher, pa.binary()),
        pa.array(list(cols["id_masked"]), pa.string()),
        pa.array(list(name), pa.string()),
        pa.array(list(sex), pa.string()),
        pa.array(list(eth), pa.string()),
        pc.cast(pa.array(list(birth), pa.string()), pa.date32()),
        pa.array(list(phone), pa.string()),
        pa.array(list(ptype), pa.string()),
        pa.array(residence, pa.string()),
        pa.array(list(rel), pa.string()),
        pa.array(tag_lists, pa.list_(pa.string())),
        pa.array(list(address), pa.string()),
        pa.array(list(hukou), pa.string()),
        pa.array(list(cols["effective_at"]), pa.timestamp("us", tz="UTC")),
        pa.array(status, pa.string()),
        pa.array([r[1] for r in per_row], pa.int64()),
        pa.array([r[2] for r in per_row], pa.float64()),
        pa.array([r[3] for r in per_row], pa.string()),
        pa.array([r[4] for r in per_row], pa.string()),
        pa.array([r[5] for r in per_row], pa.string()),
        pa.array([r[6] for r in per_row], pa.int64()),
        pa.array(list(cols["upgraded"]), pa.bool_()),
        pa.array(chash, pa.binary()),
    ]
    return pa.Table.from_arrays(arrays, schema=_STAGE_SCHEMA), int(rnd.max())


def stage_csv(table: pa.Table) -> bytes:
    """Rows as CSV for COPY (NULL is an unquoted empty field, text always quoted; byte strings
    as ``bytea`` hex, lists as array literals)."""
    cols = []
    for f, c in zip(table.schema, table.columns, strict=True):
        if pa.types.is_binary(f.type):
            c = pa.array([None if b is None else "\\x" + b.hex() for b in c.to_pylist()], pa.string())
        elif pa.types.is_list(f.type):
            c = pa.array([None if v is None else _pg_array(v) for v in c.to_pylist()], pa.string())
        cols.append(c)
    buf = io.BytesIO()
    pacsv.write_csv(pa.Table.from_arrays(cols, names=table.column_names), buf, pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


# -- writing (tests, benchmarks, the documentation's examples) ----------------------------------
def write_batch(
    path: str | Path,
    records: list[dict[str, object]],
    *,
    batch_id: uuid.UUID | str,
    source: str = "gaj",
    kind: str = "incremental",
    produced_at: str | None = None,
    fmt: str = "ndjson",
    encoding: str = "utf-8",
) -> Path:
    """Write a batch file (NDJSON or CSV) with its header."""
    p = Path(path)
    head = {
        "batch_id": str(batch_id),
        "source": source,
        "kind": kind,
        "produced_at": produced_at or "2026-11-23T08:00:00+08:00",
        "format": FORMAT_VERSION,
    }
    enc = "gb18030" if encoding.lower() in ("gbk", "gb18030") else "utf-8"
    with p.open("w", encoding=enc, newline="") as fh:
        if fmt == "ndjson":
            fh.write(json.dumps({"batch": head}, ensure_ascii=False) + "\n")
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
        else:
            for k, v in head.items():
                fh.write(f"#{k}={v}\n")
            cols = list(FIELD_ALIASES)
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(cols)
            for r in records:
                w.writerow([";".join(v) if isinstance(v := r.get(c), list) else v for c in cols])
    return p
