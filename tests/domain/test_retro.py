"""A sprint retrospective's facts on a hand-built sprint, and the model's themes checked.

Sprint 7 was approved on Mon 1 Mar 2027 and runs two weeks: 1..14 Mar (UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.digest import Item, Reason, ReasonKind
from bot.domain.retro import (
    BlockedDay,
    CycleStart,
    DatesSource,
    OverloadRecord,
    RetroFacts,
    RetroTask,
    SprintMove,
    SprintWindow,
    ThemeClaim,
    blocked_today,
    build_retro,
    check_themes,
    facts_for_model,
    propose_actions,
    sprint_window,
)

SPRINT = "Sprint 7"
WINDOW = SprintWindow(SPRINT, date(2027, 3, 1), date(2027, 3, 14), DatesSource.APPROVAL)
A, B, C, D, E, F, G, H = (f"120900000000000{i}" for i in range(8))
VENDOR = "Blocked on vendor API keys"


def at(day: int, hour: int = 9, month: int = 3) -> datetime:
    return datetime(2027, month, day, hour, tzinfo=UTC)


def task(gid: str, name: str, sprint: str | None, points: float | None, **kw: object) -> RetroTask:
    return RetroTask(
        gid=gid,
        name=name,
        sprint=sprint,
        points=points,
        created_at=kw.pop("created_at", at(20, month=2)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


TASKS = [
    task(A, "Login page", SPRINT, 3, started_at=at(2), completed_at=at(4), hours_logged=12.0),
    task(
        B,
        "Search API",
        SPRINT,
        5,
        start_on=date(2027, 3, 1),
        completed_at=at(10),
        hours_logged=40.0,
        assignee="Marcus Chen",
    ),
    task(C, "Billing fix", SPRINT, 2),  # open: carried over
    task(D, "Write docs", None, 1),  # taken out of the sprint: removed
    task(E, "Hotfix checkout", SPRINT, 2, created_at=at(5), completed_at=at(6), hours_logged=2.0),
    task(F, "Performance pass", "Sprint 8", 8),  # moved on to the next sprint: carried over
    task(G, "Other sprint work", "Sprint 6", 3, completed_at=at(3)),  # not this sprint
    task(H, "Late migration", SPRINT, 3, completed_at=at(16)),  # finished after the end
]
COMMITTED = [A, B, C, D, F, H]


def facts(**kw: object) -> RetroFacts:
    args: dict[str, object] = {
        "committed": COMMITTED,
        "blocked_days": [
            BlockedDay(C, date(2027, 3, 3), VENDOR),
            BlockedDay(C, date(2027, 3, 4), VENDOR),
            BlockedDay(C, date(2027, 3, 4), VENDOR),  # two digests the same day: one day
            BlockedDay(C, date(2027, 2, 27), VENDOR),  # before the sprint
            BlockedDay(H, date(2027, 3, 8), "blocked on Vendor API keys!"),
            BlockedDay(B, date(2027, 3, 9), "waits on Rate limiter"),
            BlockedDay(G, date(2027, 3, 3), VENDOR),  # not this sprint's task
        ],
        "overloads": [
            OverloadRecord("Marcus Chen", date(2027, 3, 1), 50.0, 40.0, (B,)),
            OverloadRecord("Marcus Chen", date(2027, 3, 8), 60.0, 40.0, (B, C)),
            OverloadRecord("Priya Raman", date(2027, 2, 22), 70.0, 40.0, (A,)),  # week before
            OverloadRecord("Sofia Alvarez", date(2027, 3, 15), 70.0, 40.0, (C,)),  # week after
        ],
        "previous_velocity": [
            ("Sprint 6", 16.0),
            ("Sprint 5", 20.0),
            ("Sprint 4", 24.0),
            ("x", 99.0),
        ],
    }
    args.update(kw)
    return build_retro(WINDOW, TASKS, **args)  # type: ignore[arg-type]


def test_committed_against_completed() -> None:
    f = facts()
    assert set(f.committed.task_gids) == set(COMMITTED)
    assert (f.committed.count, f.committed.points) == (6, 22.0)
    assert set(f.completed.task_gids) == {A, B, E} and f.completed.points == 10.0
    assert set(f.completed_committed.task_gids) == {A, B} and f.completed_committed.points == 8.0
    assert f.committed_source == "approval"


def test_carried_over_added_and_removed() -> None:
    f = facts()
    assert set(f.carried_over.task_gids) == {C, F, H} and f.carried_over.points == 13.0
    assert f.added.task_gids == (E,) and f.added.points == 2.0
    assert f.removed.task_gids == (D,) and f.removed.points == 1.0
    assert G not in f.task_gids()
    assert f.task_gids() == frozenset({A, B, C, D, E, F, H})


def test_without_an_approval_the_sprint_at_its_start_is_the_commitment() -> None:
    f = facts(committed=None)
    assert f.committed_source == "sprint at start"
    # Without Sprint history, tasks that name the sprint now and existed at its start.
    assert set(f.committed.task_gids) == {A, B, C, H}
    assert f.added.task_gids == (E,)


def test_sprint_history_decides_membership() -> None:
    moves = {
        "p": (SprintMove(at(25, month=2), SPRINT),),  # in from before the start, still open
        "q": (SprintMove(at(25, month=2), SPRINT), SprintMove(at(5), None)),  # taken out
        "r": (SprintMove(at(3), SPRINT), SprintMove(at(6), "Sprint 9")),  # in and out again
        "s": (SprintMove(at(25, month=2), SPRINT), SprintMove(at(16), "Sprint 8")),  # moved on
        "t": (SprintMove(at(2), SPRINT),),  # added, then finished
    }
    now_in = {"p": SPRINT, "q": None, "r": "Sprint 9", "s": "Sprint 8", "t": SPRINT}
    tasks = [
        RetroTask(
            gid,
            gid.upper(),
            now_in[gid],
            points=1.0,
            created_at=at(20, month=2),
            completed_at=at(9) if gid == "t" else None,
            sprint_moves=m,
        )
        for gid, m in moves.items()
    ]
    f = build_retro(WINDOW, tasks)
    assert f.history_known and f.committed_source == "sprint at start"
    assert set(f.committed.task_gids) == {"p", "q", "s"}
    assert set(f.added.task_gids) == {"r", "t"}
    assert set(f.removed.task_gids) == {"q", "r"}
    assert f.completed.task_gids == ("t",)
    assert set(f.carried_over.task_gids) == {"p", "s"}


def test_estimation_accuracy_and_biggest_misses() -> None:
    est = facts().estimation
    assert est.hours_per_point == pytest.approx(54 / 10)  # 12 + 40 + 2 hours over 3 + 5 + 2 points
    assert set(est.measured) == {A, B, E}
    # Hotfix took 1 h a point, Search API 8, Login page 4: furthest from 5.4 by ratio first.
    assert [m.task_gid for m in est.misses] == [E, B, A]
    assert est.misses[0].ratio == pytest.approx(1 / 5.4)
    assert est.misses[1].ratio == pytest.approx(8 / 5.4)


def test_completed_tasks_without_hours_are_listed_apart() -> None:
    tasks = [
        task(A, "Login page", SPRINT, 3, completed_at=at(4)),
        task(B, "Search API", SPRINT, 5, completed_at=at(5), hours_logged=10.0),
    ]
    est = build_retro(WINDOW, tasks, committed=[A, B]).estimation
    assert est.without_hours == (A,) and est.measured == (B,)
    assert est.misses == ()  # one measured task cannot miss the sprint's own rate


def test_cycle_time_median_and_slowest() -> None:
    cycle = facts().cycle
    assert cycle.median_days == pytest.approx(2.0)  # 1 (Hotfix), 2 (Login), 9.375 (Search API)
    assert [(c.task_gid, c.since) for c in cycle.slowest] == [
        (B, CycleStart.START_DATE),
        (A, CycleStart.STARTED),
        (E, CycleStart.CREATED),
    ]
    assert cycle.slowest[0].days == pytest.approx(9.375)


def test_days_blocked_and_recurring_blockers() -> None:
    blocking = facts().blocking
    assert [(b.task_gid, b.days) for b in blocking.tasks] == [(C, 2), (B, 1), (H, 1)]
    assert blocking.total_days == 4
    assert len(blocking.recurring) == 1
    vendor = blocking.recurring[0]
    assert vendor.blocker == VENDOR and vendor.task_gids == (C, H) and vendor.days == 3


def test_one_task_blocked_three_days_is_a_recurring_blocker() -> None:
    days = [BlockedDay(C, date(2027, 3, d), "waits on legal") for d in (2, 3, 4)]
    blocking = facts(blocked_days=days).blocking
    assert [(b.blocker, b.task_gids, b.days) for b in blocking.recurring] == [
        ("waits on legal", (C,), 3)
    ]


def test_who_was_over_capacity_during_the_sprint() -> None:
    over = facts().over_capacity
    assert [o.person for o in over] == ["Marcus Chen"]
    marcus = over[0]
    assert marcus.weeks == (date(2027, 3, 1), date(2027, 3, 8))
    assert (marcus.peak_load, marcus.capacity, marcus.peak_ratio) == (60.0, 40.0, 1.5)
    assert marcus.task_gids == (B, C)


def test_velocity_against_the_last_three_sprints() -> None:
    v = facts().velocity
    assert v.points == 10.0
    assert v.previous == (("Sprint 6", 16.0), ("Sprint 5", 20.0), ("Sprint 4", 24.0))
    assert v.mean_previous == 20.0 and v.change == 0.5
    first = facts(previous_velocity=[]).velocity
    assert first.mean_previous is None and first.change is None


def test_sprint_dates_from_the_approval_else_from_the_tasks() -> None:
    assert sprint_window(SPRINT, TASKS, sprint_days=14, approved_on=date(2027, 3, 1)) == WINDOW
    dated = [
        RetroTask("1", "a", SPRINT, start_on=date(2027, 3, 2), due_on=date(2027, 3, 9)),
        RetroTask("2", "b", SPRINT, start_on=date(2027, 3, 1), due_on=date(2027, 3, 12)),
        RetroTask("3", "c", "Sprint 6", start_on=date(2027, 2, 1), due_on=date(2027, 4, 1)),
    ]
    assert sprint_window(SPRINT, dated, sprint_days=14) == SprintWindow(
        SPRINT, date(2027, 3, 1), date(2027, 3, 12), DatesSource.TASKS
    )
    due_only = [RetroTask("1", "a", SPRINT, due_on=date(2027, 3, 14))]
    assert sprint_window(SPRINT, due_only, sprint_days=14) == SprintWindow(
        SPRINT, date(2027, 3, 1), date(2027, 3, 14), DatesSource.TASKS
    )
    assert sprint_window(SPRINT, [RetroTask("1", "a", SPRINT)], sprint_days=14) is None


def test_a_day_is_the_teams_local_day() -> None:
    # 23:30 UTC on Sun 14 Mar is already Monday 15 Mar in Berlin: after the sprint's end there.
    late = [
        task(A, "Login page", SPRINT, 3, completed_at=datetime(2027, 3, 14, 23, 30, tzinfo=UTC))
    ]
    assert build_retro(WINDOW, late, committed=[A]).completed.task_gids == (A,)
    berlin = build_retro(WINDOW, late, committed=[A], zone=ZoneInfo("Europe/Berlin"))
    assert berlin.completed.task_gids == () and berlin.carried_over.task_gids == (A,)


# -- themes --------------------------------------------------------------------------------------


def test_themes_must_cite_this_sprints_tasks() -> None:
    f = facts()
    good = ThemeClaim("Vendor keys held up Billing fix and Late migration.", (C, H))
    claims = [
        good,
        ThemeClaim("Estimates were off all sprint.", ()),
        ThemeClaim("Hotfixes crowded out planned work.", (E, "1209999999999999")),
        ThemeClaim("Reviews were slow.", (G,)),  # a task of another sprint
        ThemeClaim("Other sprint work dragged everything down.", (A,)),  # names another task
        ThemeClaim("Task 1209123456789012 was the slowest.", (B,)),  # an id not in the sprint
        ThemeClaim("vendor keys held up billing fix and late migration.", (C,)),  # a repeat
    ]
    checked = check_themes(claims, f, known_task_names=[t.name for t in TASKS])
    assert checked.kept == (good,)
    why = [reason for _, reason in checked.dropped]
    assert len(why) == 6
    assert why[0] == "it cites no task"
    assert why[1].startswith("it cites a task that is not in this sprint: 1209999999999999")
    assert why[2].startswith("it cites a task that is not in this sprint")
    assert "names a task that is not in the facts" in why[3]
    assert "task id that is not in the facts: 1209123456789012" in why[4]
    assert why[5] == "it repeats another theme"


def test_themes_may_name_the_sprints_tasks_by_id_and_are_capped() -> None:
    f = facts()
    claims = [ThemeClaim(f"Theme {i}: task {A} went well.", (A,)) for i in range(7)]
    checked = check_themes(claims, f)
    assert len(checked.kept) == 5
    assert [why for _, why in checked.dropped] == ["only 5 themes are kept"] * 2


def test_the_model_sees_each_task_once_with_its_id_and_comments() -> None:
    f = facts()
    data = facts_for_model(f, project="Platform", comments={C: ["Waiting on vendor keys " * 30]})
    assert [t["id"] for t in data["tasks"]] == sorted(f.task_gids())
    billing = next(t for t in data["tasks"] if t["id"] == C)
    assert billing["name"] == "Billing fix" and len(billing["comments"][0]) == 300
    assert G not in str(data)  # another sprint's task is not given to the model
    assert data["removed"] == {"count": 1, "points": 1.0, "tasks": [D]}
    assert data["recurring_blockers"][0]["tasks"] == [C, H]
    assert data["velocity"] == {"points": 10.0, "previous_mean": 20.0}


def test_a_task_that_slipped_does_not_stretch_the_sprint() -> None:
    slipped = [
        RetroTask("1", "a", SPRINT, start_on=date(2027, 3, 1), due_on=date(2027, 3, 9)),
        RetroTask("2", "b", SPRINT, start_on=date(2027, 3, 3), due_on=date(2027, 3, 30)),
    ]
    assert sprint_window(SPRINT, slipped, sprint_days=14) == SprintWindow(
        SPRINT, date(2027, 3, 1), date(2027, 3, 14), DatesSource.TASKS
    )


def test_what_a_digest_saw_blocked_names_each_blocker() -> None:
    from bot.domain.digest import DigestFacts

    item = Item(
        A,
        "Login page",
        "",
        None,
        None,
        (
            Reason(ReasonKind.DEPENDENCY_OVERDUE, task_gid=B, task_name="Search API"),
            Reason(ReasonKind.COMMENT_BLOCKED, text="Blocked on  vendor\nAPI keys"),
            Reason(ReasonKind.OVERDUE),
        ),
    )
    digest = DigestFacts(
        since=at(1),
        now=at(2),
        today=date(2027, 3, 2),
        open_count=1,
        done=(),
        blocked=(item,),
        overdue=(),
        at_risk=(),
        in_progress=(),
        people=(),
    )
    assert blocked_today(digest) == [
        (A, "waiting on “Search API”"),
        (A, "Blocked on vendor API keys"),
    ]


def test_up_to_three_action_items_each_with_its_tasks() -> None:
    actions = propose_actions(facts())
    assert 1 <= len(actions) <= 3
    assert all(a.task_gids for a in actions)
    # The recurring vendor blocker comes first, citing the tasks it blocked.
    assert actions[0].title.startswith("Remove a recurring blocker") and VENDOR in actions[0].title
    assert set(actions[0].task_gids) == {C, H}
    # Nothing to act on: no action item.
    calm = build_retro(WINDOW, [task(A, "Login page", SPRINT, 3, completed_at=at(4))])
    assert propose_actions(calm) == ()
