"""Catch-alls, registered last: anything Slack sends that no listener handles gets an answer."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.render.text import escape

ANYTHING = re.compile(r".*")


def register(app: App) -> None:
    @app.command(ANYTHING)
    def handle_command_unknown(ack: Ack, command: dict[str, Any]) -> None:
        name = escape(str(command.get("command", "")))[:40]
        ack(
            response_type="ephemeral",
            text=f"I don't know {name}. Try `/prioritize [project]`, `/plan-sprint` or "
            "`/estimate [project]`.",
        )

    @app.action(ANYTHING)
    def handle_action_unknown(ack: Ack, respond: Any, body: dict[str, Any]) -> None:
        ack()
        if body.get("response_url"):
            respond(
                text="That button is no longer supported; nothing was changed.",
                response_type="ephemeral",
                replace_original=False,
            )

    @app.view(ANYTHING)
    def handle_view_unknown(ack: Ack) -> None:
        ack()

    @app.event(ANYTHING)
    def handle_event_unknown(ack: Ack) -> None:
        ack()  # a 2xx, so Slack does not retry events we do not use
