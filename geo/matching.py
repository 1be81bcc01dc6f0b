"""Address → dwelling matching against an in-memory index of the dwellings (pure).

The index holds the area names (district, street, community), the compounds and buildings, and
the dwellings of the buildings loaded so far (all of them for a full load; for a small batch only
the buildings its addresses name, see :meth:`DwellingIndex.buildings_wanted`).

Matching narrows down level by level and scores every candidate dwelling with a product of
factors, one per piece of evidence that is missing or weak (the factors are in :data:`FACTORS`):

1. **area**: every district, street and community the address names must contain the candidate;
   a name GridMap does not know, or levels that contradict each other, lower the score.
2. **compound**: the compound named (exactly; or a known name inside extra words; or, fuzzily, a
   similar name in the same area); without one, the buildings outside compounds (平房区12号,
   XX巷7号) or every compound of the named community.
3. **building**: the building number's key (3号楼 = 3栋 = 3# = 三号楼 → ``3``; B座 → ``B``).
4. **dwelling**: unit + room; a missing unit is resolved only when one unit has the room;
   a floor and a position (6楼东户) are mapped to the floor's rooms, west to east, but always
   left to a person to confirm; a bungalow with one dwelling needs no room.

A person is linked only when the best candidate scores at least :data:`LINK_THRESHOLD` and no
other candidate comes within :data:`LINK_MARGIN` of it; everything else goes to the review queue
with its ranked candidates. An exact, complete address scores 1.0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo import address as addr

#: a candidate must score at least this to be linked without review
LINK_THRESHOLD = 0.9
#: ... and be at least this much ahead of the next candidate
LINK_MARGIN = 0.2
#: multiplicative evidence factors (1.0 = certain)
FACTORS = {
    "area_missing": 0.97,  # no street/community given (district + compound only) — still unique
    "area_none": 0.88,  # no area at all: a compound name alone could be in another city
    "area_unverified": 0.85,  # a district/street/community name GridMap does not know
    "area_conflict": 0.6,  # the levels named contradict each other or the compound
    "compound_in_text": 0.96,  # a known compound name inside extra words
    "compound_fuzzy": 0.8,  # only a similar compound name (times the similarity)
    "compound_missing": 0.9,  # no compound: buildings of the whole community
    "prefix_dropped": 0.9,  # a building prefix (东区3号楼) that matches no building
    "unit_single": 0.97,  # no unit given, the building has one
    "unit_inferred": 0.92,  # no unit given, exactly one unit has the room
    "unit_ambiguous": 0.6,  # no unit given, several units have the room
    "unit_wrong": 0.5,  # the unit named has no such room, another unit has
    "position": 0.75,  # 东户/西户: room inferred from a position on the floor
    "position_other": 0.4,  # the other rooms of that floor
    "single_dwelling": 1.0,  # no room given, the building has one dwelling (a bungalow)
    "room_missing": 0.3,  # no room given, one of the building's dwellings
}
#: words after a house number that name the house itself, not a room in it
HOUSE_WORDS = ("平房", "门市", "门面", "底商", "商铺")
#: buildings with at most this many dwellings list them as candidates when no room is given
SMALL_BUILDING = 12
ROOM_BITS = 24
UNIT_BITS = 8
#: positions on a floor, west → east (a floor's rooms are numbered from the west by convention)
POSITIONS = {"西": 0, "南": None, "北": None, "中": 1, "东": -1}


@dataclass(frozen=True, slots=True)
class Candidate:
    dwelling_id: int
    score: float
    why: str


@dataclass
class MatchResult:
    """What an address resolved to. ``status``: ``exact`` / ``matched`` (linked), ``ambiguous``
    (candidates, none certain), ``unmatched`` (names a dwelling GridMap does not have),
    ``incomplete`` (no building in the address), ``empty``, ``other_city``."""

    status: str
    dwelling_id: int | None = None
    confidence: float = 0.0
    candidates: list[Candidate] = field(default_factory=list)
    community_code: str | None = None
    building_id: int | None = None
    reason: str | None = None

    @property
    def linked(self) -> bool:
        return self.dwelling_id is not None


def _col(frame: object, name: str) -> list:
    """A column as a Python list, from a pandas DataFrame or a pyarrow Table."""
    if hasattr(frame, "column_names"):  # pyarrow.Table
        return frame.column(name).to_pylist()  # type: ignore[attr-defined]
    return frame[name].tolist()  # type: ignore[index]


def _arrow(frame: object) -> pa.Table:
    """A pandas DataFrame (NaN as null) or a pyarrow Table as a pyarrow Table."""
    if hasattr(frame, "column_names"):
        return frame  # type: ignore[return-value]
    return pa.Table.from_pandas(frame, preserve_index=False)  # type: ignore[arg-type]


def _ints(t: pa.Table, name: str) -> list[int | None]:
    """A whole-number column as Python ints (None for null)."""
    return pc.cast(t.column(name), pa.int64()).to_pylist()


def _dwelling_table(frame: object) -> pa.Table:
    """Dwellings as an Arrow table with int64 id, building_id, unit (null when unknown), text room."""
    if hasattr(frame, "column_names"):
        t = frame  # type: ignore[assignment]
        for c in ("id", "building_id", "unit"):
            if t.column(c).type != pa.int64():  # type: ignore[attr-defined]
                i = t.column_names.index(c)  # type: ignore[attr-defined]
                t = t.set_column(i, c, pc.cast(t.column(c), pa.int64()))  # type: ignore[attr-defined]
        return t  # type: ignore[return-value]
    f: pd.DataFrame = frame  # type: ignore[assignment]
    cols = {
        "id": pa.array(f["id"].astype("int64").tolist(), pa.int64()),
        "building_id": pa.array(f["building_id"].astype("int64").tolist(), pa.int64()),
        "unit": pa.array(
            [None if _missing(u) else int(u) for u in pd.to_numeric(f["unit"], errors="coerce")],
            pa.int64(),
        ),
        "room": pa.array([None if _missing(r) else str(r) for r in f["room"].tolist()], pa.string()),
    }
    if "address" in f.columns:
        cols["address"] = pa.array([None if _missing(a) else str(a) for a in f["address"].tolist()], pa.string())
    return pa.table(cols)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v is pd.NA


def _key(building_id: int, unit: int, room: int) -> int:
    return (building_id << (ROOM_BITS + UNIT_BITS)) | (unit << ROOM_BITS) | room


def _bigrams(s: str) -> set[str]:
    return {s[i : i + 2] for i in range(len(s) - 1)} or {s}


def similarity(a: str, b: str) -> float:
    """Dice coefficient of character bigrams of two names without their common suffix."""
    ca, cb = _core(a), _core(b)
    x, y = _bigrams(ca), _bigrams(cb)
    return 2 * len(x & y) / (len(x) + len(y))


def _core(name: str) -> str:
    for suf in addr.COMPOUND_SUFFIXES:
        if name.endswith(suf) and len(name) > len(suf) + 1:
            return name[: -len(suf)]
    return name


class _Scopes:
    """Buildings by scope (a compound id, or ``("", community)`` for buildings outside compounds)
    and building key (:func:`geo.address.building_key` of their number), as ``get(scope)`` →
    ``{key: [building ids]}``. A scope's dict is built when it is first asked for: a batch
    touches few of a city's scopes."""

    def __init__(self, bid: list[int], number: list[object], cid: list[int | None], comm: list[str]) -> None:
        self._bid, self._number = bid, number
        code_of = {m: -1 - i for i, m in enumerate(dict.fromkeys(comm))}
        code = np.array([c if c is not None else code_of[m] for c, m in zip(cid, comm, strict=True)], dtype=np.int64)
        self._order = np.argsort(code, kind="stable")
        codes, starts = np.unique(code[self._order], return_index=True)
        ends = np.append(starts[1:], len(code))
        scope_of = {v: ("", m) for m, v in code_of.items()}
        self._span: dict[object, tuple[int, int]] = {
            (c if c >= 0 else scope_of[c]): (a, e)
            for c, a, e in zip(codes.tolist(), starts.tolist(), ends.tolist(), strict=True)
        }
        self._keys: dict[str, str | None] = {}  # building numbers repeat (1号楼…): each parsed once
        self._built: dict[object, dict[str, list[int]]] = {}

    def get(self, scope: object, default: dict[str, list[int]] | None = None) -> dict[str, list[int]] | None:
        built = self._built.get(scope)
        if built is not None:
            return built
        span = self._span.get(scope)
        if span is None:
            return default
        built = {}
        for i in self._order[span[0] : span[1]].tolist():
            n = self._number[i]
            if not isinstance(n, str):
                continue
            key = self._keys.get(n, "")
            if key == "":
                key = self._keys[n] = addr.building_key(n)
            if key is not None:
                built.setdefault(key, []).append(self._bid[i])
        self._built[scope] = built
        return built


class DwellingIndex:
    """Everything the matcher needs to know about the city's dwellings.

    ``areas``: code, name, level (``city``/``county``/``town``/``village``), parent_code;
    ``compounds``: id, name, community_code; ``buildings``: id, number, compound_id,
    community_code, units; dwellings (:meth:`add_dwellings`): id, building_id, unit, room.
    """

    def __init__(self, areas: pd.DataFrame, compounds: pd.DataFrame, buildings: pd.DataFrame) -> None:
        self.gazetteer = addr.Gazetteer()
        self.loader: Callable[[list[int]], pd.DataFrame] | None = None
        #: dwellings by (building, unit, room) keys, for small batches
        self.key_loader: Callable[[list[tuple[int, int, str]]], object] | None = None
        #: dwellings by standard address (address → id, -1 when shared), for small batches
        self.exact_loader: Callable[[list[str]], dict[str, int]] | None = None
        self.parent: dict[str, str | None] = {}
        self.level_of: dict[str, str] = {}
        self.codes_by_name: dict[str, dict[str, set[str]]] = {
            "city": {},
            "county": {},
            "town": {},
            "village": {},
        }
        table_of = {
            "city": "cities",
            "county": "districts",
            "town": "streets",
            "village": "communities",
        }
        for code, name, level, parent in zip(
            _col(areas, "code"),
            _col(areas, "name"),
            _col(areas, "level"),
            _col(areas, "parent_code"),
            strict=True,
        ):
            if level not in table_of:
                continue
            self.parent[code] = parent if isinstance(parent, str) and parent else None
            self.level_of[code] = level
            names = {name, addr.short_name(name)}
            if level == "village" and not addr.short_name(name).endswith(("社区", "村", "嘎查")):
                names.add(addr.short_name(name) + "社区")
            for n in names:
                norm = self.gazetteer.add(table_of[level], n)
                if norm:
                    self.codes_by_name[level].setdefault(norm, set()).add(code)
        # a community's street, district and city; the communities under every area code
        self.up: dict[str, dict[str, str]] = {}
        self.under: dict[str, set[str]] = {}
        for code, level in self.level_of.items():
            if level != "village":
                continue
            chain: dict[str, str] = {"village": code}
            c: str | None = code
            while c is not None and c in self.level_of:
                chain[self.level_of[c]] = c
                self.under.setdefault(c, set()).add(code)
                c = self.parent.get(c)
            self.up[code] = chain
        self._area_cache: dict[tuple[str, str], frozenset[str]] = {}

        self.compound_comm: dict[int, str] = {}
        self.compound_name: dict[int, str] = {}
        self.compounds_by_name: dict[str, list[int]] = {}
        self.compounds_of: dict[str, list[int]] = {}
        for cid, name, comm in zip(
            _col(compounds, "id"), _col(compounds, "name"), _col(compounds, "community_code"), strict=True
        ):
            cid = int(cid)
            self.compound_comm[cid] = comm
            self.compounds_of.setdefault(comm, []).append(cid)
            norm = self.gazetteer.add("compounds", name) if isinstance(name, str) else None
            if norm:
                self.compound_name[cid] = norm
                self.compounds_by_name.setdefault(norm, []).append(cid)

        # a city has a few hundred thousand buildings: their facts are read column by column
        b = _arrow(buildings)
        bid = _ints(b, "id")
        cid = _ints(b, "compound_id")
        comm = b.column("community_code").to_pylist()
        units = pc.cast(b.column("units"), pa.int64())
        units = pc.if_else(pc.fill_null(pc.greater(units, 0), False), units, 1).to_pylist()
        number = b.column("number").to_pylist()
        self.building_comm: dict[int, str] = dict(zip(bid, comm, strict=True))
        self.building_units: dict[int, int] = dict(zip(bid, units, strict=True))
        self.building_compound: dict[int, int | None] = dict(zip(bid, cid, strict=True))
        self.scope = _Scopes(bid, number, cid, comm)
        self.dw: dict[int, int] = {}
        self.dw_text: dict[tuple[int, int, str], int] = {}
        self.count: dict[int, int] = {}
        self.single: dict[int, int] = {}
        self.small: dict[int, list[tuple[int, str, int]]] = {}  # building → (unit, room, id), ≤ 12
        self.exact: dict[str, int] = {}  # a dwelling's standard address as stored → its id
        self.loaded: set[int] = set()
        self.complete = False

    # -- dwellings --------------------------------------------------------------------------
    def add_dwellings(self, frame: object, *, complete: bool = False) -> None:
        """Add dwellings (a DataFrame or Arrow table: id, building_id, unit, room and optionally
        address, the registry's standard address); ``complete`` says every building is in."""
        t = _dwelling_table(frame)
        n = t.num_rows
        if n and "address" in t.column_names:
            a = t.column("address")
            ok = pc.fill_null(pc.not_equal(a, ""), False)
            addresses = pc.filter(a, ok).to_pylist()
            ids = pc.filter(t.column("id"), ok).to_pylist()
            exact = dict(zip(addresses, ids, strict=True))
            if len(exact) < len(addresses):  # two dwellings with one address: structured matching
                seen: dict[str, int] = {}
                for x in addresses:
                    seen[x] = seen.get(x, 0) + 1
                for x, k in seen.items():
                    if k > 1:
                        exact[x] = -1
            self.exact.update(exact)
        if n:
            did = t.column("id").to_numpy()
            bid = t.column("building_id").to_numpy()
            unit = pc.fill_null(t.column("unit"), 0).to_numpy()
            room = pc.utf8_trim_whitespace(t.column("room"))
            digits_a = pc.fill_null(pc.match_substring_regex(room, r"^[0-9]{1,7}$"), False)
            digits = digits_a.to_numpy(zero_copy_only=False)
            rint = pc.cast(pc.if_else(digits_a, room, "0"), pa.int64()).to_numpy()
            keys = (bid << (ROOM_BITS + UNIT_BITS)) | (np.clip(unit, 0, 255) << ROOM_BITS) | rint
            self.dw.update(zip(keys[digits].tolist(), did[digits].tolist(), strict=True))
            other = np.flatnonzero(~digits)
            for i, r in zip(other.tolist(), room.take(other).to_pylist(), strict=True):
                r = str(r or "")
                self.dw_text[(int(bid[i]), int(unit[i]), addr.canonical_room(r) or r)] = int(did[i])
            ub, first, inverse, counts = np.unique(bid, return_index=True, return_inverse=True, return_counts=True)
            for b, f, c in zip(ub.tolist(), first.tolist(), counts.tolist(), strict=True):
                total = self.count.get(b, 0) + c
                self.count[b] = total
                if total == 1:
                    self.single[b] = int(did[f])
                else:
                    self.single.pop(b, None)
            few = np.flatnonzero(counts[inverse] <= SMALL_BUILDING)
            for b, u, r, d in zip(
                bid[few].tolist(),
                unit[few].tolist(),
                room.take(pa.array(few)).to_pylist(),
                did[few].tolist(),
                strict=True,
            ):
                self.small.setdefault(b, []).append((u, str(r), d))
            self.loaded.update(ub.tolist())
        if complete:
            self.complete = True

    def buildings_wanted(self, parsed: Iterable[addr.ParsedAddress]) -> set[int]:
        """Buildings whose dwellings are needed to match ``parsed`` and are not loaded yet."""
        if self.complete:
            return set()
        want: set[int] = set()
        for p in parsed:
            for _bid, _f, _why in self._buildings(p, self._area(p)[0]):
                want.add(_bid)
        return want - self.loaded

    def ensure(self, parsed: Iterable[addr.ParsedAddress]) -> None:
        """Load the dwellings ``parsed`` needs: for an address with unit and room only those
        dwellings (:attr:`key_loader`), else (or when that finds nothing) whole buildings
        (:attr:`loader`)."""
        if self.complete or self.loader is None:
            return
        parsed = list(parsed)
        whole: set[int] = set()
        keyed: list[tuple[addr.ParsedAddress, list[int]]] = []
        keys: set[tuple[int, int, str]] = set()
        for p in parsed:
            bs = [b for b, _f, _w in self._buildings(p, self._area(p)[0]) if b not in self.loaded]
            if not bs:
                continue
            if (
                self.key_loader is not None
                and p.unit is not None
                and p.room is not None
                and p.room.isdigit()
                and int(p.room) < (1 << ROOM_BITS)
            ):
                keyed.append((p, bs))
                for b in bs:
                    keys.add((b, min(p.unit, 255), p.room))
                    keys.add((b, 0, p.room))
            else:
                whole.update(bs)
        if keys:
            self._add_keyed(self.key_loader(sorted(keys)))  # type: ignore[misc]
            for p, bs in keyed:  # nothing at that unit and room: look at the whole building
                r = int(p.room)  # type: ignore[arg-type]
                for b in bs:
                    if self.dw.get(_key(b, min(p.unit, 255), r)) is None and (  # type: ignore[type-var]
                        self.building_units.get(b, 1) > 1 or self.dw.get(_key(b, 0, r)) is None
                    ):
                        whole.add(b)
        whole -= self.loaded
        if whole:
            self.add_dwellings(self.loader(sorted(whole)))
            self.loaded.update(whole)

    def _add_keyed(self, frame: object) -> None:
        """Dwellings found by (building, unit, room): looked up, but their buildings not loaded."""
        t = _dwelling_table(frame)
        if not t.num_rows:
            return
        did = t.column("id").to_numpy()
        bid = t.column("building_id").to_numpy()
        unit = pc.fill_null(t.column("unit"), 0).to_numpy()
        for d, b, u, r in zip(did.tolist(), bid.tolist(), unit.tolist(), t.column("room").to_pylist(), strict=True):
            r = (r or "").strip()
            if r.isdigit() and len(r) <= 7:
                self.dw[_key(b, min(max(u, 0), 255), int(r))] = d

    # -- matching ---------------------------------------------------------------------------
    def parse(self, raw: str | None, text: str | None = None) -> addr.ParsedAddress:
        """``raw`` parsed with the city's names (``text``: its normalised form, when known)."""
        return addr.parse(raw, self.gazetteer, text=text)

    def match(self, raw: str | None) -> MatchResult:
        """Match one address: the registry's standard address as it is (or normalised), else
        parsed and matched part by part."""
        d = self.exact_ids([raw]).get(raw) if raw else None
        if d is not None:
            return MatchResult("exact", d, 1.0, [Candidate(d, 1.0, "standard address")])
        return self.match_parsed(self.parse(raw))

    def exact_ids(self, addresses: Iterable[str], norms: dict[str, str] | None = None) -> dict[str, int]:
        """The dwelling of each address that is a registry's standard address, as it is or else
        normalised (one shared by two dwellings is none). A partial index asks
        :attr:`exact_loader`, when it has one, so that such addresses need no dwellings loaded.
        ``norms`` receives the normalised form of each address normalised here."""
        raw = [a for a in addresses if a]
        norm: dict[str, str] = {} if norms is None else norms
        table = self.exact
        if not self.complete and self.exact_loader is not None and raw:
            norm.update((a, addr.normalize(a)) for a in raw)
            table = self.exact_loader(sorted(set(raw) | {norm[a] for a in raw}))
        out: dict[str, int] = {}
        if not table:
            return out
        for a in raw:
            d = table.get(a)
            if d is None:
                n = norm.get(a)
                if n is None:
                    n = norm[a] = addr.normalize(a)
                d = table.get(n)
            if d is not None and d > 0:
                out[a] = d
        return out

    def _area(self, p: addr.ParsedAddress) -> tuple[frozenset[str] | None, float, str | None]:
        """(allowed communities or None for any, factor, reason) of the area parts of ``p``.

        The most specific level named decides; a wider level that does not contain it lowers
        the score (the address contradicts itself) but does not widen the search."""
        if p.city and self.codes_by_name["city"] and p.city not in self.codes_by_name["city"]:
            return frozenset(), 0.0, "other_city"
        factor = 1.0
        allowed: frozenset[str] | None = None
        for level, name in (("village", p.community), ("town", p.street), ("county", p.district)):
            if not name:
                continue
            comms = self._area_cache.get((level, name))
            if comms is None:
                codes = self.codes_by_name[level].get(name, set())
                comms = frozenset(c for code in codes for c in self.under.get(code, ()))
                self._area_cache[(level, name)] = comms
            if not comms:
                factor *= FACTORS["area_unverified"]
                continue
            if allowed is None:
                allowed = comms
                continue
            inter = allowed & comms
            if inter:
                allowed = inter
            else:
                factor *= FACTORS["area_conflict"]
        if not (p.district or p.street or p.community):
            factor *= FACTORS["area_none"]
        elif not (p.street or p.community):
            factor *= FACTORS["area_missing"]
        return allowed, factor, None

    def _compounds(
        self, p: addr.ParsedAddress, allowed: frozenset[str] | None
    ) -> tuple[list[tuple[int, float, str, str]], bool]:
        """Candidate compounds (id, factor, why, building prefix) and whether the compound was named."""
        out: list[tuple[int, float, str, str]] = []
        if p.compound:
            cids = self.compounds_by_name.get(p.compound, [])
            inside = [c for c in cids if allowed is None or self.compound_comm[c] in allowed]
            if inside:
                return [(c, 1.0, "compound", p.middle or "") for c in inside], True
            if cids:  # the compound exists, but not where the address says
                return [(c, FACTORS["area_conflict"], "compound outside the area", p.middle or "") for c in cids], True
            return self._fuzzy_compounds(p.compound, allowed, p.middle or ""), True
        if p.middle:
            text = p.middle
            for i in range(len(text) - 1):
                name = self.gazetteer.compounds.match(text, i)
                if name is None:
                    continue
                rest = text[i + len(name) :]
                for c in self.compounds_by_name.get(name, []):
                    if allowed is None or self.compound_comm[c] in allowed:
                        f = 1.0 if i == 0 else FACTORS["compound_in_text"]
                        out.append((c, f, "compound in text", rest))
                if out:
                    return out, True
        return out, False

    def _fuzzy_compounds(
        self, name: str, allowed: frozenset[str] | None, prefix: str
    ) -> list[tuple[int, float, str, str]]:
        if allowed is None or len(allowed) > 200:
            return []
        out = []
        for comm in allowed:
            for c in self.compounds_of.get(comm, []):
                cname = self.compound_name.get(c)
                if not cname:
                    continue
                s = similarity(name, cname)
                if s >= 0.5:
                    out.append((c, FACTORS["compound_fuzzy"] * s, f"similar compound {cname}", prefix))
        return out

    def _buildings(self, p: addr.ParsedAddress, allowed: frozenset[str] | None) -> list[tuple[int, float, str]]:
        """Candidate buildings (id, factor, why)."""
        if p.building is None and not (p.road and p.road_no):
            return []
        out: list[tuple[int, float, str]] = []
        compounds, named = self._compounds(p, allowed)
        for cid, f, why, prefix in compounds:
            keys = self.scope.get(cid, {})
            bids = keys.get(prefix + p.building) if p.building else None
            if bids is None and prefix and p.building:
                bids = keys.get(p.building)
                f *= FACTORS["prefix_dropped"]
            for b in bids or ():
                out.append((b, f, why))
        if out or named:
            return out
        # no compound: buildings outside compounds (平房区12号, XX巷7号) of the area
        comms = allowed if allowed is not None else None
        keys_to_try = []
        if p.building:
            keys_to_try.append(((p.middle or "") + p.building, 1.0))
            if p.road and p.road_no:
                keys_to_try.append((f"{p.road}{p.road_no}{p.middle or ''}{p.building}", 1.0))
        elif p.road and p.road_no:
            keys_to_try.append((f"{p.road}{p.road_no}", 1.0))
        if comms is None:
            return []  # no area and no compound: nothing to anchor a building number on
        for comm in sorted(comms):
            scope = self.scope.get(("", comm), {})
            for k, f in keys_to_try:
                for b in scope.get(k, ()):
                    out.append((b, f, "building outside compounds"))
        if out or not p.building or p.middle:
            return out
        # a community and a building number but no compound: every compound of the community
        for comm in sorted(comms):
            for cid in self.compounds_of.get(comm, []):
                for b in self.scope.get(cid, {}).get(p.building, ()):
                    out.append((b, FACTORS["compound_missing"], "compound not named"))
        return out

    def _dwellings(self, p: addr.ParsedAddress, b: int, f: float, why: str) -> list[Candidate]:
        units = self.building_units.get(b, 1)
        dw = self.dw
        out: list[Candidate] = []
        room = p.room
        if room is not None and room.isdigit() and int(room) < (1 << ROOM_BITS):
            r = int(room)
            if p.unit is not None:
                d = dw.get(_key(b, min(p.unit, 255), r))
                if d is None and units == 1:
                    d = dw.get(_key(b, 0, r))
                if d is not None:
                    return [Candidate(d, f, why)]
                for u in range(0, units + 1):
                    d = dw.get(_key(b, u, r))
                    if d is not None:
                        out.append(Candidate(d, f * FACTORS["unit_wrong"], f"{why}; unit {u}"))
                return out
            hits = [(u, dw.get(_key(b, u, r))) for u in range(0, units + 1)]
            hits = [(u, d) for u, d in hits if d is not None]
            if len(hits) == 1:
                k = "unit_single" if units == 1 else "unit_inferred"
                return [Candidate(hits[0][1], f * FACTORS[k], f"{why}; unit not given")]
            return [Candidate(d, f * FACTORS["unit_ambiguous"], f"{why}; unit {u}?") for u, d in hits]
        if room is not None or (p.room_text and p.room_text not in HOUSE_WORDS):
            text = room or p.room_text
            for u in [p.unit] if p.unit is not None else range(0, units + 1):
                d = self.dw_text.get((b, u or 0, text))  # type: ignore[arg-type]
                if d is not None:
                    out.append(Candidate(d, f, why))
            return out
        if p.position and p.floor:
            unit_list = [p.unit] if p.unit is not None else list(range(0, units + 1))
            for u in unit_list:
                rooms = [(k, dw.get(_key(b, u, p.floor * 100 + k))) for k in range(1, 10) if p.floor > 0]
                rooms = [(k, d) for k, d in rooms if d is not None]
                if not rooms:
                    continue
                idx = POSITIONS.get(p.position)
                if idx == 1 and len(rooms) != 3:
                    idx = None
                pick = rooms[idx][1] if idx is not None and len(rooms) >= 2 else None
                for _k, d in rooms:
                    s = FACTORS["position"] if d == pick else FACTORS["position_other"]
                    out.append(Candidate(d, f * s, f"{why}; {p.floor}楼{p.position}户"))
            return out
        if self.count.get(b) == 1:
            return [Candidate(self.single[b], f * FACTORS["single_dwelling"], why)]
        if p.floor is None and self.count.get(b, 0) <= SMALL_BUILDING:
            for u, r, d in sorted(self.small.get(b, ())):
                out.append(Candidate(d, f * FACTORS["room_missing"], f"{why}; {u}-{r}?"))
        return out

    def match_parsed(self, p: addr.ParsedAddress) -> MatchResult:
        """Match a parsed address (its buildings' dwellings must be loaded, see :meth:`ensure`)."""
        if not p.text:
            return MatchResult("empty", reason="no address")
        allowed, area_f, why = self._area(p)
        if why == "other_city":
            return MatchResult("other_city", reason=f"{p.city} is not a city GridMap holds")
        buildings = self._buildings(p, allowed)
        comm = next(iter(allowed)) if allowed is not None and len(allowed) == 1 else None
        if not buildings:
            if not p.dwelling_level:
                return MatchResult("incomplete", community_code=comm, reason="no building named")
            compounds, _ = self._compounds(p, allowed)
            cs = {self.compound_comm[c] for c, *_ in compounds}
            if len(cs) == 1:
                comm = cs.pop()
            return MatchResult("unmatched", community_code=comm, reason="no such building")
        best: dict[int, Candidate] = {}
        for b, f, bwhy in buildings:
            for c in self._dwellings(p, b, f * area_f, bwhy):
                old = best.get(c.dwelling_id)
                if old is None or c.score > old.score:
                    best[c.dwelling_id] = c
        bset = {b for b, _, _ in buildings}
        building = next(iter(bset)) if len(bset) == 1 else None
        comms = {self.building_comm[b] for b in bset}
        if len(comms) == 1:
            comm = next(iter(comms))
        if not best:
            return MatchResult("unmatched", community_code=comm, building_id=building, reason="no such dwelling")
        ranked = sorted(
            (Candidate(c.dwelling_id, round(c.score, 3), c.why) for c in best.values()),
            key=lambda c: (-c.score, c.dwelling_id),
        )
        top = ranked[0]
        second = ranked[1].score if len(ranked) > 1 else 0.0
        if top.score >= LINK_THRESHOLD and second <= top.score - LINK_MARGIN:
            status = "exact" if top.score >= 1.0 else "matched"
            return MatchResult(
                status,
                top.dwelling_id,
                top.score,
                ranked[:10],
                community_code=comm,
                building_id=building,
            )
        reason = "several candidates" if len(ranked) > 1 else "low confidence"
        return MatchResult(
            "ambiguous",
            None,
            top.score,
            ranked[:10],
            community_code=comm,
            building_id=building,
            reason=reason,
        )
