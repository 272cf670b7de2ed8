"""Capacity alerts end to end: real Bolt app, real Asana and Slack clients, sandbox on loopback.

`arrange_overload` gives Hannah Kim 60 h next week in a small release project (limit 48 h);
the fewest-change fix is to hand "Tablet layout polish" (20 h, frontend) to Sofia Alvarez.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.demo import (
    CHANNEL,
    HANNAH_SLACK_ID,
    LEAD,
    Crunch,
    Sandbox,
    add_slack_user_for,
    arrange_overload,
    running_sandbox,
    sandbox_env,
)
from bot.sandbox.slack_standin import pings
from bot.surfaces.slack.blocks.overload import (
    CAPACITY_HOURS,
    CAPACITY_PERSON,
    CAPACITY_RESET,
    CAPACITY_SAVE,
    CAPACITY_VIEW,
)
from bot.usecases.overload import run_overload_check, set_weekly_hours
from tests.clock import FrozenNow, clocked_command, every_now

from .conftest import (
    backend_env,
    both_backends_every_now,
    current,
    last_ephemeral,
    put_actions,
)


@contextmanager
def crunch_sandbox(env: dict[str, str] | None = None) -> Iterator[tuple[Sandbox, Crunch]]:
    with running_sandbox(tasks=10, use_model=False, lease_seconds=1.0, env=env) as box:
        crunch = arrange_overload(box.asana.store, box.seed, box.services.today())
        add_slack_user_for(box, "hannah.kim@acme.example", HANNAH_SLACK_ID, "Hannah Kim")
        add_slack_user_for(box, "lead@example.com", LEAD, "Lee Lead")
        box.link(crunch.project_gid)  # the lead links the crunch project to the team's channel
        yield box, crunch


@pytest.fixture
def crunch_box(
    frozen_now: FrozenNow, request: pytest.FixtureRequest
) -> Iterator[tuple[Sandbox, Crunch]]:
    with crunch_sandbox(env=frozen_now.env | backend_env(request)) as pair:
        yield pair


def check(box: Sandbox, crunch: Crunch):
    return run_overload_check(box.services, project_ref=crunch.project_gid, channel=CHANNEL)


def alert_message(box: Sandbox, ts: str) -> dict:
    return copy.deepcopy(box.slack.messages[(CHANNEL, ts)])


def click(box: Sandbox, ts: str, action: str, user: str = LEAD) -> None:
    result = box.slack.click_button(
        box.app_url, channel_id=CHANNEL, message_ts=ts, action_id=action, user_id=user
    )
    assert result.status == 200
    box.services.jobs.drain()


def task(box: Sandbox, gid: str) -> dict:
    return box.asana.store.task(gid)


@both_backends_every_now("crunch_box")
def test_alert_with_chart_then_approve_reassigns_exactly_once(crunch_box) -> None:
    box, crunch = crunch_box
    box.asana.reset_requests()
    report = check(box, crunch)
    # One paginated read of the project's tasks (plus the project itself and, once, its people).
    assert box.asana.count("GET", f"/projects/{crunch.project_gid}/tasks") == 1
    assert box.asana.count("GET", "/users") == 1
    assert box.asana.count("GET") == 3
    [alert] = report.alerts
    message = alert_message(box, alert.message_ts)
    text = box.slack.render(message)
    assert "@hannah is forecast at *60 h*" in text and "*150%* of a 40 h week" in text
    assert "Tablet layout polish" in text and "Fix crash on rotate" in text
    assert "Reassign* Tablet layout polish" in text and "*Sofia Alvarez*" in text
    assert [p for p in pings(message) if not p.startswith("<https://app.asana.com/")] == [
        f"<@{HANNAH_SLACK_ID}>"
    ]
    [share] = box.slack.file_shares
    assert share["channel"] == CHANNEL and share["file_id"] == report.chart_file_id
    assert box.slack.files[share["file_id"]]["content"].startswith(b"\x89PNG\r\n\x1a\n")

    box.asana.reset_requests()
    click(box, alert.message_ts, "proposal_approve")
    assert put_actions(box) == {crunch.tablet: 1}
    assert task(box, crunch.tablet)["assignee"] == crunch.sofia
    assert task(box, crunch.submit)["assignee"] == crunch.hannah
    updated = box.slack.render(current(box, {"ts": alert.message_ts}))
    assert "Approved" in updated and "1 task written" in updated and "[Approve]" not in updated
    audit = box.services.store.audit_rows(alert.proposal_id)
    assert [r["task_gid"] for r in audit if r["action"] == "written"] == [crunch.tablet]

    # The fix cleared the week: a new check finds nothing and posts nothing.
    again = check(box, crunch)
    assert again.overloads == () and again.alerts == () and again.cleared == 1
    assert len(box.channel_messages()) == 1 and len(box.slack.file_shares) == 1
    assert put_actions(box) == {crunch.tablet: 1}


def test_reject_changes_nothing(crunch_box) -> None:
    box, crunch = crunch_box
    [alert] = check(box, crunch).alerts
    box.asana.reset_requests()
    click(box, alert.message_ts, "proposal_reject")
    assert put_actions(box) == {} and box.asana.count("POST", "/batch") == 0
    assert task(box, crunch.tablet)["assignee"] == crunch.hannah
    updated = box.slack.render(current(box, {"ts": alert.message_ts}))
    assert "Rejected" in updated and "Nothing was written" in updated


@both_backends_every_now("crunch_box")
def test_a_second_check_posts_nothing_and_a_grown_overload_alerts_again(crunch_box) -> None:
    box, crunch = crunch_box
    check(box, crunch)
    second = check(box, crunch)
    assert second.alerts == () and len(second.already_alerted) == 1
    assert len(box.channel_messages()) == 1 and len(box.slack.file_shares) == 1

    hours = box.seed.field_gids["Estimated Hours"]
    box.asana.store.add_task(
        crunch.project_gid,
        "Hotfix 5.0.1",
        assignee=crunch.hannah,
        due_on=crunch.week_start + timedelta(days=3),
        custom_fields={hours: 8},
    )
    [grown] = check(box, crunch).alerts
    assert grown.reason == "grown" and grown.overload.load == pytest.approx(68)
    text = box.slack.render(alert_message(box, grown.message_ts))
    assert "grown since the last alert" in text and "Hotfix 5.0.1" in text
    assert len(box.channel_messages()) == 2 and len(box.slack.file_shares) == 2
    assert check(box, crunch).alerts == ()


@pytest.mark.parametrize("change", ["rescheduled", "reassigned", "completed"])
def test_a_task_changed_since_the_alert_is_skipped_not_overwritten(crunch_box, change) -> None:
    box, crunch = crunch_box
    [alert] = check(box, crunch).alerts
    record = box.asana.store.tasks[crunch.tablet]
    if change == "rescheduled":
        record["due_on"] = (crunch.week_start + timedelta(days=3)).isoformat()
    elif change == "reassigned":
        record["assignee"] = crunch.marcus
    else:
        record["completed"] = True
    click(box, alert.message_ts, "proposal_approve")
    assert put_actions(box) == {}
    assert task(box, crunch.tablet)["assignee"] != crunch.sofia
    updated = box.slack.render(current(box, {"ts": alert.message_ts}))
    assert "Skipped (1)" in updated and "0 tasks written" in updated
    reason = "completed" if change == "completed" else "conflict"
    assert reason in updated


@every_now
def test_when_nobody_has_room_the_fix_moves_a_due_date_a_week(crunch_box) -> None:
    box, crunch = crunch_box
    set_weekly_hours(box.services, crunch.sofia, 12, person_name="Sofia Alvarez", by=LEAD)
    [alert] = check(box, crunch).alerts
    [move] = alert.rebalance.moves
    assert (move.item_id, move.kind) == (crunch.tablet, "reschedule")
    text = box.slack.render(alert_message(box, alert.message_ts)).replace("*", "")
    next_friday = crunch.week_start + timedelta(days=11)
    assert f"→ {next_friday:%a} {next_friday.day} {next_friday:%b}" in text
    click(box, alert.message_ts, "proposal_approve")
    record = task(box, crunch.tablet)
    assert record["due_on"] == next_friday.isoformat()
    assert record["start_on"] == (crunch.week_start + timedelta(days=7)).isoformat()
    assert record["assignee"] == crunch.hannah
    assert put_actions(box) == {crunch.tablet: 1}
    # The crash fix blocks the submission: it is never proposed later than its dependent.
    assert task(box, crunch.crash)["due_on"] == (crunch.week_start + timedelta(2)).isoformat()


def test_only_approvers_can_approve_an_alert() -> None:
    with crunch_sandbox(env={"COPILOT_APPROVERS": "U0BOSS"}) as (box, crunch):
        [alert] = check(box, crunch).alerts
        click(box, alert.message_ts, "proposal_approve", user="U0INTERN")
        assert put_actions(box) == {}
        assert "Only the team's approvers" in last_ephemeral(box)
        assert box.services.store.proposal(alert.proposal_id).status == "open"
        click(box, alert.message_ts, "proposal_approve", user="U0BOSS")
        assert put_actions(box) == {crunch.tablet: 1}


def form(person_gid: str, name: str, hours: str) -> dict:
    return {
        CAPACITY_PERSON: {
            CAPACITY_PERSON: {
                "type": "static_select",
                "selected_option": {
                    "value": person_gid,
                    "text": {"type": "plain_text", "text": name},
                },
            }
        },
        CAPACITY_HOURS: {CAPACITY_HOURS: {"type": "number_input", "value": hours}},
    }


def open_capacity_modal(box: Sandbox, user: str, action_id: str = CAPACITY_SAVE) -> dict:
    """Click a capacity button on `user`'s Home tab; return the modal it opened."""
    opened = len(box.slack.calls_to("views.open"))
    result = box.slack.click_home_button(box.app_url, user_id=user, action_id=action_id)
    assert result.status == 200
    # Bolt answers at ack(); the listener opens the modal right after, on its own thread.
    assert box.slack.wait_for(lambda: len(box.slack.calls_to("views.open")) > opened)
    calls = box.slack.calls_to("views.open")
    assert len(calls) == opened + 1 and calls[-1].ok, calls[-1:]
    return box.slack.views[max(box.slack.views)]


def home_notice(box: Sandbox, user: str) -> str:
    blocks = box.slack.home_views[user]["blocks"]
    return next((b["text"]["text"] for b in blocks if b.get("block_id") == "home_notice"), "")


def test_home_capacity_buttons_open_a_modal_and_the_result_shows_on_home() -> None:
    with crunch_sandbox(env={"COPILOT_APPROVERS": LEAD}) as (box, crunch):
        # The Home tab shows the default project's capacity: make it the crunch project.
        box.services.settings = replace(box.services.settings, asana_project=crunch.project_gid)
        check(box, crunch)
        assert box.slack.open_home(box.app_url, user_id=LEAD).status == 200
        box.services.jobs.drain()
        assert box.slack.wait_for(lambda: LEAD in box.slack.home_views)
        home = box.slack.render(box.slack.home_views[LEAD])
        assert "Hannah Kim" in home and "60!" in home
        assert not any(  # number_input exists only in modals (Block Kit reference)
            "number_input" in json.dumps(b) for b in box.slack.home_views[LEAD]["blocks"]
        )

        modal = open_capacity_modal(box, LEAD)
        assert modal["type"] == "modal" and modal["callback_id"] == CAPACITY_VIEW
        answer = box.slack.submit_view(
            box.app_url, user_id=LEAD, view=modal, values=form(crunch.sofia, "Sofia Alvarez", "30")
        )
        assert answer.status == 200
        box.services.jobs.drain()
        assert box.services.store.weekly_hours_overrides() == {crunch.sofia: 30.0}
        assert "Sofia Alvarez's weekly hours are now 30 h (were the default 40 h)" in (
            home_notice(box, LEAD)
        )
        assert box.slack.channel_messages("D" + LEAD[1:]) == []  # the app's DM is hidden

        # Reset: a modal without hours; the Home tab says so.
        modal = open_capacity_modal(box, LEAD, CAPACITY_RESET)
        values = form(crunch.sofia, "Sofia Alvarez", "")
        del values[CAPACITY_HOURS]
        box.slack.submit_view(box.app_url, user_id=LEAD, view=modal, values=values)
        box.services.jobs.drain()
        assert box.services.store.weekly_hours_overrides() == {}
        assert "back to the default 40 h" in home_notice(box, LEAD)

        # A bad number keeps the modal open with the field's error, and changes nothing.
        modal = open_capacity_modal(box, LEAD)
        answer = box.slack.submit_view(
            box.app_url, user_id=LEAD, view=modal, values=form(crunch.sofia, "Sofia", "lots")
        )
        assert answer.json()["response_action"] == "errors"
        assert CAPACITY_HOURS in answer.json()["errors"]
        assert box.services.store.weekly_hours_overrides() == {}

        add_slack_user_for(box, "intern@example.com", "U0INTERN", "Ian Intern")
        box.slack.open_home(box.app_url, user_id="U0INTERN")
        box.services.jobs.drain()
        assert box.slack.wait_for(lambda: "U0INTERN" in box.slack.home_views)
        box.slack.click_home_button(box.app_url, user_id="U0INTERN", action_id=CAPACITY_SAVE)
        assert box.slack.wait_for(
            lambda: "Only the team's approvers" in home_notice(box, "U0INTERN")
        )
        assert box.services.store.weekly_hours_overrides() == {}


def test_copilot_overload_command_runs_the_check_once(crunch_box) -> None:
    box, crunch = crunch_box
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ASANA_"))},
        **sandbox_env(box.asana, box.slack, None, box.seed, box.settings.db_path, "unused"),
        "STANDUP_CHANNEL": CHANNEL,
    }
    command = clocked_command("overload", "--project", crunch.project_gid)
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "1 alerted now" in first.stdout and "Hannah Kim: week of" in first.stdout
    assert len(box.channel_messages()) == 1 and len(box.slack.file_shares) == 1
    # The running app shares the database: its own check stays quiet, and it approves.
    assert check(box, crunch).alerts == () and len(box.channel_messages()) == 1
    click(box, box.channel_messages()[0]["ts"], "proposal_approve")
    assert task(box, crunch.tablet)["assignee"] == crunch.sofia
