"""What /forecast forecasts: scope, unit, the current sprint, history names (issue 14 §2)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.delivery import ForecastUnit
from bot.domain.delivery_inputs import (
    ScopeError,
    ScopeKind,
    additions,
    completions,
    current_sprint,
    current_sprint_start,
    forecast_unit,
    parse_forecast_args,
    scope_kind,
    select_scope,
    sprint_names,
)
from bot.domain.models import AiFields, Task
from bot.domain.sprint_inputs import PlanArgsError

UTC_ZONE = ZoneInfo("UTC")


def t(gid: str, name: str = "", **kw: object) -> Task:
    return Task(gid=gid, name=name or f"Task {gid}", **kw)  # type: ignore[arg-type]


def suggested(value: str) -> AiFields:
    return AiFields(suggested_sprint=value)


OPEN = [
    t("1", ai=suggested("Next"), story_points=3),
    t("2", ai=suggested("Future"), story_points=5),
    t("3", ai=suggested("Backlog"), story_points=8),
    t("4"),
    t("m", "Launch readiness (milestone)"),
    t("m1", parent_gid="m"),
    t("m2", parent_gid="m1"),  # a subtask's subtask
    t("x", "Launch party"),
]


def test_the_scope_keywords_and_a_milestone_name() -> None:
    assert scope_kind("") is ScopeKind.NEXT_FUTURE
    assert scope_kind("Next + Future") is ScopeKind.NEXT_FUTURE
    assert scope_kind(" NEXT ") is ScopeKind.NEXT
    assert scope_kind("all") is ScopeKind.ALL
    assert scope_kind("Launch readiness") is ScopeKind.MILESTONE
    args = parse_forecast_args('"Platform Backlog" launch readiness')
    assert args.project_required and args.scope_text(project_taken=True) == "launch readiness"
    with pytest.raises(PlanArgsError):
        parse_forecast_args('"unclosed')


def test_select_next_future_next_all_and_a_milestone_with_nested_subtasks() -> None:
    assert [x.gid for x in select_scope(OPEN, ScopeKind.NEXT_FUTURE).tasks] == ["1", "2"]
    assert [x.gid for x in select_scope(OPEN, ScopeKind.NEXT).tasks] == ["1"]
    assert len(select_scope(OPEN, ScopeKind.ALL).tasks) == len(OPEN)
    scope = select_scope(OPEN, ScopeKind.MILESTONE, "launch READINESS")
    assert scope.label == "Launch readiness (milestone)"
    assert sorted(x.gid for x in scope.tasks) == ["m", "m1", "m2"]


def test_a_name_matches_exactly_else_by_a_unique_part() -> None:
    with pytest.raises(ScopeError, match="names several tasks"):
        select_scope(OPEN, ScopeKind.MILESTONE, "launch")
    with pytest.raises(ScopeError, match="No task is named"):
        select_scope(OPEN, ScopeKind.MILESTONE, "nothing like it")
    assert select_scope(OPEN, ScopeKind.MILESTONE, "party").label == "Launch party"


def test_a_completed_milestone_counts_only_its_open_subtasks() -> None:
    done = t("m", "Launch readiness (milestone)", completed=True)
    scope = select_scope(OPEN[5:7], ScopeKind.MILESTONE, "launch readiness", named=[done])
    assert sorted(x.gid for x in scope.tasks) == ["m1", "m2"]


def test_points_when_any_task_has_them_else_a_task_count() -> None:
    assert forecast_unit([t("a", story_points=2)], [t("b")]) is ForecastUnit.POINTS
    assert forecast_unit([t("a")], [t("b")]) is ForecastUnit.TASKS
    done = [
        t("a", completed=True, completed_at=datetime(2027, 1, 4, 23, 30, tzinfo=UTC)),
        t("b", completed=True, completed_at=datetime(2027, 1, 4, 10, tzinfo=UTC), story_points=3),
    ]
    # In Berlin the first completion is already 5 January; unpointed work adds nothing.
    assert completions(done, ForecastUnit.POINTS, ZoneInfo("Europe/Berlin")) == [
        (date(2027, 1, 5), 0.0),
        (date(2027, 1, 4), 3.0),
    ]
    assert completions(done, ForecastUnit.TASKS, UTC_ZONE) == [
        (date(2027, 1, 4), 1.0),
        (date(2027, 1, 4), 1.0),
    ]


def test_additions_date_each_creation_in_the_teams_zone_in_the_forecasts_unit() -> None:
    tasks = [
        t("a", created_at=datetime(2027, 1, 4, 23, 30, tzinfo=UTC)),
        t("b", created_at=datetime(2027, 1, 4, 10, tzinfo=UTC), story_points=5),
        t("c"),  # its creation time was not read: left out
    ]
    # In Berlin the first creation is already 5 January; unpointed work adds nothing.
    assert additions(tasks, ForecastUnit.POINTS, ZoneInfo("Europe/Berlin")) == [
        (date(2027, 1, 5), 0.0),
        (date(2027, 1, 4), 5.0),
    ]
    assert additions(tasks, ForecastUnit.TASKS, UTC_ZONE) == [
        (date(2027, 1, 4), 1.0),
        (date(2027, 1, 4), 1.0),
    ]


def test_the_current_sprint_is_the_latest_one_open_tasks_hold() -> None:
    tasks = [t("a", sprint="Sprint 9"), t("b", sprint="Sprint 10"), t("c")]
    assert current_sprint(tasks) == "Sprint 10"  # by number, not by text
    assert current_sprint(tasks, ["Sprint 10", "Sprint 9"]) == "Sprint 9"  # option order wins
    assert current_sprint([t("c")]) is None


def test_sprints_are_counted_from_the_last_approved_plan() -> None:
    assert current_sprint_start(date(2027, 1, 20), None, 14) == date(2027, 1, 20)
    assert current_sprint_start(date(2027, 1, 20), date(2027, 1, 4), 14) == date(2027, 1, 18)
    assert current_sprint_start(date(2027, 1, 17), date(2027, 1, 4), 14) == date(2027, 1, 4)


def test_each_past_window_is_named_after_the_sprint_most_of_its_work_held() -> None:
    def done(day: int, sprint: str | None) -> Task:
        at = datetime(2027, 1, day, 12, tzinfo=UTC)
        return t(f"{day}{sprint}", completed=True, completed_at=at, sprint=sprint)

    tasks = [done(15, "Sprint 3"), done(14, "Sprint 3"), done(13, "Sprint 2"), done(2, None)]
    names = sprint_names(
        tasks, current_sprint_start=date(2027, 1, 18), sprint_days=14, sprints=2, zone=UTC_ZONE
    )
    assert names == ["Sprint 3", "sprint ending Sun 3 Jan"]
