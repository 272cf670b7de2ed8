"""The forecast's words and chart, and the nudge message, as pure functions (issue 14)."""

from __future__ import annotations

import json
from datetime import date

from bot.domain.delivery import SprintThroughput, forecast_delivery
from bot.render.burnup import burnup_png
from bot.surfaces.slack.blocks.forecast import forecast_blocks
from bot.surfaces.slack.blocks.nudges import NUDGE_SELF, nudge_blocks
from bot.surfaces.teams.forecast_cards import CHART_NOTE, forecast_card, nudge_card

TODAY = date(2027, 1, 4)
HISTORY = [
    SprintThroughput("Sprint 23", date(2027, 1, 3), 30),
    SprintThroughput("Sprint 22", date(2026, 12, 20), 45),
    SprintThroughput("Sprint 21", date(2026, 12, 6), 38),
]


def forecast(scope: float):
    return forecast_delivery(HISTORY, scope, today=TODAY, sprint_start=TODAY, sprint_days=14)


def test_the_burn_up_is_a_png_and_the_same_forecast_draws_the_same_bytes() -> None:
    first = burnup_png(forecast(120), title="Burn-up")
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert burnup_png(forecast(120), title="Burn-up") == first
    assert burnup_png(forecast(300), title="Burn-up") != first


VIEW = {
    "kind": "forecast",
    "project": {"gid": "1", "name": "Platform", "permalink": ""},
    "scope": {
        "kind": "milestone",
        "label": "Launch <!channel>",
        "tasks": 12,
        "amount": 40.0,
        "unestimated": 2,
        "milestone": {"name": "Launch <!channel>", "permalink": "https://app.asana.com/0/1/2"},
    },
    "unit": "points",
    "status": "ok",
    "can_forecast": True,
    "p50": "2027-01-12",
    "p85": "2027-01-22",
    "p50_sprint": 1,
    "p85_sprint": 2,
    "line": "Launch &lt;!channel&gt;: P50 Tue 12 Jan, P85 Fri 22 Jan",
    "assumptions": "40 points left; 10,000 simulated runs.",
    "current_sprint": "The current sprint's other open work (Sprint 24: 3 tasks, 8 points) "
    "counts first.",
    "calendar": "Sprints of 14 days back from today (no /plan-sprint approved yet).",
    "chart": True,
    "tasks": [{"name": "<@U123> task", "permalink": "", "effort": 3.0, "assignee": None}],
    "more_tasks": 11,
}


def test_the_slack_message_names_scope_dates_what_counts_first_and_escapes_asana_text() -> None:
    text = json.dumps(forecast_blocks(VIEW), ensure_ascii=False)
    assert "*P50 Tue 12 Jan* (sprint 1) · *P85 Fri 22 Jan* (sprint 2)" in text
    assert "<https://app.asana.com/0/1/2|Launch &lt;!channel&gt;>" in text
    assert "(12 open tasks, 40 points (2 without points, not counted))" in text
    assert "Sprint 24: 3 tasks, 8 points) counts first" in text
    assert "&lt;@U123&gt; task" in text and "<@U123>" not in text
    assert "…and 11 more." in text and "burn-up chart follows" in text


def test_the_teams_card_says_the_same_with_the_chart_inline_or_why_not() -> None:
    text = json.dumps(forecast_card(VIEW), ensure_ascii=False)
    assert "**P50 Tue 12 Jan** (sprint 1)" in text and "**P85 Fri 22 Jan** (sprint 2)" in text
    assert CHART_NOTE in text  # no chart small enough
    with_chart = forecast_card(VIEW, "iVBORw0KGgo=")
    assert with_chart["body"][-1]["url"] == "data:image/png;base64,iVBORw0KGgo="
    too_big = forecast_card(VIEW, "A" * 30_000)  # over Teams' 28 KB: left out, and said
    assert CHART_NOTE in json.dumps(too_big) and "base64" not in json.dumps(too_big)


NUDGE = {
    "kind": "nudge",
    "person": "Marcus",
    "day": "2027-03-10",
    "stale_days": 5,
    "items": [
        {
            "name": "Late <!here>",
            "permalink": "https://app.asana.com/0/1/9",
            "project": "Platform",
            "due_on": "2027-03-08",
            "reasons": ["overdue", "stale"],
            "dependency": None,
            "untouched_since": "2027-03-01",
        },
        {
            "name": "Ship",
            "permalink": "",
            "project": "",
            "due_on": "2027-03-12",
            "reasons": ["due_soon_open_dependency"],
            "dependency": "API <contract>",
            "untouched_since": None,
        },
    ],
}


def test_a_nudge_lists_each_task_with_why_and_offers_to_turn_nudges_off() -> None:
    blocks = nudge_blocks(NUDGE)
    text = json.dumps(blocks, ensure_ascii=False)
    assert "2 of your tasks are at risk today" in text
    assert "<https://app.asana.com/0/1/9|Late &lt;!here&gt;> _(Platform)_" in text
    assert "overdue: due Mon 8 Mar (2 days late); untouched since Mon 1 Mar" in text
    assert "due Fri 12 Mar and still waits on “API &lt;contract&gt;”" in text
    (button,) = blocks[-1]["elements"]
    assert (button["action_id"], button["value"]) == (NUDGE_SELF, "off")
    card = json.dumps(nudge_card(NUDGE), ensure_ascii=False)
    assert "nudges off" in card and "API" in card
