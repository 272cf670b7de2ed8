"""Block Kit for /forecast: the dates for the scope, what counts first, what it assumes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.render.text import clip, escape
from bot.surfaces.slack.blocks.common import context, header, link, section


def day(iso: str | None) -> str:
    if not iso:
        return "no date"
    d = date.fromisoformat(iso)
    return f"{d:%a} {d.day} {d:%b}"


def forecast_ack(ahead: int) -> str:
    if not ahead:
        return "Forecasting… the forecast will appear here."
    others = "request is" if ahead == 1 else "requests are"
    return f"Queued: {ahead} other {others} ahead of yours; the forecast will appear here."


def forecast_blocks(view: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The forecast message: the dates for the scope, what counts first, what it assumes."""
    project, scope, unit = view["project"], view["scope"], view["unit"]
    blocks: list[dict[str, Any]] = [header(f"Delivery forecast · {project['name']}")]
    label = scope["label"]
    if scope.get("milestone"):
        label = link(scope["milestone"]["permalink"], clip(label, 150))
    else:
        label = escape(label)
    size = f"{scope['tasks']} open task{'' if scope['tasks'] == 1 else 's'}"
    if unit == "points":
        size += f", {scope['amount']:g} points"
        if scope["unestimated"]:
            size += f" ({scope['unestimated']} without points, not counted)"
    lead = f"*Scope: {label}* ({size})"
    if view["p50"] or view["p85"]:
        dates = (
            f"*P50 {day(view['p50'])}* (sprint {view['p50_sprint']}) · "
            f"*P85 {day(view['p85'])}* (sprint {view['p85_sprint']})"
            if view["p50"] and view["p85"]
            else view["line"]
        )
        lead += f"\n{dates}: half of 10,000 simulated futures finish by the P50 date, 85 % by P85."
    else:
        lead += f"\n{view['line']}"
    blocks.append(section(lead))
    blocks.append(section(f"{escape(view['current_sprint'])} {escape(view['calendar'])}"))
    blocks.append(context(f"*Assumes:* {view['assumptions']}"))
    if view["tasks"]:
        lines = []
        for row in view["tasks"]:
            size_text = (
                "" if row["effort"] is None or unit != "points" else f" — {row['effort']:g} pts"
            )
            who = escape(row["assignee"]) if row["assignee"] else "_unassigned_"
            lines.append(f"• {link(row['permalink'], clip(row['name'], 150))}{size_text} · {who}")
        if view["more_tasks"]:
            lines.append(f"…and {view['more_tasks']} more.")
        blocks.append(section("*In scope*\n" + "\n".join(lines)))
    if view["chart"]:
        blocks.append(
            context(
                "The burn-up chart follows: work done per sprint, the scope, and the P50–P85 range."
            )
        )
    return blocks
