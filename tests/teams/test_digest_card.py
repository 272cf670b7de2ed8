"""The stand-up digest as an Adaptive Card: sections, @mentions of Teams members, the budget."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from bot.domain.digest import StandupDigest, build_facts, parse_days
from bot.domain.models import Person, Task
from bot.sandbox.teams_standin import card_problems
from bot.surfaces.teams.cards import CARD_BUDGET, digest_card

TODAY = date(2026, 3, 6)
NOW = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
ANA = Person("7", "Ana Lopez", "ana@example.com")


def digest(open_tasks: list[Task]) -> StandupDigest:
    facts = build_facts(
        open_tasks=open_tasks,
        completed=[],
        comments={},
        since=NOW - timedelta(days=1),
        now=NOW,
        today=TODAY,
        workdays=parse_days("mon-fri"),
    )
    return StandupDigest("42", "Platform", "https://app.asana.com/0/42/list", "UTC", facts)


def late(n: int, name: str = "Late task", **kw: object) -> Task:
    return Task(
        gid=str(1000 + n),
        name=f"{name} {n}",
        permalink=f"https://app.asana.com/0/42/{1000 + n}",
        due_on=TODAY - timedelta(days=1 + n % 5),
        **kw,  # type: ignore[arg-type]
    )


def test_overdue_items_link_their_task_and_mention_teams_members() -> None:
    card = digest_card(digest([late(1, assignee=ANA), late(2)]), {"7": ("29:1ana", "Ana Lopez")})
    assert card_problems(card) == []
    shown = json.dumps(card, ensure_ascii=False)
    assert "[Late task 1](https://app.asana.com/0/42/1001) · <at>Ana Lopez</at>" in shown
    assert "Late task 2](https://app.asana.com/0/42/1002) · _unassigned_" in shown
    assert card["msteams"]["entities"] == [
        {
            "type": "mention",
            "text": "<at>Ana Lopez</at>",
            "mentioned": {"id": "29:1ana", "name": "Ana Lopez"},
        }
    ]


def test_without_a_member_the_assignee_is_named_not_mentioned() -> None:
    card = digest_card(digest([late(1, assignee=ANA)]), {})
    assert "_Ana Lopez_" in json.dumps(card) and "entities" not in card["msteams"]


def test_a_quiet_day_is_one_line() -> None:
    card = digest_card(digest([Task("1", "Someday", due_on=TODAY + timedelta(days=30))]), {})
    assert len(card["body"]) == 1 and "Quiet day" in card["body"][0]["text"]


def test_a_huge_digest_is_cut_to_the_budget_and_says_so() -> None:
    tasks = [late(i, name="*" * 120, assignee=ANA) for i in range(400)]
    card = digest_card(digest(tasks), {"7": ("29:1ana", "Ana Lopez")})
    assert len(json.dumps(card).encode()) <= CARD_BUDGET
    assert "Cut to fit Teams" in json.dumps(card)
