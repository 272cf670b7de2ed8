"""The digest's facts, from tasks and a fixed `now`: pure, no clock, no I/O."""

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.domain.digest import (
    DigestSchedule,
    LatestComment,
    ReasonKind,
    add_working_days,
    build_facts,
    default_since,
    facts_for_model,
    model_named,
    parse_days,
    previous_working_day,
    says_blocked,
    summary_problems,
)
from bot.domain.models import Person, Task, TaskLink

WEEKDAYS = parse_days("mon-fri")
TODAY = date(2026, 3, 6)  # a Friday
NOW = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
SINCE = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
ANA = Person("1", "Ana Lopez", "ana@example.com")
BEN = Person("2", "Ben Ode", "ben@example.com")


def task(gid: str, **kw) -> Task:
    kw.setdefault("name", f"Task {gid}")
    kw.setdefault("modified_at", SINCE - timedelta(days=3))
    return Task(gid=gid, permalink=f"https://app.asana.com/0/1/{gid}", **kw)


def link(gid: str, *, due: date | None = None, done: bool = False, name: str = "") -> TaskLink:
    return TaskLink(gid, name or f"Task {gid}", done, due)


def facts(open_tasks=(), completed=(), comments=None, own_writes=None, since=SINCE):
    return build_facts(
        open_tasks=list(open_tasks),
        completed=list(completed),
        comments=comments or {},
        since=since,
        now=NOW,
        today=TODAY,
        workdays=WEEKDAYS,
        own_writes=own_writes,
    )


def gids(items) -> set[str]:
    return {i.gid for i in items}


# -- days ---------------------------------------------------------------------------------------


def test_parse_days_reads_ranges_lists_and_wraps():
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("Mon, wed,FRI") == frozenset({0, 2, 4})
    assert parse_days("sat-mon") == frozenset({5, 6, 0})
    for bad in ("", "weekdays", "mon-funday", ","):
        with pytest.raises(ValueError):
            parse_days(bad)


def test_working_days_skip_the_weekend():
    assert add_working_days(TODAY, 0, WEEKDAYS) == TODAY
    assert add_working_days(TODAY, 1, WEEKDAYS) == date(2026, 3, 9)  # Friday → Monday
    assert add_working_days(TODAY, 2, WEEKDAYS) == date(2026, 3, 10)
    assert previous_working_day(date(2026, 3, 9), WEEKDAYS) == TODAY
    assert previous_working_day(TODAY, parse_days("mon,wed")) == date(2026, 3, 4)


def test_first_digest_looks_back_to_the_same_time_on_the_previous_working_day():
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    monday = datetime(2026, 3, 9, 9, 30, tzinfo=berlin)
    assert default_since(monday, berlin, WEEKDAYS) == datetime(2026, 3, 6, 9, 30, tzinfo=berlin)


# -- blocked --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "blocked"),
    [
        ("Blocked on vendor API keys", True),
        ("blocker: the staging DB is down", True),
        ("We are blocked until Tuesday.", True),
        ("Unblocked now, the keys arrived", False),
        ("No longer blocked, thanks!", False),
        ("It is not blocked any more", False),
        ("PR coming tomorrow", False),
        ("This blocks the release", False),
    ],
)
def test_a_comment_says_blocked(text, blocked):
    assert says_blocked(text) is blocked


def test_each_blocked_rule_and_only_those():
    status = task("s", custom_values=(("Status", "Blocked"),))
    on_track = task("t", custom_values=(("Status", "On track"),))
    tagged = task("g", tags=("Blocked",))
    waits = task("w", dependencies=(link("d", due=TODAY - timedelta(days=1)),))
    waits_done = task("x", dependencies=(link("d", due=TODAY - timedelta(days=1), done=True),))
    waits_due_today = task("y", dependencies=(link("e", due=TODAY),))
    said = task("c")
    unsaid = task("u")
    result = facts(
        [status, on_track, tagged, waits, waits_done, waits_due_today, said, unsaid],
        comments={
            "c": LatestComment("Blocked on vendor API keys"),
            "u": LatestComment("unblocked this morning"),
        },
    )
    assert gids(result.blocked) == {"s", "g", "w", "c"}
    kinds = {i.gid: [r.kind for r in i.reasons] for i in result.blocked}
    assert kinds == {
        "s": [ReasonKind.STATUS_BLOCKED],
        "g": [ReasonKind.TAGGED_BLOCKED],
        "w": [ReasonKind.DEPENDENCY_OVERDUE],
        "c": [ReasonKind.COMMENT_BLOCKED],
    }
    waiting = next(i for i in result.blocked if i.gid == "w")
    assert waiting.reasons[0].task_gid == "d" and waiting.reasons[0].on == TODAY - timedelta(1)


def test_a_blocked_task_that_is_also_overdue_is_listed_once_as_blocked():
    late_and_tagged = task("a", tags=("blocked",), due_on=TODAY - timedelta(days=2))
    result = facts([late_and_tagged])
    assert gids(result.blocked) == {"a"} and result.overdue == ()
    assert [r.kind for r in result.blocked[0].reasons] == [
        ReasonKind.TAGGED_BLOCKED,
        ReasonKind.OVERDUE,
    ]


# -- overdue and at risk --------------------------------------------------------------------------


def test_overdue_is_open_and_due_before_today_in_the_teams_calendar():
    result = facts(
        [
            task("late", due_on=TODAY - timedelta(days=1)),
            task("today", due_on=TODAY),
            task("none"),
        ],
        completed=[task("done", due_on=TODAY - timedelta(days=5), completed=True)],
    )
    assert gids(result.overdue) == {"late"}


def test_due_within_two_working_days_with_an_open_dependency_is_at_risk():
    dep = link("dep", due=None)
    result = facts(
        [
            task("fri", due_on=TODAY, dependencies=(dep,)),
            task("tue", due_on=date(2026, 3, 10), dependencies=(dep,)),  # 2 working days on
            task("wed", due_on=date(2026, 3, 11), dependencies=(dep,)),  # 3: not yet
            task("done-dep", due_on=TODAY, dependencies=(link("z", done=True),)),
        ]
    )
    assert gids(result.at_risk) == {"fri", "tue"}
    reason = result.at_risk[0].reasons[-1]
    assert reason.kind is ReasonKind.DUE_SOON_OPEN_DEPENDENCIES and reason.count == 1


def test_a_late_dependency_pushes_its_dependents_along_the_chain():
    # d (due next Friday) waits on e (due the Friday after): pushed late; f waits on d: pushed
    # too, through the chain; g is due after e: fine. a is overdue; b (undated) waits on a.
    a = task("a", name="Root", due_on=TODAY - timedelta(days=3))
    b = task("b", name="Middle", dependencies=(link("a", due=a.due_on, name="Root"),))
    e = task("e", name="Far", due_on=date(2026, 3, 20))
    d = task("d", name="Near", due_on=date(2026, 3, 13), dependencies=(link("e", name="Far"),))
    f = task("f", name="Last", due_on=date(2026, 3, 16), dependencies=(link("d", name="Near"),))
    g = task("g", name="Fine", due_on=date(2026, 3, 30), dependencies=(link("d", name="Near"),))
    result = facts([a, b, e, d, f, g])
    assert gids(result.overdue) == {"a"}
    assert gids(result.at_risk) == {"d", "f"}
    pushed = {i.gid: i.reasons[0] for i in result.at_risk}
    assert pushed["d"].kind is ReasonKind.PUSHED_BY_DEPENDENCY
    assert (pushed["d"].task_name, pushed["d"].on) == ("Far", date(2026, 3, 20))
    assert (pushed["f"].task_name, pushed["f"].chain) == ("Near", ("Far",))
    # b has no due date: never listed as at risk, but the chain runs through it.
    c = task("c", due_on=TODAY + timedelta(days=5), dependencies=(link("b"),))
    b_late = task("b", dependencies=(link("x", due=TODAY + timedelta(days=9)),))
    assert "b" not in gids(facts([b_late, c]).at_risk)
    assert facts([b_late, c]).at_risk[0].reasons[0].chain == ("Task x",)


def test_dependency_cycles_do_not_loop():
    a = task("a", due_on=TODAY + timedelta(days=20), dependencies=(link("b"),))
    b = task("b", due_on=TODAY + timedelta(days=30), dependencies=(link("a"),))
    result = facts([a, b])
    assert gids(result.at_risk) == {"a"}


# -- moved, done, people -------------------------------------------------------------------------


def test_in_progress_is_changed_since_the_last_digest_but_not_by_the_copilot():
    recent = SINCE + timedelta(hours=2)
    ours = SINCE + timedelta(hours=3)
    result = facts(
        [
            task("moved", modified_at=recent),
            task("old", modified_at=SINCE - timedelta(seconds=1)),
            task("ours", modified_at=ours),
            task("ours-then-theirs", modified_at=ours + timedelta(minutes=10)),
        ],
        own_writes={"ours": ours + timedelta(seconds=1), "ours-then-theirs": ours},
    )
    assert gids(result.in_progress) == {"moved", "ours-then-theirs"}


def test_done_is_completed_since_the_last_digest():
    result = facts(
        completed=[
            task("new", completed=True, completed_at=SINCE + timedelta(hours=1), assignee=ANA),
            task("old", completed=True, completed_at=SINCE - timedelta(hours=1), assignee=ANA),
        ]
    )
    assert gids(result.done) == {"new"}


def test_each_person_has_what_they_finished_and_their_plate_today():
    result = facts(
        [
            task("started", assignee=ANA, start_on=TODAY - timedelta(days=1), due_on=TODAY),
            task("due", assignee=BEN, due_on=TODAY),
            task("later", assignee=BEN, due_on=TODAY + timedelta(days=3)),
            task("nobody", due_on=TODAY),
        ],
        completed=[task("f", completed=True, completed_at=NOW - timedelta(hours=1), assignee=BEN)],
    )
    lines = {line.person.name: line for line in result.people}
    assert set(lines) == {"Ana Lopez", "Ben Ode"}
    assert gids(lines["Ana Lopez"].today) == {"started"}
    assert gids(lines["Ben Ode"].today) == {"due"} and gids(lines["Ben Ode"].finished) == {"f"}


def test_a_day_with_nothing_to_report_is_quiet():
    quiet = facts([task("future", due_on=TODAY + timedelta(days=10), assignee=ANA)])
    assert quiet.quiet
    assert not facts([task("late", due_on=TODAY - timedelta(days=1))]).quiet


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        build_facts(
            open_tasks=[],
            completed=[],
            comments={},
            since=datetime(2026, 3, 5, 9, 30),
            now=NOW,
            today=TODAY,
            workdays=WEEKDAYS,
        )


# -- what the model sees, and checking what it says ----------------------------------------------


def sample():
    return facts(
        [
            task("b", name="Fix checkout crash", tags=("blocked",), assignee=ANA),
            task("o", name="Upgrade Postgres", due_on=TODAY - timedelta(days=1), assignee=BEN),
            task("q", name="Quiet backlog item", due_on=TODAY + timedelta(days=40)),
        ]
    )


def test_the_model_gets_task_names_under_name_and_people_elsewhere():
    given = facts_for_model(sample(), project="Platform")
    tasks, people = model_named(given)
    assert tasks == {"Fix checkout crash", "Upgrade Postgres"}
    assert people == {"Ana Lopez", "Ben Ode"}


def check(summary: str) -> list[str]:
    f = sample()
    tasks, people = model_named(facts_for_model(f, project="Platform"))
    return summary_problems(
        summary,
        allowed_tasks=tasks,
        people=people,
        known_tasks={"Fix checkout crash", "Upgrade Postgres", "Quiet backlog item", "Fix"},
        allowed_gids=f.named_tasks(),
    )


def test_a_summary_of_the_facts_passes():
    assert (
        check(
            "“Fix checkout crash” is blocked and “Upgrade Postgres” is a day late. "
            "Ana Lopez should chase the vendor."
        )
        == []
    )


def test_a_summary_naming_any_other_task_is_refused():
    assert check("The team should start the Quiet backlog item today.")
    assert check('Priority today: "Migrate the billing service".')  # quoted, not a fact
    assert check("Task 1209876543210999 is late.")  # an id that is not in the facts


def test_a_fact_name_containing_another_tasks_name_is_not_a_false_alarm():
    assert check("Fix checkout crash first.") == []  # contains the task named "Fix"


def test_a_summary_must_be_short_prose():
    assert check("One. Two. Three. Four. Five.")
    assert check("") == ["the summary is empty"]
    assert check("x" * 1000)


def test_schedule_slots_follow_local_time():
    s = DigestSchedule("C1", "9", "P", "09:30", "Europe/Berlin", "mon,tue,wed,thu,fri")
    winter = s.slot_on(date(2026, 3, 27))  # Friday before the clocks change
    summer = s.slot_on(date(2026, 3, 30))  # Monday after
    assert winter.hour == 8 and summer.hour == 7  # UTC: 09:30 CET, then 09:30 CEST
    assert s.latest_slot(datetime(2026, 3, 28, 12, tzinfo=UTC)) == winter  # Saturday
    assert s.next_slot(datetime(2026, 3, 28, 12, tzinfo=UTC)) == summer
