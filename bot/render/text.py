"""The markup of notes every surface shares: Slack's mrkdwn subset (`*bold*`, `` `code` ``,
`:emoji:`, `<@U…>`), escaped. Slack shows it as is; Teams converts it (surfaces/teams/surface.py
`from_slack_text`), so a note is written once for both surfaces."""

from __future__ import annotations

import re

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def escape(text: str | None) -> str:
    """Escape Slack's control characters: no mention, channel ping or link survives."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mention(user_id: str | None) -> str:
    """A deliberate mention of a Slack user id we received from Slack itself."""
    if user_id and _USER_ID.match(user_id):
        return f"<@{user_id}>"
    return "someone"
