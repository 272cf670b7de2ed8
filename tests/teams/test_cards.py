"""Adaptive Cards from the proposal views: version 1.5, within the budget, escaped, buttons."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.teams_standin import card_problems
from bot.surfaces.teams.cards import (
    APPROVE,
    CARD_BUDGET,
    PAGE,
    REJECT,
    RETRY,
    md,
    page_card,
    priority_card,
    proposal_card,
)


def names(user: str | None) -> str:
    return {"teams:aad-ana": "Ana Lima"}.get(user or "", "someone")


def view(n: int, *, name: str = "Task", rationale: str = "Because.") -> dict[str, Any]:
    return {
        "kind": "prioritize",
        "project": {"gid": "1", "name": "Platform", "permalink": "https://app.asana.com/0/1"},
        "model": "m",
        "counts": {"tasks": n, "by_source": {"model": n}},
        "refused": [],
        "missing_fields": [],
        "rows": [
            {
                "rank": i + 1,
                "gid": str(100 + i),
                "name": f"{name} {i}",
                "score": 90 - i * 0.5,
                "rules_score": 50,
                "confidence": 0.8,
                "rationale": rationale,
                "sprint": "Next",
                "assignee": "Hannah Kim",
                "permalink": f"https://app.asana.com/0/1/{100 + i}",
                "source": "model",
                "note": None,
            }
            for i in range(n)
        ],
    }


def actions(card: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["verb"], a["title"]) for a in card.get("actions", [])]


def test_a_proposal_card_is_valid_for_teams_with_approve_reject_and_show_all() -> None:
    card = priority_card(view(60), "p1", proposed_by="teams:aad-ana", names=names)
    assert card["version"] == "1.5" and card_problems(card) == []
    assert actions(card) == [(APPROVE, "Approve"), (REJECT, "Reject"), (PAGE, "Show all")]
    assert all(
        a["type"] == "Action.Execute" and a["data"]["proposal"] == "p1" for a in card["actions"]
    )
    shown = json.dumps(card, ensure_ascii=False)
    assert "Task 19" in shown and "Task 20" not in shown
    assert "proposed by Ana Lima" in shown and "…and 40 more" in shown


def test_a_small_backlog_has_no_show_all() -> None:
    card = priority_card(view(5), "p1", proposed_by="teams:aad-ana", names=names)
    assert actions(card) == [(APPROVE, "Approve"), (REJECT, "Reject")]


def test_rows_that_escape_to_twice_their_length_are_cut_to_the_budget() -> None:
    card = priority_card(
        view(60, name="*" * 150, rationale="_" * 280), "p1", proposed_by="x", names=names
    )
    assert len(json.dumps(card).encode()) <= CARD_BUDGET
    assert (PAGE, "Show all") in actions(card)
    offset = card["actions"][-1]["data"]["offset"]
    assert 0 < offset < 20  # fewer than the usual 20 rows fit


def test_text_from_asana_cannot_inject_markdown_links_or_mentions() -> None:
    hostile = "[Approve here](https://evil.example) **urgent** <at>Ana</at> {{DATE(x)}}"
    card = priority_card(
        view(1, name=hostile, rationale=hostile), "p1", proposed_by="x", names=names
    )
    shown = json.dumps(card, ensure_ascii=False)
    assert "[Approve here](https://evil.example)" not in shown
    assert "**urgent**" not in shown and "<at>" not in shown and "{{DATE" not in shown
    assert md("a_b*c") == "a\\_b\\*c"


def test_the_decided_card_says_who_when_and_offers_retry_only_when_partial() -> None:
    decision = {
        "status": "partial",
        "by": "teams:aad-ana",
        "at": datetime(2026, 11, 22, 0, 30, tzinfo=UTC),
        "written": 58,
        "skipped": [{"label": "Old task", "reason": "completed since the proposal"}],
        "failed": [{"label": "Flaky", "reason": "Asana answered 503"}],
    }
    card = proposal_card(view(60), "p1", proposed_by="x", names=names, decision=decision)
    shown = json.dumps(card, ensure_ascii=False)
    assert "Approved, partly applied** by Ana Lima {{DATE(2026-11-22T00:30:00Z, SHORT)}}" in shown
    assert "completed since the proposal" in shown and "Asana answered 503" in shown
    assert actions(card) == [(RETRY, "Retry failed writes"), (PAGE, "Show all")]
    applied = proposal_card(
        view(5),
        "p1",
        proposed_by="x",
        names=names,
        decision=decision | {"status": "applied", "failed": []},
    )
    assert actions(applied) == []


def test_pages_walk_the_whole_ranking_and_lead_back() -> None:
    first = page_card(view(60), "p1", 20)
    shown = json.dumps(first, ensure_ascii=False)
    assert "21–60 of 60" in shown and "Task 59" in shown and "Task 19" not in shown
    assert actions(first) == [(PAGE, "Back to the proposal")]
    assert page_card(view(100), "p1", 0)["actions"][0]["data"] == {"proposal": "p1", "offset": 40}
    assert card_problems(first) == []
