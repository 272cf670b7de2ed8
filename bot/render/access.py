"""Words and blocks of access (issue 10): refusals, and the Home tab's channel↔project links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.domain.access import Denial
from bot.render.blocks import clip, escape, mention

LINK_ADD = "project_link_add"  # Home button: open the link form
LINK_REMOVE = "project_link_remove"  # Home button: unlink (value "channel:gid")
LINK_VIEW = "project_link"  # the modal's callback_id
SHOWN_LINKS = 25

HOW_TO_NAME_APPROVERS = (
    "Nobody may approve yet: name the approvers with `COPILOT_APPROVERS` (Slack user ids, "
    "e.g. `COPILOT_APPROVERS=U012AB3CD,U045EF6GH`, or `admins` for the workspace's admins and "
    "owners, or both) and restart the copilot. Nothing was changed."
)


def denial_text(why: Denial) -> str:
    """The private answer to a command or click refused before anything else ran."""
    if why is Denial.UNVERIFIED:
        return (
            "I could not check your Slack account just now; try again in a minute. "
            "Nothing was changed."
        )
    if why is Denial.GUEST:
        return (
            "Guests can't use the copilot in this workspace; ask a full member of the team. "
            "Nothing was changed."
        )
    return (
        "The copilot answers only members of the workspace it is installed in. Nothing was changed."
    )


def decision_refusal_text(why: str | None) -> str:
    """Why Approve / Reject / Retry did nothing (see usecases.approvals.Refusal)."""
    if why == "no approvers":
        return HOW_TO_NAME_APPROVERS
    if why == "not linked":
        return (
            "This proposal's project is no longer linked to this channel, so it can't be decided "
            "here. Nothing was changed."
        )
    return "Only the team's approvers can approve, reject or retry proposals; nothing was changed."


def not_linked_message(ref: str) -> str:
    """The one refusal for a project a channel may not use: the same whether it exists or not."""
    shown = clip(" ".join(ref.split()), 80)
    return (
        f"No Asana project is named “{shown}” among the projects of this channel. An approver "
        "can link a project to this channel on the copilot's Home tab."
    )


def not_linked_for_posting(project_name: str, channel: str) -> str:
    """For scheduled and command-line posts (digests, overload alerts): the operator's message."""
    return (
        f"“{project_name}” is not linked to channel {channel}: link it on the Home tab (or list "
        "its gid in COPILOT_PROJECTS), then try again. Nothing was posted."
    )


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
