"""Slash commands: ack within Slack's 3 seconds, hand the work to the job queue."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.presenters import post_proposal, private_reply
from bot.render.blocks import escape, fallback_text, priority_blocks
from bot.services import Services


def register(app: App, services: Services) -> None:
    @app.command("/prioritize")
    def handle_command_prioritize(ack: Ack, command: dict[str, Any]) -> None:
        project_ref = (command.get("text") or "").strip()
        channel, user = command["channel_id"], command["user_id"]
        target = f"“{escape(project_ref)}”" if project_ref else "the default project"

        def work() -> None:
            proposal = services.prioritizer.propose(project_ref, channel=channel, user=user)
            post_proposal(
                services,
                proposal.id,
                channel,
                text=fallback_text(proposal.view),
                blocks=priority_blocks(proposal.view, proposal.id, proposed_by=user),
            )

        # Enqueue before acking, so once Slack has its answer the work is already queued.
        services.jobs.submit(work, reply=private_reply(services, command))
        ack(
            response_type="ephemeral",
            text=f"Scoring the backlog of {target}… the proposal will appear here.",
        )
