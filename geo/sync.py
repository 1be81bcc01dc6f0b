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
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import mul
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from geo import ids
from geo.errors import InvalidInput
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
    """Consecutive record lines of a batch: record numbers ``first_no`` …, ending at byte ``end``."""

    index: int
    first_no: int
    lines: list[bytes]
    end: int


@dataclass
class Prepared:
    """A chunk turned into staging rows (CSV text for COPY) and rejects."""

    index: int
    first_no: int
    end: int
    received: int
    stage_csv: str
    staged: int
    rounds: int
    rejects: list[RowReject]
    tallies: dict[str, int] = field(default_factory=dict)


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
    """
    offset = header.data_offset if start_offset is None else start_offset
    no = start_no
    index = (start_no - 1) // chunk_size
    lines: list[bytes] = []
    first = no
    with Path(path).open("rb") as fh:
        fh.seek(offset)
        rest = b""
        pos = offset  # byte offset of the start of ``rest``
        while True:
            data = fh.read(block)
            buf = rest + data if data else rest
            if not buf:
                break
            parts = buf.split(b"\n")
            rest = parts.pop() if data else b""
            for raw in parts:
                pos += len(raw) + 1
                line = raw.rstrip(b"\r")
                if not line.strip():
                    continue
                lines.append(line)
                no += 1
                if len(lines) == chunk_size:
                    yield Chunk(index, first, lines, pos)
                    index += 1
                    lines, first = [], no
            if not data:
                break
    if lines:
        yield Chunk(index, first, lines, pos)


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
    for i, raw in enumerate(lines):
        n = first_no + i
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            yield RowReject(n, None, "encoding_invalid", f"line is not {enc} text")
            continue
        if header.format == "ndjson":
            try:
                rec = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RowReject(n, None, "record_malformed", f"not JSON: {exc.msg}")
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
    if len(name) > MAX_TEXT or any(
        v is not None and len(v) > MAX_TEXT for v in (r.phone, r.relation, r.address, r.hukou_address, r.ethnicity)
    ):
        return RowReject(n, masked, "field_too_long", f"a field is longer than {MAX_TEXT}")
    return r


# -- staging -------------------------------------------------------------------------------------
class Encoder:
    """Keyed hash and cipher of ID numbers, with the key objects built once (the format is
    :class:`geo.privacy.PersonKeys`'s: ``nonce ‖ AES-GCM(id)``, AAD ``person.id``)."""

    def __init__(self, keys: PersonKeys) -> None:
        self.keys = keys
        self._hkey = keys.hmac_key
        self._aes = AESGCM(keys.enc_key)

    def id_hash(self, value: str) -> bytes:
        return hmac.digest(self._hkey, value.encode("ascii"), "sha256")

    def encrypt(self, value: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aes.encrypt(nonce, value.encode("ascii"), b"person.id")


def _pg_array(items: list[str] | list[int]) -> str:
    if not items:
        return "{}"
    return "{" + ",".join(json.dumps(x, ensure_ascii=False) for x in items) + "}"


def content_hash(r: Record) -> bytes:
    """What a police record says, hashed: the same version with another hash is a conflict."""
    if r.op != "upsert":
        text = r.op
    else:
        text = "\x1f".join(
            "" if v is None else str(v)
            for v in (
                r.op,
                r.name,
                r.sex,
                r.ethnicity,
                r.birth_date,
                r.phone,
                r.population_type,
                r.relation,
                ";".join(r.care_tags),
                r.address,
                r.hukou_address,
            )
        )
    return hashlib.md5(text.encode("utf-8")).digest()


def rounds_of(records: list[Record]) -> list[int]:
    """Round of each record: records of one person are applied in version order, one per round
    (most persons appear once, in round 1)."""
    order = sorted(range(len(records)), key=lambda i: (records[i].id_number, records[i].version, i))
    rnd = [1] * len(records)
    prev = None
    k = 0
    for i in order:
        idn = records[i].id_number
        k = k + 1 if idn == prev else 1
        rnd[i] = k
        prev = idn
    return rnd


@dataclass
class Context:
    """What preparing a chunk needs (built once per process)."""

    header: BatchHeader
    encoder: Encoder
    index: object  # geo.matching.DwellingIndex
    today: dt.date


def prepare_chunk(ctx: Context, chunk: Chunk) -> Prepared:
    """Decode, validate, match and encode one chunk (pure; runs in worker processes)."""
    from geo.matching import DwellingIndex

    index: DwellingIndex = ctx.index  # type: ignore[assignment]
    rejects: list[RowReject] = []
    records: list[Record] = []
    tallies: Counter[str] = Counter()
    for item in decode_lines(ctx.header, chunk.lines, chunk.first_no):
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
    # addresses: each distinct string once
    addresses = {r.address for r in records if r.op == "upsert" and r.address}
    if index.complete or index.loader is None:
        matches = {a: index.match(a) for a in addresses}
    else:  # load the dwellings of the buildings these addresses name, then match
        parsed = {a: index.parse(a) for a in addresses}
        index.ensure(parsed.values())
        matches = {a: index.match_parsed(p) for a, p in parsed.items()}
    rnd = rounds_of(records)
    enc = ctx.encoder
    produced = ctx.header.produced_at
    times: dict[dt.datetime | None, str | None] = {None: None}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r, k in zip(records, rnd, strict=True):
        m = matches.get(r.address) if r.address and r.op == "upsert" else None
        if m is not None:
            tallies[f"match_{m.status}"] += 1
        cands = m.candidates if m is not None and not m.linked else []
        eff = r.effective_at or produced
        eff_s = times.get(eff)
        if eff_s is None and eff is not None:
            eff_s = times[eff] = eff.isoformat()
        w.writerow(
            (
                r.line_no,
                k,
                r.op,
                r.version,
                "\\x" + enc.id_hash(r.id_number).hex(),
                "\\x" + enc.encrypt(r.id_number).hex(),
                r.id_masked,
                r.name,
                r.sex,
                r.ethnicity,
                r.birth_date.isoformat() if r.birth_date else None,
                r.phone,
                r.population_type,
                RESIDENCE_BY_POPULATION.get(r.population_type, "常住"),
                r.relation,
                _pg_array(r.care_tags),
                r.address,
                r.hukou_address,
                eff_s,
                m.status if m is not None else None,
                m.dwelling_id if m is not None else None,
                m.confidence if m is not None else None,
                _pg_array([c.dwelling_id for c in cands]) if cands else None,
                json.dumps(
                    [{"dwelling_id": c.dwelling_id, "score": c.score, "why": c.why} for c in cands],
                    ensure_ascii=False,
                )
                if m is not None and not m.linked
                else None,
                m.community_code if m is not None else None,
                m.building_id if m is not None else None,
                "t" if r.upgraded else "f",
                "\\x" + content_hash(r).hex(),
            )
        )
    for rj in rejects:
        tallies[f"reject_{rj.reason}"] += 1
    return Prepared(
        chunk.index,
        chunk.first_no,
        chunk.end,
        len(chunk.lines),
        buf.getvalue(),
        len(records),
        max(rnd, default=0),
        sorted(rejects, key=lambda x: x.line_no),
        dict(tallies),
    )


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
