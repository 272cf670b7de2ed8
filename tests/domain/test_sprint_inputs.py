"""/plan-sprint inputs: the argument syntax, sprint names, effort units, velocity and capacity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.models import AiFields, Person, Task, TaskLink
from bot.domain.planning import plan_sprint
from bot.domain.sprint_inputs import (
    GROUP_BONUS,
    CapacitySource,
    EffortUnit,
    NoCapacityError,
    PersonSource,
    PlanArgsError,
    ValueSource,
    Word,
    canonical_option,
    capacities,
    converted_count,
    effort_of,
    effort_unit,
    explain_left_out,
    next_sprint_name,
    parse_plan_args,
    plan_inputs,
    sprint_name_from,
    sprint_words,
    velocity,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
ANA = Person("u1", "Ana")
BO = Person("u2", "Bo")


def task(
    gid: str,
    *,
    points: float | None = None,
    hours: float | None = None,
    who: Person | None = None,
    done_days_ago: float | None = None,
    **kw,
) -> Task:
    done = done_days_ago is not None
    return Task(
        gid=gid,
        name=f"Task {gid}",
        story_points=points,
        estimated_hours=hours,
        assignee=who,
        completed=done,
        completed_at=NOW - timedelta(days=done_days_ago) if done else None,
        **kw,
    )


# -- the syntax ---------------------------------------------------------------------------------


def texts(args) -> list[str]:
    return [w.text for w in args.words]


@pytest.mark.parametrize(
    ("text", "words", "capacity", "unit"),
    [
        ("", [], None, None),
        ("   ", [], None, None),
        ("40", [], 40.0, None),
        ("32.5", [], 32.5, None),
        ("12,5", [], 12.5, None),
        ("Sprint 25", ["Sprint", "25"], None, None),
        ("sprint 25", ["sprint", "25"], None, None),
        ("Sprint 25 40", ["Sprint", "25"], 40.0, None),
        ("Hardening week 30", ["Hardening", "week"], 30.0, None),
        ("Sprint 25 40 pts", ["Sprint", "25"], 40.0, EffortUnit.POINTS),
        ("Sprint 25 40pts", ["Sprint", "25"], 40.0, EffortUnit.POINTS),
        ("120h", [], 120.0, EffortUnit.HOURS),
        ("120 hours", [], 120.0, EffortUnit.HOURS),
        ('"Platform Backlog" Sprint 25 40', ["Platform Backlog", "Sprint", "25"], 40.0, None),
        ("“Platform   Backlog” 30", ["Platform Backlog"], 30.0, None),
        ("1209876543210008", ["1209876543210008"], None, None),
        ("1209876543210008 Sprint 25 30", ["1209876543210008", "Sprint", "25"], 30.0, None),
        ('Sprint "25"', ["Sprint", "25"], None, None),  # quoted: never a capacity
        ("Planning hours", ["Planning", "hours"], None, None),
    ],
)
def test_parse_reads_project_name_and_trailing_capacity(text, words, capacity, unit):
    args = parse_plan_args(text)
    assert texts(args) == words
    assert args.capacity == capacity
    assert args.capacity_unit == unit


def test_a_number_after_the_projects_own_sprint_word_is_part_of_the_name():
    assert parse_plan_args("Iteration 7").capacity == 7.0
    args = parse_plan_args("Iteration 7", sprint_words={"sprint", "iteration"})
    assert texts(args) == ["Iteration", "7"] and args.capacity is None
    args = parse_plan_args("Iteration 7 20", sprint_words={"sprint", "iteration"})
    assert texts(args) == ["Iteration", "7"] and args.capacity == 20.0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('"Platform Backlog Sprint 25', "quote is not closed"),
        ('Sprint 25 40"', "quote is not closed"),
        ('"" Sprint 25', "nothing between the quotes"),
        ("0", "more than 0"),
        ("Sprint 25 0 pts", "more than 0"),
        ("Sprint 25 -5", "positive number"),
        ("Sprint 25 1.2.3", "positive number"),
        ("Sprint 25 123456", "positive number"),  # a capacity has at most five digits
        ("help", ""),
    ],
)
def test_wrong_syntax_is_refused_with_the_reason(text, problem):
    with pytest.raises(PlanArgsError) as info:
        parse_plan_args(text)
    assert problem in str(info.value)


def test_which_first_words_must_be_a_project():
    assert parse_plan_args("1209876543210008 Sprint 9").project_required
    assert parse_plan_args('"Platform Backlog"').project_required
    assert not parse_plan_args("Mobile Sprint 9").project_required  # a word only may be one
    assert not parse_plan_args("2025 Q1").project_required  # short numbers are names
    assert parse_plan_args("40").project_word is None


def test_the_sprint_name_is_what_remains_once_the_project_is_taken():
    args = parse_plan_args('"Platform Backlog" Sprint 25 40')
    assert sprint_name_from(args, project_taken=True) == "Sprint 25"
    args = parse_plan_args("Sprint 25 40")
    assert sprint_name_from(args, project_taken=False) == "Sprint 25"
    assert sprint_name_from(parse_plan_args("40"), project_taken=False) is None
    assert sprint_name_from(parse_plan_args('"Platform Backlog"'), project_taken=True) is None
    with pytest.raises(PlanArgsError, match="at most 60"):
        sprint_name_from(parse_plan_args("x" * 61), project_taken=False)


@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_cleanly(text):
    try:
        args = parse_plan_args(text)
    except PlanArgsError:
        return
    assert args.capacity is None or 0 < args.capacity < 100_000
    assert all(isinstance(w, Word) and w.text and w.text == w.text.strip() for w in args.words)


# -- sprint names -------------------------------------------------------------------------------


def test_next_sprint_name_follows_the_options_sequence():
    assert next_sprint_name(["Sprint 21", "Sprint 24", "Sprint 22", "Sprint 23"]) == "Sprint 25"
    assert next_sprint_name([]) == "Sprint 1"
    assert next_sprint_name(["Backlog", "Someday"]) == "Sprint 1"
    assert next_sprint_name(["S08", "S09"]) == "S10"
    # The sequence most options follow wins over a stray numbered option.
    assert next_sprint_name(["Sprint 3", "Sprint 4", "Release 2025"]) == "Sprint 5"


def test_sprint_words_and_canonical_spelling():
    assert sprint_words(["Iteration 1", "Iteration 2", "S9"]) == {"sprint", "iteration"}
    assert canonical_option("sprint  25", ["Sprint 24", "Sprint 25"]) == "Sprint 25"
    assert canonical_option("Sprint 26", ["Sprint 24", "Sprint 25"]) == "Sprint 26"


# -- effort -------------------------------------------------------------------------------------


def test_effort_unit_is_points_when_any_task_has_story_points_else_hours():
    assert effort_unit([task("1", points=3), task("2", hours=8)]) is EffortUnit.POINTS
    assert effort_unit([task("1", hours=8), task("2")]) is EffortUnit.HOURS
    assert effort_unit([task("1")]) is EffortUnit.POINTS


def test_mixed_projects_convert_hours_to_points():
    mixed = [task("1", points=3, hours=20), task("2", hours=8), task("3")]
    assert [effort_of(t, EffortUnit.POINTS, 4.0) for t in mixed] == [3, 2.0, None]
    assert converted_count(mixed, EffortUnit.POINTS) == 1
    assert effort_of(task("4", hours=6), EffortUnit.HOURS, 4.0) == 6


# -- velocity and capacity -----------------------------------------------------------------------


def test_velocity_is_the_mean_per_sprint_over_the_last_three_sprints():
    done = [
        task("a", points=5, who=ANA, done_days_ago=1),
        task("b", points=3, who=BO, done_days_ago=13.9),
        task("c", hours=8, who=ANA, done_days_ago=20),  # 2 points
        task("d", points=8, who=BO, done_days_ago=41),
        task("e", points=13, who=ANA, done_days_ago=43),  # before the window
        task("f", who=BO, done_days_ago=2),  # no estimate: not counted
    ]
    v = velocity(done, now=NOW, sprint_days=14, unit=EffortUnit.POINTS, hours_per_point=4.0)
    assert v.sprints == (8.0, 2.0, 8.0)
    assert v.team == 6.0
    assert v.by_person == {"u1": round(7 / 3, 1), "u2": round(11 / 3, 1)}
    assert (v.counted, v.unestimated) == (4, 1)


def test_velocity_in_hours_and_with_other_sprint_lengths():
    done = [task("a", points=2, who=ANA, done_days_ago=3), task("b", hours=6, done_days_ago=9)]
    v = velocity(done, now=NOW, sprint_days=7, unit=EffortUnit.HOURS, hours_per_point=4.0)
    assert v.sprints == (8.0, 6.0, 0.0) and v.team == round(14 / 3, 1)


def test_no_history_means_no_velocity():
    v = velocity([], now=NOW, sprint_days=14, unit=EffortUnit.POINTS, hours_per_point=4.0)
    assert v.team is None and v.by_person == {}


def test_capacity_argument_beats_velocity_and_people_use_their_own_velocity():
    history = velocity(
        [task("a", points=9, who=ANA, done_days_ago=2)],
        now=NOW,
        sprint_days=14,
        unit=EffortUnit.POINTS,
        hours_per_point=4.0,
    )
    backlog = [task("1", points=3, who=ANA), task("2", points=3, who=BO), task("3", points=1)]
    common = dict(unit=EffortUnit.POINTS, sprint_days=14, weekly_hours=40, hours_per_point=4.0)
    by_velocity = capacities(backlog, history, argument=None, **common)
    assert (by_velocity.team, by_velocity.source) == (3.0, CapacitySource.VELOCITY)
    people = {p.name: (p.capacity, p.source) for p in by_velocity.persons}
    # Ana completed 9 points over 3 sprints; Bo has no history: 40 h x 2 weeks / 4 h per point.
    assert people == {"Ana": (3.0, PersonSource.VELOCITY), "Bo": (20.0, PersonSource.HOURS)}
    by_argument = capacities(backlog, history, argument=25, **common)
    assert (by_argument.team, by_argument.source) == (25, CapacitySource.ARGUMENT)
    assert by_argument.persons == by_velocity.persons


def test_without_history_the_team_capacity_is_everyones_prorated_hours():
    backlog = [task("1", hours=3, who=ANA), task("2", hours=3, who=BO)]
    none = velocity([], now=NOW, sprint_days=10, unit=EffortUnit.HOURS, hours_per_point=4.0)
    cap = capacities(
        backlog,
        none,
        argument=None,
        unit=EffortUnit.HOURS,
        sprint_days=10,
        weekly_hours=35,
        hours_per_point=4.0,
    )
    assert cap.source is CapacitySource.PEOPLE
    assert cap.hours_share == 50.0  # 35 h a week over 10 days
    assert cap.team == 100.0
    with pytest.raises(NoCapacityError):
        capacities(
            [task("1", hours=3)],
            none,
            argument=None,
            unit=EffortUnit.HOURS,
            sprint_days=10,
            weekly_hours=35,
            hours_per_point=4.0,
        )


# -- plan items ---------------------------------------------------------------------------------


def test_value_is_manual_override_then_ai_score_then_rules():
    tasks = [
        task("m", points=1, manual_override=95, ai=AiFields(score=10)),
        task("a", points=1, ai=AiFields(score=72.25)),
        task("r", points=1, business_value=10),
    ]
    inputs = plan_inputs(tasks, unit=EffortUnit.POINTS, hours_per_point=4.0, today=TODAY)
    got = {gid: (c.value, c.value_source) for gid, c in inputs.candidates.items()}
    assert got["m"] == (95, ValueSource.MANUAL)
    assert got["a"] == (72.2, ValueSource.AI)
    assert got["r"][1] is ValueSource.RULES and got["r"][0] > 40


def test_subtasks_of_one_parent_are_an_all_or_nothing_group_with_a_bonus():
    kids = [
        task("k1", points=2, parent_gid="p", parent_name="Launch", ai=AiFields(score=40)),
        task("k2", points=2, parent_gid="p", parent_name="Launch", ai=AiFields(score=20)),
        task("lone", points=1, parent_gid="q", ai=AiFields(score=50)),  # one subtask: no group
    ]
    inputs = plan_inputs(kids, unit=EffortUnit.POINTS, hours_per_point=4.0, today=TODAY)
    [group] = inputs.groups
    assert group.item_ids == ("k1", "k2") and group.label == "Launch"
    assert group.value == GROUP_BONUS * 60
    assert inputs.candidates["k1"].group == "p" and inputs.candidates["lone"].group is None


def test_a_parent_in_the_backlog_gives_the_group_its_own_value():
    tasks = [
        task("p", ai=AiFields(score=90)),  # the milestone itself, open in the backlog
        task("k1", points=2, parent_gid="p", parent_name="Launch", ai=AiFields(score=40)),
        task("k2", points=2, parent_gid="p", parent_name="Launch", ai=AiFields(score=20)),
    ]
    inputs = plan_inputs(tasks, unit=EffortUnit.POINTS, hours_per_point=4.0, today=TODAY)
    [group] = inputs.groups
    assert group.value == 90  # counts only when both subtasks ship
    assert {i.id: i.value for i in inputs.items}["p"] == 0  # and not a second time on its own


def test_only_open_dependencies_count_and_reasons_name_the_blocker():
    open_dep = TaskLink("x", "Design review", completed=False)
    done_dep = TaskLink("y", "Old work", completed=True)
    tasks = [
        task("b", points=1, who=ANA, dependencies=(open_dep, done_dep), ai=AiFields(score=90)),
        task("c", points=1, dependencies=(TaskLink("e", "Estimate me", False),)),
        task("e", ai=AiFields(score=10)),
        task("big", points=8, who=ANA, ai=AiFields(score=80)),
        task("ok", points=2, who=ANA, ai=AiFields(score=30)),
        task("wide", points=5, ai=AiFields(score=5)),
    ]
    inputs = plan_inputs(tasks, unit=EffortUnit.POINTS, hours_per_point=4.0, today=TODAY)
    assert next(i for i in inputs.items if i.id == "b").depends_on == ("x",)
    history = velocity([], now=NOW, sprint_days=14, unit=EffortUnit.POINTS, hours_per_point=4.0)
    cap = capacities(
        tasks,
        history,
        argument=6,
        unit=EffortUnit.POINTS,
        sprint_days=7,
        weekly_hours=12,
        hours_per_point=4.0,
    )  # Ana: 12 h a week = 3 points a sprint
    plan = plan_sprint(
        inputs.items,
        team_capacity=cap.team,
        person_capacity={p.gid: p.capacity for p in cap.persons},
        groups=inputs.groups,
        time_limit_s=2,
    )
    assert set(plan.selected) == {"ok"}
    rows = {r.gid: r for r in explain_left_out(plan, inputs, cap)}
    assert (rows["b"].blocker, rows["b"].blocker_state) == ("Design review", "outside the backlog")
    assert (rows["c"].blocker, rows["c"].blocker_state) == ("Estimate me", "needs estimate")
    assert rows["e"].reason.value == "needs estimate"
    assert (rows["big"].person, rows["big"].would_be, rows["big"].capacity) == ("Ana", 10, 3)
    assert (rows["wide"].would_be, rows["wide"].capacity) == (7, 6)
