"""The load chart inside Teams' overload alert card (issue 12): a small PNG as a data URI, within
the card budget, shown again in every redraw; the stand-in checks it as Teams would."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from bot.demo import TEAMS_CHANNEL, arrange_overload, running_sandbox
from bot.sandbox.teams_standin import MAX_MESSAGE_BYTES, card_problems
from bot.surfaces.teams.cards import CARD_BUDGET, overload_card, size
from bot.usecases.overload import run_overload_check


def images(message: dict) -> list[str]:
    body = message["attachments"][0]["content"]["body"]
    return [b["url"] for b in body if b.get("type") == "Image"]


def test_an_overload_alert_card_shows_the_load_chart_in_every_redraw() -> None:
    with running_sandbox(tasks=10, use_model=False) as box:
        crunch = arrange_overload(box.asana.store, box.seed, box.services.today())
        box.link(crunch.project_gid, f"teams:{TEAMS_CHANNEL}")
        box.teams_say("help", expect_proposal=False)
        report = run_overload_check(
            box.services, project_ref=crunch.project_gid, channel=f"teams:{TEAMS_CHANNEL}"
        )
        (alert,) = report.alerts
        message = box.teams.activities[(TEAMS_CHANNEL, alert.message_ts)]
        (url,) = images(message)
        assert url.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as chart:
            assert chart.format == "PNG" and max(chart.size) <= 1024
        card = message["attachments"][0]["content"]
        assert card_problems(card) == [] and size(card) <= CARD_BUDGET
        assert len(json.dumps(message).encode()) <= MAX_MESSAGE_BYTES
        assert box.slack.calls_to("files.completeUploadExternal") == []  # nothing to Slack

        answer = box.teams_click(message, "approve")
        assert images({"attachments": [{"content": answer.json()["value"]}]}) == [url]
        updated = box.teams.activities[(TEAMS_CHANNEL, alert.message_ts)]
        assert "Approved** by Ana Lima" in json.dumps(updated) and images(updated) == [url]


def test_a_chart_the_card_budget_cannot_hold_is_left_out_and_said() -> None:
    view = {
        "kind": "overload",
        "week_start": "2026-12-07",
        "week_end": "2026-12-13",
        "person": {"gid": "1", "name": "Ana"},
        "load": 60.0,
        "percent": 150,
        "capacity": 40.0,
        "limit": 48.0,
        "threshold": 1.2,
        "project": {"gid": "9", "name": "Platform", "permalink": None},
        "today": "2026-12-01",
        "causes": [],
        "moves": [],
        "load_after": 60.0,
        "percent_after": 150,
    }
    huge = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * CARD_BUDGET).decode()
    card = overload_card(view, "p1", names=lambda _: "someone", chart_png=huge)
    assert not [b for b in card["body"] if b.get("type") == "Image"]
    assert "did not fit" in json.dumps(card) and size(card) <= CARD_BUDGET
