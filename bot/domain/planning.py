"""Exact sprint planning: pick the backlog items worth the most that fit the sprint.

The planner solves a 0/1 integer program with HiGHS (``highspy``):

    maximise   Σ v_i x_i + Σ w_g y_g
    subject to Σ e_i x_i ≤ team capacity
               Σ_{i assigned to p} e_i x_i ≤ capacity of p   (for each person with a capacity)
               x_i ≤ x_d                                     (for each dependency d of i)
               y_g ≤ x_i                                     (for each item i of group g)

Items that need an estimate, or that (transitively) depend on something outside the plan or on
an item that needs an estimate, are fixed at 0. A dependency cycle is rejected with ValueError:
it means the backlog data is wrong, and silently leaving the whole cycle out would hide that.

The full model runs single-threaded for the whole ``time_limit_s``, starting from the greedy
plan. If HiGHS has not proved optimality within half a second, a large-neighbourhood search
that re-solves the model exactly with part of the variables fixed (see ``_improve``) runs beside
it on a second thread (HiGHS releases the GIL) until it ends; the best plan found wins. A plan
not proven optimal says "may not be optimal".

Every result is checked in code before it is returned (capacities and dependency closure), is
never worse than the value-per-effort baseline ``greedy_plan``, and has spare capacity filled:
any item that still fits and whose dependencies are selected is added (values are >= 0, so this
never lowers the value). Because of that fill, every left-out item has a concrete reason.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from bot.domain.lazy import LazyModule

if TYPE_CHECKING:
    import highspy
    import numpy as np
    from scipy.sparse import csr_array
else:  # imported at the first plan, not at start (memory of an idle instance)
    highspy = LazyModule("highspy")
    np = LazyModule("numpy")
    sparse = LazyModule("scipy.sparse")

_TIME_LIMIT_NOTE = "time limit reached: feasible plan, may not be optimal"
_JOIN_GRACE_S = 0.5
_SOLO_S = 0.5  # the full model alone first; most instances are proven optimal by then
_START_SHARE = 0.1
_MAX_SHARE = 0.9
_STEP_S = 1.0
_MIN_STEP_S = 0.05
_FALLBACK_NOTE = "solver found no plan in time: greedy plan, may not be optimal"


@dataclass(frozen=True)
class PlanItem:
    """A backlog item; ``effort`` None means it needs an estimate and is never selected."""

    id: str
    value: float
    effort: float | None
    assignee: str | None = None
    # Ids of incomplete dependencies; an id that is not an item blocks this item.
    depends_on: tuple[str, ...] = ()
    label: str = ""


@dataclass(frozen=True)
class PlanGroup:
    """All-or-nothing value: counted only when every item in the group is selected."""

    id: str
    value: float
    item_ids: tuple[str, ...]
    label: str = ""


class LeftOutReason(StrEnum):
    OVER_CAPACITY = "over capacity"
    PERSON_OVER_CAPACITY = "assignee over capacity"
    BLOCKED = "blocked"
    NEEDS_ESTIMATE = "needs estimate"


@dataclass(frozen=True)
class LeftOut:
    item_id: str
    reason: LeftOutReason
    detail: str


@dataclass(frozen=True)
class SprintPlan:
    selected: tuple[str, ...]
    left_out: tuple[LeftOut, ...]
    total_value: float
    total_effort: float
    effort_by_person: Mapping[str, float]
    optimal: bool
    method: str
    seconds: float
    note: str


# --------------------------------------------------------------------------------------------
# Input checking and the shared precomputation


@dataclass(frozen=True)
class _Problem:
    items: tuple[PlanItem, ...]
    by_id: Mapping[str, PlanItem]
    groups: tuple[PlanGroup, ...]
    team_capacity: float
    person_capacity: Mapping[str, float]
    # Items that can be selected at all: estimated, and every transitive dependency is too.
    selectable: frozenset[str]
    # Transitive dependency closure of each selectable item, the item included.
    closure: Mapping[str, frozenset[str]]


def _check_number(what: str, x: float) -> None:
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {x!r}")


def _name(item: PlanItem) -> str:
    return item.label or item.id


def _find_cycle(by_id: Mapping[str, PlanItem]) -> list[str] | None:
    """Return one dependency cycle as a list of ids (first id repeated at the end), or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(by_id, white)
    for root in sorted(by_id):
        if colour[root] != white:
            continue
        path: list[str] = [root]
        stack = [iter(by_id[root].depends_on)]
        colour[root] = grey
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                stack.pop()
                continue
            if nxt not in by_id:
                continue
            if colour[nxt] == grey:
                return [*path[path.index(nxt) :], nxt]
            if colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append(iter(by_id[nxt].depends_on))
    return None


def _prepare(
    items: Sequence[PlanItem],
    team_capacity: float,
    person_capacity: Mapping[str, float] | None,
    groups: Sequence[PlanGroup],
) -> _Problem:
    _check_number("team_capacity", team_capacity)
    persons = dict(person_capacity or {})
    for person, cap in persons.items():
        _check_number(f"capacity of {person}", cap)
    by_id: dict[str, PlanItem] = {}
    for item in items:
        if item.id in by_id:
            raise ValueError(f"duplicate item id {item.id!r}")
        _check_number(f"value of item {item.id}", item.value)
        if item.effort is not None:
            _check_number(f"effort of item {item.id}", item.effort)
        by_id[item.id] = item
    group_ids: set[str] = set()
    for group in groups:
        if group.id in group_ids:
            raise ValueError(f"duplicate group id {group.id!r}")
        group_ids.add(group.id)
        _check_number(f"value of group {group.id}", group.value)
        if not group.item_ids:
            raise ValueError(f"group {group.id!r} has no items")
        unknown = [i for i in group.item_ids if i not in by_id]
        if unknown:
            raise ValueError(f"group {group.id!r} refers to unknown items: {', '.join(unknown)}")
    cycle = _find_cycle(by_id)
    if cycle is not None:
        raise ValueError("dependency cycle: " + " → ".join(cycle))

    # No cycles, so a memoised depth-first walk terminates; done iteratively for deep chains.
    closure: dict[str, frozenset[str] | None] = {}  # None = cannot be selected
    for root in by_id:
        stack = [root]
        while stack:
            cur = stack[-1]
            if cur in closure:
                stack.pop()
                continue
            pending = [d for d in by_id[cur].depends_on if d in by_id and d not in closure]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            item = by_id[cur]
            ok = item.effort is not None and all(
                d in by_id and closure[d] is not None for d in item.depends_on
            )
            if not ok:
                closure[cur] = None
                continue
            acc = {cur}
            for d in item.depends_on:
                acc |= closure[d]  # type: ignore[operator]
            closure[cur] = frozenset(acc)
    selectable = frozenset(i for i, c in closure.items() if c is not None)
    return _Problem(
        items=tuple(items),
        by_id=by_id,
        groups=tuple(groups),
        team_capacity=float(team_capacity),
        person_capacity=persons,
        selectable=selectable,
        closure={i: c for i, c in closure.items() if c is not None},
    )


def _tol(cap: float) -> float:
    return 1e-9 * max(1.0, abs(cap))


def _effort(item: PlanItem) -> float:
    assert item.effort is not None
    return item.effort


def _violations(p: _Problem, selected: set[str]) -> list[str]:
    """Return what is wrong with a selection (empty when it is a valid plan)."""
    problems: list[str] = []
    total = 0.0
    by_person: dict[str, float] = {}
    for i in selected:
        item = p.by_id.get(i)
        if item is None or i not in p.selectable:
            problems.append(f"{i} cannot be selected")
            continue
        total += _effort(item)
        if item.assignee is not None:
            by_person[item.assignee] = by_person.get(item.assignee, 0.0) + _effort(item)
        problems += [f"{i} selected without {d}" for d in item.depends_on if d not in selected]
    if total > p.team_capacity + _tol(p.team_capacity):
        problems.append(f"team effort {total} over {p.team_capacity}")
    for person, used in by_person.items():
        cap = p.person_capacity.get(person)
        if cap is not None and used > cap + _tol(cap):
            problems.append(f"{person} effort {used} over {cap}")
    return problems


def _value(p: _Problem, selected: set[str]) -> float:
    value = math.fsum(p.by_id[i].value for i in selected)
    return value + math.fsum(g.value for g in p.groups if all(i in selected for i in g.item_ids))


def _ratio_key(value: float, effort: float, key: str) -> tuple[float, str]:
    ratio = math.inf if effort <= 0 else value / effort
    if effort <= 0 and value <= 0:
        ratio = 0.0
    return (-ratio, key)


class _Usage:
    """Running team and per-person effort of a selection."""

    def __init__(self, p: _Problem, selected: set[str]) -> None:
        self.p = p
        self.total = 0.0
        self.person: dict[str, float] = {}
        for i in selected:
            self.add([i])

    def fits(self, ids: Sequence[str]) -> bool:
        p = self.p
        extra = 0.0
        per: dict[str, float] = {}
        for i in ids:
            item = p.by_id[i]
            extra += _effort(item)
            if item.assignee is not None and item.assignee in p.person_capacity:
                per[item.assignee] = per.get(item.assignee, 0.0) + _effort(item)
        if self.total + extra > p.team_capacity + _tol(p.team_capacity):
            return False
        for person, e in per.items():
            cap = p.person_capacity[person]
            if self.person.get(person, 0.0) + e > cap + _tol(cap):
                return False
        return True

    def add(self, ids: Sequence[str]) -> None:
        for i in ids:
            item = self.p.by_id[i]
            self.total += _effort(item)
            if item.assignee is not None:
                self.person[item.assignee] = self.person.get(item.assignee, 0.0) + _effort(item)


def _fill(p: _Problem, selected: set[str]) -> set[str]:
    """Add every item that still fits and whose dependencies are selected, best ratio first."""
    selected = set(selected)
    usage = _Usage(p, selected)
    order = sorted(
        (i for i in p.selectable if i not in selected),
        key=lambda i: _ratio_key(p.by_id[i].value, _effort(p.by_id[i]), i),
    )
    changed = True
    while changed:
        changed = False
        for i in order:
            if i in selected:
                continue
            item = p.by_id[i]
            if all(d in selected for d in item.depends_on) and usage.fits([i]):
                selected.add(i)
                usage.add([i])
                changed = True
    return selected


# --------------------------------------------------------------------------------------------
# The baseline


def _greedy_selection(p: _Problem) -> set[str]:
    """Value-per-effort greedy over bundles (see ``greedy_plan``)."""
    selected: set[str] = set()
    usage = _Usage(p, selected)
    # A target is a valued item or a group; its bundle is whatever of its closure is missing.
    targets: list[tuple[str, float, set[str]]] = []
    for item in p.items:
        if item.id in p.selectable and item.value > 0:
            targets.append((item.id, item.value, set(p.closure[item.id])))
    for g in p.groups:
        if all(i in p.selectable for i in g.item_ids):
            need: set[str] = set()
            for i in g.item_ids:
                need |= p.closure[i]
            targets.append((g.id, g.value, need))
    missing_effort = [math.fsum(_effort(p.by_id[i]) for i in need) for _, _, need in targets]
    missing_value = [math.fsum(p.by_id[i].value for i in need) for _, _, need in targets]
    containing: dict[str, list[int]] = {}
    for t, (_, _, need) in enumerate(targets):
        for i in need:
            containing.setdefault(i, []).append(t)
    alive = set(range(len(targets)))
    while alive:
        best: tuple[tuple[float, str], int] | None = None
        for t in alive:
            key, value, need = targets[t]
            if not need:
                continue
            gain = value + missing_value[t]
            cand = (_ratio_key(gain, missing_effort[t], key), t)
            if best is None or cand < best:
                best = cand
        if best is None:
            break
        t = best[1]
        _, _, need = targets[t]
        if usage.fits(sorted(need)):
            bundle = sorted(need)
            usage.add(bundle)
            selected.update(bundle)
            for i in bundle:
                item = p.by_id[i]
                for u in containing[i]:
                    targets[u][2].discard(i)
                    missing_effort[u] -= _effort(item)
                    missing_value[u] -= item.value
        # A bundle that does not fit now never will: selection only grows.
        alive.discard(t)
        alive -= {u for u in alive if not targets[u][2]}
    return selected


# --------------------------------------------------------------------------------------------
# The exact model


@dataclass(frozen=True)
class _Model:
    """The 0/1 program: minimise c·z subject to a·z ≤ upper, z in [0, 1], some z integral.

    Columns are the candidate items followed by the groups. Groups and valued items are
    integral. A zero-value item is continuous: it earns nothing, so for integral groups and
    valued items the cheapest completion sets it to 1 exactly when something selected needs
    it, and the plan is read off as the closure of the selected integral columns (``selection``),
    which never costs more than the solver's point. Fewer integer variables, same optimum.
    """

    col: Mapping[str, int]  # item id -> column; groups follow the items
    ids: tuple[str, ...]  # column -> item id, for the item columns
    groups: tuple[PlanGroup, ...]
    c: np.ndarray
    a: csr_array
    upper: np.ndarray
    integral: np.ndarray  # bool per column
    # Per integral column: the item columns that selecting it needs (its closure), itself too.
    needs: tuple[tuple[int, np.ndarray], ...]

    @property
    def n(self) -> int:
        return len(self.c)

    def vector(self, selected: set[str]) -> np.ndarray:
        z = np.zeros(self.n)
        for i, k in self.col.items():
            z[k] = i in selected
        for k, g in enumerate(self.groups, start=len(self.col)):
            z[k] = all(i in selected for i in g.item_ids)
        return z

    def selection(self, x: np.ndarray) -> set[str]:
        """The plan of a solver point: the closures of the integral columns set to 1."""
        on = np.zeros(self.n, dtype=bool)
        for k, need in self.needs:
            if x[k] > 0.5:
                on[need] = True
        return {self.ids[k] for k in np.flatnonzero(on[: len(self.ids)])}


def _build_model(p: _Problem) -> _Model:
    cap = p.team_capacity
    # Presolve: drop items whose own closure cannot fit, and groups that cannot complete.
    candidates: list[str] = []
    for item in p.items:
        if item.id not in p.selectable:
            continue
        sub = [p.by_id[i] for i in p.closure[item.id]]
        if math.fsum(_effort(s) for s in sub) > cap + _tol(cap):
            continue
        per: dict[str, float] = {}
        for s in sub:
            if s.assignee is not None and s.assignee in p.person_capacity:
                per[s.assignee] = per.get(s.assignee, 0.0) + _effort(s)
        if any(e > p.person_capacity[q] + _tol(p.person_capacity[q]) for q, e in per.items()):
            continue
        candidates.append(item.id)
    col = {i: k for k, i in enumerate(candidates)}
    groups = tuple(g for g in p.groups if all(i in col for i in g.item_ids))
    n = len(candidates) + len(groups)

    c = np.zeros(n)
    integral = np.zeros(n, dtype=bool)
    needs: list[tuple[int, np.ndarray]] = []
    for i, k in col.items():
        c[k] = -p.by_id[i].value
        if p.by_id[i].value > 0:
            integral[k] = True
            needs.append((k, np.array(sorted(col[d] for d in p.closure[i]), dtype=np.int64)))
    for k, g in enumerate(groups, start=len(candidates)):
        c[k] = -g.value
        integral[k] = True
        need = sorted({col[d] for i in g.item_ids for d in p.closure[i]} | {k})
        needs.append((k, np.array(need, dtype=np.int64)))

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    upper: list[float] = []

    def row(entries: list[tuple[int, float]], ub: float) -> None:
        r = len(upper)
        for k, v in entries:
            rows.append(r)
            cols.append(k)
            vals.append(v)
        upper.append(ub)

    row([(col[i], _effort(p.by_id[i])) for i in candidates], cap)
    for person, pcap in sorted(p.person_capacity.items()):
        mine = [(col[i], _effort(p.by_id[i])) for i in candidates if p.by_id[i].assignee == person]
        if mine:
            row(mine, pcap)
    for i in candidates:
        for d in dict.fromkeys(p.by_id[i].depends_on):
            # Presolve keeps a dependency whenever it keeps the dependent (closure ⊆ closure).
            row([(col[i], 1.0), (col[d], -1.0)], 0.0)
    for k, g in enumerate(groups, start=len(candidates)):
        for i in dict.fromkeys(g.item_ids):
            row([(k, 1.0), (col[i], -1.0)], 0.0)

    a = sparse.coo_array((vals, (rows, cols)), shape=(len(upper), n)).tocsr()
    a.sort_indices()
    return _Model(
        col=col,
        ids=tuple(candidates),
        groups=groups,
        c=c,
        a=a,
        upper=np.array(upper, dtype=float),
        integral=integral,
        needs=tuple(needs),
    )


class _Solver:
    """One HiGHS instance holding the model; bounds and a start point change between runs.

    Single-threaded, so the full solve and the neighbourhood search can run side by side
    (HiGHS releases the GIL while it solves) and each run is deterministic given its seed.
    """

    def __init__(self, m: _Model, seed: int) -> None:
        self.m = m
        # The core class, not highspy.Highs: that wrapper logs while it registers its Python
        # callbacks, before any option can be set, so the process's first one prints HiGHS's
        # banner on stdout (seen in `copilot demo`). Silenced before anything can log.
        h = highspy._Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.setOptionValue("random_seed", seed)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 0.0)
        lp = highspy.HighsLp()
        lp.num_col_ = m.n
        lp.num_row_ = len(m.upper)
        lp.col_cost_ = m.c
        lp.col_lower_ = np.zeros(m.n)
        lp.col_upper_ = np.ones(m.n)
        lp.row_lower_ = np.full(len(m.upper), -highspy.kHighsInf)
        lp.row_upper_ = m.upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = m.a.indptr
        lp.a_matrix_.index_ = m.a.indices
        lp.a_matrix_.value_ = m.a.data
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if f else highspy.HighsVarType.kContinuous
            for f in m.integral
        ]
        h.passModel(lp)
        self.h = h
        self._all = np.arange(m.n, dtype=np.int32)

    def run(
        self,
        time_limit_s: float,
        start: np.ndarray | None = None,
        lower: np.ndarray | None = None,
        upper: np.ndarray | None = None,
    ) -> _MilpResult:
        m, h = self.m, self.h
        if m.n == 0:
            return _MilpResult(set(), proven_optimal=True, hit_limit=False)
        lo = np.zeros(m.n) if lower is None else lower
        up = np.ones(m.n) if upper is None else upper
        h.changeColsBounds(m.n, self._all, lo, up)
        h.setOptionValue("time_limit", max(time_limit_s, 1e-3))
        if start is not None:
            sol = highspy.HighsSolution()
            sol.col_value = list(start)
            sol.value_valid = True
            h.setSolution(sol)
        h.run()
        status = h.getModelStatus()
        hit_limit = status == highspy.HighsModelStatus.kTimeLimit
        x = np.asarray(h.getSolution().col_value)
        if h.getInfo().primal_solution_status != highspy.SolutionStatus.kSolutionStatusFeasible:
            return _MilpResult(None, proven_optimal=False, hit_limit=hit_limit)
        if len(x) != m.n:
            return _MilpResult(None, proven_optimal=False, hit_limit=hit_limit)
        proven = status == highspy.HighsModelStatus.kOptimal
        return _MilpResult(m.selection(x), proven_optimal=proven, hit_limit=hit_limit)


@dataclass(frozen=True)
class _MilpResult:
    selected: set[str] | None
    proven_optimal: bool
    hit_limit: bool


def _improve(
    p: _Problem,
    m: _Model,
    incumbent: set[str],
    deadline: float,
    clock: Callable[[], float],
    stop: Callable[[], bool] = lambda: False,
) -> set[str]:
    """Large-neighbourhood search: re-solve exactly with part of the variables fixed.

    Two kinds of neighbourhood alternate. One frees a random share of the integral columns
    (groups and valued items) together with their dependency closures and fixes every other
    column at the incumbent. The other fixes a random share of the item columns at the
    incumbent and frees everything else, so any group may come or go unless it needs a fixed
    item that is off. Either way the incumbent stays feasible and is passed as the start, so
    each step can only improve. The share freed grows while sub-problems solve to optimality
    and shrinks when they do not. Seeded, so the same input gives the same plan when given the
    same time. Stops at the deadline or as soon as ``stop()`` says so.
    """
    if not m.needs:
        return incumbent
    rng = random.Random(0)
    solver = _Solver(m, seed=1)
    n_items = len(m.ids)
    best, best_value = incumbent, _value(p, incumbent)
    share = {"targets": _START_SHARE, "items": _START_SHARE}
    rounds = 0
    while (left := deadline - clock()) > _MIN_STEP_S and not stop():
        rounds += 1
        kind = "targets" if rounds % 2 or not n_items else "items"
        z = m.vector(best)
        lower, upper = z.copy(), z.copy()
        if kind == "targets":
            size = max(1, round(share[kind] * len(m.needs)))
            for t in rng.sample(range(len(m.needs)), size):
                k, need = m.needs[t]
                lower[k], upper[k] = 0.0, 1.0
                lower[need], upper[need] = 0.0, 1.0
        else:
            lower[:], upper[:] = 0.0, 1.0
            fixed = np.array(rng.sample(range(n_items), round((1 - share[kind]) * n_items)))
            if len(fixed):
                lower[fixed], upper[fixed] = z[fixed], z[fixed]
        # HiGHS can overrun a limit on a big sub-problem, so keep steps short.
        res = solver.run(min(0.9 * left, _STEP_S), start=z, lower=lower, upper=upper)
        if res.selected is not None and not _violations(p, res.selected):
            cand = _fill(p, res.selected)
            value = _value(p, cand)
            if value > best_value + 1e-9 * max(1.0, abs(best_value)):
                best, best_value = cand, value
        if res.proven_optimal:
            share[kind] = min(_MAX_SHARE, share[kind] * 1.25)
        else:
            share[kind] = max(1 / len(m.needs), share[kind] * 0.7)
    return best


# --------------------------------------------------------------------------------------------
# Results


def _left_out(p: _Problem, selected: set[str]) -> tuple[LeftOut, ...]:
    usage = _Usage(p, selected)
    out: list[LeftOut] = []
    for item in p.items:
        if item.id in selected:
            continue
        if item.effort is None:
            out.append(LeftOut(item.id, LeftOutReason.NEEDS_ESTIMATE, "needs estimate"))
            continue
        blocker = next((d for d in item.depends_on if d not in selected), None)
        if blocker is not None:
            dep = p.by_id.get(blocker)
            if dep is None:
                why = f"blocked by {blocker} (outside the plan)"
            elif dep.effort is None:
                why = f"blocked by {_name(dep)} (needs estimate)"
            else:
                why = f"blocked by {_name(dep)} (not selected)"
            out.append(LeftOut(item.id, LeftOutReason.BLOCKED, why))
            continue
        person = item.assignee
        if person is not None and person in p.person_capacity:
            cap = p.person_capacity[person]
            after = usage.person.get(person, 0.0) + item.effort
            if after > cap + _tol(cap):
                why = f"would exceed {person}'s capacity ({after:g}/{cap:g} pts)"
                out.append(LeftOut(item.id, LeftOutReason.PERSON_OVER_CAPACITY, why))
                continue
        after = usage.total + item.effort
        why = f"would exceed team capacity ({after:g}/{p.team_capacity:g} pts)"
        out.append(LeftOut(item.id, LeftOutReason.OVER_CAPACITY, why))
    return tuple(out)


def _result(
    p: _Problem,
    selected: set[str],
    *,
    optimal: bool,
    method: str,
    seconds: float,
    note: str,
) -> SprintPlan:
    problems = _violations(p, selected)
    if problems:  # A bug, never a user error: refuse to hand out an infeasible plan.
        raise RuntimeError("invalid sprint plan: " + "; ".join(sorted(problems)))
    usage = _Usage(p, selected)
    order = sorted(selected, key=lambda i: (-p.by_id[i].value, i))
    return SprintPlan(
        selected=tuple(order),
        left_out=_left_out(p, selected),
        total_value=_value(p, selected),
        total_effort=math.fsum(_effort(p.by_id[i]) for i in selected),
        effort_by_person=MappingProxyType(dict(sorted(usage.person.items()))),
        optimal=optimal,
        method=method,
        seconds=seconds,
        note=note,
    )


def greedy_plan(
    items: Sequence[PlanItem],
    *,
    team_capacity: float,
    person_capacity: Mapping[str, float] | None = None,
    groups: Sequence[PlanGroup] = (),
    clock: Callable[[], float] = time.perf_counter,
) -> SprintPlan:
    """Plan by value per effort: the baseline the exact planner must never lose to.

    Repeatedly take the candidate with the best ratio that fits (team and person capacity);
    ties by id. A candidate is a valued item or a group, bundled with whatever of its
    dependency closure is not selected yet; its gain is its value plus the values of the
    bundled items, its cost the bundled effort. Without groups and with dependencies already
    selected this is plain item-by-item value/effort greedy; the bundling keeps the baseline
    from starving items behind zero-value dependencies and gives groups (customers) a price.
    The result is dependency-closed and has its spare capacity filled.
    """
    start = clock()
    p = _prepare(items, team_capacity, person_capacity, groups)
    selected = _fill(p, _greedy_selection(p))
    return _result(p, selected, optimal=False, method="greedy", seconds=clock() - start, note="")


def plan_sprint(
    items: Sequence[PlanItem],
    *,
    team_capacity: float,
    person_capacity: Mapping[str, float] | None = None,
    groups: Sequence[PlanGroup] = (),
    time_limit_s: float = 10.0,
    clock: Callable[[], float] = time.perf_counter,
) -> SprintPlan:
    """Choose the most valuable set of items that fits the sprint, exactly when time allows.

    Raise ValueError for negative or non-finite numbers, duplicate ids, groups naming unknown
    items or empty groups, and dependency cycles. Persons absent from ``person_capacity`` are
    unconstrained. ``optimal`` is True only when HiGHS proved the plan optimal.
    """
    if not (time_limit_s > 0 and math.isfinite(time_limit_s)):
        raise ValueError(f"time_limit_s must be a finite number > 0, got {time_limit_s!r}")
    start = clock()
    p = _prepare(items, team_capacity, person_capacity, groups)
    greedy = _fill(p, _greedy_selection(p))
    greedy_value = _value(p, greedy)

    deadline = start + time_limit_s
    model = _build_model(p)
    # The full model runs in the background for the whole budget. Alone at first: most
    # problems are proven optimal within a fraction of a second. If not, a neighbourhood
    # search (see ``_improve``) runs beside it on the other core until it ends.
    full = _Solver(model, seed=0)
    outcome: list[_MilpResult] = []
    limit = deadline - clock()
    greedy_z = model.vector(greedy)
    thread = threading.Thread(
        target=lambda: outcome.append(full.run(limit, start=greedy_z)), daemon=True
    )
    thread.start()
    thread.join(min(_SOLO_S, max(0.0, limit)))
    improved = greedy
    if thread.is_alive():
        improved = _improve(p, model, greedy, deadline, clock, stop=lambda: not thread.is_alive())
    # HiGHS keeps to its own time limit; the grace covers its wind-down, and a solver that
    # overruns it is left behind: its plan is dropped and the best plan so far is used.
    thread.join(max(0.0, deadline - clock()) + _JOIN_GRACE_S)
    res = (
        outcome[0]
        if outcome and not thread.is_alive()
        else _MilpResult(None, proven_optimal=False, hit_limit=True)
    )
    exact = res.selected
    if (exact is None and not res.hit_limit) or (exact is not None and _violations(p, exact)):
        note = (
            "solver failed: greedy plan, may not be optimal"
            if exact is None  # Otherwise numerical trouble: do not trust the solver's answer.
            else "solver plan failed verification: greedy plan, may not be optimal"
        )
        return _result(
            p, greedy, optimal=False, method="greedy-fallback", seconds=clock() - start, note=note
        )
    if exact is not None:
        exact = _fill(p, exact)
    if not res.proven_optimal:
        # Out of time: the best of the solver's plan, the search's and greedy's.
        pool = [improved, greedy] if exact is None else [exact, improved, greedy]
        exact = max(pool, key=lambda x: _value(p, x))
    assert exact is not None
    exact_value = _value(p, exact)
    if exact_value <= greedy_value + 1e-9 * max(1.0, abs(greedy_value)) and (
        res.selected is None or greedy_value > exact_value
    ):
        note = _FALLBACK_NOTE if res.selected is None else _TIME_LIMIT_NOTE
        if res.proven_optimal:  # Only numerical noise can get here.
            note = "solver result worse than greedy"
        return _result(
            p, greedy, optimal=False, method="greedy-fallback", seconds=clock() - start, note=note
        )
    return _result(
        p,
        exact,
        optimal=res.proven_optimal,
        method="milp",
        seconds=clock() - start,
        note="" if res.proven_optimal else _TIME_LIMIT_NOTE,
    )
