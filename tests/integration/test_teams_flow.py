"""Teams end to end: the real Teams SDK app behind the JWT check, the Teams stand-in, the real
Asana client against the sandbox, on the same core (use cases, approval engine, store) as Slack."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta

import time_machine

from bot.demo import TEAMS_CHANNEL, TEAMS_LEAD, arrange_overload, run_demo, running_sandbox
from bot.sandbox.teams_standin import OTHER_TENANT, TENANT, TeamsUser, card_problems
from bot.usecases.overload import run_overload_check

from .conftest import put_actions

BEN = "29:1ben"  # a member, not an approver
GUS = "29:1gus"  # a guest
PLANNING = "19:platform-planning@thread.tacv2"


def card_of(message: dict) -> dict:
    return message["attachments"][0]["content"]


def shown(message: dict) -> str:
    return json.dumps(card_of(message), ensure_ascii=False)


def verbs(message: dict) -> list[str]:
    return [a["verb"] for a in card_of(message).get("actions", [])]


def proposal_of(message: dict) -> str:
    return card_of(message)["actions"][0]["data"]["proposal"]


def aad(box, member_id: str) -> str:
    return "teams:" + box.teams.users[member_id].aad_object_id


def test_prioritize_in_a_channel_posts_the_proposal_card(box) -> None:
    result, message = box.teams_say("prioritize")
    assert result.status == 200
    assert message is not None
    assert verbs(message) == ["approve", "reject", "page"]
    proposal = box.services.store.proposal(proposal_of(message))
    assert proposal.channel == "teams:" + TEAMS_CHANNEL
    assert proposal.created_by == aad(box, TEAMS_LEAD)
    assert len(proposal.view["rows"]) == 60
    assert "proposed by Ana Lima" in shown(message) and "…and 40 more" in shown(message)


def test_approve_is_answered_at_once_then_the_card_is_updated_for_everyone(box) -> None:
    _, message = box.teams_say("prioritize")
    pid = proposal_of(message)
    answer = box.teams_click(message, "approve")
    assert answer.status == 200
    body = answer.json()
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Approving…** by Ana Lima" in json.dumps(body["value"], ensure_ascii=False)
    view = box.services.store.proposal(pid).view
    for row in view["rows"]:
        assert box.asana.store.field_value(row["gid"], "AI Rationale") == row["rationale"]
    assert set(put_actions(box).values()) == {1}
    updated = box.teams.activities[(TEAMS_CHANNEL, message["id"])]
    assert "Approved** by Ana Lima" in shown(updated) and "60 tasks written" in shown(updated)
    assert verbs(updated) == ["page"]
    audit = box.services.store.audit_rows(pid)
    assert any(r["action"] == "approve" and r["actor"] == aad(box, TEAMS_LEAD) for r in audit)


def test_a_second_click_writes_nothing_more(box) -> None:
    _, message = box.teams_say("prioritize")
    box.teams_click(message, "approve")
    again = box.teams_click(message, "approve")
    assert again.status == 200 and "Approved** by Ana Lima" in json.dumps(again.json())
    assert set(put_actions(box).values()) == {1}


def test_reject_writes_nothing(box) -> None:
    _, message = box.teams_say("prioritize")
    box.teams_click(message, "reject")
    assert put_actions(box) == {}
    updated = box.teams.activities[(TEAMS_CHANNEL, message["id"])]
    assert "Rejected** by Ana Lima" in shown(updated)


def test_a_non_approver_is_told_privately_and_nothing_changes(box) -> None:
    _, message = box.teams_say("prioritize")
    answer = box.teams_click(message, "approve", user=BEN)
    assert answer.json()["type"] == "application/vnd.microsoft.activity.message"
    assert "Only the team's approvers" in answer.json()["value"]
    assert put_actions(box) == {}
    assert box.services.store.proposal(proposal_of(message)).status == "open"
    audit = box.services.store.audit_rows(proposal_of(message))
    assert any(r["action"] == "refused" and r["actor"] == aad(box, BEN) for r in audit)


def test_show_all_pages_for_the_clicker_only(box) -> None:
    _, message = box.teams_say("prioritize")
    answer = box.teams_click(message, "page", data={"offset": 20})
    page = json.dumps(answer.json()["value"], ensure_ascii=False)
    assert "21–60 of 60" in page
    assert box.teams.activities[(TEAMS_CHANNEL, message["id"])] == message  # not changed


def test_plan_sprint_then_approve(box) -> None:
    _, message = box.teams_say("plan sprint Sprint 25 30 pts")
    assert message is not None and "Sprint plan · Sprint 25" in shown(message)
    box.teams_click(message, "approve")
    updated = box.teams.activities[(TEAMS_CHANNEL, message["id"])]
    assert "Approved** by Ana Lima" in shown(updated)
    selected = box.services.store.proposal(proposal_of(message)).view["selected"]
    assert selected
    for row in selected:
        assert box.asana.store.field_value(row["gid"], "Sprint") == "Sprint 25"


def test_help_and_unknown_commands_answer_with_the_help_card(box) -> None:
    box.teams_say("dance", expect_proposal=False)
    last = box.teams.messages_in(TEAMS_CHANNEL)[-1]
    assert "I don't know “dance”" in shown(last) and "plan sprint" in shown(last)


def test_install_says_hello(box) -> None:
    result = box.teams.install(box.app_url_teams, user=TEAMS_LEAD, conversation=PLANNING)
    assert result.status == 200
    assert box.teams.wait_for(lambda: bool(box.teams.messages_in(PLANNING)))
    assert "Hi! I rank Asana backlogs" in shown(box.teams.messages_in(PLANNING)[-1])


# -- refused requests: a clear answer, nothing written or posted -----------------------------


def test_a_guest_is_refused_privately(box) -> None:
    box.teams_say("prioritize", user=GUS, expect_proposal=False)
    assert not [
        m for m in box.teams.messages_in(TEAMS_CHANNEL) if m.get("attachments") and verbs(m)
    ]
    private = box.teams.messages_in("a:personal-1gus")
    assert private and "Guests can't use the copilot" in shown(private[-1])


def test_a_click_from_another_conversation_is_refused(box) -> None:
    _, message = box.teams_say("prioritize")
    answer = box.teams_click(message, "approve", conversation=PLANNING)
    assert answer.json()["value"] == "That proposal belongs to another conversation."
    assert put_actions(box) == {}


def test_a_click_on_an_unknown_proposal_is_refused(box) -> None:
    _, message = box.teams_say("prioritize")
    answer = box.teams_click(message, "approve", data={"proposal": "does-not-exist"})
    assert answer.json()["value"] == "That proposal no longer exists."
    assert put_actions(box) == {}


def test_another_tenant_is_refused_before_the_sdk(box) -> None:
    activity = box.teams.activity(
        "message", user=TEAMS_LEAD, conversation=TEAMS_CHANNEL, text="prioritize"
    )
    activity["conversation"]["tenantId"] = OTHER_TENANT
    assert box.teams.deliver(box.app_url_teams, activity).status == 403
    box.services.jobs.drain()
    assert box.teams.history == []


def test_the_demo_shows_a_teams_proposal_approved() -> None:
    out = io.StringIO()
    assert run_demo(tasks=15, use_model=False, out=out) == 0
    text = out.getvalue()
    teams_part = text[text.index("== Ana Lima writes") :]
    assert "[Approve] [Reject]" in teams_part
    assert "Approving…** by Ana Lima" in teams_part
    assert "Approved** by Ana Lima" in teams_part
    assert re.search(r"\d+ tasks written to Asana", teams_part)


def test_a_click_after_the_proposal_ttl_is_expired_and_writes_nothing(box) -> None:
    _, message = box.teams_say("prioritize")
    later = datetime.now(UTC) + timedelta(days=box.services.engine.proposal_ttl_days, hours=1)
    with time_machine.travel(later, tick=True):
        answer = box.teams_click(message, "approve")
    assert "This proposal has expired" in answer.json()["value"]
    assert put_actions(box) == {}
    audit = box.services.store.audit_rows(proposal_of(message))
    assert any(r["action"] == "expired" for r in audit)


def test_without_teams_approvers_approve_says_how_to_name_them() -> None:
    with running_sandbox(tasks=10, use_model=False, env={"TEAMS_APPROVERS": ""}) as box:
        box.setup_fields()
        _, message = box.teams_say("prioritize")
        answer = box.teams_click(message, "approve")
        assert "TEAMS_APPROVERS" in answer.json()["value"]
        assert put_actions(box) == {}


def test_a_digest_goes_to_a_teams_channel_with_members_mentioned(box) -> None:
    hannah = TeamsUser(
        "29:1hannah",
        "aaaaaaaa-0000-4000-8000-0000000000a7",
        "Hannah Kim",
        "hannah.kim@acme.example",
        TENANT,
    )
    box.teams.users[hannah.id] = hannah
    box.teams_say("help", expect_proposal=False)  # the copilot has been in the channel
    result = box.services.digests.post_now(box.seed.project_gid, "teams:" + TEAMS_CHANNEL)
    digest = box.teams.activities[(TEAMS_CHANNEL, result.message_ts)]
    card = card_of(digest)
    assert card_problems(card) == []
    assert "Stand-up · " in shown(digest)
    assert {
        "type": "mention",
        "text": "<at>Hannah Kim</at>",
        "mentioned": {"id": "29:1hannah", "name": "Hannah Kim"},
    } in card["msteams"]["entities"]
    assert box.services.store.last_digest("teams:" + TEAMS_CHANNEL, box.seed.project_gid)
    assert box.slack.channel_messages(TEAMS_CHANNEL) == []  # nothing went to Slack


def test_an_overload_alert_in_teams_is_approved_through_the_same_engine() -> None:
    with running_sandbox(tasks=10, use_model=False) as box:
        crunch = arrange_overload(box.asana.store, box.seed, box.services.today())
        box.link(crunch.project_gid, f"teams:{TEAMS_CHANNEL}")
        box.teams_say("help", expect_proposal=False)  # the copilot has been in the channel
        report = run_overload_check(
            box.services, project_ref=crunch.project_gid, channel=f"teams:{TEAMS_CHANNEL}"
        )
        (alert,) = report.alerts
        message = box.teams.activities[(TEAMS_CHANNEL, alert.message_ts)]
        assert "Over capacity · week of" in shown(message) and "Hannah Kim" in shown(message)
        assert "Reassign" in shown(message) and verbs(message) == ["approve", "reject"]
        assert box.slack.calls_to("files.completeUploadExternal") == []
        box.teams_click(message, "approve")
        updated = box.teams.activities[(TEAMS_CHANNEL, alert.message_ts)]
        assert "Approved** by Ana Lima" in shown(updated)
        assert box.asana.store.task(crunch.tablet)["assignee"] == crunch.sofia


def test_an_unknown_project_is_answered_privately_with_slacks_words(box) -> None:
    box.teams_say("prioritize Nonexistent Project", expect_proposal=False)
    assert not [m for m in box.teams.messages_in(TEAMS_CHANNEL) if m.get("attachments")]
    private = box.teams.messages_in("a:personal-1ana")
    assert private
    assert "No Asana project is named “Nonexistent Project”" in shown(private[-1])


def test_a_wrong_plan_sprint_syntax_gets_the_usage_privately(box) -> None:
    box.teams_say("plan sprint 0 pts", expect_proposal=False)
    private = box.teams.messages_in("a:personal-1ana")
    assert private and "plan-sprint" in shown(private[-1]).replace("\\\\", "")
