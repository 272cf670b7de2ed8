"""Multi-select values and due times through the pure pieces: guards, skills, moved due times."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.domain.changes import ItemAction, check_item, instant_text, same, value_of
from bot.domain.models import Person, Task
from bot.usecases.overload import moved_due_at, parse_skills

NEW_YORK = ZoneInfo("America/New_York")


def test_multi_select_values_compare_as_sets_even_after_a_json_round_trip() -> None:
    read = ("Mobile", "Backend")
    stored = json.loads(json.dumps({"Skills": read}))["Skills"]  # a guard comes back a list
    assert same(read, stored) and same(read, ["Backend ", "Mobile"])
    assert not same(read, ["Mobile"]) and not same(read, "Mobile, Backend")


def test_a_multi_select_guard_is_a_conflict_only_when_the_choice_changed() -> None:
    task = Task("1", "T", custom_values=(("Skills", ("Mobile", "Backend")), ("Sprint", None)))
    guard = json.loads(json.dumps({"Skills": ["Backend", "Mobile"]}))
    assert check_item({"Sprint": "Sprint 25"}, guard, task).action is ItemAction.WRITE
    moved = Task("1", "T", custom_values=(("Skills", ("Mobile",)), ("Sprint", None)))
    check = check_item({"Sprint": "Sprint 25"}, guard, moved)
    assert check.action is ItemAction.SKIP
    assert "Skills changed since the proposal (Backend, Mobile → Mobile)" in check.reason


def test_skills_from_a_multi_select_are_its_option_names() -> None:
    # An option name is one skill even when it holds a separator.
    assert parse_skills(("Mobile ", "Data, ML")) == {"mobile", "data, ml"}
    assert parse_skills(()) == frozenset()


def test_due_at_is_compared_in_asanas_own_spelling() -> None:
    due = datetime(2026, 3, 6, 17, 0, tzinfo=NEW_YORK)
    task = Task("1", "T", assignee=Person("9", "Ana"), due_on=date(2026, 3, 6), due_at=due)
    assert value_of(task, "due_at") == instant_text(due) == "2026-03-06T22:00:00.000Z"
    assert value_of(Task("2", "U"), "due_at") is None


def test_a_moved_due_time_keeps_its_wall_clock_time_in_the_teams_zone() -> None:
    due = datetime(2026, 3, 6, 22, 0, tzinfo=UTC)  # Fri 17:00 in New York (EST, UTC-5)
    week_later = moved_due_at(due, date(2026, 3, 6), date(2026, 3, 13), NEW_YORK)
    assert week_later == datetime(2026, 3, 13, 21, 0, tzinfo=UTC)  # 17:00 EDT (UTC-4)
    assert week_later.astimezone(NEW_YORK).hour == 17
    # In UTC the same move keeps 22:00 UTC.
    assert moved_due_at(due, date(2026, 3, 6), date(2026, 3, 13), UTC) == datetime(
        2026, 3, 13, 22, 0, tzinfo=UTC
    )
    # The date moves by as many days as due_on does, even when due_on is the user's date and
    # the team's zone sees another one (03:30 UTC Sat is Fri evening in New York).
    late = datetime(2026, 3, 7, 3, 30, tzinfo=UTC)
    assert moved_due_at(late, date(2026, 3, 6), date(2026, 3, 13), NEW_YORK) == datetime(
        2026, 3, 14, 2, 30, tzinfo=UTC
    )
