"""Slash commands: ack within Slack's 3 seconds, hand the work to the command workers."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.jobs import SingleFlight
from bot.presenters import run_prioritize
from bot.render.notes import command_ack, deadline_note
from bot.render.text import escape
from bot.services import Services
from bot.surfaces.slack.surface import private_reply


def register(app: App, services: Services) -> None:
    flights = SingleFlight()  # one /prioritize per project at a time, in this process

    @app.command("/prioritize")
    def handle_command_prioritize(ack: Ack, command: dict[str, Any]) -> None:
        project_ref = (command.get("text") or "").strip()
        channel, user = command["channel_id"], command["user_id"]
        target = f"“{escape(project_ref)}”" if project_ref else "the default project"
        reply = private_reply(services, command)

        # Enqueue before acking, so once Slack has its answer the work is already queued.
        # Recorded as owed until answered: if this process dies, the next start says so.
        work, late = services.commands.tracked(
            command,
            lambda deadline: run_prioritize(
                services,
                flights,
                project_ref,
                channel=channel,
                user=user,
                reply=reply,
                deadline=deadline,
            ),
            lambda deadline: deadline_note(deadline.seconds),
        )
        ahead = services.jobs.command(work, reply=reply, late=late)
        ack(response_type="ephemeral", text=command_ack(f"Scoring the backlog of {target}", ahead))
