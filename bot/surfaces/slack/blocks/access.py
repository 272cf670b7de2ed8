"""Words and blocks of access (issue 10): refusals, and the Home tab's channel↔project links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.render.text import clip, escape, mention

LINK_ADD = "project_link_add"  # Home button: open the link form
LINK_REMOVE = "project_link_remove"  # Home button: unlink (value "channel:gid")
LINK_VIEW = "project_link"  # the modal's callback_id
SHOWN_LINKS = 25


def refused_modal(text: str) -> dict[str, Any]:
    """What a refused form submission turns into: the same modal, saying why."""
    return {
        "type": "modal",
        "title": _plain("Not allowed"),
        "close": _plain("Close"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def refused_home(text: str) -> dict[str, Any]:
    """The Home tab of a person the copilot does not answer."""
    return {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _channel(channel: str) -> str:
    return f"<#{channel}>" if channel[:1] in "CG" and channel.isalnum() else escape(channel)


def links_home_blocks(
    links: Sequence[Mapping[str, str]],
    *,
    everywhere: Sequence[str],
    can_edit: bool,
    approvers: Sequence[str],
    admins_approve: bool,
) -> list[dict[str, Any]]:
    """The Home section: which projects each channel may use; approvers link and unlink.

    Only approvers see the links: a link names a project and its channel, so showing them to
    every member would tell a confidential project (and where it is discussed) to people
    outside that channel (issue 10).
    """
    blocks: list[dict[str, Any]] = [
        {"type": "divider"},
        {"type": "header", "text": _plain("Projects of each channel")},
    ]
    if not can_edit:
        who = [mention(a) for a in sorted(approvers)]
        if admins_approve:
            who.append("the workspace's admins and owners")
        named = ", ".join(who) if who else "nobody yet (COPILOT_APPROVERS is unset)"
        blocks.append(
            _context(
                f"Only approvers ({named}) can see and change which projects each channel may "
                "use; a channel uses only the projects linked to it."
            )
        )
        return blocks
    blocks.append(
        _context(
            "Commands, digests, overload alerts and proposals in a channel use only the projects "
            "linked to it."
        )
    )
    for link in links[:SHOWN_LINKS]:
        name = escape(clip(link.get("name") or f"project {link['gid']}", 80))
        line = f"{_channel(link['channel'])} → *{name}*"
        if link.get("source") == "default":
            line += " · _ASANA_PROJECT in STANDUP_CHANNEL_"
        section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": line}}
        if link.get("source") == "home":
            section["accessory"] = {
                "type": "button",
                "text": _plain("Unlink"),
                "action_id": LINK_REMOVE,
                "value": f"{link['channel']}:{link['gid']}",
            }
        blocks.append(section)
    if not links:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "_No channel is linked yet._"}}
        )
    if len(links) > SHOWN_LINKS:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"…and {len(links) - SHOWN_LINKS} more links."}
                ],
            }
        )
    if everywhere:
        gids = ", ".join(escape(g) for g in sorted(everywhere))
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"Every channel may use (COPILOT_PROJECTS): {gids}"}
                ],
            }
        )
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": _plain("Link a project to a channel"),
                    "action_id": LINK_ADD,
                }
            ],
        }
    )
    return blocks


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def link_modal() -> dict[str, Any]:
    """The form that links a project to a channel."""
    return {
        "type": "modal",
        "callback_id": LINK_VIEW,
        "title": _plain("Link a project"),
        "submit": _plain("Link"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": "channel",
                "label": _plain("Channel"),
                "element": {
                    "type": "conversations_select",
                    "action_id": "channel",
                    "placeholder": _plain("Pick a channel"),
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                },
            },
            {
                "type": "input",
                "block_id": "project",
                "label": _plain("Asana project"),
                "hint": _plain("Its name or gid. People in the channel can then use it."),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "project",
                    "placeholder": _plain("Project name or gid"),
                    "max_length": 200,
                },
            },
        ],
    }


def link_form_values(view: Mapping[str, Any]) -> tuple[str, str]:
    """(channel, project reference) from a submitted link form."""
    values = (view.get("state") or {}).get("values") or {}
    channel = ((values.get("channel") or {}).get("channel") or {}).get("selected_conversation")
    project = ((values.get("project") or {}).get("project") or {}).get("value")
    return str(channel or ""), str(project or "")


def linked_notice(channel: str, project_name: str) -> str:
    return f"Linked *{escape(clip(project_name, 80))}* to {_channel(channel)}."
