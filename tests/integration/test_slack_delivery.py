"""Slack as it really behaves (issue 9 §4): channels the bot is not in, the Home tab's forms."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from bot.demo import HANNAH_SLACK_ID, LEAD, add_slack_user_for, arrange_overload, running_sandbox
from bot.sandbox.slack_standin import SlackChannel
from bot.usecases.overload import run_overload_check
from tests.integration.conftest import click, prioritize, proposal_id

PRIVATE = "G0PRIVATE"


@pytest.fixture
def crunch_pair():
    with running_sandbox(tasks=10, use_model=False, lease_seconds=1.0) as box:
        crunch = arrange_overload(box.asana.store, box.seed, box.services.today())
        for channel in ("C0TEAM", "C0PUBLIC", PRIVATE):  # approvers linked it where it goes
            box.link(crunch.project_gid, channel)
        add_slack_user_for(box, "hannah.kim@acme.example", HANNAH_SLACK_ID, "Hannah Kim")
        add_slack_user_for(box, "lead@example.com", LEAD, "Lee Lead")
        yield box, crunch


@pytest.mark.parametrize("command", ["/prioritize", "/plan-sprint"])
def test_a_command_in_a_private_channel_without_the_bot_says_invite_and_leaves_nothing_open(
    box, command
):
    box.slack.add_conversation(SlackChannel(PRIVATE, kind="private", bot_member=False))
    answer, message = box.command(command, user=LEAD, channel=PRIVATE, expect_message=False)
    assert answer.status == 200 and message is None
    said = [p.get("text", "") for p in box.slack.response_posts if p.get("user") == LEAD]
    assert any("invite @Asana Copilot to this channel" in text for text in said), said
    assert not any("try again in a minute" in text for text in said)
    store = box.services.store
    assert store.proposals_with_status("open") == []
    withdrawn = store.proposals_with_status("withdrawn")
    assert len(withdrawn) == 1 and withdrawn[0].channel == PRIVATE
    assert any(r["action"] == "withdrawn" for r in store.audit_rows(withdrawn[0].id))

    # Once invited, the same command works.
    box.slack.invite_bot(PRIVATE)
    _, message = box.command(command, user=LEAD, channel=PRIVATE)
    assert message is not None
    assert len(store.proposals_with_status("open")) == 1


def open_home(box, user: str = LEAD) -> dict:
    if user not in box.slack.users:
        add_slack_user_for(box, "lead@example.com", user, "Lee Lead")
    published = len(box.slack.calls_to("views.publish"))
    assert box.slack.open_home(box.app_url, user_id=user).status == 200
    assert box.slack.wait_for(lambda: len(box.slack.calls_to("views.publish")) > published)
    box.services.jobs.drain()
    return box.slack.home_views[user]


def test_a_second_home_open_reads_nothing_from_asana(box):
    first = open_home(box)
    assert "Team capacity" in box.slack.render(first)
    box.asana.reset_requests()
    second = open_home(box)
    assert box.asana.count() == 0
    assert box.slack.render(second) == box.slack.render(first)


def test_the_daily_check_refreshes_the_cached_overview(box):
    run_overload_check(box.services, project_ref=box.settings.asana_project, channel="C0TEAM")
    box.asana.reset_requests()
    assert "Team capacity" in box.slack.render(open_home(box))
    assert box.asana.count() == 0


def test_without_asana_project_the_home_tab_shows_a_hint_and_logs_no_traceback(box, caplog):
    box.services.settings = replace(box.services.settings, asana_project=None)
    with caplog.at_level(logging.DEBUG):
        home = box.slack.render(open_home(box))
    assert "Set ASANA_PROJECT" in home
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_the_chart_joins_a_public_channel_first(crunch_pair):
    box, crunch = crunch_pair
    box.slack.add_conversation(SlackChannel("C0PUBLIC", bot_member=False))
    report = run_overload_check(box.services, project_ref=crunch.project_gid, channel="C0PUBLIC")
    assert len(report.alerts) == 1 and report.chart_file_id
    assert [c.ok for c in box.slack.calls_to("conversations.join")] == [True]
    assert [s["channel"] for s in box.slack.file_shares] == ["C0PUBLIC"]


def test_where_the_bot_cannot_join_the_channel_is_told_and_approvers_see_it(crunch_pair):
    box, crunch = crunch_pair
    box.slack.scopes = box.slack.scopes - {"channels:join"}
    box.slack.add_conversation(SlackChannel("C0PUBLIC", bot_member=False))
    report = run_overload_check(box.services, project_ref=crunch.project_gid, channel="C0PUBLIC")
    assert len(report.alerts) == 1 and report.chart_file_id is None
    assert "not_in_channel" in report.chart_error and box.slack.file_shares == []
    said = [box.slack.render(m) for m in box.slack.channel_messages("C0PUBLIC")]
    assert any("/invite @Asana Copilot" in text for text in said[1:]), said
    # The load chart's refusal names that chart (the kind its caller passed), not the burn-up.
    assert any("The weekly load chart could not be shared" in text for text in said[1:]), said
    problems = box.services.store.delivery_problems()
    assert [(p.kind, p.channel, p.error) for p in problems] == [
        ("chart", "C0PUBLIC", "not_in_channel")
    ]
    assert "Load chart" in box.slack.render(open_home(box))


def test_an_alert_to_a_private_channel_without_the_bot_is_withdrawn_and_shown(crunch_pair):
    box, crunch = crunch_pair
    box.slack.add_conversation(SlackChannel(PRIVATE, kind="private", bot_member=False))
    report = run_overload_check(box.services, project_ref=crunch.project_gid, channel=PRIVATE)
    assert report.alerts == () and len(report.failed) == 1
    store = box.services.store
    assert store.proposals_with_status("open") == []
    assert [p.kind for p in store.delivery_problems()] == ["overload"]
    home = box.slack.render(open_home(box))
    assert "Overload alert" in home and "invite @Asana Copilot" in home
    # Invited: the next check alerts, and the problem is gone.
    box.slack.invite_bot(PRIVATE)
    again = run_overload_check(box.services, project_ref=crunch.project_gid, channel=PRIVATE)
    assert len(again.alerts) == 1
    assert [p.kind for p in store.delivery_problems()] == []


def test_a_proposal_whose_post_slack_failed_on_its_side_is_not_withdrawn(box):
    # fatal_error: the message may exist, so the proposal stays open (its buttons may work).
    box.slack.faults.add("error", method="chat.postMessage", code="fatal_error")
    answer = box.slack.slash_command(
        box.app_url, "/prioritize", "", user_id=LEAD, channel_id="C0TEAM"
    )
    assert answer.status == 200
    box.services.jobs.drain(timeout=120)
    store = box.services.store
    assert store.proposals_with_status("withdrawn") == []
    assert len(store.proposals_with_status("open")) == 1


def test_a_post_refused_by_a_read_only_channel_withdraws_and_says_ask_an_admin(box):
    code = "restricted_action_read_only_channel"
    box.slack.faults.add("error", method="chat.postMessage", code=code)
    answer = box.slack.slash_command(
        box.app_url, "/prioritize", "", user_id=LEAD, channel_id="C0TEAM"
    )
    assert answer.status == 200
    box.services.jobs.drain(timeout=120)
    said = [p.get("text", "") for p in box.slack.response_posts if p.get("user") == LEAD]
    assert any(code in text and "admin" in text for text in said), said
    assert not any("try again in a minute" in text for text in said)
    store = box.services.store
    assert store.proposals_with_status("open") == []
    assert len(store.proposals_with_status("withdrawn")) == 1


@pytest.mark.parametrize(
    ("fault", "code", "reason"),
    [
        ("error", "message_not_found", "message_not_found"),
        ("500", "internal_error", "internal_error"),  # still failing after the SDK's retries
    ],
)
def test_when_the_message_cannot_be_updated_the_clicker_hears_what_was_written(
    rules_box, fault, code, reason
):
    box = rules_box
    message = prioritize(box)
    box.slack.faults.add(fault, method="chat.update", code=code, times=5)
    click(box, message, "proposal_approve")
    proposal = box.services.store.proposal(proposal_id(message))
    assert proposal.status in ("applied", "partial")
    written = sum(1 for i in box.services.store.items(proposal.id) if i.status == "written")
    assert written > 0
    said = [p.get("text", "") for p in box.slack.response_posts if p.get("user") == LEAD]
    assert any(
        f"Approved: {written} written to Asana" in text and reason in text for text in said
    ), said
    assert not any("Nothing was changed" in text for text in said), said
