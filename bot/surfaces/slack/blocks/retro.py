"""/retro's Block Kit: the retrospective message (dispatched by kind from proposals.py) and the
Home tab's sprint start section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.render.retro import dates_line, sections, title
from bot.render.text import escape
from bot.surfaces.slack.blocks.common import (
    MAX_BLOCKS,
    actions_blocks,
    context,
    link,
    proposal_actions,
    proposal_head,
    section,
)


def _task_link(row: Mapping[str, Any]) -> str:
    return link(row.get("permalink"), str(row.get("name") or "?")[:80])


def _bold(text: str) -> str:
    return f"*{escape(text)}*"


def retro_blocks(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    decision: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The retrospective; with `decision`, the same message after Approve/Reject."""
    del proposed_by  # who decided is in the decision line
    blocks = proposal_head(title(view), decision)
    project = view["project"]
    blocks.append(
        context(f"{link(project.get('permalink'), project['name'])} · {escape(dates_line(view))}")
    )
    for heading, lines in sections(view, _task_link, _bold, escape):
        # Everything from Asana or the model is escaped: lines hold links and bold we made.
        blocks.append(section(f"*{heading}*\n" + "\n".join(lines)))
    if view["actions"] and view["retro_project"] is not None:
        blocks += actions_blocks(proposal_actions(proposal_id, decision, has_more=False))
    assert len(blocks) <= MAX_BLOCKS
    return blocks


SPRINT_START = "retro_sprint_start"
START_BLOCK = "retro_sprint_start_text"
START_INPUT = "text"


def sprint_start_blocks(can_edit: bool) -> list[dict[str, Any]]:
    """The Home tab's section where an approver sets when a sprint started (approvers only)."""
    if not can_edit:
        return []
    return [
        {"type": "divider"},
        section(
            "*Sprint start dates* (retrospectives)\nA sprint starts when its /plan-sprint "
            "proposal is approved; set another day here: `[project] <sprint name> <YYYY-MM-DD>`."
        ),
        {
            "type": "input",
            "block_id": START_BLOCK,
            "optional": True,
            "label": {"type": "plain_text", "text": "Project, sprint and start day"},
            "element": {
                "type": "plain_text_input",
                "action_id": START_INPUT,
                "placeholder": {"type": "plain_text", "text": "Sprint 25 2026-12-07"},
            },
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Set sprint start"},
                    "action_id": SPRINT_START,
                    "value": "set",
                }
            ],
        },
    ]
