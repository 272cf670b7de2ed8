"""A corpus of hostile and broken Slack requests: each is refused (401/403/400) or answered with a
clear message, and none writes to Asana, posts to a channel, answers 500 or logs a traceback."""

import json
import logging
import time
from collections.abc import Callable
from urllib.parse import quote, urlencode

import pytest

from bot.demo import CHANNEL, GUEST, LEAD, PARTNER, PARTNER_TEAM, SINGLE_GUEST
from bot.surfaces.slack.blocks.access import LINK_VIEW

from .conftest import prioritize, proposal_id, put_actions

FORM = "application/x-www-form-urlencoded"


def _command(
    command: str = "/prioritize", text: str = "", *, reply_to: str = "", **over: str | None
) -> bytes:
    fields = {
        "token": "x",
        "team_id": "T0SANDBOX",
        "channel_id": CHANNEL,
        "user_id": LEAD,
        "command": command,
        "text": text,
        "response_url": reply_to,
        "trigger_id": f"t.{time.monotonic_ns()}",
    }
    fields.update(over)
    return urlencode({k: v for k, v in fields.items() if v is not None}).encode()


def _action(
    action_id: str,
    value: str,
    *,
    channel: str = CHANNEL,
    user: object = None,
    reply_to: str = "",
    team: str = "T0SANDBOX",
    enterprise: str | None = None,
) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": LEAD, "team_id": "T0SANDBOX"} if user is None else user,
        "team": {"id": team},
        "enterprise": {"id": enterprise, "name": "Org"} if enterprise else None,
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "message_ts": "1.1"},
        "trigger_id": f"t.{time.monotonic_ns()}",
        "response_url": reply_to,
        "actions": [{"action_id": action_id, "value": value, "type": "button", "block_id": "b"}],
    }
    if user == "drop":
        del payload["user"]
    return b"payload=" + quote(json.dumps(payload)).encode()


def _view(user: str, team: str = "T0SANDBOX") -> bytes:
    """The link form submitted (by someone the copilot must not answer)."""
    values = {
        "channel": {"channel": {"type": "conversations_select", "selected_conversation": CHANNEL}},
        "project": {"project": {"type": "plain_text_input", "value": "Legal"}},
    }
    payload = {
        "type": "view_submission",
        "team": {"id": team},
        "user": {"id": user, "team_id": team},
        "view": {"type": "modal", "callback_id": LINK_VIEW, "state": {"values": values}},
    }
    return b"payload=" + quote(json.dumps(payload)).encode()


def corpus(proposal: str, reply_to: Callable[[], str], legal: str = "1"):
    """(name, body, content type, timestamp offset, header tweak)

    Each request gets its own response_url, as from Slack (one accepts only 5 posts).
    """

    def command_body(*args, **kwargs):
        return _command(*args, reply_to=reply_to(), **kwargs)

    def action_body(*args, **kwargs):
        return _action(*args, reply_to=reply_to(), **kwargs)

    now_body = command_body()
    approve = "proposal_approve"
    return [
        # Issue 10: other teams and orgs, guests, external people, unlinked projects.
        ("command from another team", command_body(team_id="T0EVIL"), FORM, 0, None),
        ("command from another org", command_body(enterprise_id="E0EVIL"), FORM, 0, None),
        ("command from a guest", command_body(user_id=GUEST), FORM, 0, None),
        ("command from a single-channel guest", command_body(user_id=SINGLE_GUEST), FORM, 0, None),
        (
            "command from an external member",
            command_body(user_id=PARTNER, team_id=PARTNER_TEAM),
            FORM,
            0,
            None,
        ),
        ("command from an unknown user", command_body(user_id="U0NOBODY"), FORM, 0, None),
        ("approve from another team", action_body(approve, proposal, team="T0EVIL"), FORM, 0, None),
        (
            "approve from another org",
            action_body(approve, proposal, enterprise="E0EVIL"),
            FORM,
            0,
            None,
        ),
        (
            "approve by a guest",
            action_body(approve, proposal, user={"id": GUEST, "team_id": "T0SANDBOX"}),
            FORM,
            0,
            None,
        ),
        (
            "reject by an external member in a shared channel",
            action_body("proposal_reject", proposal, user={"id": PARTNER, "team_id": PARTNER_TEAM}),
            FORM,
            0,
            None,
        ),
        (
            "retry by an external member claiming our team",
            action_body("proposal_retry", proposal, user={"id": PARTNER, "team_id": "T0SANDBOX"}),
            FORM,
            0,
            None,
        ),
        ("link form submitted by a guest", _view(GUEST), FORM, 0, None),
        ("link form from another team", _view(LEAD, team="T0EVIL"), FORM, 0, None),
        (
            "prioritize an unlinked project by name",
            command_body(text="Legal - Acquisition of Initech"),
            FORM,
            0,
            None,
        ),
        ("prioritize an unlinked project by gid", command_body(text=legal), FORM, 0, None),
        (
            "plan a sprint of an unlinked project",
            command_body("/plan-sprint", text='"Legal - Acquisition of Initech" 30'),
            FORM,
            0,
            None,
        ),
        ("forged signature", now_body, FORM, 0, "forge"),
        ("signature for another body", now_body, FORM, 0, "other-body"),
        ("timestamp 6 minutes old", now_body, FORM, -360, None),
        ("timestamp 6 minutes ahead", now_body, FORM, 360, None),
        ("no signature header", now_body, FORM, 0, "no-signature"),
        ("no timestamp header", now_body, FORM, 0, "no-timestamp"),
        ("no headers at all", now_body, FORM, 0, "no-headers"),
        ("non-numeric timestamp", now_body, FORM, 0, "bad-timestamp"),
        ("v1 signature scheme", now_body, FORM, 0, "v1"),
        ("empty body", b"", FORM, 0, None),
        ("garbage bytes", b"\xff\xfe\x00\x01garbage", FORM, 0, None),
        ("not form, not json", b"hello world", "text/plain", 0, None),
        ("json without type", b'{"a": 1}', "application/json", 0, None),
        ("broken json", b'{"type": ', "application/json", 0, None),
        ("payload not json", b"payload=%7Bnot+json", FORM, 0, None),
        (
            "payload without type",
            b"payload=" + quote('{"user": {"id": "U1"}}').encode(),
            FORM,
            0,
            None,
        ),
        ("payload is a list", b"payload=" + quote("[1, 2]").encode(), FORM, 0, None),
        (
            "click without user",
            action_body("proposal_approve", proposal, user="drop"),
            FORM,
            0,
            None,
        ),
        (
            "click with user not an object",
            action_body("proposal_approve", proposal, user="U1"),
            FORM,
            0,
            None,
        ),
        (
            "view without type",
            b"payload="
            + quote(
                json.dumps({"type": "view_submission", "user": {"id": "U1"}, "view": {}})
            ).encode(),
            FORM,
            0,
            None,
        ),
        ("oversized body", b"command=%2Fprioritize&text=" + b"a" * 1_100_000, FORM, 0, None),
        ("command without user", command_body(user_id=None), FORM, 0, None),
        ("command without channel", command_body(channel_id=None), FORM, 0, None),
        ("unknown command", command_body("/drop-tables"), FORM, 0, None),
        ("unknown action", action_body("delete_everything", proposal), FORM, 0, None),
        (
            "approve a proposal that does not exist",
            action_body("proposal_approve", "nope0000"),
            FORM,
            0,
            None,
        ),
        (
            "approve from another channel",
            action_body("proposal_approve", proposal, channel="C0OTHER"),
            FORM,
            0,
            None,
        ),
        (
            "reject from another channel",
            action_body("proposal_reject", proposal, channel="C0OTHER"),
            FORM,
            0,
            None,
        ),
        (
            "retry a proposal that does not exist",
            action_body("proposal_retry", "nope"),
            FORM,
            0,
            None,
        ),
        ("page with a malformed value", action_body("proposal_page", "x:y:z"), FORM, 0, None),
        (
            "prioritize a pinging project name",
            command_body(text="<!channel> <@U0BOSS>"),
            FORM,
            0,
            None,
        ),
        ("prioritize a 3,000-character name", command_body(text="x" * 3000), FORM, 0, None),
        (
            "unknown view",
            b"payload="
            + quote(
                json.dumps(
                    {
                        "type": "view_submission",
                        "user": {"id": "U1"},
                        "view": {"type": "modal", "callback_id": "zzz", "state": {"values": {}}},
                    }
                )
            ).encode(),
            FORM,
            0,
            None,
        ),
        (
            "unknown event",
            json.dumps(
                {
                    "type": "event_callback",
                    "team_id": "T0SANDBOX",
                    "api_app_id": "A0",
                    "event": {"type": "reaction_added"},
                }
            ).encode(),
            "application/json",
            0,
            None,
        ),
    ]


# Signed but not a Slack request we can handle: 400. Badly signed: 401. The rest reach the app,
# which answers 200 with a clear message (or nothing to do) and changes nothing.
MALFORMED = {
    "empty body",
    "garbage bytes",
    "not form, not json",
    "json without type",
    "broken json",
    "payload not json",
    "payload without type",
    "payload is a list",
    "click without user",
    "click with user not an object",
    "view without type",
    "oversized body",
    "command without user",
    "command without channel",
}


def test_bad_request_corpus(box, caplog):
    caplog.set_level(logging.INFO)

    message = prioritize(box)
    pid = proposal_id(message)
    legal = box.asana.store.add_project(box.seed.workspace_gid, "Legal - Acquisition of Initech")
    box.asana.store.add_task(legal, "Due diligence on Initech patents")
    box.asana.reset_requests()
    posted_before = len(box.slack.calls_to("chat.postMessage"))
    cases = corpus(pid, lambda: box.slack.new_response_url(channel=CHANNEL, user=LEAD), legal)
    assert len(cases) >= 45
    answers: dict[str, str] = {}
    for name, body, content_type, offset, tweak in cases:
        headers = box.slack.sign(body, int(time.time()) + offset)
        if tweak == "forge":
            headers["X-Slack-Signature"] = "v0=" + "ab" * 32
        elif tweak == "other-body":
            headers = box.slack.sign(body + b"&x=1")
        elif tweak == "no-signature":
            del headers["X-Slack-Signature"]
        elif tweak == "no-timestamp":
            del headers["X-Slack-Request-Timestamp"]
        elif tweak == "no-headers":
            headers = {}
        elif tweak == "bad-timestamp":
            headers["X-Slack-Request-Timestamp"] = "yesterday"
        elif tweak == "v1":
            headers["X-Slack-Signature"] = headers["X-Slack-Signature"].replace("v0=", "v1=")
        headers["Content-Type"] = content_type
        result = box.slack.post_raw(box.app_url, body, headers)
        expected = 401 if tweak or offset else 400 if name in MALFORMED else 200
        assert result.status == expected, (name, result.status, result.body[:200])
        answers[name] = result.body
        box.services.jobs.drain()
    assert put_actions(box) == {}
    assert box.asana.count("POST", "/batch") == 0
    assert len(box.slack.calls_to("chat.postMessage")) == posted_before
    assert box.services.store.proposal(pid).status == "open"
    assert "Traceback" not in caplog.text
    told = " | ".join(e["text"] for e in box.slack.ephemerals)
    assert "belongs to another channel" in told
    # Issue 10: refused privately (the ack of a command, the response_url of a click, the
    # modal of a form), and an unlinked project is never read.
    for name in ("command from another team", "command from another org"):
        assert "only members of the workspace" in json.loads(answers[name])["text"], name
    for name in ("command from a guest", "command from a single-channel guest"):
        assert "Guests can't" in json.loads(answers[name])["text"], name
    assert "only members" in json.loads(answers["command from an external member"])["text"]
    assert "only members" in json.loads(answers["command from an unknown user"])["text"]
    for name in ("link form submitted by a guest", "link form from another team"):
        assert json.loads(answers[name])["response_action"] == "update", name
    assert "Guests can't" in told and told.count("only members of the workspace") >= 4
    assert "No Asana project is named “Legal - Acquisition of Initech”" in told
    assert f"No Asana project is named “{legal}”" in told
    assert box.asana.count("GET", f"/projects/{legal}") == 0
    assert box.services.store.channel_links() == []
    assert "no longer exists" in told
    for ping in ("<!channel>", "<@U0BOSS>"):
        assert all(ping not in e["text"] for e in box.slack.ephemerals)


def test_a_replayed_request_is_refused(box):
    message = prioritize(box)
    body = _action("proposal_reject", proposal_id(message))
    headers = box.slack.sign(body)
    headers["Content-Type"] = FORM
    first = box.slack.post_raw(box.app_url, body, headers)
    second = box.slack.post_raw(box.app_url, body, headers)
    assert first.status == 200
    assert second.status == 401 and "replayed" in second.body
    box.services.jobs.drain()


@pytest.mark.parametrize("text", ["<!channel>", "<@U0BOSS> hi", "<https://evil.example|Platform>"])
def test_error_messages_echo_user_text_escaped(box, text):
    box.slack.slash_command(box.app_url, "/prioritize", text, user_id=LEAD, channel_id=CHANNEL)
    box.services.jobs.drain()
    reply = box.slack.ephemerals[-1]["text"]
    assert "No Asana project is named" in reply
    assert "<!channel>" not in reply and "<@U0BOSS>" not in reply and "<https://evil" not in reply
