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

    #: per component index: "found", "infeasible" (proved) or "budget" (gave up)
    exact: dict[int, str] = field(default_factory=dict)
    #: vertices of components where no in-band partition exists (proved by exhaustive search)
    infeasible: set[int] = field(default_factory=set)
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
            res = pymetis.part_graph(k, pymetis.CSRAdjacency(xadj, adjncy), vweights=vw, eweights=ew, options=opts)
        except Exception:  # noqa: BLE001 - METIS refuses some tiny/odd graphs; fall back to no contig
            opts = pymetis.Options(seed=int(seed) % (2**31 - 1), ufactor=30)
            res = pymetis.part_graph(k, pymetis.CSRAdjacency(xadj, adjncy), vweights=vw, eweights=ew, options=opts)
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


def _initial(pb: Problem, comp: list[int], lo: int, hi: int, target: int, seed: int, kshift: int, base: int):
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
        touching = sorted({labels[u] for v in piece for u in pb.nbrs[v] if u in labels and pb.pinned[u]})
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
    """Partition ``pb`` into contiguous grids; returns labels (0..k-1, per vertex) and a report.

    Vertices without households are first attached to a neighbour with households
    (:func:`_zero_hosts`); the rest is solved by :func:`_solve_core`. The search is heuristic:
    where grids stay outside the band (and no proof says they must), up to :data:`EXTRA_SEEDS`
    further searches from other seeds are run and the best partition wins (not in a re-balance,
    which starts from the existing grids).
    """
    args = (lo, hi, target, restarts, trees, exact_max, exact_budget, polish)
    labels, info = _solve_seeded(pb, seed, *args)
    if _rebalancing(pb) or pb.n == 0:
        return labels, info
    kstar, floor = _kstar(int(pb.weight.sum()), target), _hopeless(pb, hi)
    best = State(pb, labels, lo, hi, target, False, kstar).key()
    starts = info.starts
    for extra in range(1, EXTRA_SEEDS + 1):
        if best[0] <= floor or (info.exact and set(info.exact.values()) == {"infeasible"}):
            break
        lab2, info2 = _solve_seeded(pb, seed + 1_000_003 * extra, *args)
        starts += info2.starts
        key2 = State(pb, lab2, lo, hi, target, False, kstar).key()
        if key2 < best:
            labels, info, best = lab2, info2, key2
    info.starts = starts
    return labels, info


def _rebalancing(pb: Problem) -> bool:
    """Whether ``pb`` starts from existing grids (a re-balance)."""
    return pb.old is not None and bool(np.any(pb.old >= 0))


def _kstar(households: int, target: int) -> int:
    """The number of grids closest to households / target (at least one)."""
    return max(1, round(households / target))


#: whole searches from other seeds tried when grids stay outside the band after the first
EXTRA_SEEDS = 2


def _solve_seeded(
    pb: Problem,
    seed: int,
    lo: int,
    hi: int,
    target: int,
    restarts: int,
    trees: int,
    exact_max: int,
    exact_budget: int,
    polish: bool,
) -> tuple[np.ndarray, SolveInfo]:
    keys = None if _rebalancing(pb) else _zero_hosts(pb)
    if keys is None:
        return _solve_core(pb, lo, hi, target, seed, restarts, trees, exact_max, exact_budget, polish)
    cpb, cmap = _contract(pb, keys)
    clab, info = _solve_core(cpb, lo, hi, target, seed, restarts, trees, exact_max, exact_budget, polish)
    labels = np.array([clab[cmap[v]] for v in range(pb.n)], dtype=int)
    info.infeasible = {v for v in range(pb.n) if cmap[v] in info.infeasible}
    kstar = _kstar(int(pb.weight.sum()), target)
    key = State(pb, labels, lo, hi, target, False, kstar).key()
    if key[0] > _hopeless(pb, hi):
        # attaching them may cost the band (a school that was the only link of some grid):
        # go on from this partition with every vertex free again
        st = State(pb, labels, lo, hi, target, False, kstar)
        _improve(st, np.random.default_rng(seed + 1), trees, polish)
        if st.key() < key:
            labels = _relabel(st.lab)
        households = int(np.count_nonzero(pb.weight > 0))
        if st.key()[0] > _hopeless(pb, hi) and households <= exact_max and len(components(pb.n, pb.nbrs)) == 1:
            ex, status = exact_band(pb, lo, hi, exact_budget)
            info.exact = {0: status}
            info.infeasible = set(range(pb.n)) if status == "infeasible" else set()
            if ex is not None:
                st2 = State(pb, ex, lo, hi, target, False, kstar)
                _improve(st2, np.random.default_rng(seed + 2), trees, polish)
                if st2.key() < st.key():
                    labels = _relabel(st2.lab)
    return labels, info


def _relabel(lab) -> np.ndarray:
    """Labels renumbered 0..k-1 in order of first appearance."""
    uniq: dict[int, int] = {}
    return np.array([uniq.setdefault(int(g), len(uniq)) for g in lab], dtype=int)


def _solve_core(
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
    n = pb.n
    info = SolveInfo()
    labels = np.full(n, -1, dtype=int)
    if n == 0:
        return labels, info
    comps = components(n, pb.nbrs)
    info.components = len(comps)
    rebalance = _rebalancing(pb)
    nxt = 0
    for ci, comp in enumerate(comps):
        sub, remap = _subproblem(pb, comp)
        tot = int(sub.weight.sum())
        kstar = _kstar(tot, target) if tot else 0
        if rebalance:
            lab, st_key = _rebalance_component(sub, lo, hi, target, seed + 7919 * ci, trees, kstar, polish)
        else:
            lab, st_key = None, None
            contracted = _contract_groups(sub, lo, hi, target, seed + 7919 * ci, trees)
            if contracted is not None:
                csub, cmap = contracted
                clab, _ = _new_component(csub, lo, hi, target, seed + 7919 * ci, restarts, trees, kstar, polish, info)
                lab = [clab[cmap[v]] for v in range(sub.n)]
                st = State(sub, lab, lo, hi, target, False, kstar)
                st_key = st.key()
                if st_key[0] > _hopeless(sub, hi):
                    # the pre-cut compounds cost the band: free their buildings and go on
                    _improve(st, np.random.default_rng(seed + 7919 * ci + 1), trees, polish)
                    lab, st_key = list(st.lab), st.key()
            else:
                lab, st_key = _new_component(
                    sub, lo, hi, target, seed + 7919 * ci, restarts, trees, kstar, polish, info
                )
        households = int(np.count_nonzero(sub.weight > 0))
        if st_key and st_key[0] > _hopeless(sub, hi) and households <= exact_max and not rebalance:
            ex, status = exact_band(sub, lo, hi, exact_budget)
            info.exact[ci] = status
            if status == "infeasible":
                info.infeasible.update(remap)
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


def _hopeless(pb: Problem, hi: int) -> int:
    """Band deviation of buildings above the maximum that stay whole (whatever the search does)."""
    return int(sum(int(w) - hi for w, p in zip(pb.weight, pb.pinned, strict=True) if p and w > hi))


def _contract_groups(
    pb: Problem, lo: int, hi: int, target: int, seed: int, trees: int
) -> tuple[Problem, list[int]] | None:
    """Cut each large compound into its fewest in-band pieces and contract every piece.

    A compound of ``H > hi`` households needs at least ``m = ceil(H / hi)`` grids; when ``H / m``
    fits the band, its buildings are partitioned into ``m`` connected in-band pieces first, and
    each piece becomes one vertex, so the compound is split along its own buildings into as few
    grids as possible. Returns the contracted problem and the vertex map, or ``None`` when no
    compound could be pre-cut.
    """
    n = pb.n
    piece = list(range(n))
    nxt = n
    done = False
    for c in sorted({int(x) for x in pb.group if x >= 0}):
        # towers in the compound are grids of their own: cut the rest of the compound
        verts = [v for v in range(n) if pb.group[v] == c and not pb.pinned[v]]
        for comp in components(n, pb.nbrs, verts):
            if len(comp) < 2:
                continue
            tot = int(sum(int(pb.weight[v]) for v in comp))
            m = math.ceil(tot / hi)
            if m < 1:
                continue
            if m == 1:
                labs = [0] * len(comp)
            else:
                sub, _ = _subproblem(pb, comp)
                sub.group = np.full(sub.n, -1)
                sub.old = None
                labs = None
                # balanced pieces first (they can still take in neighbours), then the whole band
                slack = max(1, (hi - lo) // 5)
                if tot / m >= lo:
                    tight = (max(lo, tot // m - slack), min(hi, -(-tot // m) + slack))
                    bands = (tight, tight, (lo, hi))
                else:
                    # the pieces cannot fit the band alone (e.g. 540 = 2 x 270): cut evenly, and
                    # let each piece take in households from outside the compound
                    bands = ((max(1, tot // m - slack), -(-tot // m) + slack),) * 2
                for r, (plo, phi) in enumerate(bands):
                    init = _metis(sub, list(range(sub.n)), m, seed * 31 + r)
                    st = State(sub, init, plo, phi, (plo + phi) // 2, False, m)
                    if any(not st.is_connected(g) for g in list(st.W)):
                        _split_disconnected(sub, st.lab, list(range(sub.n)), max(st.lab) + 1)
                        st = State(sub, st.lab, plo, phi, (plo + phi) // 2, False, m)
                    rng = np.random.default_rng(seed * 31 + r)
                    _improve(st, rng, trees, False, rounds=3, lns=False)
                    if len(st.W) == m and all(plo <= w <= phi for w in st.W.values()):
                        labs = st.lab
                        break
                if labs is None:
                    continue
            ids: dict[int, int] = {}
            for v, g in zip(comp, labs, strict=True):
                if g not in ids:
                    ids[g] = nxt
                    nxt += 1
                piece[v] = ids[g]
            done = True
    if not done:
        return None
    return _contract(pb, piece)


def _contract(pb: Problem, keys: list[int]) -> tuple[Problem, list[int]]:
    """Merge the vertices sharing a key into one vertex; returns the problem and vertex map."""
    n = pb.n
    uniq: dict[int, int] = {}
    cmap = []
    for v in range(n):
        key = keys[v]
        if key not in uniq:
            uniq[key] = len(uniq)
        cmap.append(uniq[key])
    m = len(uniq)
    weight = np.zeros(m, dtype=int)
    area = np.zeros(m)
    perim = np.zeros(m)
    group = np.full(m, -1, dtype=int)
    pinned = np.zeros(m, dtype=bool)
    nbrs: list[dict[int, float]] = [{} for _ in range(m)]
    wall: list[set[int]] = [set() for _ in range(m)]
    votes: list[dict[int, float]] = [{} for _ in range(m)]
    for v in range(n):
        a = cmap[v]
        weight[a] += int(pb.weight[v])
        area[a] += float(pb.area[v])
        perim[a] += float(pb.perim[v])
        if pb.weight[v] > 0 and pb.group[v] >= 0:
            group[a] = int(pb.group[v])
        pinned[a] |= bool(pb.pinned[v])
        if pb.old is not None and pb.old[v] >= 0:
            o = int(pb.old[v])
            votes[a][o] = votes[a].get(o, 0.0) + int(pb.weight[v]) + 1e-3
        for u, ln in pb.nbrs[v].items():
            b = cmap[u]
            if a == b:
                perim[a] -= ln  # seen from both ends: 2 x shared length in total
            else:
                nbrs[a][b] = nbrs[a].get(b, 0.0) + ln
                if u in pb.wall[v]:
                    wall[a].add(b)
    old = None
    if pb.old is not None:
        old = np.array([min(vt, key=lambda o: (-vt[o], o)) if vt else -1 for vt in votes], dtype=int)
    cpb = Problem(weight=weight, area=area, perim=perim, nbrs=nbrs, group=group, pinned=pinned, wall=wall, old=old)
    return cpb, cmap


#: vertices without households are attached to a neighbour first when they are at least this
#: share of all vertices (city centres: shops, offices, schools)
ZERO_SHARE = 0.5


def _zero_hosts(pb: Problem) -> list[int] | None:
    """Attach every vertex without households to a neighbouring vertex with households.

    Layer by layer from the vertices with households, a vertex without any joins the already
    attached neighbour it shares the longest boundary with, so shops, schools and empty land
    follow the grid of the housing next to them and the graph shrinks (in a city centre most
    buildings have no households). Connectivity is kept: whatever linked two vertices through
    a vertex without households still links them through its host. Returns the host key per
    vertex, or ``None`` when there is nothing to attach.
    """
    n = pb.n
    host = [v if pb.weight[v] > 0 else -1 for v in range(n)]
    zero = [v for v in range(n) if pb.weight[v] <= 0 and not pb.pinned[v]]
    if len(zero) < ZERO_SHARE * n or len(zero) == n:
        return None  # few of them: they cost little and keep their flexibility
    pending = zero
    while pending:
        newly: dict[int, int] = {}
        rest = []
        for v in pending:
            best, best_len = -1, -1.0
            for u, ln in pb.nbrs[v].items():
                if host[u] >= 0 and (ln > best_len or (ln == best_len and host[u] < best)):
                    best, best_len = host[u], ln
            if best >= 0:
                newly[v] = best
            else:
                rest.append(v)
        if not newly:
            break
        for v, h in newly.items():
            host[v] = h
        pending = rest
    for v in range(n):
        if host[v] < 0:
            host[v] = v  # no household anywhere near: stays on its own
    return host


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
    st: State,
    rng: np.random.Generator,
    trees: int,
    polish: bool,
    rounds: int = 6,
    lns: bool = True,
) -> None:
    """Single moves, then recombinations of out-of-band grids, then a wider re-partition of
    their neighbourhood (:func:`_lns`), until nothing improves."""
    lns_left = LNS_BUDGET if lns else 0
    failed: set[tuple] = set()  # recombinations that failed for grids in this very state
    for _ in range(rounds):
        band0 = st.key()[:2]
        # grids outside the band first, best move each (steepest descent; in a re-balance this
        # keeps the households moved few)
        for _step in range(4 * st.pb.n if st.rebalance else 3 * len(st.W) + 10):
            if not any(st.best_move(g) for g in _bad_grids(st)[:1]):
                break
        st.local_search(rng)
        for g in _bad_grids(st):
            if g not in st.W or not st.fixable(g):
                continue
            if st.best_move(g) or st.chain(g):
                continue
            w = st.W[g]
            if w > st.hi and max(0, 2 * st.lo - w) < st.dev(w) and st.recombine(g, None, rng, trees):
                continue
            # pairs whose total could be cut into two in-band grids first
            nbh = sorted(_grid_neighbours(st, g), key=lambda h: (abs(st.W[g] + st.W[h] - 2 * st.target), h))
            for h in nbh:
                if g not in st.W or h not in st.W:
                    continue
                memo = (g, h, st.W[g], st.W[h], len(st.members[g]), len(st.members[h]))
                if memo in failed or not _pair_can_help(st, g, h):
                    continue
                if st.recombine(g, h, rng, trees):
                    break
                failed.add(memo)
        if st.key()[:2] < band0:
            continue  # the band improved: another round
        improved = False
        for g in _bad_grids(st):
            for radius in (1, 2):
                if lns_left <= 0 or g not in st.W or not st.fixable(g):
                    break
                lns_left -= 1
                if _lns(st, g, radius, rng, trees):
                    improved = True
                    break
        if not improved:
            break
    if polish:
        _polish(st, rng, trees)


def _polish(st: State, rng: np.random.Generator, trees: int) -> None:
    """One recombination pass over all pairs of adjacent grids (compactness; stability in a
    re-balance), then single moves."""
    pairs = set()
    for v in range(st.pb.n):
        for u in st.pb.nbrs[v]:
            a, b = st.lab[v], st.lab[u]
            if a != b:
                pairs.add((min(a, b), max(a, b)))
    changed = False
    for a, b in sorted(pairs):
        if a in st.W and b in st.W and st.recombine(a, b, rng, max(1, trees // 3)):
            changed = True
    if changed:
        st.local_search(rng)


def _pair_can_help(st: State, g: int, h: int) -> bool:
    """Whether re-cutting grids ``g`` and ``h`` (or merging them) could bring them closer to the band."""
    t = st.W[g] + st.W[h]
    now = st.dev(st.W[g]) + st.dev(st.W[h])
    two = max(0, 2 * st.lo - t) + max(0, t - 2 * st.hi)
    return min(two, st.dev(t)) < now


#: re-partitions of a neighbourhood tried per improvement run (keeps hopeless cases cheap)
LNS_BUDGET = 6
#: METIS starts per re-partition
LNS_RESTARTS = 2


def _bad_grids(st: State) -> list[int]:
    """Repairable out-of-band grids, furthest from the band first."""
    bad = [g for g in st.W if st.fixable(g)]
    return sorted(bad, key=lambda g: (-st.dev(st.W[g]), g))


def _grid_neighbours(st: State, g: int) -> list[int]:
    return sorted({st.lab[u] for v in st.members[g] for u in st.pb.nbrs[v]} - {g})


def _lns(st: State, g: int, radius: int, rng: np.random.Generator, trees: int) -> bool:
    """Re-partition grid ``g`` and the grids within ``radius`` steps of it from scratch.

    The union of those grids is cut anew by METIS (several seeds) and repaired on its own; the
    result replaces them when the objective of the whole partition improves. Returns whether it did.
    """
    grids = {g}
    frontier = {g}
    for _ in range(radius):
        nxt = set()
        for h in frontier:
            nxt.update(_grid_neighbours(st, h))
        nxt -= grids
        grids |= nxt
        frontier = nxt
    if len(grids) < 2:
        return False
    U = sorted(v for h in grids for v in st.members[h])
    sub, _ = _subproblem(st.pb, U)
    tot = int(sub.weight.sum())
    kstar = _kstar(tot, st.target)
    best, best_key = None, st.key()
    # a re-balance tries several cuts and keeps the one moving the fewest households
    for _try in range(4 if st.rebalance else 1):
        seed = int(rng.integers(1 << 30))
        lab, _ = _new_component(
            sub, st.lo, st.hi, st.target, seed, LNS_RESTARTS, trees, kstar, False, SolveInfo(), lns=False
        )
        # keep the current labels where the new grids match them best
        overlap: dict[tuple[int, int], int] = {}
        for i, v in enumerate(U):
            k = (lab[i], st.lab[v])
            overlap[k] = overlap.get(k, 0) + int(st.pb.weight[v]) + 1
        names: dict[int, int] = {}
        used: set[int] = set()
        for (new, old), _w in sorted(overlap.items(), key=lambda kv: (-kv[1], kv[0])):
            if new not in names and old not in used:
                names[new] = old
                used.add(old)
        nxt_label = max(st.next_label, max(st.lab) + 1)
        for new in sorted(set(lab)):
            if new not in names:
                names[new] = nxt_label
                nxt_label += 1
        cand = list(st.lab)
        for i, v in enumerate(U):
            cand[v] = names[lab[i]]
        key = State(st.pb, cand, st.lo, st.hi, st.target, st.rebalance, st.kstar).key()
        if key < best_key:
            best, best_key = cand, key
    if best is not None:
        st.reset(best)
        return True
    return False


def _new_component(pb, lo, hi, target, seed, restarts, trees, kstar, polish, info, lns: bool = True):
    comp = list(range(pb.n))
    best_lab, best_key = None, None
    shifts = [0, 1, -1, 0, 0, 1, -1, 0]
    for r in range(max(1, restarts)):
        init, _ = _initial(pb, comp, lo, hi, target, seed * 1000 + r, shifts[r % len(shifts)], 0)
        init = list(init)
        _split_disconnected(pb, init, comp, max(init) + 1)
        st = State(pb, init, lo, hi, target, False, kstar)
        rng = np.random.default_rng(seed * 1000 + r)
        _improve(st, rng, trees, False, lns=False)
        key = st.key()
        info.starts += 1
        if best_key is None or key < best_key:
            best_lab, best_key = list(st.lab), key
        if best_key[0] <= _hopeless(pb, hi):
            break
    if lns and best_key[0] > _hopeless(pb, hi):
        # still outside the band: re-partition the neighbourhoods of the bad grids
        st = State(pb, best_lab, lo, hi, target, False, kstar)
        _improve(st, np.random.default_rng(seed + 1), trees, False, lns=True)
        if st.key() < best_key:
            best_lab, best_key = list(st.lab), st.key()
    if polish:
        st = State(pb, best_lab, lo, hi, target, False, kstar)
        _polish(st, np.random.default_rng(seed), trees)
        best_lab, best_key = list(st.lab), st.key()
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
            opts = sorted({labels[u] for u in pb.nbrs[v] if labels[u] >= 0}, key=lambda g: (weight[g], g))
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
    # more spanning trees: a cut close to the old boundaries moves few households
    _improve(st, rng, max(trees, 8), polish)
    return list(st.lab), st.key()


def exact_band(pb: Problem, lo: int, hi: int, budget: int = 20000) -> tuple[list[int] | None, str]:
    """Search all connected partitions for one with every grid in ``[lo, hi]``.

    Vertices without households are taken out first: the search runs on the vertices with
    households, two of them adjacent when they touch directly or through vertices without
    households (a relaxation: such a link may serve two grids, so "infeasible" remains a proof).
    A partition found is then realised by giving each grid the linking vertices it needs; when
    two grids need the same one, the answer is "budget" (unknown).
    """
    n = pb.n
    house = [v for v in range(n) if pb.weight[v] > 0]
    if not house or len(house) == n:
        return _exact_core(pb, lo, hi, budget)
    pos = {v: i for i, v in enumerate(house)}
    hnb: list[dict[int, float]] = [{} for _ in house]
    for i, v in enumerate(house):
        seen = {v}
        stack = [v]
        while stack:
            x = stack.pop()
            for y in pb.nbrs[x]:
                if y in seen:
                    continue
                seen.add(y)
                if pb.weight[y] > 0:
                    if y != v:
                        hnb[i][pos[y]] = 1.0
                else:
                    stack.append(y)
    sub = Problem(
        weight=pb.weight[house],
        area=pb.area[house],
        perim=pb.perim[house],
        nbrs=hnb,
        group=pb.group[house],
        pinned=pb.pinned[house],
        wall=[set() for _ in house],
    )
    realised: list[list[int]] = []

    def accept(hl: list[int]) -> bool:
        lab = _realise(pb, house, hl)
        if lab is not None:
            realised.append(lab)
        return lab is not None

    rejected: list[int] = []

    def accept_counted(hl: list[int]) -> bool:
        ok = accept(hl)
        if not ok:
            rejected.append(1)
        return ok

    hl, status = _exact_core(sub, lo, hi, budget, accept_counted)
    if hl is not None:
        return realised[-1], "found"
    if status == "budget" and rejected and n <= 24:
        # partitions exist only when linking buildings are shared: search the full graph
        return _exact_core(pb, lo, hi, budget)
    return None, status


def _realise(pb: Problem, house: list[int], hl: list[int]) -> list[int] | None:
    """Give grids of household vertices the vertices without households that link them."""
    n = pb.n
    lab = [-1] * n
    for v, g in zip(house, hl, strict=True):
        lab[v] = g
    by: dict[int, list[int]] = {}
    for v, g in zip(house, hl, strict=True):
        by.setdefault(g, []).append(v)
    for g, vs in sorted(by.items()):
        todo = set(vs[1:])
        comp = {vs[0]}
        while todo:
            # breadth-first from the connected part through own or free vertices to another member
            parent = dict.fromkeys(comp)
            queue = list(comp)
            hit = None
            i = 0
            while i < len(queue) and hit is None:
                x = queue[i]
                i += 1
                for y in pb.nbrs[x]:
                    if y in parent:
                        continue
                    if lab[y] == g or (lab[y] == -1 and pb.weight[y] <= 0):
                        parent[y] = x
                        if y in todo:
                            hit = y
                            break
                        queue.append(y)
            if hit is None:
                return None
            y = hit
            while y is not None and y not in comp:
                lab[y] = g
                comp.add(y)
                y = parent[y]
            # everything of g now reachable joins the connected part
            grow = list(comp)
            while grow:
                x = grow.pop()
                for z in pb.nbrs[x]:
                    if z not in comp and lab[z] == g:
                        comp.add(z)
                        grow.append(z)
            todo -= comp
    # the other vertices without households join a neighbouring grid
    pending = [v for v in range(n) if lab[v] == -1]
    while pending:
        rest = []
        for v in pending:
            gs = sorted({lab[u] for u in pb.nbrs[v] if lab[u] >= 0})
            if gs:
                lab[v] = gs[0]
            else:
                rest.append(v)
        if len(rest) == len(pending):
            g0 = max(hl) + 1 if hl else 0
            for v in rest:
                lab[v] = g0
            break
        pending = rest
    return lab


def _exact_core(pb: Problem, lo: int, hi: int, budget: int, accept=None) -> tuple[list[int] | None, str]:
    """:func:`exact_band` on a graph (vertices without households handled as ordinary ones).

    Grows one grid at a time from the first unassigned vertex (in BFS order from a peripheral
    vertex), enumerating each connected vertex set containing it exactly once, pruning sets above
    ``hi`` and leftovers that can no longer form a grid (a connected remainder below ``lo``).
    Vertices without households that end up cut off join any neighbouring grid. Returns
    ``(labels, "found")``, ``(None, "infeasible")`` when the search completed (a proof) or
    ``(None, "budget")`` when it gave up after ``budget`` candidate sets. ``accept(labels)``, when
    given, may reject a solution; the search then goes on.
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
                newc = cand + [u for u in nb[v] if u in rem and u not in S and u not in X and u not in cand]
                yield from rec(S | {v}, wS + w[v], pins + pinned[v], newc, X)

        init = [u for u in nb[root] if u in rem]
        init.sort(key=lambda u: -rank[u])
        yield from rec({root}, w[root], int(pinned[root]), init, {root})

    def search(rem: set[int]):
        """Every in-band partition of ``rem`` (lists of vertex sets), depth first."""
        if not rem:
            yield []
            return
        if sum(w[v] for v in rem) == 0:
            yield [set(rem)]
            return
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
                elif -(-wc // hi) > wc // lo:
                    # no number of grids fits this remainder into the band (e.g. 200, or 520)
                    ok = False
                    break
            if not ok:
                continue
            for res in search(R - zero):
                yield [S | zero, *res] if zero else [S, *res]

    rejected = False
    try:
        for sol in search(set(range(n))):
            labels = [-1] * n
            for g, S in enumerate(sol):
                for v in S:
                    labels[v] = g
            # zero-household leftovers were put with a set that may not touch them: re-attach
            fixed = _attach_zero(pb, labels)
            if accept is None or accept(fixed):
                return fixed, "found"
            rejected = True
    except Budget:
        return None, "budget"
    return None, "budget" if rejected else "infeasible"


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
