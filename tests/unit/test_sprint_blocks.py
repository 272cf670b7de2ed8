"""The /plan-sprint message: within Block Kit's limits for any backlog, escaped, paged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.render.notes import usage_text
from bot.sandbox.slack_standin import pings, validate_blocks
from bot.surfaces.slack.blocks.common import MAX_BLOCKS, MAX_TEXT
from bot.surfaces.slack.blocks.proposals import proposal_blocks
from bot.surfaces.slack.blocks.sprint import SPRINT_PAGE, sprint_page_blocks

HOSTILE = "<!channel> & <@U0BOSS> " * 12
REASONS = ("over capacity", "assignee over capacity", "blocked", "needs estimate")


def row(i: int, name: str) -> dict:
    return {
        "gid": str(i),
        "name": f"{name} {i}",
        "permalink": f"https://app.asana.com/0/1/{i}",
        "effort": float(i % 13 + 1),
        "assignee": f"Person <@U{i % 7}>",
        "value": 50.0,
        "value_source": "rules score",
        "group": HOSTILE if i % 5 == 0 else None,
        "from_sprint": "Sprint <!here>" if i % 3 == 0 else None,
    }


def view(selected: int, left: int, *, name: str = HOSTILE, people: int = 6) -> dict:
    return {
        "kind": "plan_sprint",
        "fallback": "Sprint plan",
        "project": {"gid": "1", "name": "Platform <!channel>", "permalink": ""},
        "sprint": {"name": "Sprint <!everyone> 25", "new": True, "typed": True},
        "unit": "pts",
        "hours_per_point": 4.0,
        "converted": 3,
        "capacity": {
            "team": 40.0,
            "used": 39.0,
            "source": "velocity",
            "argument": None,
            "velocity": 40.0,
            "sprints": [41.0, 38.0, 41.0],
            "sprint_days": 14,
            "completed_counted": 30,
            "completed_unestimated": 0,
            "weekly_hours": 40.0,
            "hours_share": 20.0,
        },
        "people": [
            {"name": f"{HOSTILE} {p}", "capacity": 8.0, "used": 7.0, "source": "own velocity"}
            for p in range(people)
        ],
        "plan": {
            "value": 1234.5,
            "optimal": False,
            "method": "milp",
            "note": "time limit reached: feasible plan, may not be optimal",
            "seconds": 5.0,
            "groups": [{"name": HOSTILE, "bonus": 30.0, "size": 3, "complete": False}] * 8,
        },
        "counts": {"open": selected + left, "selected": selected, "left_out": left},
        "missing_fields": ["AI Suggested Sprint"],
        "selected": [row(i, name) for i in range(selected)],
        "left_out": [
            {
                **row(selected + i, name),
                "reason": REASONS[i % 4],
                "blocker": HOSTILE,
                "blocker_state": "not selected",
                "person": "Ana <!here>",
                "would_be": 44.0,
                "capacity": 40.0,
            }
            for i in range(left)
        ],
    }


DECISIONS = [
    None,
    {
        "status": "partial",
        "by": "U0LEAD",
        "at": datetime(2026, 3, 2, tzinfo=UTC),
        "written": 3,
        "skipped": [{"label": HOSTILE, "reason": "conflict: Sprint changed"}] * 20,
        "failed": [{"label": HOSTILE, "reason": "Asana refused"}] * 20,
        "resumed": False,
    },
]


@pytest.mark.parametrize(("selected", "left"), [(0, 0), (1, 0), (30, 32), (31, 33), (5000, 5000)])
@pytest.mark.parametrize("decision", DECISIONS)
def test_any_plan_fits_block_kit_and_pings_nobody(selected, left, decision):
    v = view(selected, left, people=40)
    blocks = proposal_blocks(v, "p1", proposed_by="U0LEAD", decision=decision)
    assert validate_blocks(blocks) == [] and len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_TEXT
    for ping in pings({"blocks": blocks}):
        assert ping == "<@U0LEAD>" or ping.startswith("<https://app.asana.com/"), ping
    labels = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert (SPRINT_PAGE in labels) == (selected > 30 or left > 32)


def test_every_page_of_a_big_plan_is_valid_and_the_pages_cover_it_all():
    v = view(700, 900)
    seen = 0
    offset = 0
    while True:
        blocks = sprint_page_blocks(v, "p1", offset)
        assert validate_blocks(blocks) == []
        lines = [
            line
            for b in blocks
            if b["type"] == "section"
            for line in b["text"]["text"].splitlines()
        ]
        seen += len(lines)
        buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
        if not buttons:
            break
        offset = int(buttons[0]["value"].split(":")[1])
    assert seen == 1600


def test_usage_names_the_problem_then_the_syntax():
    assert usage_text("a quote is not closed.").startswith("I could not read that: a quote")
    assert "/plan-sprint [project] [sprint name] [capacity]" in usage_text()
