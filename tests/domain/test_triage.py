"""Triage's pure parts (issue 13): criteria drafted by rules, duplicates, candidates, and the
fill-only rule that keeps a person's Story Points."""

from __future__ import annotations

from bot.domain.changes import keep_filled
from bot.domain.estimate import TextIndex
from bot.domain.models import Task
from bot.domain.triage import draft_criteria, find_duplicates, rank_candidates


def test_criteria_take_the_descriptions_bullets_then_the_tasks_own_outcome() -> None:
    notes = "Finance asked for it.\n- Columns match the PDF\n* Works for 10k rows\n1. Has a test"
    assert draft_criteria("Export CSV", notes) == (
        "Columns match the PDF.",
        "Works for 10k rows.",
        "Has a test.",
        "“Export CSV” is done, reviewed and verified outside the author's machine.",
    )


def test_without_bullets_the_sentences_stating_an_expectation_are_kept() -> None:
    notes = "Users complain. The page should load in under 2 s. It must work offline. Thanks!"
    criteria = draft_criteria("Speed up the dashboard", notes)
    assert criteria[:2] == ("The page should load in under 2 s.", "It must work offline.")
    assert len(criteria) == 3


def test_a_task_without_a_description_still_gets_one_checkable_line() -> None:
    assert draft_criteria("Rotate keys", "") == (
        "“Rotate keys” is done, reviewed and verified outside the author's machine.",
    )


def test_duplicates_are_the_close_texts_above_the_threshold_most_similar_first() -> None:
    open_tasks = [
        ("1", "Add CSV export to reports", "Export the reports as CSV files", "https://a/1"),
        ("2", "Fix login on Safari", "Safari users cannot log in", "https://a/2"),
        ("3", "Billing reports: CSV export", "", "https://a/3"),
    ]
    found = find_duplicates("Add CSV export to the billing reports", "", open_tasks)
    assert [d.gid for d in found] == ["1", "3"]
    assert found[0].similarity > found[1].similarity > 0.35
    assert find_duplicates("Rotate the API keys", "", open_tasks) == ()
    assert find_duplicates("anything", "", []) == ()


def test_text_index_is_deterministic_and_ties_go_to_the_earlier_text() -> None:
    index = TextIndex([("alpha beta", ""), ("alpha beta", ""), ("gamma", "")])
    assert index.similar("alpha beta", k=3) == index.similar("alpha beta", k=3)
    assert [i for i, _ in index.similar("alpha beta", k=3)] == [0, 1]


def test_candidates_share_a_skill_and_the_most_free_hours_come_first() -> None:
    skills = {
        "ana": frozenset({"backend"}),
        "ben": frozenset({"backend", "data"}),
        "cy": frozenset({"ios"}),
    }
    names = {"ana": "Ana", "ben": "Ben", "cy": "Cy"}
    planned = {"ana": 70.0, "ben": 20.0}
    capacity = {"ana": 80.0, "ben": 80.0, "cy": 80.0}
    ranked = rank_candidates({"Backend"}, skills, names, planned, capacity)
    assert [c.gid for c in ranked] == ["ben", "ana"]
    assert ranked[0].free_hours == 60 and ranked[0].shared_skills == ("backend",)
    # No shared skill: everyone with capacity, by free hours; nobody at 0 h a week.
    anyone = rank_candidates({"legal"}, skills, names, planned, capacity | {"cy": 0.0})
    assert [c.gid for c in anyone] == ["ben", "ana"]


def test_a_persons_story_points_are_kept_and_the_rest_of_the_change_stays() -> None:
    changes = {"AI Priority Score": 60.0, "Story Points": 3.0}
    guard = {"AI Priority Score": None}
    person = Task(gid="1", name="x", custom_values=(("Story Points", 8.0),))
    left, kept_guard, kept = keep_filled(changes, guard, person)
    assert left == {"AI Priority Score": 60.0} and kept == {"Story Points": "8"}
    assert kept_guard == guard
    # Empty, or already the proposed value (our write landed): nothing is dropped.
    for value in (None, 3.0):
        task = Task(gid="1", name="x", custom_values=(("Story Points", value),))
        assert keep_filled(changes, guard, task) == (changes, guard, {})
