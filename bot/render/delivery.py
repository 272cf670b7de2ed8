"""Words for the delivery forecast: the Friday digest's one line and what the forecast assumes.

Pure functions from a DeliveryForecast to plain text (mrkdwn-safe: the scope label is escaped).
"""

from __future__ import annotations

from datetime import date

from bot.domain.delivery import DeliveryForecast, ForecastStatus, ForecastUnit
from bot.render.text import escape


def day(d: date) -> str:
    """`Tue 12 Jan`: the short date the digest uses."""
    return f"{d:%a} {d.day} {d:%b}"


def _amount(value: float, unit: ForecastUnit) -> str:
    shown = f"{value:g}" if value == int(value) else f"{value:.1f}"
    if unit is ForecastUnit.TASKS:
        return f"{shown} task" + ("" if value == 1 else "s")
    return f"{shown} point" + ("" if value == 1 else "s")


def _when(on: date | None, forecast: DeliveryForecast) -> str:
    if on is None:
        return f"beyond {forecast.max_sprints} sprints"
    return day(on)


def digest_line(scope_label: str, forecast: DeliveryForecast) -> str:
    """One line: `Next + Future: P50 Tue 12 Jan, P85 Fri 22 Jan`, or why there is no date."""
    label = escape(scope_label)
    if forecast.status is ForecastStatus.DONE:
        return f"{label}: nothing left to do"
    if forecast.status is ForecastStatus.NO_HISTORY:
        return f"{label}: no forecast yet (no finished sprint to learn from)"
    if forecast.status is ForecastStatus.NO_THROUGHPUT:
        return f"{label}: no forecast (nothing was completed in the last sprints)"
    return (
        f"{label}: P50 {_when(forecast.p50_on, forecast)}, P85 {_when(forecast.p85_on, forecast)}"
    )


def assumptions(forecast: DeliveryForecast) -> str:
    """What the forecast rests on, in one or two sentences the message can carry."""
    history = forecast.history
    if not history:
        return "No finished sprint yet, so there is nothing to forecast from."
    unit = forecast.unit
    per_sprint = ", ".join(f"{h.completed:g}" for h in history)
    text = (
        f"{_amount(forecast.scope, unit)} left; {forecast.runs:,} simulated runs drawing from "
        f"the {unit.value} completed in the last {len(history)} "
        f"sprint{'' if len(history) == 1 else 's'} ({per_sprint}, most recent first; mean "
        f"{forecast.throughput_per_sprint:.1f})"
    )
    if forecast.ahead:
        text += f", after the {_amount(forecast.ahead, unit)} still open in the current sprint"
    sprints = f"the last {len(history)} sprint{'' if len(history) == 1 else 's'}"
    if forecast.scope_growth:
        text += (
            f"; scope grew by a mean of {_amount(forecast.growth_per_sprint, unit)} a sprint "
            f"over {sprints}; simulated"
        )
    else:
        text += f"; no scope growth seen in {sprints}"
    share = forecast.current_sprint_share
    if share < 1:
        text += f"; the current sprint counts for the {share:.0%} of its working days left"
    text += "."
    if forecast.unestimated:
        n = forecast.unestimated
        tasks, verb = ("task", "is") if n == 1 else ("tasks", "are")
        text += f" {n} {tasks} without an estimate {verb} not counted."
    if forecast.status is ForecastStatus.OK and forecast.finished_share < 1:
        text += (
            f" Only {forecast.finished_share:.0%} of the runs finish within "
            f"{forecast.max_sprints} sprints."
        )
    return text
