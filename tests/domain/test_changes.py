from dataclasses import replace
from datetime import date

from bot.domain.changes import ItemAction, check_item, value_of
from bot.domain.models import Person, Task

CHANGES = {"AI Priority Score": 80.0, "AI Suggested Sprint": "Next"}
GUARD = {"AI Priority Score": None, "AI Suggested Sprint": None, "Manual Override": None}


def task(**values) -> Task:
    return Task(gid="1", name="t", custom_values=tuple(values.items()))


def test_untouched_task_is_written():
    current = task(
        **{"AI Priority Score": None, "AI Suggested Sprint": None, "Manual Override": None}
    )
    assert check_item(CHANGES, GUARD, current).action is ItemAction.WRITE


def test_task_already_holding_values_is_not_written_again():
    current = task(**{"AI Priority Score": 80.00001, "AI Suggested Sprint": "Next"})
    assert check_item(CHANGES, GUARD, current).action is ItemAction.ALREADY


def test_person_edit_since_proposal_is_a_conflict():
    current = task(
        **{"AI Priority Score": None, "AI Suggested Sprint": None, "Manual Override": 40.0}
    )
    check = check_item(CHANGES, GUARD, current)
    assert check.action is ItemAction.SKIP
    assert "Manual Override changed" in check.reason and "empty → 40" in check.reason


def test_completed_or_deleted_task_is_skipped():
    assert check_item(CHANGES, GUARD, None).action is ItemAction.SKIP
    done = Task(gid="1", name="t", completed=True)
    assert "completed" in check_item(CHANGES, GUARD, done).reason


def test_value_of_task_fields():
    t = Task(gid="1", name="t", assignee=Person("42", "Ana"), due_on=date(2026, 12, 1))
    assert value_of(t, "assignee") == "42"
    assert value_of(t, "due_on") == "2026-12-01"
    assert value_of(t, "start_on") is None


def test_enum_option_names_compare_the_way_options_are_matched():
    # "Sprint 25" was written; Asana resolved it to its existing option "sprint 25".
    changes = {"Sprint": "Sprint 25", "Skills": ["Backend", "QA"]}
    guard = {"Sprint": "Sprint 24"}
    landed = Task(
        gid="1",
        name="t",
        custom_values=(("Sprint", "sprint  25"), ("Skills", ("qa", "backend"))),
        enum_fields=frozenset({"Sprint", "Skills"}),
    )
    assert check_item(changes, guard, landed).action is ItemAction.ALREADY
    # The guard too: the same option under another case is no change by a person.
    untouched = replace(landed, custom_values=(("Sprint", "SPRINT 24"), ("Skills", ())))
    assert check_item(changes, guard, untouched).action is ItemAction.WRITE
    # Text fields still compare exactly.
    text = Task(gid="1", name="t", custom_values=(("Sprint", "sprint 25"),))
    assert check_item({"Sprint": "Sprint 25"}, {}, text).action is ItemAction.WRITE
