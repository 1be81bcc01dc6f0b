"""Partition a building graph into contiguous grids: METIS start, local repair, exact fallback.

:func:`solve` is the numeric core (no geometry): it takes a :class:`~geo.balance.repair.Problem`
and returns one grid label per vertex.

New plan, per connected component of the graph:

1. Tower parts (pinned vertices) are grids of their own from the start; the rest of the component
   is cut by METIS (``pymetis``, vertex weights = households, edge weights = shared boundary
   length, lower across compound walls, higher inside large compounds; ``contig`` so that parts
   are connected) into ``k = round(households / target)`` parts (the ``k`` closest to the target
   whose even split fits the band).
2. :meth:`State.local_search` and :meth:`State.recombine` repair the band and then improve
   compactness (see :mod:`geo.balance.repair`), never breaking contiguity.
3. Several METIS seeds (and ``k ± 1`` where it also fits) are tried; the best objective wins.
4. If some grid is still outside the band and the component is small, an exhaustive search over
   connected partitions (:func:`exact_band`) looks for an in-band solution, proving infeasibility
   when it completes without one.

Re-balance: every vertex starts in its existing grid; a grid that fell apart keeps its largest
piece, vertices without a grid join a neighbour (or form new grids when they are many), and the
same repair runs with stability ranked before compactness.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pymetis

from geo.balance.repair import Problem, State
from geo.balance.towers import band_deviation


@dataclass
class SolveInfo:
    """What the solver did, for the explanation."""

    exact: str = ""  # "" not run, "found", "infeasible" (proved), "budget" (gave up)
    starts: int = 0
    components: int = 0
    key: tuple = ()
    notes: list[str] = field(default_factory=list)


def choose_k(total: int, lo: int, hi: int, target: int) -> list[int]:
    """Grid counts for ``total`` households, best first (even split closest to the band, then target)."""
    if total <= 0:
        return [0]
    kmax = max(1, math.ceil(total / max(lo, 1)) + 1)
    ks = range(1, kmax + 1)
    return sorted(
        ks,
        key=lambda k: (round(k * band_deviation(total / k, lo, hi), 6), abs(total / k - target), k),
    )


def components(n: int, nbrs: list[dict[int, float]], subset=None) -> list[list[int]]:
    """Connected components (sorted vertex lists), optionally of the subgraph induced by ``subset``."""
    allowed = set(range(n)) if subset is None else set(subset)
    seen: set[int] = set()
    out = []
    for s in sorted(allowed):
        if s in seen:
            continue
        comp = [s]
        seen.add(s)
        stack = [s]
        while stack:
            x = stack.pop()
            for y in nbrs[x]:
                if y in allowed and y not in seen:
                    seen.add(y)
                    comp.append(y)
                    stack.append(y)
        out.append(sorted(comp))
    return out


def _metis(pb: Problem, verts: list[int], k: int, seed: int) -> list[int]:
    """METIS k-way partition of the subgraph on ``verts`` (connected); returns part per vertex."""
    if k <= 1 or len(verts) <= 1:
        return [0] * len(verts)
    k = min(k, len(verts))
    pos = {v: i for i, v in enumerate(verts)}
    xadj = [0]
    adjncy: list[int] = []
    ew: list[int] = []
    for v in verts:
        for u in sorted(pb.nbrs[v]):
            j = pos.get(u)
            if j is None:
                continue
            ln = pb.nbrs[v][u]
            factor = 1 if u in pb.wall[v] else (4 if pb.group[u] == pb.group[v] >= 0 else 2)
            adjncy.append(j)
            ew.append(max(1, int(round(ln))) * factor)
        xadj.append(len(adjncy))
    vw = [int(pb.weight[v]) for v in verts]
    if sum(vw) == 0:
        vw = [1] * len(verts)
    opts = pymetis.Options(seed=int(seed) % (2**31 - 1), contig=1, ufactor=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = pymetis.part_graph(
                k, pymetis.CSRAdjacency(xadj, adjncy), vweights=vw, eweights=ew, options=opts
            )
        except Exception:  # noqa: BLE001 - METIS refuses some tiny/odd graphs; fall back to no contig
            opts = pymetis.Options(seed=int(seed) % (2**31 - 1), ufactor=30)
            res = pymetis.part_graph(
                k, pymetis.CSRAdjacency(xadj, adjncy), vweights=vw, eweights=ew, options=opts
            )
    return list(res.vertex_part)


def _split_disconnected(pb: Problem, labels: list[int], verts: list[int], next_label: int) -> int:
    """Give every disconnected piece of a label (within ``verts``) a label of its own."""
    by: dict[int, list[int]] = {}
    for v in verts:
        by.setdefault(labels[v], []).append(v)
    for _g, vs in sorted(by.items()):
        comps = components(pb.n, pb.nbrs, vs)
        if len(comps) <= 1:
            continue
        comps.sort(key=lambda c: (-sum(int(pb.weight[x]) for x in c), c[0]))
        for c in comps[1:]:
            for x in c:
                labels[x] = next_label
            next_label += 1
    return next_label


def _initial(
    pb: Problem, comp: list[int], lo: int, hi: int, target: int, seed: int, kshift: int, base: int
):
    """Initial labels for one component: pinned vertices alone, METIS on each remaining piece."""
    labels: dict[int, int] = {}
    nxt = base
    pins = [v for v in comp if pb.pinned[v]]
    for v in pins:
        labels[v] = nxt
        nxt += 1
    rest = [v for v in comp if not pb.pinned[v]]
    for piece in components(pb.n, pb.nbrs, rest):
        tot = int(sum(int(pb.weight[v]) for v in piece))
        touching = sorted(
            {labels[u] for v in piece for u in pb.nbrs[v] if u in labels and pb.pinned[u]}
        )
        if tot < lo and touching:
            # too small to be a grid: join the lightest neighbouring tower grid
            wt = {g: sum(int(pb.weight[v]) for v in labels if labels[v] == g) for g in touching}
            g = min(touching, key=lambda x: (wt[x], x))
            for v in piece:
                labels[v] = g
            continue
        ks = choose_k(tot, lo, hi, target)
        k = ks[0]
        if kshift:
            feasible = [x for x in ks if band_deviation(tot / x, lo, hi) == 0] if tot else []
            if k + kshift in feasible:
                k = k + kshift
        k = max(1, k)
        parts = _metis(pb, piece, k, seed)
        for v, p in zip(piece, parts, strict=True):
            labels[v] = nxt + int(p)
        nxt += k
    out = [labels[v] for v in comp]
    return out, nxt


def solve(
    pb: Problem,
    lo: int,
    hi: int,
    target: int,
    seed: int = 0,
    restarts: int = 4,
    trees: int = 6,
    exact_max: int = 40,
    exact_budget: int = 20000,
    polish: bool = True,
) -> tuple[np.ndarray, SolveInfo]:
    """Partition ``pb`` into contiguous grids; returns labels (0..k-1, per vertex) and a report."""
    n = pb.n
    info = SolveInfo()
    labels = np.full(n, -1, dtype=int)
    if n == 0:
        return labels, info
    comps = components(n, pb.nbrs)
    info.components = len(comps)
    rebalance = pb.old is not None and bool(np.any(pb.old >= 0))
    nxt = 0
    for ci, comp in enumerate(comps):
        sub, remap = _subproblem(pb, comp)
        tot = int(sub.weight.sum())
        kstar = max(1, round(tot / target)) if tot else 0
        if rebalance:
            lab, key = _rebalance_component(
                sub, lo, hi, target, seed + 7919 * ci, trees, kstar, polish
            )
            st_key = key
        else:
            lab, st_key = _new_component(
                sub, lo, hi, target, seed + 7919 * ci, restarts, trees, kstar, polish, info
            )
        if st_key and st_key[0] > 0 and sub.n <= exact_max and not rebalance:
            ex, status = exact_band(sub, lo, hi, exact_budget)
            info.exact = status if info.exact in ("", "found") or status != "found" else info.exact
            if ex is not None:
                st = State(sub, ex, lo, hi, target, rebalance, kstar)
                rng = np.random.default_rng(seed + 104729 * ci)
                _improve(st, rng, trees, polish)
                if st.key() < st_key:
                    lab, st_key = st.lab, st.key()
        # compact the labels of this component
        uniq = {}
        for v_local, g in enumerate(lab):
            if g not in uniq:
                uniq[g] = nxt + len(uniq)
            labels[remap[v_local]] = uniq[g]
        nxt += len(uniq)
    return labels, info


def _subproblem(pb: Problem, comp: list[int]) -> tuple[Problem, list[int]]:
    pos = {v: i for i, v in enumerate(comp)}
    nbrs = [{pos[u]: ln for u, ln in pb.nbrs[v].items() if u in pos} for v in comp]
    wall = [{pos[u] for u in pb.wall[v] if u in pos} for v in comp]
    sub = Problem(
        weight=pb.weight[comp],
        area=pb.area[comp],
        perim=pb.perim[comp],
        nbrs=nbrs,
        group=pb.group[comp],
        pinned=pb.pinned[comp],
        wall=wall,
        old=pb.old[comp] if pb.old is not None else None,
    )
    return sub, comp


def _improve(
    st: State, rng: np.random.Generator, trees: int, polish: bool, rounds: int = 6
) -> None:
    """Single moves, then recombinations of out-of-band grids, until nothing improves."""
    for _ in range(rounds):
        st.local_search(rng)
        changed = False
        bad = sorted((g for g in st.W if st.dev(st.W[g]) > 0), key=lambda g: (-st.dev(st.W[g]), g))
        for g in bad:
            if g not in st.W or st.dev(st.W[g]) == 0:
                continue
            if st.W[g] > st.hi and st.recombine(g, None, rng, trees):
                changed = True
                continue
            nbh = sorted({st.lab[u] for v in st.members[g] for u in st.pb.nbrs[v]} - {g})
            for h in nbh:
                if g in st.W and h in st.W and st.recombine(g, h, rng, trees):
                    changed = True
                    break
        if not changed:
            break
    if polish:
        # a compactness pass over all adjacent pairs (new plans) / a stability pass (re-balance)
        pairs = set()
        for v in range(st.pb.n):
            for u in st.pb.nbrs[v]:
                a, b = st.lab[v], st.lab[u]
                if a != b:
                    pairs.add((min(a, b), max(a, b)))
        changed = False
        for a, b in sorted(pairs):
            if a in st.W and b in st.W and st.recombine(a, b, rng, max(1, trees // 2)):
                changed = True
        if changed:
            st.local_search(rng)


def _new_component(pb, lo, hi, target, seed, restarts, trees, kstar, polish, info):
    comp = list(range(pb.n))
    best_lab, best_key = None, None
    shifts = [0, 1, -1, 0, 0, 1, -1, 0]
    for r in range(max(1, restarts)):
        init, _ = _initial(pb, comp, lo, hi, target, seed * 1000 + r, shifts[r % len(shifts)], 0)
        init = list(init)
        _split_disconnected(pb, init, comp, max(init) + 1)
        st = State(pb, init, lo, hi, target, False, kstar)
        rng = np.random.default_rng(seed * 1000 + r)
        _improve(st, rng, trees, polish)
        key = st.key()
        info.starts += 1
        if best_key is None or key < best_key:
            best_lab, best_key = list(st.lab), key
        if best_key[0] == 0 and r >= 1:
            break
    return best_lab, best_key


def _rebalance_component(pb, lo, hi, target, seed, trees, kstar, polish):
    """Start from the existing grids, repair what changed."""
    n = pb.n
    old = pb.old
    labels = [int(o) if o >= 0 else -1 for o in old]
    nxt = int(max(old.max(), -1)) + 1
    # a grid that fell apart keeps its heaviest piece
    by: dict[int, list[int]] = {}
    for v, g in enumerate(labels):
        if g >= 0:
            by.setdefault(g, []).append(v)
    for _g, vs in sorted(by.items()):
        comps = components(n, pb.nbrs, vs)
        if len(comps) > 1:
            comps.sort(key=lambda c: (-sum(int(pb.weight[x]) for x in c), c[0]))
            for c in comps[1:]:
                for x in c:
                    labels[x] = -1
    # two pinned vertices in one grid: the second gets its own grid
    seen_pin: dict[int, int] = {}
    for v in range(n):
        if pb.pinned[v] and labels[v] >= 0:
            if labels[v] in seen_pin:
                labels[v] = -1
            else:
                seen_pin[labels[v]] = v
    for v in range(n):
        if pb.pinned[v] and labels[v] < 0:
            labels[v] = nxt
            nxt += 1
    # vertices without a grid: big pieces become new grids, small ones join neighbours
    free = [v for v in range(n) if labels[v] < 0]
    for piece in components(n, pb.nbrs, free):
        tot = int(sum(int(pb.weight[v]) for v in piece))
        touching = any(labels[u] >= 0 for v in piece for u in pb.nbrs[v])
        if tot >= lo or not touching:
            k = max(1, choose_k(tot, lo, hi, target)[0]) if tot else 1
            parts = _metis(pb, piece, k, seed)
            for v, p in zip(piece, parts, strict=True):
                labels[v] = nxt + int(p)
            nxt += k
    # grow the remaining free vertices into neighbouring grids (lightest neighbour first)
    weight: dict[int, int] = {}
    for v in range(n):
        if labels[v] >= 0:
            weight[labels[v]] = weight.get(labels[v], 0) + int(pb.weight[v])
    pending = [v for v in range(n) if labels[v] < 0]
    while pending:
        rest = []
        progressed = False
        for v in pending:
            opts = sorted(
                {labels[u] for u in pb.nbrs[v] if labels[u] >= 0}, key=lambda g: (weight[g], g)
            )
            if opts:
                labels[v] = opts[0]
                weight[opts[0]] += int(pb.weight[v])
                progressed = True
            else:
                rest.append(v)
        pending = rest
        if not progressed:
            for v in pending:
                labels[v] = nxt
                nxt += 1
            break
    _split_disconnected(pb, labels, list(range(n)), nxt)
    st = State(pb, labels, lo, hi, target, True, kstar)
    rng = np.random.default_rng(seed)
    _improve(st, rng, trees, polish)
    return list(st.lab), st.key()


def exact_band(pb: Problem, lo: int, hi: int, budget: int = 20000) -> tuple[list[int] | None, str]:
    """Search all connected partitions for one with every grid in ``[lo, hi]``.

    Grows one grid at a time from the first unassigned vertex (in BFS order from a peripheral
    vertex), enumerating each connected vertex set containing it exactly once, pruning sets above
    ``hi`` and leftovers that can no longer form a grid (a connected remainder below ``lo``).
    Vertices without households that end up cut off join any neighbouring grid. Returns
    ``(labels, "found")``, ``(None, "infeasible")`` when the search completed (a proof) or
    ``(None, "budget")`` when it gave up after ``budget`` candidate sets.
    """
    n = pb.n
    w = [int(x) for x in pb.weight]
    nb = [sorted(d) for d in pb.nbrs]
    pinned = [bool(x) for x in pb.pinned]
    if n == 0:
        return [], "found"
    start = min(range(n), key=lambda v: (len(nb[v]), v))
    rank = {}
    queue = [start]
    rank[start] = 0
    i = 0
    while i < len(queue):
        x = queue[i]
        i += 1
        for y in nb[x]:
            if y not in rank:
                rank[y] = len(rank)
                queue.append(y)
    for v in range(n):
        rank.setdefault(v, len(rank))
    steps = [0]

    class Budget(Exception):
        pass

    def comps_of(rem: set[int]) -> list[set[int]]:
        out = []
        seen: set[int] = set()
        for s in rem:
            if s in seen:
                continue
            c = {s}
            seen.add(s)
            st = [s]
            while st:
                x = st.pop()
                for y in nb[x]:
                    if y in rem and y not in seen:
                        seen.add(y)
                        c.add(y)
                        st.append(y)
            out.append(c)
        return out

    def subsets(root: int, rem: set[int]):
        """Connected sets containing ``root`` inside ``rem`` with weight <= hi, at most one pin."""

        def rec(S: set[int], wS: int, pins: int, cand: list[int], X: set[int]):
            steps[0] += 1
            if steps[0] > budget:
                raise Budget
            yield S, wS
            cand = list(cand)
            X = set(X)
            while cand:
                v = cand.pop()
                X.add(v)
                if wS + w[v] > hi or (pinned[v] and pins):
                    continue
                newc = cand + [
                    u for u in nb[v] if u in rem and u not in S and u not in X and u not in cand
                ]
                yield from rec(S | {v}, wS + w[v], pins + pinned[v], newc, X)

        init = [u for u in nb[root] if u in rem]
        init.sort(key=lambda u: -rank[u])
        yield from rec({root}, w[root], int(pinned[root]), init, {root})

    def search(rem: set[int]) -> list[set[int]] | None:
        if not rem:
            return []
        if sum(w[v] for v in rem) == 0:
            return [set(rem)]
        root = min(rem, key=lambda v: rank[v])
        for S, wS in subsets(root, rem):
            if wS < lo:
                continue
            R = rem - S
            ok = True
            zero: set[int] = set()
            for c in comps_of(R):
                wc = sum(w[v] for v in c)
                if wc == 0:
                    zero |= c
                elif wc < lo:
                    ok = False
                    break
            if not ok:
                continue
            res = search(R - zero)
            if res is not None:
                return [S | zero, *res] if zero else [S, *res]
        return None

    try:
        sol = search(set(range(n)))
    except Budget:
        return None, "budget"
    if sol is None:
        return None, "infeasible"
    labels = [-1] * n
    for g, S in enumerate(sol):
        for v in S:
            labels[v] = g
    # zero-household leftovers were put with a set that may not touch them; fix by re-attaching
    fixed = _attach_zero(pb, labels)
    return fixed, "found"


def _attach_zero(pb: Problem, labels: list[int]) -> list[int]:
    """Make every label connected by moving cut-off zero-household pieces to a touching grid."""
    labels = list(labels)
    for _ in range(pb.n):
        changed = False
        by: dict[int, list[int]] = {}
        for v, g in enumerate(labels):
            by.setdefault(g, []).append(v)
        for g, vs in sorted(by.items()):
            comps = components(pb.n, pb.nbrs, vs)
            if len(comps) <= 1:
                continue
            comps.sort(key=lambda c: (-sum(int(pb.weight[x]) for x in c), c[0]))
            for c in comps[1:]:
                if sum(int(pb.weight[x]) for x in c) > 0:
                    continue
                opts = sorted({labels[u] for x in c for u in pb.nbrs[x]} - {g})
                if opts:
                    for x in c:
                        labels[x] = opts[0]
                    changed = True
        if not changed:
            break
    return labels
