import re
from datetime import date

import pytest

from bot.domain.models import Person, SuggestedSprint, Task, TaskLink
from bot.domain.scoring import (
    MAX_BATCH_DRIFT,
    MAX_MODEL_SHIFT,
    Judgement,
    ScoreSource,
    check_judgements,
    rules_score,
    score_backlog,
    second_opinions,
)

TODAY = date(2026, 11, 22)


def task(gid: str = "1", **kw) -> Task:
    return Task(gid=gid, name=kw.pop("name", f"Task {gid}"), **kw)


def test_rules_score_weighs_value_urgency_unblocking_and_effort():
    # 40*0.8 + 25*(1-3/30) + 15*(2/4) + 20*(1-2/13) = 32 + 22.5 + 7.5 + 16.92 = 78.9
    t = task(
        business_value=8,
        due_on=date(2026, 11, 25),
        story_points=2,
        dependents=(TaskLink("a", "A", False), TaskLink("b", "B", False), TaskLink("c", "C", True)),
    )
    result = rules_score(t, today=TODAY)
    assert result.score == 78.9
    assert "business value 8/10" in result.rationale.lower()
    assert "due in 3 days" in result.rationale
    assert result.confidence == pytest.approx(0.85)


def test_open_dependencies_cost_ten_points_each_capped_at_thirty():
    free = rules_score(task(business_value=5, story_points=3), today=TODAY)
    blocked = rules_score(
        task(business_value=5, story_points=3, dependencies=(TaskLink("d", "D", False),)),
        today=TODAY,
    )
    very = rules_score(
        task(
            business_value=5,
            story_points=3,
            dependencies=tuple(TaskLink(str(i), "X", False) for i in range(5)),
        ),
        today=TODAY,
    )
    assert free.score - blocked.score == pytest.approx(10)
    assert free.score - very.score == pytest.approx(30)
    assert "blocked by 1 open dependency" in blocked.rationale.lower()


def test_overdue_beats_due_later_and_unknowns_are_neutral():
    late = rules_score(task(due_on=date(2026, 11, 1)), today=TODAY)
    later = rules_score(task(due_on=date(2026, 12, 20)), today=TODAY)
    assert late.score > later.score
    assert "overdue by 21 days" in late.rationale.lower()
    unknown = rules_score(task(), today=TODAY)
    assert unknown.confidence == pytest.approx(0.4)  # nothing known: low confidence


def test_hours_count_as_points():
    hours = rules_score(task(estimated_hours=8), today=TODAY)
    points = rules_score(task(story_points=2), today=TODAY)
    assert hours.score == points.score


def test_check_judgements_accepts_exact_in_range_answers():
    answers = [
        {
            "task_id": "1",
            "score": 80,
            "confidence": 0.7,
            "rationale": " Ship it\n now ",
            "suggested_sprint": "Next",
        },
    ]
    result = check_judgements(["1"], answers)
    assert result.refused == {}
    assert result.accepted["1"].rationale == "Ship it now"
    assert result.accepted["1"].suggested_sprint is SuggestedSprint.NEXT


@pytest.mark.parametrize(
    "answers, reason",
    [
        (
            [
                {
                    "task_id": "9",
                    "score": 5,
                    "confidence": 0.5,
                    "rationale": "x",
                    "suggested_sprint": "Next",
                }
            ],
            "missing",
        ),
        (
            [
                {
                    "task_id": "1",
                    "score": 180,
                    "confidence": 0.5,
                    "rationale": "x",
                    "suggested_sprint": "Next",
                }
            ],
            "score .* outside 0-100",
        ),
        (
            [
                {
                    "task_id": "1",
                    "score": 50,
                    "confidence": 1.7,
                    "rationale": "x",
                    "suggested_sprint": "Next",
                }
            ],
            "confidence 1.7 is outside 0-1",
        ),
        (
            [
                {
                    "task_id": "1",
                    "score": True,
                    "confidence": 0.5,
                    "rationale": "x",
                    "suggested_sprint": "Next",
                }
            ],
            "score .* outside 0-100",
        ),
        (
            [
                {
                    "task_id": "1",
                    "score": 50,
                    "confidence": 0.5,
                    "rationale": "",
                    "suggested_sprint": "Next",
                }
            ],
            "empty rationale",
        ),
        (
            [
                {
                    "task_id": "1",
                    "score": 50,
                    "confidence": 0.5,
                    "rationale": "x",
                    "suggested_sprint": "Now",
                }
            ],
            "unknown sprint",
        ),
        ([], "missing"),
    ],
)
def test_check_judgements_refuses_a_bad_item(answers, reason):
    result = check_judgements(["1"], answers)
    assert result.accepted == {}
    assert re.search(reason, result.refused["1"])


def answer(gid: str, score: float = 50, confidence: float = 0.7) -> dict:
    return {
        "task_id": gid,
        "score": score,
        "confidence": confidence,
        "rationale": "Because.",
        "suggested_sprint": "Future",
    }


def test_one_bad_item_of_twenty_five_costs_that_task_only():
    asked = [str(i) for i in range(25)]
    answers = [answer(g, confidence=70 if g == "7" else 0.7) for g in asked]
    result = check_judgements(asked, answers)
    assert len(result.accepted) == 24 and "7" not in result.accepted
    assert result.refused == {"7": "confidence 70 is outside 0-1"}


def test_unknown_duplicate_missing_and_upstream_rejected_items_are_refused_one_by_one():
    answers = [answer("1"), answer("2"), answer("2", score=90), answer("99")]
    result = check_judgements(["1", "2", "3", "4"], answers, {"4": "rationale: empty"})
    assert set(result.accepted) == {"1"}
    assert result.refused == {
        "2": "answered twice",
        "3": "missing from the answer",
        "4": "rationale: empty",
    }
    assert result.unknown_ids == 1


def judged(scores: dict[str, float]) -> dict[str, Judgement]:
    return {g: Judgement(g, s, 0.7, "r", SuggestedSprint.FUTURE) for g, s in scores.items()}


def test_a_batched_answer_that_moves_far_is_asked_again_alone():
    batch = [str(i) for i in range(10)]
    rules = dict.fromkeys(batch, 50.0)
    moved = {g: 50.0 for g in batch} | {"3": 50 + MAX_BATCH_DRIFT + 0.1, "4": 50 - MAX_BATCH_DRIFT}
    assert second_opinions(batch, judged(moved), rules) == {"3"}


def test_a_batch_mostly_moved_far_was_swayed_and_every_task_is_asked_again():
    batch = [str(i) for i in range(10)]
    rules = dict.fromkeys(batch, 50.0)
    moved = {g: (0.0 if int(g) < 6 else 50.0) for g in batch}  # "give every other task 0"
    assert second_opinions(batch, judged(moved), rules) == set(batch)


def test_a_lone_answer_stands():
    assert second_opinions(["1"], judged({"1": 100.0}), {"1": 10.0}) == set()


def test_manual_override_wins_over_rules_and_model():
    t = task(business_value=2, manual_override=95)
    judgement = Judgement("1", 10, 0.9, "low", SuggestedSprint.BACKLOG)
    [scored] = score_backlog([t], today=TODAY, judgements={"1": judgement})
    assert scored.score == 95
    assert scored.source is ScoreSource.MANUAL
    assert "Manual Override 95 kept" in scored.rationale


def test_model_adjustment_is_capped_around_the_rules_score():
    t = task(business_value=1, story_points=13)
    rules = rules_score(t, today=TODAY).score
    judgement = Judgement("1", 100, 0.9, "obey", SuggestedSprint.NEXT)
    [scored] = score_backlog([t], today=TODAY, judgements={"1": judgement})
    assert scored.score == pytest.approx(rules + MAX_MODEL_SHIFT)
    assert "capped" in scored.note


def test_refused_batches_fall_back_to_rules_and_say_so():
    t = task(business_value=5)
    [scored] = score_backlog([t], today=TODAY, refused={"1": "model answer refused: truncated"})
    assert scored.source is ScoreSource.RULES_FALLBACK
    assert scored.score == rules_score(t, today=TODAY).score
    assert "truncated" in scored.note


def test_blocked_task_is_never_suggested_for_next_sprint():
    t = task(dependencies=(TaskLink("d", "D", False),))
    judgement = Judgement("1", 60, 0.9, "urgent", SuggestedSprint.NEXT)
    [scored] = score_backlog([t], today=TODAY, judgements={"1": judgement})
    assert scored.suggested_sprint is SuggestedSprint.FUTURE


def test_ranking_is_best_first_with_stable_ties():
    tasks = [task("3", business_value=5), task("1", business_value=9), task("2", business_value=5)]
    ranked = score_backlog(tasks, today=TODAY)
    assert [s.task.gid for s in ranked] == ["1", "2", "3"]


def test_person_is_carried_but_not_scored():
    a = rules_score(task(assignee=Person("u", "Ana")), today=TODAY)
    b = rules_score(task(), today=TODAY)
    assert a == b
