"""The retrospective's Adaptive Card (Teams): the same sections as Slack, in card markdown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.render.retro import dates_line, sections, title
from bot.surfaces.teams.cards import (
    CARD_BUDGET,
    Names,
    card,
    clip,
    link,
    md,
    proposal_actions,
    proposal_head,
    size,
    subtle,
    text,
)


def _task_link(row: Mapping[str, Any]) -> str:
    return link(row.get("permalink"), clip(str(row.get("name") or "?"), 80))


def _bold(value: str) -> str:
    return f"**{md(value)}**"


def retro_card(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    names: Names,
    decision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The retrospective; with `decision`, the card after a click. Kept within the budget by
    cutting each section's lines (the whole list stays in Asana's comment after Approve)."""
    project = view["project"]
    parts = sections(view, _task_link, _bold, md)

    def build(most: int) -> dict[str, Any]:
        body = proposal_head(title(view), decision, names)
        body.append(
            subtle(f"{link(project.get('permalink'), project['name'])} · {md(dates_line(view))}")
        )
        for head, lines in parts:
            shown = lines[:most]
            extra = f"\n\n…and {len(lines) - most} more" if len(lines) > most else ""
            body.append(text(f"**{head}**\n\n" + "\n\n".join(shown) + extra))
        actions = (
            proposal_actions(proposal_id, decision, page_from=None)
            if view["actions"] and view["retro_project"] is not None
            else []
        )
        return card(body, actions)

    most = max((len(lines) for _, lines in parts), default=1)
    built = build(most)
    while size(built) > CARD_BUDGET and most > 1:
        most -= 1
        built = build(most)
    return built
