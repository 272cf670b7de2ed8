"""A retrospective's Slack message and Teams card stay within their limits, whatever the sprint."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from bot.domain.retro import (
    BlockedDay,
    DatesSource,
    RetroTask,
    SprintWindow,
    ThemeCheck,
    ThemeClaim,
    build_retro,
    propose_actions,
)
from bot.gateways.asana import Project
from bot.render.retro import retro_text
from bot.surfaces.slack.blocks.common import MAX_BLOCKS, MAX_TEXT
from bot.surfaces.slack.blocks.retro import retro_blocks
from bot.surfaces.teams.cards import CARD_BUDGET
from bot.surfaces.teams.retro_cards import retro_card
from bot.usecases.retro import retro_view

WINDOW = SprintWindow("Sprint 9", date(2027, 3, 1), date(2027, 3, 14), DatesSource.TASKS)
LONG = "Refactor <!channel> the *whole* billing pipeline & its `tests` " * 6


def big_view() -> dict:
    start = datetime(2027, 3, 1, 9, tzinfo=UTC)
    tasks = [
        RetroTask(
            gid=f"{1200000000000000 + i}",
            name=f"{LONG} {i}",
            sprint="Sprint 9",
            points=float(1 + i % 8),
            created_at=start + timedelta(days=-3 if i % 3 else 4),
            completed_at=start + timedelta(days=2 + i % 9) if i % 2 else None,
            hours_logged=float(1 + (i * 7) % 40) if i % 2 else None,
            permalink=f"https://app.asana.com/0/1/{1200000000000000 + i}",
        )
        for i in range(400)
    ]
    blocked = [
        BlockedDay(t.gid, date(2027, 3, 2 + d), f"waiting on vendor {LONG}")
        for t in tasks[:50]
        for d in range(4)
    ]
    facts = build_retro(WINDOW, tasks, blocked_days=blocked)
    themes = ThemeCheck(
        tuple(ThemeClaim(f"{LONG} theme {n}", tuple(facts.tasks)[:300]) for n in range(5))
    )
    project = Project("1", "Platform <Backlog>", "9", "https://app.asana.com/0/1", {})
    return retro_view(
        project,
        facts,
        themes=themes,
        themes_source="model",
        themes_note="",
        actions=propose_actions(facts),
        retro_project={"gid": "2", "name": "Process Improvement"},
    )


def test_slack_blocks_stay_within_block_kits_limits_and_escape_asana_text() -> None:
    view = big_view()
    blocks = retro_blocks(view, "p1", proposed_by="U1")
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        text = (block.get("text") or {}).get("text") or ""
        assert len(text) <= MAX_TEXT
    dumped = json.dumps(blocks, ensure_ascii=False)
    assert "<!channel>" not in dumped and "&lt;!channel&gt;" in dumped
    assert "…and" in dumped  # long lists are cut, with a count
    assert [e["action_id"] for e in blocks[-1]["elements"]] == [
        "proposal_approve",
        "proposal_reject",
    ]


def test_the_teams_card_fits_the_28_kb_budget() -> None:
    card = retro_card(big_view(), "p1", names=lambda user: "someone")
    assert len(json.dumps(card).encode()) <= CARD_BUDGET
    assert [a["verb"] for a in card["actions"]] == ["approve", "reject"]


def test_the_asana_comment_has_every_section_in_plain_text() -> None:
    text = retro_text(big_view())
    for heading in ("Delivery", "Estimation", "Cycle time", "Blocked", "Themes from the comments"):
        assert heading in text
    assert "Approve creates" not in text
