"""/plan-sprint and its Show all pages: check the syntax, enqueue the work, ack.

Approve / Reject / Retry on a sprint proposal are the shared buttons of `listeners/actions.py`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.render.notes import queued_note
from bot.services import Services
from bot.surfaces.slack.blocks.sprint import SPRINT_PAGE, sprint_page_blocks
from bot.surfaces.slack.surface import private_reply, queue_proposal, show_page
from bot.usecases.sprint import KIND, check_syntax


def register(app: App, services: Services) -> None:
    planner = services.planner

    @app.command("/plan-sprint")
    def handle_command_plan_sprint(ack: Ack, command: dict[str, Any]) -> None:
        text = command.get("text") or ""
        channel, user = command["channel_id"], command["user_id"]
        queue_proposal(
            services,
            ack,
            command,
            lambda: planner.propose(text, channel=channel, user=user),
            doing="Planning the sprint",
            check=check_syntax,
        )

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
