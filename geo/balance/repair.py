"""Local search on a partition of a weighted planar graph: keep grids contiguous, reach the band.

The state holds, per grid, its households ``W``, area ``A`` and perimeter ``P`` (perimeter of the
union of its cells = sum of cell perimeters minus twice the boundary shared inside the grid), so
every move is evaluated in time proportional to the moved vertex's degree.

The objective is lexicographic (see :func:`objective_order`):

``dev``     households outside the band: the total distance of grid sizes from ``[lo, hi]``
            (a grid of 521 has 21 too many, one of 280 lacks 20). Counting whole out-of-band
            grids instead would rather cut 521 into 500 + 21 than leave one grid slightly over.
``oob``     households living in grids outside the band (tie-break of ``dev``)
``split``   number of (grid, large compound) pieces: compounds kept in as few grids as possible
``compact`` sum over grids of 1 / Polsby-Popper = P² / (4 pi A)
``moved``   households whose grid differs from their existing grid (re-balance only)
``kdev``    |number of grids - round(total / target)|

In a new plan stability does not apply (nothing to keep). In a re-balance, grids in the band
are to be kept as they are, so stability ranks right after the band: a building only moves
when that brings some grid closer to the band (or back to its old grid), and among repairs that
move equally many households, the one keeping compounds whole and grids compact wins.

Two kinds of moves: a single boundary vertex to a neighbouring grid (never breaking contiguity:
the grid it leaves must stay connected), and a *recombination* of two adjacent grids: their
union is re-cut along an edge of a random spanning tree (the ReCom move of redistricting
research), choosing the best cut of several trees; this also merges two grids into one or splits
an over-full grid into two.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

FOUR_PI = 4.0 * math.pi

COMPONENTS = ("dev", "oob", "split", "compact", "moved", "kdev")


def objective_order(rebalance: bool) -> tuple[str, ...]:
    """Priority of the objective components."""
    if rebalance:
        return ("dev", "oob", "moved", "split", "compact", "kdev")
    return ("dev", "oob", "split", "compact", "moved", "kdev")


_TOL = {"oob": 0.5, "dev": 0.5, "split": 0.5, "compact": 1e-7, "moved": 0.5, "kdev": 0.5}


@dataclass
class Problem:
    """A graph to partition. Vertices are atoms (buildings, tower parts, whole small compounds)."""

    weight: np.ndarray  # households (int)
    area: np.ndarray  # m²
    perim: np.ndarray  # m
    nbrs: list[dict[int, float]]  # shared boundary length per neighbour
    group: np.ndarray  # large-compound index (>= 0) or -1
    pinned: np.ndarray  # bool: cannot move, and at most one per grid (tower parts)
    wall: list[set[int]]  # neighbours across a compound wall
    old: np.ndarray | None = None  # existing grid label per vertex, -1 when none

    @property
    def n(self) -> int:
        return len(self.weight)


class State:
    """A partition with incremental objective bookkeeping."""

    def __init__(self, pb: Problem, labels, lo: int, hi: int, target: int, rebalance: bool, kstar: int):
        self.pb = pb
        self.lo, self.hi, self.target = lo, hi, target
        self.rebalance = rebalance
        self.order = objective_order(rebalance)
        self.kstar = kstar
        self._order_idx = tuple(COMPONENTS.index(c) for c in self.order)
        self._w = [int(x) for x in pb.weight]
        self._a = [float(x) for x in pb.area]
        self._p = [float(x) for x in pb.perim]
        self._g = [int(x) for x in pb.group]
        self._o = [int(x) for x in pb.old] if pb.old is not None else None
        #: households in grids that cannot reach the band whatever the search does (a building
        #: above the maximum that stays whole)
        self.hopeless = int(sum(w - hi for w, pin in zip(self._w, pb.pinned, strict=True) if pin and w > hi))
        self.reset(labels)

    def reset(self, labels) -> None:
        """Replace the partition (recomputing every grid)."""
        pb = self.pb
        self.lab = [int(x) for x in labels]
        self.members: dict[int, set[int]] = defaultdict(set)
        for v, g in enumerate(self.lab):
            self.members[g].add(v)
        self.W: dict[int, int] = {}
        self.A: dict[int, float] = {}
        self.P: dict[int, float] = {}
        self.cnt: dict[int, dict[int, int]] = {}
        self.moved = 0
        old = pb.old
        for g in list(self.members):
            self._recompute(g)
        if old is not None:
            self.moved = int(sum(pb.weight[v] for v in range(pb.n) if old[v] >= 0 and old[v] != self.lab[v]))
        self.next_label = max(self.members, default=-1) + 1
        if old is not None and len(old):
            self.next_label = max(self.next_label, int(np.max(old)) + 1)
        #: grids changed since the last local search (None: all of them)
        self.dirty: set[int] | None = None

    # ---- bookkeeping -------------------------------------------------------------------------
    def _recompute(self, g: int) -> None:
        pb = self.pb
        mem = self.members.get(g)
        if not mem:
            self.members.pop(g, None)
            for d in (self.W, self.A, self.P, self.cnt):
                d.pop(g, None)
            return
        w = 0
        a = 0.0
        p = 0.0
        cnt: dict[int, int] = {}
        for v in mem:
            w += int(pb.weight[v])
            a += float(pb.area[v])
            p += float(pb.perim[v])
            for u, ln in pb.nbrs[v].items():
                if u in mem:
                    p -= ln  # each internal edge is seen twice: subtract ln twice in total
            c = int(pb.group[v])
            if c >= 0 and pb.weight[v] > 0:
                cnt[c] = cnt.get(c, 0) + 1
        self.W[g], self.A[g], self.P[g], self.cnt[g] = w, a, p, cnt

    def oob(self, w: float) -> float:
        return float(w) if (w < self.lo or w > self.hi) and w > 0 else 0.0

    def dev(self, w: float) -> float:
        if w <= 0:
            return float(self.lo)
        return max(0.0, self.lo - w) + max(0.0, w - self.hi)

    @staticmethod
    def compact(p: float, a: float) -> float:
        return p * p / (FOUR_PI * a) if a > 0 else 0.0

    def key(self) -> tuple[float, ...]:
        """The objective value of the whole partition, in priority order."""
        vals = {
            "oob": sum(self.oob(w) for w in self.W.values()),
            "dev": sum(self.dev(w) for w in self.W.values()),
            "split": float(sum(len(c) for c in self.cnt.values())),
            "compact": sum(self.compact(self.P[g], self.A[g]) for g in self.W),
            "moved": float(self.moved),
            "kdev": float(abs(len(self.W) - self.kstar)),
        }
        return tuple(vals[c] for c in self.order)

    # ---- connectivity ------------------------------------------------------------------------
    def connected_without(self, g: int, v: int) -> bool:
        mem = self.members[g]
        if len(mem) <= 2:
            return True
        nb = self.pb.nbrs
        start = next(u for u in nb[v] if u in mem) if any(u in mem for u in nb[v]) else None
        if start is None:
            return False
        seen = {start, v}
        stack = [start]
        while stack:
            x = stack.pop()
            for y in nb[x]:
                if y not in seen and y in mem:
                    seen.add(y)
                    stack.append(y)
        return len(seen) == len(mem)

    def is_connected(self, g: int) -> bool:
        mem = self.members[g]
        if len(mem) <= 1:
            return True
        start = next(iter(mem))
        seen = {start}
        stack = [start]
        nb = self.pb.nbrs
        while stack:
            x = stack.pop()
            for y in nb[x]:
                if y not in seen and y in mem:
                    seen.add(y)
                    stack.append(y)
        return len(seen) == len(mem)

    # ---- single moves ------------------------------------------------------------------------
    def shared_by_label(self, v: int) -> dict[int, float]:
        out: dict[int, float] = {}
        lab = self.lab
        for u, ln in self.pb.nbrs[v].items():
            g = lab[u]
            out[g] = out.get(g, 0.0) + ln
        return out

    def _touch(self, *grids: int) -> None:
        if self.dirty is not None:
            self.dirty.update(grids)

    def apply_move(self, v: int, b: int) -> None:
        pb = self.pb
        a = self.lab[v]
        self._touch(a, b)
        shared = self.shared_by_label(v)
        w = int(pb.weight[v])
        la, lb = shared.get(a, 0.0), shared.get(b, 0.0)
        self.members[a].discard(v)
        self.lab[v] = b
        if pb.old is not None and pb.old[v] >= 0:
            o = int(pb.old[v])
            self.moved += w * ((b != o) - (a != o))
        if not self.members[a]:
            self._recompute(a)
        else:
            self.W[a] -= w
            self.A[a] -= float(pb.area[v])
            self.P[a] += -float(pb.perim[v]) + 2 * la
            c = int(pb.group[v])
            if c >= 0 and w > 0:
                self.cnt[a][c] -= 1
                if self.cnt[a][c] == 0:
                    del self.cnt[a][c]
        if b not in self.W:
            self.members[b] = {v}
            self._recompute(b)
        else:
            self.members[b].add(v)
            self.W[b] += w
            self.A[b] += float(pb.area[v])
            self.P[b] += float(pb.perim[v]) - 2 * lb
            c = int(pb.group[v])
            if c >= 0 and w > 0:
                self.cnt[b][c] = self.cnt[b].get(c, 0) + 1

    def set_labels(self, assign: dict[int, int]) -> None:
        """Relabel many vertices at once and recompute the grids involved."""
        pb = self.pb
        touched = set()
        for v, b in assign.items():
            a = self.lab[v]
            if a == b:
                continue
            if pb.old is not None and pb.old[v] >= 0:
                o = int(pb.old[v])
                self.moved += int(pb.weight[v]) * ((b != o) - (a != o))
            self.members[a].discard(v)
            self.members[b].add(v)
            self.lab[v] = b
            touched.update((a, b))
        for g in touched:
            self._recompute(g)
        self._touch(*touched)

    def move_key(self, v: int, b: int, shared: dict[int, float]) -> tuple[int, ...]:
        """Change of the objective (quantised, in priority order) when ``v`` moves to ``b``."""
        a = self.lab[v]
        w = self._w[v]
        lo, hi = self.lo, self.hi
        W, P, A = self.W, self.P, self.A
        wa = W[a]
        empty_a = len(self.members[a]) == 1
        new_b = b not in W
        wb = 0 if new_b else W[b]
        # band deviation and households out of band, before and after, for grids a and b
        wa2 = 0 if empty_a else wa - w
        wb2 = wb + w
        terms = [(wa, -1), (wb2, 1)]  # grid a before, grid b after
        if not empty_a:
            terms.append((wa2, 1))  # grid a after (it vanishes when v was its only vertex)
        if not new_b:
            terms.append((wb, -1))  # grid b before (a new grid did not exist)
        d_dev = 0
        d_oob = 0
        for x, sign in terms:
            if x < lo:
                d_dev += sign * (lo - x if x > 0 else lo)
                d_oob += sign * x
            elif x > hi:
                d_dev += sign * (x - hi)
                d_oob += sign * x
        if self._order_idx[0] == 0 and d_dev > 0:
            return (d_dev,)  # worse on the first criterion: nothing else matters
        va, vp = self._a[v], self._p[v]
        pa, aa = P[a], A[a]
        cmp_a = pa * pa / (FOUR_PI * aa) if aa > 0 else 0.0
        if empty_a:
            d_cmp = -cmp_a
        else:
            p2, a2 = pa - vp + 2 * shared.get(a, 0.0), aa - va
            d_cmp = (p2 * p2 / (FOUR_PI * a2) if a2 > 0 else 0.0) - cmp_a
        if new_b:
            d_cmp += vp * vp / (FOUR_PI * va) if va > 0 else 0.0
        else:
            pb_, ab = P[b], A[b]
            p2, a2 = pb_ + vp - 2 * shared.get(b, 0.0), ab + va
            d_cmp += (p2 * p2 / (FOUR_PI * a2) if a2 > 0 else 0.0) - (pb_ * pb_ / (FOUR_PI * ab) if ab > 0 else 0.0)
        c = self._g[v]
        d_split = 0
        if c >= 0 and w > 0:
            d_split = (-1 if self.cnt[a].get(c, 0) == 1 else 0) + (
                1 if b not in self.cnt or self.cnt[b].get(c, 0) == 0 else 0
            )
        d_moved = 0
        if self._o is not None and self._o[v] >= 0:
            o = self._o[v]
            d_moved = w * ((b != o) - (a != o))
        k = len(W)
        k2 = k - (1 if empty_a else 0) + (1 if new_b else 0)
        d_k = abs(k2 - self.kstar) - abs(k - self.kstar)
        vals = (d_dev, d_oob, d_split, int(round(d_cmp / _TOL["compact"])), d_moved, d_k)
        return tuple(vals[i] for i in self._order_idx)

    def local_search(self, rng: np.random.Generator, max_passes: int = 50) -> int:
        """Move single boundary vertices while the objective improves; returns the moves made."""
        pb = self.pb
        nbrs = pb.nbrs
        lab = self.lab
        movable = np.flatnonzero(~pb.pinned).tolist()
        zero = tuple(0 for _ in self.order)
        total = 0
        for _ in range(max_passes):
            moves = 0
            dirty = self.dirty
            self.dirty = set()
            order = [movable[i] for i in rng.permutation(len(movable))]
            for v in order:
                a = lab[v]
                hot = dirty is None or a in dirty
                for u in nbrs[v]:
                    if lab[u] != a and (hot or lab[u] in dirty):
                        break
                else:
                    continue  # interior vertex, or nothing changed around it
                shared = self.shared_by_label(v)
                best = None
                best_key = zero
                for b in sorted(shared):
                    if b == a:
                        continue
                    k = self.move_key(v, b, shared)
                    if k < best_key:
                        best, best_key = b, k
                if best is None:
                    continue
                if not self.connected_without(a, v):
                    continue
                self.apply_move(v, best)
                moves += 1
            total += moves
            if not moves:
                break
        return total

    def best_move(self, g: int) -> bool:
        """Best single move into or out of the out-of-band grid ``g`` (best improvement).

        Every boundary vertex of ``g`` (moving out) and every vertex of a neighbouring grid
        touching ``g`` (moving in) is evaluated; the move with the best objective is applied when
        it improves. Unlike :meth:`local_search` (first improvement, in random order), this picks
        e.g. the smallest building that brings an over-full grid back into the band.
        """
        nbrs = self.pb.nbrs
        lab = self.lab
        zero = tuple(0 for _ in self.order)
        cands: set[int] = set()
        for v in self.members[g]:
            for u in nbrs[v]:
                if lab[u] != g:
                    cands.add(v)
                    cands.add(u)
        improving = []
        for v in sorted(cands):
            if self.pb.pinned[v]:
                continue
            a = lab[v]
            shared = self.shared_by_label(v)
            targets = [b for b in shared if b != a] if a == g else [g]
            for b in sorted(targets):
                k = self.move_key(v, b, shared)
                if k < zero:
                    improving.append((k, v, b))
        # best first; the connectivity test (a search) only until one move passes
        for _k, v, b in sorted(improving):
            if self.connected_without(lab[v], v):
                self.apply_move(v, b)
                return True
        return False

    # ---- ejection chains -----------------------------------------------------------------------
    def _neighbour_grids(self, g: int) -> set[int]:
        lab = self.lab
        return {lab[u] for v in self.members[g] for u in self.pb.nbrs[v]} - {g}

    def _shift(self, src: int, dst: int, amount: int, max_moves: int = 60, journal: list | None = None) -> int:
        """Move boundary vertices of ``src`` touching ``dst`` into ``dst`` until at least
        ``amount`` households moved (largest that still fits first); returns households moved.

        Vertices without households are never moved (they do not help), and at most
        ``max_moves`` vertices move, each the first of the (sorted) candidates whose removal
        keeps ``src`` connected among the first few tried.
        """
        moved = 0
        nbrs = self.pb.nbrs
        lab = self.lab
        w = self._w
        pinned = self.pb.pinned
        cands = {v for v in self.members[src] if w[v] > 0 and not pinned[v] and any(lab[u] == dst for u in nbrs[v])}
        for _ in range(max_moves):
            if moved >= amount or len(self.members[src]) <= 1 or not cands:
                break
            rest = amount - moved
            # fits first (largest below the rest), else the smallest above it; stable ties
            order = sorted(cands, key=lambda v: (w[v] > rest, -w[v] if w[v] <= rest else w[v], v))
            for v in order[:8]:
                if self.connected_without(src, v):
                    self.apply_move(v, dst)
                    if journal is not None:
                        journal.append((v, src))
                    moved += w[v]
                    cands.discard(v)
                    cands.update(u for u in nbrs[v] if lab[u] == src and w[u] > 0 and not pinned[u])
                    break
            else:
                break
        return moved

    def chain(self, g: int, max_depth: int | None = None, max_tries: int | None = None) -> bool:
        """Ejection chain: pass households along a path of neighbouring grids.

        An over-full grid pushes its excess into a neighbour; if that neighbour is now over the
        band, it pushes its own excess on, and so on (an under-full grid pulls the same way).
        Iterative deepening with backtracking (the shortest chains first), at most ``max_depth``
        grids deep and ``max_tries`` shifts; the first chain that improves the objective is kept. Moves few households, so it suits a
        re-balance. Returns whether it found one.
        """
        if g not in self.W:
            return False
        if max_depth is None:
            max_depth = 4 if self.rebalance else 2
        if max_tries is None:
            max_tries = 40 if self.rebalance else 10
        over = self.W[g] > self.hi
        need = self.W[g] - self.hi if over else self.lo - self.W[g]
        if need <= 0:
            return False
        before = self.key()
        tries = [0]
        journal: list[tuple[int, int]] = []

        def slack(h: int) -> int:
            return self.hi - self.W[h] if over else self.W[h] - self.lo

        def rec(src: int, amount: int, path: set[int]) -> bool:
            for dst in sorted(self._neighbour_grids(src) - path, key=lambda h: (-slack(h), h)):
                tries[0] += 1
                if tries[0] > max_tries:
                    return False
                mark = len(journal)
                moved = (
                    self._shift(src, dst, amount, journal=journal)
                    if over
                    else self._shift(dst, src, amount, journal=journal)
                )
                if moved >= amount and dst in self.W:
                    rest = self.W[dst] - self.hi if over else self.lo - self.W[dst]
                    if rest <= 0:
                        if self.key() < before:
                            return True
                    elif len(path) < limit[0] and rec(dst, rest, path | {dst}):
                        return True
                while len(journal) > mark:  # undo this try, last move first
                    v, back = journal.pop()
                    self.apply_move(v, back)
            return False

        # iterative deepening: the shortest chain (fewest households passed on) first
        limit = [1]
        for depth in range(1, max_depth + 1):
            limit[0] = depth
            if rec(g, need, {g}):
                return True
        return False

    def _vec_oob(self, w: np.ndarray) -> np.ndarray:
        return np.where(((w < self.lo) | (w > self.hi)) & (w > 0), w, 0.0)

    def _vec_dev(self, w: np.ndarray) -> np.ndarray:
        return np.where(w <= 0, float(self.lo), np.maximum(0.0, self.lo - w) + np.maximum(0.0, w - self.hi))

    @staticmethod
    def _vec_compact(p: np.ndarray, a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, p * p / (FOUR_PI * a), 0.0)

    def fixable(self, g: int) -> bool:
        """Whether grid ``g`` is outside the band and could be repaired (no oversized tower)."""
        if self.dev(self.W[g]) == 0:
            return False
        return not any(self.pb.pinned[v] and self._w[v] > self.hi for v in self.members[g])

    def _best_of(self, comps: dict[str, np.ndarray]) -> tuple[int, bool]:
        """Index of the lexicographically best candidate and whether it improves (deltas given)."""
        q = [np.round(comps[c] / _TOL[c] / 2.0) for c in self.order]
        idx = int(np.lexsort(q[::-1])[0])
        for arr in q:
            if arr[idx] < 0:
                return idx, True
            if arr[idx] > 0:
                return idx, False
        return idx, False

    def recombine(self, g: int, h: int | None, rng: np.random.Generator, trees: int = 6) -> bool:
        """Re-cut grids ``g`` and ``h`` (``h=None``: split ``g`` into two) along a spanning tree edge.

        Tries ``trees`` random spanning trees (plus the maximum spanning tree by shared boundary)
        and every cut of each, also merging both grids into one; applies the best candidate if it
        improves the objective. Returns whether it did.
        """
        pb = self.pb
        U = sorted(self.members[g] | (self.members[h] if h is not None else set()))
        n = len(U)
        if n < 2 and h is None:
            return False
        labels = [g, h if h is not None else self.next_label]
        pos = {v: i for i, v in enumerate(U)}
        eu, ev, el, eb = [], [], [], []
        by_old = self.rebalance and pb.old is not None
        for i, v in enumerate(U):
            wv = pb.wall[v]
            for u, ln in pb.nbrs[v].items():
                j = pos.get(u)
                if j is not None and j > i:
                    eu.append(i)
                    ev.append(j)
                    el.append(ln)
                    if by_old:
                        # re-balance: prefer cuts along the old grid boundaries (few moves)
                        eb.append(pb.old[u] != pb.old[v])
                    else:
                        # new plan: prefer cuts along compound walls
                        eb.append(u in wv or pb.group[u] != pb.group[v])
        eu_a, ev_a, el_a = (
            np.array(eu, dtype=int),
            np.array(ev, dtype=int),
            np.array(el, dtype=float),
        )
        eb_a = np.array(eb, dtype=float)
        Ua = np.array(U)
        w = pb.weight[Ua].astype(float)
        shU = np.zeros(n)
        np.add.at(shU, eu_a, el_a)
        np.add.at(shU, ev_a, el_a)
        pin = pb.pinned[Ua].astype(float)
        grp = pb.group[Ua]
        gids = sorted({int(c) for c, ww in zip(grp, w, strict=True) if c >= 0 and ww > 0})
        G = np.zeros((n, len(gids)))
        for i, (c, ww) in enumerate(zip(grp, w, strict=True)):
            if c >= 0 and ww > 0:
                G[i, gids.index(int(c))] = 1
        old = pb.old[Ua] if pb.old is not None else np.full(n, -1)
        has_old = (old >= 0) * w
        old_l0 = (old == labels[0]) * w
        old_l1 = (old == labels[1]) * w
        # columns: w, area, perim, sharedU, pinned, has_old, old_l0, old_l1, cut, groups...
        F = np.column_stack([w, pb.area[Ua], pb.perim[Ua], shU, pin, has_old, old_l0, old_l1, np.zeros(n), G])
        tot = F.sum(axis=0)
        totW, totA, totP = tot[0], tot[1], tot[2] - tot[3]
        totG = tot[9:]

        cur_lab = np.array([self.lab[v] for v in U])
        cur = {
            "oob": self.oob(self.W[g]) + (self.oob(self.W[h]) if h is not None else 0.0),
            "dev": self.dev(self.W[g]) + (self.dev(self.W[h]) if h is not None else 0.0),
            "split": float(len(self.cnt[g]) + (len(self.cnt[h]) if h is not None else 0)),
            "compact": self.compact(self.P[g], self.A[g])
            + (self.compact(self.P[h], self.A[h]) if h is not None else 0.0),
            "moved": float(tot[5] - np.where(cur_lab == labels[0], old_l0, old_l1).sum()),
        }
        k_now = len(self.W)
        best_payload = None
        best_key = None

        def offer(comps: dict[str, np.ndarray], payloads) -> None:
            nonlocal best_payload, best_key
            deltas = {c: comps[c] - cur[c] for c in ("oob", "dev", "split", "compact", "moved")}
            deltas["kdev"] = comps["kdev"]
            i, good = self._best_of(deltas)
            if not good:
                return
            key = tuple(float(np.round(deltas[c][i] / _TOL[c] / 2.0)) for c in self.order)
            if best_key is None or key < best_key:
                best_key, best_payload = key, payloads(i)

        if h is not None and tot[4] <= 1:
            mv = np.array([tot[5] - tot[6], tot[5] - tot[7]])
            one = np.ones(2)
            offer(
                {
                    "oob": one * self.oob(totW),
                    "dev": one * self.dev(totW),
                    "split": one * float((totG > 0).sum()),
                    "compact": one * self.compact(totP, totA),
                    "moved": mv,
                    "kdev": one * (abs(k_now - 1 - self.kstar) - abs(k_now - self.kstar)),
                },
                lambda i: ("merge", labels[i]),
            )
        kd_split = 0.0 if h is not None else abs(k_now + 1 - self.kstar) - abs(k_now - self.kstar)
        forest: list[tuple[list[int], list[int]]] = []
        if len(eu) and n >= 2:
            for t in range(trees + 1):
                if t == 0:
                    keys = -el_a  # maximum spanning tree by shared boundary: compact pieces
                elif t % 2:
                    keys = rng.random(len(eu)) + eb_a  # biased edges last: cuts follow them
                else:
                    keys = rng.random(len(eu))
                parent, order = _spanning_tree(n, eu_a, ev_a, keys)
                if parent is None:
                    return False
                forest.append((parent, order))
                depth = [0] * n
                for x in order[1:]:
                    depth[x] = depth[parent[x]] + 1
                S = F.copy()
                cutcol = S[:, 8]
                for x, y, ln in zip(eu, ev, el, strict=True):
                    a_, b_ = x, y
                    while depth[a_] > depth[b_]:
                        a_ = parent[a_]
                    while depth[b_] > depth[a_]:
                        b_ = parent[b_]
                    while a_ != b_:
                        a_, b_ = parent[a_], parent[b_]
                    cutcol[x] += ln
                    cutcol[y] += ln
                    cutcol[a_] -= 2 * ln
                for x in order[:0:-1]:
                    S[parent[x]] += S[x]
                idx = np.array(order[1:])
                R = S[idx]
                WS, WR = R[:, 0], totW - R[:, 0]
                AS, AR = R[:, 1], totA - R[:, 1]
                cut = R[:, 8]
                PS = R[:, 2] - (R[:, 3] - cut)
                PR = (tot[2] - R[:, 2]) - ((tot[3] - R[:, 3]) - cut)
                ok = (R[:, 4] <= 1) & (tot[4] - R[:, 4] <= 1) & (WS > 0) & (WR > 0)
                if not ok.any():
                    continue
                GS = R[:, 9:]
                split = (GS > 0).sum(axis=1) + ((totG - GS) > 0).sum(axis=1)
                # subtree -> labels[0] and rest -> labels[1] (flip 0), or the other way (flip 1)
                mv0 = R[:, 5] - R[:, 6] + (tot[5] - R[:, 5]) - (tot[7] - R[:, 7])
                mv1 = R[:, 5] - R[:, 7] + (tot[5] - R[:, 5]) - (tot[6] - R[:, 6])
                big = np.where(ok, 0.0, 1e12)
                base = {
                    "oob": self._vec_oob(WS) + self._vec_oob(WR) + big,
                    "dev": self._vec_dev(WS) + self._vec_dev(WR) + big,
                    "split": split.astype(float) + big,
                    "compact": self._vec_compact(PS, AS) + self._vec_compact(PR, AR) + big,
                    "kdev": np.full(len(idx), kd_split),
                }
                both = {c: np.concatenate([v, v]) for c, v in base.items()}
                both["moved"] = np.concatenate([mv0, mv1])
                m = len(idx)
                offer(both, lambda i, t=t, idx=idx, m=m: ("cut", t, int(idx[i % m]), i // m))
        if best_payload is None:
            return False
        if best_payload[0] == "merge":
            lbl = best_payload[1]
            self.set_labels(dict.fromkeys(U, lbl))
            return True
        _, t, x, flip = best_payload
        parent, order = forest[t]
        inside = _subtree(x, parent, order)
        l_in, l_out = (labels[0], labels[1]) if flip == 0 else (labels[1], labels[0])
        assign = {v: (l_in if i in inside else l_out) for i, v in enumerate(U)}
        if h is None:
            self.next_label += 1
        self.set_labels(assign)
        return True


def _spanning_tree(n: int, eu: np.ndarray, ev: np.ndarray, keys: np.ndarray):
    """Kruskal's spanning tree by ascending ``keys``; returns (parent, BFS order) rooted at 0."""
    par = list(range(n))

    def find(x: int) -> int:
        while par[x] != x:
            par[x] = par[par[x]]
            x = par[x]
        return x

    adj: list[list[int]] = [[] for _ in range(n)]
    used = 0
    for e in np.argsort(keys, kind="stable"):
        a, b = int(eu[e]), int(ev[e])
        ra, rb = find(a), find(b)
        if ra != rb:
            par[ra] = rb
            adj[a].append(b)
            adj[b].append(a)
            used += 1
            if used == n - 1:
                break
    if used != n - 1:
        return None, None
    parent = [-1] * n
    order = [0]
    seen = [False] * n
    seen[0] = True
    i = 0
    while i < len(order):
        x = order[i]
        i += 1
        for y in adj[x]:
            if not seen[y]:
                seen[y] = True
                parent[y] = x
                order.append(y)
    return parent, order


def _subtree(x: int, parent: list[int], order: list[int]) -> set[int]:
    inside = {x}
    for y in order:
        if y != x and parent[y] >= 0 and parent[y] in inside:
            inside.add(y)
    return inside
