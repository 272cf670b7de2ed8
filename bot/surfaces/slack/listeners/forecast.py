"""/forecast in Slack: check the syntax, enqueue, ack; then post the forecast and its chart.

The forecast is read and simulated on the command lane (bot/jobs.py), never inside the request;
the message goes to the channel, then the burn-up chart is shared there like the load chart
(through the chat port's share_chart: join first, say so when it cannot).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.errors import UpstreamError, UserFacingError
from bot.jobs import Deadline
from bot.render.notes import deadline_note
from bot.render.text import escape
from bot.services import Services
from bot.surfaces.slack.blocks.common import fallback_text
from bot.surfaces.slack.blocks.forecast import forecast_ack, forecast_blocks
from bot.surfaces.slack.surface import private_reply
from bot.usecases.forecast import ForecastResult, check_syntax

log = logging.getLogger(__name__)


def post_forecast(services: Services, channel: str, result: ForecastResult) -> str:
    """Post the forecast in the channel, then share its chart there; the message ts."""
    view = result.view
    ts = services.slack.post(channel, text=fallback_text(view), blocks=forecast_blocks(view))
    if not view["chart"]:
        return ts
    try:
        services.chat.share_chart(
            channel,
            kind="burn-up",
            filename=f"forecast-{result.project.gid}-{result.forecast.today.isoformat()}.png",
            title=f"Burn-up · {result.scope.label} · {result.project.name}",
            png=result.chart_png,
        )
    except UpstreamError as exc:  # the forecast stands without its chart
        log.warning("forecast chart not shared: %s", exc)
    return ts


def register(app: App, services: Services) -> None:
    @app.command("/forecast")
    def handle_command_forecast(ack: Ack, command: dict[str, Any]) -> None:
        text = command.get("text") or ""
        channel = command["channel_id"]
        try:
            check_syntax(text)
        except UserFacingError as exc:  # a wrong syntax gets the usage line, and nothing else
            ack(response_type="ephemeral", text=escape(str(exc)))
            return

        def work(deadline: Deadline) -> None:
            result = services.forecaster.forecast(text, channel=channel)
            if not deadline.claim():  # the person was told it took too long: post nothing
                return
            post_forecast(services, channel, result)

        tracked, late = services.commands.tracked(
            command, work, lambda deadline: deadline_note(deadline.seconds)
        )
        ahead = services.jobs.command(tracked, reply=private_reply(services, command), late=late)
        ack(response_type="ephemeral", text=forecast_ack(ahead))


def forecast_demo(box: Any, say: Any) -> bool:
    """`copilot demo`: /forecast in the team's channel, once the sprint is planned (issue 14)."""
    from bot.demo import CHANNEL, LEAD

    say(f"== {LEAD} types /forecast in #{CHANNEL} (the tasks suggested for Next + Future) ==")
    shares = len(box.slack.calls_to("files.completeUploadExternal"))
    answer, message = box.command("/forecast")
    say(f"  ack: HTTP {answer.status} in {answer.elapsed_ms:.0f} ms")
    if message is None:
        errors = box.slack.ephemerals
        say("  no forecast arrived: " + (errors[-1]["text"] if errors else ""))
        return False
    say()
    say("== The forecast, as the channel sees it ==")
    say(box.slack.render(message))
    shared = box.slack.calls_to("files.completeUploadExternal")[shares:]
    if shared:
        title = (shared[-1].args.get("files") or [{}])[0].get("title", "")
        say(f"[file: {title} (PNG)]")
    say()
    return True
