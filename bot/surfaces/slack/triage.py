"""Slack listeners for issue 13: /estimate, and the assignee menu of a triage card.

Approve / Reject / Retry on these proposals are the shared buttons of `listeners/actions.py`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.render.text import escape
from bot.services import Services
from bot.surfaces.slack.surface import private_reply, queue_proposal
from bot.surfaces.slack.triage_blocks import ASSIGNEE


def register(app: App, services: Services) -> None:
    @app.command("/estimate")
    def handle_command_estimate(ack: Ack, command: dict[str, Any]) -> None:
        project_ref = (command.get("text") or "").strip()
        channel, user = command["channel_id"], command["user_id"]
        target = f"“{escape(project_ref)}”" if project_ref else "the default project"

        queue_proposal(
            services,
            ack,
            command,
            lambda: services.triage.propose_estimates(project_ref, channel=channel, user=user),
            doing=f"Estimating {target}",
        )

    @app.action(ASSIGNEE)
    def handle_action_triage_assignee(
        ack: Ack, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        _, proposal_id, _ = [*str(action.get("block_id", "")).split(":"), "", ""][:3]
        value = str((action.get("selected_option") or {}).get("value", ""))
        task_gid, _, choice = value.partition(":")
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id", "")
        reply = private_reply(services, body)

        def work() -> None:
            reply(
                escape(
                    services.triage.choose_assignee(
                        proposal_id, task_gid, choice, user=user, channel=channel
                    )
                )
            )

        services.jobs.decisions.submit(work, reply=reply)
        ack()
