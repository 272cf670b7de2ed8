"""/forecast and nudges in Teams: the cards, the `forecast` and `nudges` commands, 1:1 nudges.

`forecast [project] [scope]` runs on the command lane like Slack's /forecast and posts a card where
it was asked, with the burn-up chart inside it as the overload card carries the load chart: shrunk
to at most CHART_BYTES and sent as a data URI, or left out (and said) when the card would not fit
Teams' 28 KB message limit. `nudges on|off` switches the sender's own nudges; an approver's
`nudges on for <project>` / `nudges off for <project>` switches a project's. A nudge goes to
the person's personal chat with the copilot (TeamsSurface.post_direct).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.errors import UserFacingError
from bot.jobs import Deadline
from bot.render.chart import compact_png
from bot.render.notes import deadline_note
from bot.render.nudges import nudge_headline, reason_text
from bot.surfaces.teams.cards import (
    CARD_BUDGET,
    card,
    clip,
    heading,
    link,
    md,
    subtle,
    text,
)
from bot.surfaces.teams.cards import size as card_size
from bot.usecases.forecast import ForecastResult, check_syntax

if TYPE_CHECKING:
    from bot.services import Services
    from bot.surfaces.teams.surface import Sender, TeamsSurface

CHART_NOTE = "The burn-up chart did not fit in this card."
CHART_BYTES = 10_000  # as the load chart in an overload card


def _day(iso: str | None) -> str:
    if not iso:
        return "no date"
    d = date.fromisoformat(iso)
    return f"{d:%a} {d.day} {d:%b}"


def _plain(mrkdwn: str) -> str:
    """A line written for Slack (escaped, *bold*) as safe card markdown."""
    from bot.surfaces.teams.surface import from_slack_text

    return from_slack_text(mrkdwn)


def forecast_card(view: Mapping[str, Any], chart_png: str | None = None) -> dict[str, Any]:
    """The forecast; `chart_png` (base64) is the burn-up chart, shown when the card fits."""
    project, scope, unit = view["project"], view["scope"], view["unit"]
    label = md(scope["label"])
    if scope.get("milestone"):
        label = link(scope["milestone"]["permalink"], clip(scope["label"], 150))
    amount = f"{scope['tasks']} open task{'' if scope['tasks'] == 1 else 's'}"
    if unit == "points":
        amount += f", {scope['amount']:g} points"
        if scope["unestimated"]:
            amount += f" ({scope['unestimated']} without points, not counted)"
    if view["p50"] and view["p85"]:
        dates = (
            f"**P50 {_day(view['p50'])}** (sprint {view['p50_sprint']}) · "
            f"**P85 {_day(view['p85'])}** (sprint {view['p85_sprint']}): half of 10,000 "
            "simulated futures finish by the P50 date, 85 % by P85."
        )
    else:
        dates = _plain(view["line"])
    body = [
        heading(f"Delivery forecast · {project['name']}"),
        text(f"**Scope: {label}** ({amount})"),
        text(dates),
        text(f"{md(view['current_sprint'])} {md(view['calendar'])}"),
        subtle(f"Assumes: {_plain(view['assumptions'])}"),
    ]
    if view["tasks"]:
        lines = [f"- {link(r['permalink'], clip(r['name'], 120))}" for r in view["tasks"]]
        if view["more_tasks"]:
            lines.append(f"- …and {view['more_tasks']} more.")
        body.append(text("**In scope**\n\n" + "\n".join(lines)))
    if view["chart"] and chart_png:
        image = {
            "type": "Image",
            "url": f"data:image/png;base64,{chart_png}",
            "altText": f"Burn-up · {clip(scope['label'], 80)} · {clip(project['name'], 80)}",
            "size": "Stretch",
        }
        with_chart = card([*body, image])
        if card_size(with_chart) <= CARD_BUDGET:
            return with_chart
    if view["chart"]:
        body.append(subtle(CHART_NOTE))
    return card(body)


def chart_for_card(result: ForecastResult) -> str | None:
    """The burn-up chart small enough for a card, base64; None when it cannot be."""
    if not result.view["chart"]:
        return None
    png = compact_png(result.chart_png(), max_bytes=CHART_BYTES)
    return base64.b64encode(png).decode("ascii") if png else None


def nudge_card(view: Mapping[str, Any]) -> dict[str, Any]:
    today = date.fromisoformat(view["day"])
    lines = []
    for item in view["items"][:30]:
        where = f" _({md(item['project'])})_" if item.get("project") else ""
        reasons = _plain(reason_text(item, today, view["stale_days"]))
        lines.append(f"- {link(item['permalink'], clip(item['name'], 120))}{where} — {reasons}")
    return card(
        [
            text(f"👋 **{md(nudge_headline(view))}**"),
            text("\n".join(lines)),
            subtle("One nudge a day at most. Write `nudges off` here to turn yours off."),
        ]
    )


def teams_forecast(services: Services, teams: TeamsSurface, sender: Sender, text_: str) -> None:
    try:
        check_syntax(text_)
    except UserFacingError as exc:
        teams.tell(sender, _plain(str(exc)))
        return

    def work(deadline: Deadline) -> None:
        result = services.forecaster.forecast(text_, channel=sender.channel)
        if not deadline.claim():
            return
        teams.answer(sender, forecast_card(result.view, chart_for_card(result)))

    services.jobs.command(
        work,
        reply=teams.private_reply(sender),
        late=lambda deadline: deadline_note(deadline.seconds),
    )


NUDGES_USAGE = (
    "Write `nudges off` or `nudges on` for your own nudges; approvers: `nudges on for <project>` "
    "or `nudges off for <project>`."
)


def teams_nudges(services: Services, teams: TeamsSurface, sender: Sender, text_: str) -> None:
    words = text_.split(maxsplit=2)
    verb = words[0].casefold() if words else ""
    if verb not in ("on", "off"):
        state = "off" if services.nudges.opted_out(sender.user) else "on"
        teams.tell(sender, md(f"Your nudges are {state}. ") + md(NUDGES_USAGE))
        return
    on = verb == "on"
    if len(words) == 1:
        services.nudges.opt_out(sender.user, off=not on)
        teams.tell(sender, md(f"Your nudges are {'on' if on else 'off'}."))
        return
    if words[1].casefold() != "for" or len(words) < 3:
        teams.tell(sender, md(NUDGES_USAGE))
        return
    ref = words[2].strip().strip('"“”')

    def work() -> None:
        project = services.nudges.set_project(sender.user, sender.channel, ref, on=on)
        teams.tell(sender, md(f"Nudges turned {'on' if on else 'off'} for {project.name}."))

    services.jobs.submit(work, reply=teams.private_reply(sender))
