"""The approvers' Home-tab notice about Asana webhooks Asana disabled or deleted (issue 13)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.render.text import escape
from bot.storage.webhooks import WebhookRow


def webhook_problem_blocks(rows: Sequence[WebhookRow]) -> list[dict[str, Any]]:
    """One line per project whose webhook had to be re-created, newest first."""
    problems = sorted((r for r in rows if r.problem), key=lambda r: r.problem_at or "")
    if not problems:
        return []
    lines = [
        f"• Project {escape(r.project_gid)} ({escape((r.problem_at or '')[:16])} UTC): "
        f"{escape(r.problem or '')}"
        for r in reversed(problems)
    ]
    return [
        {
            "type": "section",
            "block_id": "asana_webhook_problems",
            "text": {
                "type": "mrkdwn",
                "text": "*:satellite_antenna: Asana webhooks*\n" + "\n".join(lines),
            },
        }
    ]
