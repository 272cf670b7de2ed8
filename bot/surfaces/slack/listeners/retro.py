"""/retro in Slack, thin: check the syntax, queue the work, ack; and the Home tab's sprint start.

Approve / Reject / Retry are the shared buttons of `listeners/actions.py`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.errors import UserFacingError
from bot.render.text import escape
from bot.services import Services
from bot.surfaces.slack.blocks.retro import (
    SPRINT_START,
    START_BLOCK,
    START_INPUT,
    sprint_start_blocks,
)
from bot.surfaces.slack.listeners.home import publish_home
from bot.surfaces.slack.surface import queue_proposal
from bot.usecases.retro import check_syntax


def register(app: App, services: Services) -> None:
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
        queue_proposal(
            services,
            ack,
            command,
            lambda: retros.propose(text, channel=channel, user=user),
            doing="Looking back on the sprint",
            check=check_syntax,
        )
