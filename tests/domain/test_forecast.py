"""Hand-worked examples for the capacity forecast and rebalancing core.

Calendar used throughout (2026): Mon 2 Mar, Tue 3, WED 4 MAR = TODAY, Thu 5, Fri 6, Sat 7, Sun 8,
Mon 9 ... The forecast weeks are W0 = Mon 2 Mar, W1 = 9 Mar, W2 = 16 Mar, W3 = 23 Mar; the horizon
ends before Mon 30 Mar.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.forecast import (
    Forecast,
    Move,
    Overload,
    WorkItem,
    find_overloads,
    forecast_load,
    item_hours,
    propose_rebalance,
)

TODAY = date(2026, 3, 4)  # a Wednesday
W0, W1, W2, W3 = (date(2026, 3, 2) + timedelta(weeks=k) for k in range(4))


def d(day: int, month: int = 3) -> date:
    return date(2026, month, day)


def item(
    id: str,
    hours: float | None,
    start: date | None,
    due: date | None,
    who: str = "alice",
    skills: frozenset[str] = frozenset(),
) -> WorkItem:
    return WorkItem(id=id, assignee=who, hours=hours, start_on=start, due_on=due, skills=skills)


def loads_of(fc: Forecast, who: str = "alice") -> list[float]:
    return [fc.load(who, w) for w in fc.weeks]


def test_weeks_are_four_mondays_from_todays_week() -> None:
    fc = forecast_load([], today=TODAY)
    assert fc.weeks == (W0, W1, W2, W3)
    assert all(w.weekday() == 0 for w in fc.weeks)


def test_task_across_a_weekend_splits_by_working_days() -> None:
    # Thu 5 .. Tue 10: Thu, Fri, (Sat, Sun skipped), Mon, Tue = 4 working days; 16 h / 4 = 4 h/day.
    # W0 gets Thu+Fri = 8 h, W1 gets Mon+Tue = 8 h.
    fc = forecast_load([item("t", 16, d(5), d(10))], today=TODAY)
    assert loads_of(fc) == pytest.approx([8, 8, 0, 0])


def test_one_day_task() -> None:
    # start = due = Thu 5: one working day, all 6 h in W0.
    fc = forecast_load([item("t", 6, d(5), d(5))], today=TODAY)
    assert loads_of(fc) == pytest.approx([6, 0, 0, 0])


def test_late_task_counts_entirely_today() -> None:
    # Due Mon 2 / Tue 3 (before Wed 4): the whole effort lands today, i.e. in W0.
    fc = forecast_load(
        [item("late", 5, d(20, 2), d(3)), item("late-due-only", 2, None, d(2))], today=TODAY
    )
    assert loads_of(fc) == pytest.approx([7, 0, 0, 0])


def test_due_only_task_counts_on_its_due_day() -> None:
    # Due Tue 17 with no start: all 3 h on that day, so in W2. A due-only task due Sun 8 stays in
    # W0 (the day itself counts, working day or not).
    fc = forecast_load([item("t", 3, None, d(17)), item("s", 1, None, d(8))], today=TODAY)
    assert loads_of(fc) == pytest.approx([1, 0, 3, 0])


def test_started_before_today_spreads_from_today() -> None:
    # Mon 2 .. Tue 10, 12 h. Clipped to Wed 4 .. Tue 10: Wed, Thu, Fri, Mon, Tue = 5 days,
    # 12 / 5 = 2.4 h/day. W0: 3 × 2.4 = 7.2 h; W1: 2 × 2.4 = 4.8 h. (Unclipped it would be 7 days.)
    fc = forecast_load([item("t", 12, d(2), d(10))], today=TODAY)
    assert loads_of(fc) == pytest.approx([7.2, 4.8, 0, 0])


def test_no_due_date_goes_to_unscheduled() -> None:
    fc = forecast_load(
        [item("a", 5, d(5), None), item("b", 3, None, None), item("c", 2, None, None, who="bob")],
        today=TODAY,
    )
    assert loads_of(fc) == [0, 0, 0, 0]
    assert dict(fc.unscheduled) == {"alice": 8, "bob": 2}


def test_unestimated_tasks_are_listed_not_guessed() -> None:
    fc = forecast_load(
        [item("x", None, d(5), d(6)), item("y", None, None, None), item("z", 4, None, d(5))],
        today=TODAY,
    )
    assert dict(fc.unestimated) == {"alice": ("x", "y")}
    assert loads_of(fc) == pytest.approx([4, 0, 0, 0])


def test_holiday_is_not_a_working_day() -> None:
    # Thu 5 .. Tue 10 with Fri 6 a holiday: Thu, Mon, Tue = 3 days; 16 h / 3 per day.
    # W0: 16/3 h; W1: 32/3 h.
    fc = forecast_load([item("t", 16, d(5), d(10))], today=TODAY, holidays=frozenset({d(6)}))
    assert loads_of(fc) == pytest.approx([16 / 3, 32 / 3, 0, 0])
    assert fc.holidays == frozenset({d(6)})


def test_window_without_working_day_counts_next_working_day() -> None:
    # Sat 7 .. Sun 8 has no working day: all 5 h on Mon 9 (W1). With Mon 9 a holiday: Tue 10 (W1).
    # Sat 21 .. Sun 22 with today past it is impossible here, so also check Sat 28 .. Sun 29: the
    # next working day Mon 30 is beyond the horizon.
    items = [item("wk", 5, d(7), d(8)), item("far", 2, d(28), d(29))]
    fc = forecast_load(items, today=TODAY)
    assert loads_of(fc) == pytest.approx([0, 5, 0, 0])
    assert fc.beyond_horizon["alice"] == pytest.approx(2)
    fc = forecast_load(items, today=TODAY, holidays=frozenset({d(9)}))
    assert loads_of(fc) == pytest.approx([0, 5, 0, 0])


def test_hours_beyond_horizon_are_ignored_but_reported() -> None:
    # Mon 23 Mar .. Fri 3 Apr: 10 working days, 20 h = 2 h/day. W3 gets Mon 23..Fri 27 = 10 h;
    # Mon 30 .. Fri 3 Apr (10 h) is beyond the horizon.
    fc = forecast_load([item("t", 20, d(23), d(3, 4))], today=TODAY)
    assert loads_of(fc) == pytest.approx([0, 0, 0, 10])
    assert fc.beyond_horizon["alice"] == pytest.approx(10)


def test_today_on_a_saturday_leaves_week_zero_empty_for_spread_tasks() -> None:
    # Today Sat 7: Mon 2 .. Fri 13 clipped to Sat 7 .. Fri 13 = Mon 9..Fri 13 = 5 days, all in W1.
    fc = forecast_load([item("t", 10, d(2), d(13))], today=d(7))
    assert loads_of(fc) == pytest.approx([0, 10, 0, 0])


def test_contributions_are_largest_first() -> None:
    fc = forecast_load(
        [item("small", 1, None, d(5)), item("big", 9, None, d(6)), item("mid", 4, None, d(5))],
        today=TODAY,
    )
    assert fc.loads[("alice", W0)].contributions == (("big", 9), ("mid", 4), ("small", 1))


def test_item_hours_prefers_estimate_then_points() -> None:
    assert item_hours(3, None) == 12  # 3 points × 4 h
    assert item_hours(3, None, hours_per_point=6) == 18  # 3 points × 6 h
    assert item_hours(2, 5) == 5  # an explicit estimate wins
    assert item_hours(None, 0) == 0  # zero is an estimate, not a missing one
    assert item_hours(None, None) is None
    assert item_hours(-1, None) is None


def test_workitem_rejects_negative_hours() -> None:
    with pytest.raises(ValueError):
        item("bad", -1, None, d(5))


# --- overloads --------------------------------------------------------------------------------


def test_overload_threshold_boundary() -> None:
    # Capacity 40, threshold 1.2 => limit 48 h. Alice has exactly 48 h (not overloaded); Bob has
    # 48.5 h (overloaded, ratio 48.5 / 40 = 1.2125).
    items = [
        item("a1", 30, None, d(5)),
        item("a2", 18, None, d(6)),
        item("b1", 40, None, d(5), who="bob"),
        item("b2", 8.5, None, d(6), who="bob"),
    ]
    fc = forecast_load(items, today=TODAY)
    found = find_overloads(fc, people=["alice", "bob"], capacity={})
    assert [(o.person, o.week_start) for o in found] == [("bob", W0)]
    assert found[0].load == pytest.approx(48.5)
    assert found[0].ratio == pytest.approx(1.2125)
    assert found[0].causes == (("b1", 40), ("b2", 8.5))
    # With Alice's capacity at 39, her limit is 46.8 h and 48 h is over.
    found = find_overloads(fc, people=["bob", "alice"], capacity={"alice": 39})
    assert [o.person for o in found] == ["alice", "bob"]


def test_overloads_sorted_by_week_then_person() -> None:
    items = [
        item("b", 50, None, d(5), who="bob"),
        item("a", 50, None, d(12), who="alice"),
        item("c", 50, None, d(6), who="carol"),
    ]
    fc = forecast_load(items, today=TODAY)
    found = find_overloads(fc, people=["carol", "bob", "alice"], capacity={})
    assert [(o.week_start, o.person) for o in found] == [(W0, "bob"), (W0, "carol"), (W1, "alice")]


# --- rebalancing ------------------------------------------------------------------------------


def alice_week1(*extra: WorkItem, **skills: frozenset[str]) -> list[WorkItem]:
    # Alice's W1: a1 30 h (Wed 11) + a2 20 h (Thu 12) + a3 10 h (Fri 13) = 60 h > 48 h limit.
    return [
        item("a1", 30, None, d(11), skills=skills.get("a1", frozenset())),
        item("a2", 20, None, d(12), skills=skills.get("a2", frozenset())),
        item("a3", 10, None, d(13)),
        *extra,
    ]


def only_overload(fc: Forecast, people: list[str], **kw: object) -> Overload:
    found = find_overloads(fc, people=people, capacity={}, **kw)  # type: ignore[arg-type]
    assert len(found) == 1
    return found[0]


def test_rebalance_picks_one_move_when_one_suffices() -> None:
    # Off 60 h, at least 12 h must go. One move is enough: a1 (30 h -> 30 h left) or a2 (20 h ->
    # 40 h left) both land at or under plain capacity; a2 moves fewer hours. Bob has 0 h in W1,
    # Carol 25 h (a2 would take her to 45 h, legal but less spare), so a2 goes to Bob.
    items = alice_week1(item("c1", 25, None, d(10), who="carol"))
    fc = forecast_load(items, today=TODAY)
    people = ["alice", "bob", "carol"]
    result = propose_rebalance(only_overload(fc, people), fc, items, people=people, capacity={})
    assert result.resolved
    assert [(m.item_id, m.kind, m.to_person) for m in result.moves] == [("a2", "reassign", "bob")]
    assert result.moves[0].hours == 20
    assert "60.0 h to 40.0 h" in result.note


def test_rebalance_uses_two_moves_only_when_needed() -> None:
    # Bob and Carol each have 38 h in W1 (limit 48 h): each can take only a3 (10 h -> 48 h, exactly
    # at the limit, allowed). Moving a3 leaves Alice at 50 h > 48 h, and a1/a2 fit nobody:
    # unresolvable.
    base = alice_week1(
        item("b1", 38, None, d(10), who="bob"), item("c1", 38, None, d(10), who="carol")
    )
    fc = forecast_load(base, today=TODAY)
    people = ["alice", "bob", "carol"]
    result = propose_rebalance(only_overload(fc, people), fc, base, people=people, capacity={})
    assert not result.resolved and result.moves == ()
    assert "No reassignment or reschedule" in result.note

    # Add a4 (6 h, Thu 12): Alice has 66 h. With Alice's capacity at 42 (limit 50.4 h) one move
    # is not enough (best: a3, 66 - 10 = 56 h), but two are: a3 -> one teammate (48 h) and a4 ->
    # the other (44 h) leave 66 - 16 = 50 h <= 50.4 h.
    items = [*base, item("a4", 6, None, d(12))]
    fc = forecast_load(items, today=TODAY)
    ov = only_overload(fc, people)
    result = propose_rebalance(ov, fc, items, people=people, capacity={"alice": 42})
    assert result.resolved
    assert sorted(m.item_id for m in result.moves) == ["a3", "a4"]
    assert {m.to_person for m in result.moves} == {"bob", "carol"}


def test_rebalance_respects_teammate_capacity_in_every_week() -> None:
    # Alice W1: a1 44 h (Wed 11) + a2 16 h spread Mon 9 .. Fri 20 (10 days, 1.6 h/day: 8 h in W1,
    # 8 h in W2) = 52 h > 48 h. Moving a2 (8 h off -> 44 h) would move fewest hours, but Bob has
    # 45 h in W2 and a2 would take him to 53 h > 48 h. So a1 (44 h) goes to Bob: his W1 0 -> 44 h.
    items = [
        item("a1", 44, None, d(11)),
        item("a2", 16, d(9), d(20)),
        item("b1", 45, None, d(18), who="bob"),
    ]
    fc = forecast_load(items, today=TODAY)
    assert loads_of(fc) == pytest.approx([0, 52, 8, 0])
    people = ["alice", "bob"]
    result = propose_rebalance(only_overload(fc, people), fc, items, people=people, capacity={})
    assert result.resolved
    assert [(m.item_id, m.to_person) for m in result.moves] == [("a1", "bob")]


def test_rebalance_requires_matching_skill() -> None:
    # a2 (20 h) needs "python". Carol (design, 5 h in W3) has more spare in W1 than Bob (python,
    # 10 h in W1), so without skills a2 goes to Carol; with skills_required only Bob qualifies.
    # a1 needs "sql", which nobody has.
    items = alice_week1(
        item("b1", 10, None, d(12), who="bob", skills=frozenset({"python"})),
        item("c1", 5, None, d(27), who="carol", skills=frozenset({"design"})),
        a1=frozenset({"sql"}),
        a2=frozenset({"python"}),
    )
    fc = forecast_load(items, today=TODAY)
    people = ["alice", "bob", "carol"]
    ov = only_overload(fc, people)
    free = propose_rebalance(ov, fc, items, people=people, capacity={})
    assert [(m.item_id, m.to_person) for m in free.moves] == [("a2", "carol")]
    strict = propose_rebalance(ov, fc, items, people=people, capacity={}, skills_required=True)
    assert [(m.item_id, m.to_person) for m in strict.moves] == [("a2", "bob")]
    # An explicit skills map overrides the derived one.
    strict = propose_rebalance(
        ov,
        fc,
        items,
        people=people,
        capacity={},
        skills_required=True,
        person_skills={"carol": frozenset({"python"})},
    )
    assert [(m.item_id, m.to_person) for m in strict.moves] == [("a2", "carol")]


def test_rebalance_reschedules_within_latest_due() -> None:
    # Alice alone, 60 h in W1. Rescheduling a2 (Thu 12) by one week -> Thu 19 (W2): W1 = 40 h.
    # latest_due a2 = Wed 18 forbids that; a1 pinned to Wed 11; a3 may go to Fri 20, but 10 h
    # off leaves 50 h > 48 h: unresolved.
    items = alice_week1()
    fc = forecast_load(items, today=TODAY)
    ov = only_overload(fc, ["alice"])
    pinned = {"a1": d(11), "a2": d(18), "a3": d(20)}
    result = propose_rebalance(ov, fc, items, people=["alice"], capacity={}, latest_due=pinned)
    assert not result.resolved

    loose = {**pinned, "a2": d(19)}
    result = propose_rebalance(ov, fc, items, people=["alice"], capacity={}, latest_due=loose)
    assert result.resolved
    (move,) = result.moves
    assert (move.item_id, move.kind, move.new_due_on, move.new_start_on) == (
        "a2",
        "reschedule",
        d(19),
        None,
    )
    # No latest_due at all: rescheduling is off, and with no teammate nothing can move.
    result = propose_rebalance(ov, fc, items, people=["alice"], capacity={})
    assert not result.resolved


def test_rescheduled_item_moves_its_start_and_respreads() -> None:
    # a2: Mon 9 .. Fri 13, 25 h (5 h/day, all W1); a1 30 h Wed 11 => W1 = 55 h > 48 h.
    # Shift a2 one week: Mon 16 .. Fri 20, all in W2 (25 h <= 48 h): W1 = 30 h.
    items = [item("a1", 30, None, d(11)), item("a2", 25, d(9), d(13))]
    fc = forecast_load(items, today=TODAY)
    ov = only_overload(fc, ["alice"])
    result = propose_rebalance(ov, fc, items, people=["alice"], capacity={}, latest_due={})
    (move,) = result.moves
    assert (move.item_id, move.new_start_on, move.new_due_on) == ("a2", d(16), d(20))


def test_rebalance_falls_back_to_greedy_when_solver_fails() -> None:
    def broken_solver(*args: object, **kwargs: object) -> SimpleNamespace:
        return SimpleNamespace(status=4, x=None, message="boom")

    items = alice_week1()
    fc = forecast_load(items, today=TODAY)
    people = ["alice", "bob"]
    ov = only_overload(fc, people)
    result = propose_rebalance(ov, fc, items, people=people, capacity={}, solver=broken_solver)
    assert result.resolved
    assert "greedy" in result.note and "boom" in result.note
    # Greedy takes the biggest relief first: a1 (30 h) -> Bob.
    assert [(m.item_id, m.to_person) for m in result.moves] == [("a1", "bob")]


def test_rebalance_of_a_week_already_within_limit_moves_nothing() -> None:
    items = alice_week1()
    fc = forecast_load(items, today=TODAY)
    stale = Overload("alice", W1, 60, 40, 1.5, ())
    result = propose_rebalance(stale, fc, items, people=["alice"], capacity={"alice": 60})
    assert result.resolved and result.moves == ()


# --- property ---------------------------------------------------------------------------------

offsets = st.integers(min_value=-30, max_value=60)


@st.composite
def work_items(draw: st.DrawFn, max_hours: float = 80) -> WorkItem:
    start = draw(st.none() | offsets)
    due = draw(st.none() | offsets)
    hours = draw(st.none() | st.floats(min_value=0, max_value=max_hours, allow_nan=False))
    return WorkItem(
        id=str(draw(st.integers(0, 10**6))),
        assignee=draw(st.sampled_from(["alice", "bob", "carol"])),
        hours=hours,
        start_on=TODAY + timedelta(days=start) if start is not None else None,
        due_on=TODAY + timedelta(days=due) if due is not None else None,
        skills=draw(st.frozensets(st.sampled_from(["python", "design"]), max_size=1)),
    )


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(work_items(), max_size=25),
    today_shift=st.integers(-6, 6),
    holiday_offsets=st.frozensets(st.integers(-5, 40), max_size=6),
)
def test_hours_are_conserved(
    items: list[WorkItem], today_shift: int, holiday_offsets: frozenset[int]
) -> None:
    today = TODAY + timedelta(days=today_shift)
    holidays = frozenset(today + timedelta(days=o) for o in holiday_offsets)
    fc = forecast_load(items, today=today, holidays=holidays)
    dated = math.fsum(it.hours for it in items if it.hours is not None and it.due_on is not None)
    in_window = math.fsum(w.hours for w in fc.loads.values())
    assert in_window + math.fsum(fc.beyond_horizon.values()) == pytest.approx(dated, abs=1e-6)
    undated = math.fsum(it.hours for it in items if it.hours is not None and it.due_on is None)
    assert math.fsum(fc.unscheduled.values()) == pytest.approx(undated, abs=1e-9)
    for (person, week), load in fc.loads.items():
        assert week in fc.weeks and load.person == person
        assert all(h > 0 for _, h in load.contributions)
        assert [h for _, h in load.contributions] == sorted(
            (h for _, h in load.contributions), reverse=True
        )


def apply_moves(items: list[WorkItem], moves: tuple[Move, ...]) -> list[WorkItem]:
    by_id = {m.item_id: m for m in moves}
    out = []
    for it in items:
        m = by_id.get(it.id)
        if m is None:
            out.append(it)
        elif m.kind == "reassign":
            assert m.to_person is not None
            out.append(replace(it, assignee=m.to_person))
        else:
            out.append(replace(it, due_on=m.new_due_on, start_on=m.new_start_on))
    return out


@settings(max_examples=40, deadline=None)
@given(
    items=st.lists(work_items(max_hours=12), min_size=5, max_size=30),
    skills_required=st.booleans(),
    reschedule=st.booleans(),
)
def test_applied_rebalance_clears_the_week_and_overloads_nobody(
    items: list[WorkItem], skills_required: bool, reschedule: bool
) -> None:
    # Re-forecast after applying the moves: the overloaded week is within its limit and no other
    # (person, week) ends above max(its limit, its load before). An 8 h capacity keeps overloads
    # common.
    items = [replace(it, id=f"i{n}") for n, it in enumerate(items)]
    people = ["alice", "bob", "carol", "dan", "erin"]  # Dan and Erin hold nothing yet
    capacity = {p: 8.0 for p in people}
    person_skills = {"dan": frozenset({"python"}), "erin": frozenset({"design"})}
    fc = forecast_load(items, today=TODAY)
    for ov in find_overloads(fc, people=people, capacity=capacity)[:2]:
        latest = {it.id: TODAY + timedelta(days=20) for it in items[::2]} if reschedule else None
        result = propose_rebalance(
            ov,
            fc,
            items,
            people=people,
            capacity=capacity,
            skills_required=skills_required,
            latest_due=latest,
            person_skills=person_skills,
        )
        if not result.resolved:
            assert result.moves == ()
            continue
        assert len({m.item_id for m in result.moves}) == len(result.moves)
        after = forecast_load(apply_moves(items, result.moves), today=TODAY)
        assert after.load(ov.person, ov.week_start) <= 1.2 * 8 + 1e-6
        for p in people:
            for w in fc.weeks:
                if (p, w) != (ov.person, ov.week_start):
                    assert after.load(p, w) <= max(1.2 * 8, fc.load(p, w)) + 1e-6
