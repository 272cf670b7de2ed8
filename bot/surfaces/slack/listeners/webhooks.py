"""Asana webhooks on the Home tab: approvers see a webhook Asana disabled and the copilot
re-created (issue 13), beside the posts Slack refused."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.services import Services
from bot.surfaces.slack.blocks.webhooks import webhook_problem_blocks


def webhook_problems_section(services: Services) -> Any:
    """The Home section: shown to approvers only."""

    def section(user: str) -> list[dict[str, Any]]:
        if not services.access.is_approver(user):
            return []
        return webhook_problem_blocks(services.store.webhook_rows())

    return section


def register(app: App, services: Services) -> None:
    services.home_sections.append(webhook_problems_section(services))
