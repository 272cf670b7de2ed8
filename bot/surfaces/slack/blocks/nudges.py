"""Block Kit for nudges: the private message with its "turn my nudges off" button, and the Home
tab section (the approvers' per-project switch, everyone's own)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from bot.render.nudges import nudge_headline, reason_text
from bot.render.text import clip, escape
from bot.surfaces.slack.blocks.common import button, context, header, link, section

NUDGE_PROJECT = "nudges_project"  # value "on:<gid>" | "off:<gid>" (approvers)
NUDGE_SELF = "nudges_self"  # value "off" | "on" (anyone, for themselves)
MAX_LINES = 30


def nudge_lines(view: Mapping[str, Any]) -> list[str]:
    today = date.fromisoformat(view["day"])
    lines = []
    for item in view["items"][:MAX_LINES]:
        where = f" _({escape(item['project'])})_" if item.get("project") else ""
        lines.append(
            f"• {link(item['permalink'], clip(item['name'], 150))}{where} — "
            f"{reason_text(item, today, view['stale_days'])}"
        )
    return lines


def nudge_blocks(view: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        section(f":wave: {nudge_headline(view)}:\n" + "\n".join(nudge_lines(view))),
        context("One nudge a day at most. You can turn yours off here or on the app's Home tab."),
        {"type": "actions", "elements": [button("Turn my nudges off", NUDGE_SELF, "off")]},
    ]


def nudge_text(view: Mapping[str, Any]) -> str:
    return nudge_headline(view)


def nudges_home_blocks(
    projects: Sequence[tuple[str, str, bool]],
    *,
    can_edit: bool,
    opted_out: bool,
    at: str,
    tz: str,
    stale_days: int,
) -> list[dict[str, Any]]:
    """The Home tab's Nudges section: (gid, name, on) per project, and the person's own switch."""
    blocks: list[dict[str, Any]] = [
        header("Nudges"),
        section(
            f"Each working day at {at} ({escape(tz)}), one private message to each owner of a task "
            "at risk: overdue, due within two working days while a dependency is open, or "
            f"untouched for {stale_days} working days. Only in the projects an approver turned "
            "them on for (off by default)."
        ),
    ]
    # Only approvers see the projects: a member must not learn which projects a channel they
    # are not in may use (the links section hides them the same way).
    for gid, name, on in projects if can_edit else ():
        block: dict[str, Any] = section(f"*{escape(name)}* — nudges {'*on*' if on else 'off'}")
        block["accessory"] = button(
            "Turn off" if on else "Turn on", NUDGE_PROJECT, f"{'off' if on else 'on'}:{gid}"
        )
        blocks.append(block)
    if not can_edit:
        blocks.append(context("Only the team's approvers can turn nudges on or off for a project."))
    mine = section(f"*Your nudges:* {'off' if opted_out else 'on'}")
    mine["accessory"] = button(
        "Turn mine on" if opted_out else "Turn mine off", NUDGE_SELF, "on" if opted_out else "off"
    )
    blocks.append(mine)
    return blocks
