"""/plan-sprint and its Show all pages: check the syntax, enqueue the work, ack.

Approve / Reject / Retry on a sprint proposal are the shared buttons of `listeners/actions.py`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.errors import UserFacingError
from bot.jobs import Deadline
from bot.render.notes import command_ack, deadline_note, queued_note
from bot.render.text import escape
from bot.services import Services
from bot.surfaces.slack.blocks.sprint import SPRINT_PAGE, sprint_page_blocks
from bot.surfaces.slack.surface import private_reply, show_page
from bot.usecases.sprint import KIND, check_syntax


def register(app: App, services: Services) -> None:
    planner = services.planner

    @app.command("/plan-sprint")
    def handle_command_plan_sprint(ack: Ack, command: dict[str, Any]) -> None:
        text = command.get("text") or ""
        channel, user = command["channel_id"], command["user_id"]
        try:
            check_syntax(text)
        except UserFacingError as exc:  # a wrong syntax gets the usage line, and nothing else
            ack(response_type="ephemeral", text=escape(str(exc)))
            return

        def work(deadline: Deadline) -> None:
            proposal = planner.propose(text, channel=channel, user=user)
            if not deadline.claim():  # the person was told it took too long: post nothing
                return
            services.chat.post_proposal(channel, proposal.view, proposal.id, proposed_by=user)

        # Enqueue before acking, so once Slack has its answer the work is already queued.
        # Recorded as owed until answered: if this process dies, the next start says so.
        tracked, late = services.commands.tracked(
            command, work, lambda deadline: deadline_note(deadline.seconds)
        )
        ahead = services.jobs.command(tracked, reply=private_reply(services, command), late=late)
        ack(response_type="ephemeral", text=command_ack("Planning the sprint", ahead))

    @app.action(SPRINT_PAGE)
    def handle_action_sprint_page(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        def work() -> None:
            show_page(
                services,
                body,
                action,
                kind=KIND,
                title="Sprint plan for",
                render=sprint_page_blocks,
            )

        reply = private_reply(services, body)
        services.jobs.pages.submit(
            work, reply=reply, queued=lambda n: reply(queued_note("page", n))
        )
        ack()
