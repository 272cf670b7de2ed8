"""Words for a nudge: why each task is at risk, in the notes' markup (bot/render/text.py), so
Slack shows them as they are and Teams converts them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.render.text import escape


def short_day(iso: str | None) -> str:
    """`Mon 8 Mar`, or nothing."""
    if not iso:
        return ""
    d = date.fromisoformat(iso)
    return f"{d:%a} {d.day} {d:%b}"


def reason_text(item: Mapping[str, Any], today: date, stale_days: int) -> str:
    """Why one task of a nudge view is at risk, in words."""
    parts = []
    for reason in item["reasons"]:
        if reason == "overdue":
            late = (today - date.fromisoformat(item["due_on"])).days
            days = "day" if late == 1 else "days"
            parts.append(f"overdue: due {short_day(item['due_on'])} ({late} {days} late)")
        elif reason == "due_soon_open_dependency":
            parts.append(
                f"due {short_day(item['due_on'])} and still waits on “{escape(item['dependency'])}”"
            )
        elif reason == "stale":
            parts.append(
                f"untouched since {short_day(item['untouched_since'])} ({stale_days}+ working days)"
            )
    return "; ".join(parts)


def nudge_headline(view: Mapping[str, Any]) -> str:
    n = len(view["items"])
    return f"{n} of your task{'' if n == 1 else 's'} {'is' if n == 1 else 'are'} at risk today"
