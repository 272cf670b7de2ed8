"""Issue 13 end to end: a person creates a task through Asana's API with their own token, the
sandbox Asana delivers the signed event to POST /asana/events/{project}, the webhooks hand it to
triage through the app's own wiring (`services.webhooks.sink`), one card is posted, and Approve
writes the AI fields and one comment. Real clients over loopback, nothing replaced."""

from __future__ import annotations

import copy
import json
import urllib.request
from collections import Counter

import asana
import pytest

from bot.demo import CHANNEL, LEAD, TEAMS_CHANNEL, Sandbox, running_sandbox
from bot.sandbox.asana_webhooks import signature
from bot.sandbox.slack_standin import render_message
from tests.clock import FrozenNow

from .conftest import backend_env, both_backends, click, last_ephemeral, proposal_id

INTERN = "U0INTERN"  # in the workspace, not an approver
NOTES = "Finance needs the billing report as a spreadsheet.\n- Columns match the PDF report\n"


@pytest.fixture
def box(frozen_now: FrozenNow, request: pytest.FixtureRequest):
    env = {"STANDUP_CHANNEL": CHANNEL, "COPILOT_APPROVERS": LEAD}
    env |= frozen_now.env | backend_env(request)
    with running_sandbox(tasks=60, use_model=False, env=env, webhooks=True) as sandbox:
        sandbox.setup_fields()
        yield sandbox


def person(box: Sandbox) -> str:
    return next(g for g in box.seed.user_gids.values() if g != box.asana.store.me)


def create(box: Sandbox, name: str, *, token: str | None = None) -> str:
    """Create a task in the linked project through the official client, as that token's user
    does in Asana (a person's own token unless told otherwise)."""
    config = asana.Configuration()
    config.host = box.asana.base_url
    config.access_token = token or box.asana.token_for(person(box))
    tasks = asana.TasksApi(asana.ApiClient(config))
    data = {"name": name, "notes": NOTES, "projects": [box.seed.project_gid]}
    return str(tasks.create_task({"data": data}, {})["gid"])


def delivered(box: Sandbox, gids: list[str], copies: int = 1) -> None:
    """Wait until Asana has delivered (and the app answered 200) each task's event `copies`
    times, then for the work after the answers: the burst handed over, triage posted."""
    arrived(box, gids, copies)
    box.services.jobs.drain()
    box.services.webhooks.flush()
    box.services.triage.settle()


def arrived(box: Sandbox, gids: list[str], copies: int = 1) -> None:
    """Wait until each task's event was delivered `copies` times and answered 200."""
    hub = box.asana.webhooks

    def seen() -> Counter[str]:
        return Counter(
            event["resource"]["gid"]
            for _, status, body in list(hub.deliveries)
            if status == 200
            for event in json.loads(body)["events"]
        )

    assert box.slack.wait_for(lambda: all(seen()[g] >= copies for g in gids), 60), seen()


def cards(box: Sandbox) -> list[dict]:
    # Copies: the stand-in updates its own message in place when the app edits it.
    return [copy.deepcopy(m) for m in box.channel_messages() if "Triage" in render_message(m)]


def field(box: Sandbox, gid: str, name: str) -> object:
    return box.asana.store.field_value(gid, name)


def story_posts(box: Sandbox, gid: str) -> int:
    return sum(
        1 for r in box.asana.requests if r.method == "POST" and r.path == f"/tasks/{gid}/stories"
    )


@both_backends()
def test_a_task_a_person_creates_becomes_one_card_and_approve_writes_it_once(box) -> None:
    gid = create(box, "Add CSV export to the billing reports")
    delivered(box, [gid])
    [card] = cards(box)
    shown = render_message(card)
    assert "Add CSV export to the billing reports" in shown
    assert [b["action_id"] for b in card["blocks"][-1]["elements"]] == [
        "proposal_approve",
        "proposal_reject",
    ]
    [row] = box.services.store.proposal(proposal_id(card)).view["rows"]
    assert row["gid"] == gid
    # Someone who is not an approver cannot decide: nothing written.
    click(box, card, "proposal_approve", user=INTERN)
    assert "approver" in last_ephemeral(box).lower()
    assert field(box, gid, "AI Priority Score") is None and box.asana.store.stories[gid] == []
    click(box, card, "proposal_approve")
    assert field(box, gid, "AI Priority Score") == pytest.approx(row["score"])
    assert field(box, gid, "AI Rationale") == row["rationale"]
    assert field(box, gid, "AI Suggested Sprint") == row["sprint"]
    assert field(box, gid, "Story Points") == row["estimate"]["points"]
    [comment] = [s["text"] for s in box.asana.store.stories[gid]]
    assert row["rationale"] in comment
    box.slack.click_button(  # a second press, from a screen that has not redrawn
        box.app_url,
        channel_id=CHANNEL,
        message_ts=card["ts"],
        action_id="proposal_approve",
        user_id=LEAD,
        as_seen=card,
    )
    box.services.jobs.drain()
    assert story_posts(box, gid) == 1 and len(cards(box)) == 1


def test_the_same_delivery_duplicated_and_replayed_later_gives_one_card(box) -> None:
    box.asana.webhooks.knobs.duplicates = 1  # Asana may deliver an event twice
    gid = create(box, "Rotate the billing API keys")
    delivered(box, [gid], copies=2)
    [card] = cards(box)
    # The same body again once the card is out (a late retry, or a replay: Asana's signature
    # has no timestamp): answered 200, no second card.
    [(webhook, _, body)] = {(w, s, b) for w, s, b in box.asana.webhooks.deliveries}
    target = box.asana.webhooks.webhooks[webhook]["target"]
    secret = box.services.store.webhook_secret(box.seed.project_gid)
    assert secret is not None
    headers = {"X-Hook-Signature": signature(secret, body), "Content-Type": "application/json"}
    for _ in range(2):
        request = urllib.request.Request(target, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
    delivered(box, [gid], copies=2)
    assert cards(box) == [card]
    assert [row["gid"] for row in _rows(box, card)] == [gid]


def test_a_task_the_copilots_own_token_creates_gives_no_card(box) -> None:
    mine = create(box, "Written by the copilot", token=box.asana.token)
    theirs = create(box, "Written by a person")  # proves deliveries flow and are triaged
    delivered(box, [mine, theirs])
    assert [row["gid"] for c in cards(box) for row in _rows(box, c)] == [theirs]


def test_twenty_tasks_created_in_a_row_give_one_card_listing_them_all(box) -> None:
    # An import: twenty tasks one after the other, each event in its own delivery (the
    # worst case for the app: Asana may batch them, but need not).
    gids = []
    for n in range(20):
        gids.append(create(box, f"Imported task {n}"))
        arrived(box, gids)
    delivered(box, gids)
    assert len(box.asana.webhooks.deliveries) == 20
    [card] = cards(box)
    assert sorted(row["gid"] for row in _rows(box, card)) == sorted(gids)


def test_a_project_linked_to_a_teams_channel_gets_its_card_in_teams(frozen_now) -> None:
    env = {"STANDUP_CHANNEL": "teams:" + TEAMS_CHANNEL} | frozen_now.env
    with running_sandbox(tasks=60, use_model=False, env=env, webhooks=True) as box:
        box.setup_fields()
        box.teams_say("help", expect_proposal=False)  # the copilot is in the team
        gid = create(box, "Add CSV export to the billing reports")
        delivered(box, [gid])
        [card] = [
            m
            for m in box.teams.messages_in(TEAMS_CHANNEL)
            if "Triage" in json.dumps(m.get("attachments"))
        ]
        assert "Add CSV export to the billing reports" in json.dumps(card["attachments"])
        assert box.teams_click(card, "approve").status == 200
        assert field(box, gid, "AI Priority Score") is not None
        assert len(box.asana.store.stories[gid]) == 1
        assert cards(box) == []  # nothing in Slack


def _rows(box: Sandbox, card: dict) -> list[dict]:
    return box.services.store.proposal(proposal_id(card)).view["rows"]
