"""The overload alert, the Home capacity section and the load chart, as plain functions."""

from __future__ import annotations

import json
import struct
from datetime import UTC, date, datetime, timedelta

from bot.render.chart import MAX_PEOPLE, ChartPerson, load_chart_png, select_people
from bot.sandbox.slack_standin import pings, render_message, validate_blocks
from bot.surfaces.slack.blocks.common import fallback_text
from bot.surfaces.slack.blocks.overload import (
    CAPACITY_HOURS,
    CAPACITY_PERSON,
    CAPACITY_RESET,
    CAPACITY_SAVE,
    CAPACITY_VIEW,
    capacity_form_values,
    capacity_home_blocks,
    capacity_modal,
    capacity_modal_errors,
    capacity_notice,
)
from bot.surfaces.slack.blocks.proposals import proposal_blocks

HOSTILE = "<!channel> *deploy* <@U0BOSS>"


def view(*, moves: int = 1, causes: int = 3, slack_user: str | None = None) -> dict:
    return {
        "kind": "overload",
        "project": {
            "gid": "500",
            "name": "Rel <!here>",
            "permalink": "https://app.asana.com/0/500",
        },
        "person": {"gid": "101", "name": HOSTILE, "slack_user": slack_user},
        "week_start": "2026-03-09",
        "week_end": "2026-03-13",
        "today": "2026-03-04",
        "reason": "new",
        "load": 60.0,
        "capacity": 40.0,
        "percent": 150,
        "threshold": 1.2,
        "limit": 48.0,
        "causes": [
            {
                "gid": str(i),
                "name": f"{HOSTILE} task {i}" * 5,
                "permalink": f"https://app.asana.com/0/500/{i}",
                "hours": 5.5,
            }
            for i in range(causes)
        ],
        "unscheduled": 6.0,
        "unestimated": 2,
        "moves": [
            {
                "gid": "1",
                "name": HOSTILE,
                "permalink": "javascript:alert(1)",
                "hours": 20.0,
                "kind": "reassign" if i % 2 == 0 else "reschedule",
                "total_hours": 20.0,
                "to_gid": "102",
                "to_name": "Ben <!everyone>",
                "to_before": 12.0,
                "to_after": 32.0,
                "from_due": "2026-03-13",
                "from_start": "2026-03-09",
                "new_due": "2026-03-20",
                "new_start": "2026-03-16",
            }
            for i in range(moves)
        ],
        "resolved": moves > 0,
        "note": "",
        "load_after": 40.0,
        "percent_after": 100,
        "skills_matched": True,
        "fallback": f"Capacity alert: {HOSTILE} is forecast at 60 h",
    }


def test_alert_says_who_which_week_how_much_why_and_the_fix() -> None:
    blocks = proposal_blocks(view(moves=2), "p1", proposed_by="copilot")
    text = render_message({"blocks": blocks}).replace("*", "")
    assert "Over capacity · week of Mon 9 Mar – Fri 13 Mar" in text
    assert "forecast at 60 h" in text and "150% of a 40 h week" in text and "48 h" in text
    assert "What fills the week (3 tasks)" in text
    assert "+6 h on tasks without dates" in text and "2 tasks without an estimate" in text
    assert "Reassign" in text and "12 h → 32 h that week" in text
    assert "due Fri 13 Mar → Fri 20 Mar" in text
    assert "start Mon 9 Mar → Mon 16 Mar" in text
    assert "drops to 40 h (100%)" in text
    assert "[Approve] [Reject]" in text


def test_alert_mentions_only_the_slack_user_and_escapes_everything_from_asana() -> None:
    blocks = proposal_blocks(view(moves=2, slack_user="U0ANA"), "p1", proposed_by="copilot")
    message = {"blocks": blocks, "text": fallback_text(view())}
    assert [p for p in pings(message) if not p.startswith("<https://app.asana.com/")] == [
        "<@U0ANA>"
    ]
    raw = json.dumps(blocks)
    assert "javascript:" not in raw  # an unsafe link shows as text only
    assert "&lt;!channel&gt;" in raw and "&lt;!everyone&gt;" in raw
    without = proposal_blocks(view(), "p1", proposed_by="copilot")
    assert all(p.startswith("<https://app.asana.com/") for p in pings({"blocks": without}))
    assert "&lt;!channel&gt;" in fallback_text(view())


def test_alert_stays_inside_block_kit_limits_with_many_causes() -> None:
    blocks = proposal_blocks(view(moves=6, causes=80), "p1", proposed_by="copilot")
    assert validate_blocks(blocks) == []
    assert "and 70 more (385 h)" in render_message({"blocks": blocks})


def test_no_fix_has_no_buttons_and_a_decided_alert_shows_the_decision() -> None:
    none = render_message({"blocks": proposal_blocks(view(moves=0), "p1", proposed_by="x")})
    assert "No fix found" in none and "[Approve]" not in none
    decided = proposal_blocks(
        view(),
        "p1",
        proposed_by="copilot",
        decision={"status": "applied", "by": "U0LEAD", "at": datetime(2026, 3, 4, tzinfo=UTC),
                  "written": 1, "skipped": [], "failed": []},
    )  # fmt: skip
    text = render_message({"blocks": decided})
    assert "Approved" in text and "1 task written" in text and "[Approve]" not in text


def overview(n: int, *, chart: str | None = "F123") -> dict:
    weeks = [date(2026, 3, 2) + timedelta(weeks=k) for k in range(4)]
    return {
        "project_gid": "500",
        "project_name": "Rel",
        "weeks": [w.isoformat() for w in weeks],
        "threshold": 1.2,
        "default_hours": 40.0,
        "rows": [
            {
                "person_gid": str(100 + i),
                "name": f"{HOSTILE} {i}",
                "weekly_hours": 32.0 if i == 0 else 40.0,
                "overridden": i == 0,
                "loads": [60.0, 10.0, 0.0, 0.0],
                "overloaded": [i == 0, False, False, False],
                "unscheduled": 3.0,
                "unestimated": 0,
            }
            for i in range(n)
        ],
        "chart_file_id": chart,
        "chart_at": "2026-03-04T08:00:00.000+00:00",
    }


def test_home_section_has_the_chart_a_table_and_buttons_that_open_the_capacity_modal() -> None:
    blocks = capacity_home_blocks(overview(3))
    assert validate_blocks(blocks, max_blocks=100, surface="home") == []
    assert {"type": "image", "slack_file": {"id": "F123"},
            "alt_text": "Weekly load against capacity per person"} in blocks  # fmt: skip
    text = render_message({"blocks": blocks})
    assert "32*" in text and "60!" in text and "set by hand" in text
    raw = json.dumps(blocks)
    assert CAPACITY_SAVE in raw and CAPACITY_RESET in raw
    assert "number_input" not in raw  # Block Kit: number_input is available in modals only
    assert pings({"blocks": blocks}) == []


def test_the_capacity_modal_sets_or_resets_and_fits_a_modal() -> None:
    rows = overview(3)["rows"]
    modal = capacity_modal(rows, default_hours=40.0, reset=False)
    assert modal["callback_id"] == CAPACITY_VIEW and modal["private_metadata"] == "set"
    assert validate_blocks(modal["blocks"], max_blocks=100, surface="modal") == []
    assert validate_blocks(modal["blocks"], max_blocks=100, surface="home") != []
    assert [b["block_id"] for b in modal["blocks"]] == [CAPACITY_PERSON, CAPACITY_HOURS]
    options = modal["blocks"][0]["element"]["options"]
    assert [o["value"] for o in options] == ["100", "101", "102"]
    reset = capacity_modal(rows, default_hours=40.0, reset=True)
    assert reset["private_metadata"] == "reset" and "number_input" not in json.dumps(reset)
    assert "back to the default, 40 h" in render_message({"blocks": reset["blocks"]})
    assert capacity_modal_errors("Choose a person first.") == {
        CAPACITY_PERSON: "Choose a person first."
    }
    assert CAPACITY_HOURS in capacity_modal_errors("Type the weekly hours first (0 when away).")


def test_home_section_is_bounded_for_a_big_team_and_works_without_a_chart() -> None:
    blocks = capacity_home_blocks(overview(200, chart=None))
    assert len(blocks) <= 15 and validate_blocks(blocks, max_blocks=100, surface="home") == []
    assert all(b["type"] != "image" for b in blocks)
    assert "and 155 more people" in render_message({"blocks": blocks})
    assert "Nobody has open" in render_message({"blocks": capacity_home_blocks(overview(0))})


def state(gid: str | None, hours: str | None) -> dict:
    values: dict = {CAPACITY_PERSON: {CAPACITY_PERSON: {"type": "static_select"}}}
    if gid:
        values[CAPACITY_PERSON][CAPACITY_PERSON]["selected_option"] = {
            "value": gid,
            "text": {"type": "plain_text", "text": "Ben"},
        }
    values[CAPACITY_HOURS] = {CAPACITY_HOURS: {"type": "number_input", "value": hours}}
    return {"values": values}


def test_capacity_form_values() -> None:
    assert capacity_form_values(state("102", "32.5"), need_hours=True) == ("102", "Ben", 32.5, "")
    assert capacity_form_values(state("102", None), need_hours=False) == ("102", "Ben", None, "")
    assert "Type the weekly hours" in capacity_form_values(state("102", ""), need_hours=True)[3]
    assert "Choose a person" in capacity_form_values(state(None, "3"), need_hours=True)[3]
    assert "not a number" in capacity_form_values(state("102", "lots"), need_hours=True)[3]
    notice = {"name": "Ben <!here>", "previous": None, "hours": 32.0, "default_hours": 40.0}
    assert capacity_notice(notice) == (
        "Ben &lt;!here&gt;'s weekly hours are now 32 h (were the default 40 h)."
    )
    assert "back to the default 40 h (were 32 h)" in capacity_notice(
        {**notice, "previous": 32.0, "hours": None}
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def people(n: int) -> list[ChartPerson]:
    return [ChartPerson(f"P{i:02d}", 40.0, (10.0 * i, 20.0, 0.0, 5.0)) for i in range(n)]


def test_chart_is_a_deterministic_png_that_changes_with_the_data() -> None:
    weeks = [date(2026, 3, 2) + timedelta(weeks=k) for k in range(4)]
    first = load_chart_png(people(4), weeks, threshold=1.2, title="Rel")
    assert first == load_chart_png(people(4), weeks, threshold=1.2, title="Rel")
    width, height = png_size(first)
    assert width >= 600 and height == 460
    assert b"Software" not in first and b"matplotlib" not in first.lower()
    other = load_chart_png(people(5), weeks, threshold=1.2, title="Rel")
    assert other != first and png_size(other)[0] > width
    assert png_size(load_chart_png([], weeks, threshold=1.2, title="Rel"))[1] == 460


def test_chart_keeps_the_overloaded_and_busiest_people() -> None:
    chosen = select_people(people(30), threshold=1.2)
    assert len(chosen) == MAX_PEOPLE
    # P05.. are over 48 h in week 0 (50 h and more); the busiest come first.
    assert chosen[0].name == "P29" and all(p.name >= "P18" for p in chosen)
