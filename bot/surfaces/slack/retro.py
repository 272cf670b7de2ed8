"""/retro in Slack: the command (thin: check the syntax, queue, ack) and its Block Kit message.

Approve / Reject / Retry are the shared buttons of `listeners/actions.py`; the message is
redrawn by `proposal_blocks`, which dispatches here by the view's kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.errors import UserFacingError
from bot.jobs import Deadline
from bot.render.blocks import (
    MAX_BLOCKS,
    _context,
    _section,
    decision_text,
    escape,
    fallback_text,
    header,
    link,
    proposal_actions,
)
from bot.render.notes import command_ack, deadline_note
from bot.render.retro import dates_line, sections, title

if TYPE_CHECKING:
    from bot.services import Services


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
    blocks: list[dict[str, Any]] = [header(title(view))]
    if decision is not None:
        blocks.append(_section(decision_text(decision)))
    project = view["project"]
    blocks.append(
        _context(f"{link(project.get('permalink'), project['name'])} · {escape(dates_line(view))}")
    )
    for heading, lines in sections(view, _task_link, _bold, escape):
        # Everything from Asana or the model is escaped: lines hold links and bold we made.
        blocks.append(_section(f"*{heading}*\n" + "\n".join(lines)))
    if view["actions"] and view["retro_project"] is not None:
        actions = proposal_actions(proposal_id, decision, has_more=False)
        if actions:
            blocks.append({"type": "actions", "block_id": "proposal_actions", "elements": actions})
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
        _section(
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


def register(app: App, services: Services) -> None:
    from bot.listeners.home import publish_home
    from bot.presenters import post_proposal, private_reply
    from bot.usecases.retro import check_syntax

    retros = services.retros
    services.home_sections.append(
        lambda user: sprint_start_blocks(services.engine.can_approve(user))
    )

    @app.action(SPRINT_START)
    def handle_action_sprint_start(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = body["user"]["id"]
        values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
        text = ((values.get(START_BLOCK) or {}).get(START_INPUT) or {}).get("value") or ""

        def work() -> None:
            try:
                notice = escape(retros.set_start(user, text))
            except UserFacingError as exc:
                notice = f":warning: {escape(str(exc))}"
            publish_home(services, user, notice)

        services.jobs.other.submit(work, reply=lambda note: publish_home(services, user, note))

    @app.command("/retro")
    def handle_command_retro(ack: Ack, command: dict[str, Any]) -> None:
        text = command.get("text") or ""
        channel, user = command["channel_id"], command["user_id"]
        try:
            check_syntax(text)
        except UserFacingError as exc:  # a wrong syntax gets the usage line, and nothing else
            ack(response_type="ephemeral", text=escape(str(exc)))
            return

        def work(deadline: Deadline) -> None:
            report = retros.propose(text, channel=channel, user=user)
            if not deadline.claim():  # the person was told it took too long: post nothing
                return
            post_proposal(
                services,
                report.id,
                channel,
                text=fallback_text(report.view),
                blocks=retro_blocks(report.view, report.id, proposed_by=user),
            )

        tracked, late = services.commands.tracked(
            command, work, lambda deadline: deadline_note(deadline.seconds)
        )
        ahead = services.jobs.command(tracked, reply=private_reply(services, command), late=late)
        ack(response_type="ephemeral", text=command_ack("Looking back on the sprint", ahead))
