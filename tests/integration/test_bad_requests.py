"""One corpus of hostile and broken requests, run against both chat surfaces (issue 12): forged
and malformed Slack requests to POST /slack/events, forged and malformed Teams activities to
POST /api/messages, and well-formed ones nobody may act on. Each is refused (401/403/400) or
answered with a clear private message; none writes to Asana, changes a setting, posts in a
channel, answers 500 or logs a traceback, whichever surface it came through."""

import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.demo import CHANNEL, GUEST, LEAD, PARTNER, PARTNER_TEAM, SINGLE_GUEST, TEAMS_LEAD
from bot.sandbox.teams_standin import OTHER_TENANT, TEAM_ID, TeamsStandIn
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


@pytest.mark.parametrize("surface", ["slack", "teams"])
def test_bad_request_corpus(box, surface, caplog):
    """The same contract, whichever surface the requests come through."""
    caplog.set_level(logging.INFO)
    {"slack": _slack_corpus, "teams": _teams_corpus}[surface](box, caplog)


def _settled(box) -> dict[str, Any]:
    """What no bad request may change: proposals, settings, links, and what Asana holds."""
    store = box.services.store
    with store.connect() as conn:
        proposals = {r["id"]: r["status"] for r in conn.rows("proposals")}
    return {
        "proposals": proposals,
        "links": store.channel_links(),
        "schedules": store.digest_schedules(),
        "hours": store.weekly_hours_overrides(),
    }


def _nothing_changed(box, before: dict[str, Any], caplog) -> None:
    box.services.jobs.drain()
    assert put_actions(box) == {}
    assert box.asana.count("POST", "/batch") == 0
    assert _settled(box) == before
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _slack_corpus(box, caplog) -> None:
    message = prioritize(box)
    pid = proposal_id(message)
    legal = box.asana.store.add_project(box.seed.workspace_gid, "Legal - Acquisition of Initech")
    box.asana.store.add_task(legal, "Due diligence on Initech patents")
    box.asana.reset_requests()
    before = _settled(box)
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
    _nothing_changed(box, before, caplog)
    assert len(box.slack.calls_to("chat.postMessage")) == posted_before
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


# -- Teams --------------------------------------------------------------------------------------

TeamsCase = Callable[[TeamsStandIn], tuple[dict[str, str], bytes]]
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
BEN = "29:1ben"  # a member, not an approver
GUS = "29:1gus"  # a guest
XENA = "29:1xena"  # another tenant
PLANNING = "19:platform-planning@thread.tacv2"


def _activity(teams: TeamsStandIn, kind: str = "message", *, user: str = TEAMS_LEAD, **changes):
    conversation = changes.pop("conversation_id", TEAM_ID)
    activity = teams.activity(kind, user=user, conversation=conversation)
    activity.update(changes)
    return {k: v for k, v in activity.items() if v is not None}


def _message(teams: TeamsStandIn, **changes: Any) -> dict[str, Any]:
    return _activity(teams, **({"text": "prioritize"} | changes))


def _click(verb: str, data: dict[str, Any], **changes: Any) -> Callable[[TeamsStandIn], dict]:
    def build(teams: TeamsStandIn) -> dict[str, Any]:
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}}
        return _activity(
            teams, "invoke", name="adaptiveCard/action", value=value, replyToId="1", **changes
        )

    return build


def _signed(activity: Any, token: Any = None, raw: bytes | None = None) -> TeamsCase:
    def build(teams: TeamsStandIn) -> tuple[dict[str, str], bytes]:
        body = raw if raw is not None else json.dumps(activity(teams)).encode()
        value = token(teams) if callable(token) else token
        headers = {"Content-Type": "application/json"}
        headers["Authorization"] = f"Bearer {value or teams.token_for_app()}"
        return headers, body

    return build


def _with_token(**claims: Any) -> TeamsCase:
    return _signed(_message, token=lambda t: t.token_for_app(**claims))


def _no_auth(teams: TeamsStandIn) -> tuple[dict[str, str], bytes]:
    return {"Content-Type": "application/json"}, json.dumps(_message(teams)).encode()


def _basic_auth(teams: TeamsStandIn) -> tuple[dict[str, str], bytes]:
    return {"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, json.dumps(_message(teams)).encode()


def _hs256(teams: TeamsStandIn) -> str:
    # Algorithm confusion: an HMAC token "signed" with something public.
    claims = {
        "iss": "https://api.botframework.com",
        "aud": teams.client_id,
        "exp": time.time() + 60,
    }
    claims["serviceurl"] = teams.service_url
    secret = "public-key-as-secret-0123456789abcdef"
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": teams.kid})


def _unsigned(teams: TeamsStandIn) -> str:
    claims = {
        "iss": "https://api.botframework.com",
        "aud": teams.client_id,
        "exp": time.time() + 60,
    }
    return jwt.encode(claims | {"serviceurl": teams.service_url}, None, algorithm="none")


def teams_corpus(proposal: str, legal: str) -> dict[str, tuple[TeamsCase, int]]:
    """name -> (request, HTTP status). 401/403/400: refused in front of the SDK, which never sees
    it (it would answer a malformed body with a 500). 200: a clear private answer."""
    guest = {"user": GUS}
    return {
        # The token: Bot Framework's JWT, checked before anything else.
        "no Authorization header": (_no_auth, 401),
        "Basic instead of Bearer": (_basic_auth, 401),
        "a token that is not a JWT": (_signed(_message, token="not.a.jwt"), 401),
        "signed with another key under our kid": (_with_token(key=OTHER_KEY), 401),
        "signed with a key the JWKS does not name": (
            _signed(_message, token=lambda t: t.token_for_app(key=OTHER_KEY, kid="unknown-kid")),
            401,
        ),
        "expired an hour ago": (
            _with_token(exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200),
            401,
        ),
        "not valid yet": (_with_token(nbf=int(time.time()) + 3600), 401),
        "no expiry": (_with_token(exp=None), 401),
        "audience of another bot": (_with_token(aud="d0d0d0d0-0000-4000-8000-00000000b07a"), 401),
        "another issuer": (_with_token(iss="https://sts.windows.net/evil/"), 401),
        "serviceurl claim of another host": (
            _with_token(serviceurl="https://evil.example.com/teams/"),
            401,
        ),
        "no serviceurl claim": (_with_token(serviceurl=None), 401),
        "HS256 algorithm confusion": (_signed(_message, token=_hs256), 401),
        "alg none": (_signed(_message, token=_unsigned), 401),
        "serviceUrl swapped in the body": (
            _signed(
                lambda t: _message(t, serviceUrl="https://evil.example.com/teams/"),
                token=lambda t: t.token_for_app(),
            ),
            401,
        ),
        # The body: what the SDK could not parse.
        "body is not JSON": (_signed(None, raw=b"type=message&text=hi"), 400),
        "body is not UTF-8": (_signed(None, raw=b"\xff\xfe{}"), 400),
        "body is a JSON list": (_signed(None, raw=b"[]"), 400),
        "activity without a type": (_signed(lambda t: _message(t, type=None)), 400),
        "an activity type we do not take": (_signed(lambda t: _message(t, type="handoff")), 400),
        "activity without a conversation": (_signed(lambda t: _message(t, conversation=None)), 400),
        "activity without a sender": (_signed(lambda t: _message(t, **{"from": None})), 400),
        "message text that is not a string": (_signed(lambda t: _message(t, text={"x": 1})), 400),
        "an invoke we do not handle": (
            _signed(lambda t: _message(t, type="invoke", name="composeExtension/query", value={})),
            400,
        ),
        "a card action without a verb": (
            _signed(
                lambda t: _message(
                    t, type="invoke", name="adaptiveCard/action", value={"action": {}}
                )
            ),
            400,
        ),
        "card action data that is not an object": (
            _signed(
                lambda t: _message(
                    t,
                    type="invoke",
                    name="adaptiveCard/action",
                    value={"action": {"verb": "approve", "data": "x"}},
                )
            ),
            400,
        ),
        "an installationUpdate with an unknown action": (
            _signed(lambda t: _activity(t, "installationUpdate", action="explode")),
            400,
        ),
        "a body over the size limit": (_signed(None, raw=b"{" + b" " * 300_000 + b"}"), 400),
        # Who and where: other tenants and clients.
        "another tenant": (
            _signed(lambda t: _message(t, conversation={"id": TEAM_ID, "tenantId": OTHER_TENANT})),
            403,
        ),
        "a person of another tenant": (_signed(lambda t: _message(t, user=XENA)), 403),
        "another channel than Teams": (_signed(lambda t: _message(t, channelId="slack")), 403),
        # Well-formed, properly signed, and nobody may act on it: a clear private answer.
        "approve a proposal that does not exist": (
            _signed(_click("approve", {"proposal": "nope0000"})),
            200,
        ),
        "an unknown verb": (_signed(_click("delete_everything", {"proposal": proposal})), 200),
        "approve from another conversation": (
            _signed(_click("approve", {"proposal": proposal}, conversation_id=PLANNING)),
            200,
        ),
        "approve by a non-approver": (
            _signed(_click("approve", {"proposal": proposal}, user=BEN)),
            200,
        ),
        "reject by a guest": (_signed(_click("reject", {"proposal": proposal}, **guest)), 200),
        "a command from a guest": (_signed(lambda t: _message(t, **guest)), 200),
        "prioritize an unlinked project by name": (
            _signed(lambda t: _message(t, text="prioritize Legal - Acquisition of Initech")),
            200,
        ),
        "prioritize an unlinked project by gid": (
            _signed(lambda t: _message(t, text=f"prioritize {legal}")),
            200,
        ),
        "plan a sprint of an unlinked project": (
            _signed(lambda t: _message(t, text=f"plan sprint {legal} 30")),
            200,
        ),
        "link a project from a channel, not the personal chat": (
            _signed(
                _click(
                    "settings.link.add", {"link_channel": f"teams:{TEAM_ID}", "link_project": legal}
                )
            ),
            200,
        ),
        "link a project as a non-approver": (
            _signed(
                _click(
                    "settings.link.add",
                    {"link_channel": f"teams:{TEAM_ID}", "link_project": legal},
                    user=BEN,
                    conversation_id="a:personal-1ben",
                )
            ),
            200,
        ),
        "set weekly hours as a non-approver": (
            _signed(
                _click(
                    "settings.hours.save",
                    {"hours_person": "1", "hours_value": "1"},
                    user=BEN,
                    conversation_id="a:personal-1ben",
                )
            ),
            200,
        ),
    }


def _teams_corpus(box, caplog) -> None:
    teams = box.teams
    _, card = box.teams_say("prioritize")
    assert card is not None
    pid = card["attachments"][0]["content"]["actions"][0]["data"]["proposal"]
    legal = box.asana.store.add_project(box.seed.workspace_gid, "Legal - Acquisition of Initech")
    box.asana.store.add_task(legal, "Due diligence on Initech patents")
    teams.personal_chat(BEN)  # Ben's personal chat exists, as after he installed the app
    box.services.jobs.drain()
    box.asana.reset_requests()
    before = _settled(box)
    in_channels = {c: len(teams.messages_in(c)) for c in (TEAM_ID, PLANNING)}
    cases = teams_corpus(pid, legal)
    assert len(cases) >= 40
    answers: dict[str, Any] = {}
    for name, (build, status) in cases.items():
        calls = len(teams.calls)
        headers, body = build(teams)
        result = teams.post_raw(box.app_url_teams, body, headers)
        assert result.status == status, (name, result.status, result.body[:200])
        box.services.jobs.drain()
        if status != 200:
            assert "error" in result.json(), name
            assert len(teams.calls) == calls, name  # refused before anything reached Teams
        answers[name] = result.json() if result.body else None
    _nothing_changed(box, before, caplog)
    assert not [r for r in caplog.records if r.name.startswith("microsoft_teams")]
    # Nothing in a channel: refusals are said in the invoke's answer or the personal chat.
    assert {c: len(teams.messages_in(c)) for c in (TEAM_ID, PLANNING)} == in_channels
    assert teams.activities[(TEAM_ID, card["id"])] == card

    def said(name: str) -> str:
        return str((answers[name] or {}).get("value"))

    assert said("approve a proposal that does not exist") == "That proposal no longer exists."
    assert said("an unknown verb") == "That proposal no longer exists."
    assert "belongs to another conversation" in said("approve from another conversation")
    assert "Only the team's approvers" in said("approve by a non-approver")
    assert "Guests can't" in said("reject by a guest")
    assert "personal chat" in said("link a project from a channel, not the personal chat")
    assert "Only the team's approvers" in said("link a project as a non-approver")
    assert "Only the team's approvers" in said("set weekly hours as a non-approver")
    private = json.dumps(
        [m.get("attachments") for m in teams.messages_in("a:personal-1ana")]
        + [m.get("attachments") for m in teams.messages_in("a:personal-1gus")],
        ensure_ascii=False,
    )
    assert "Guests can't use the copilot" in private
    assert "No Asana project is named “Legal - Acquisition of Initech”" in private
    assert f"No Asana project is named “{legal}”" in private
    assert box.asana.count("GET", f"/projects/{legal}") == 0


def test_teams_the_same_request_signed_properly_is_answered(box) -> None:
    """The control: the corpus's base request, not tampered with, reaches the copilot."""
    headers, body = _signed(lambda t: _message(t, text="help"))(box.teams)
    assert box.teams.post_raw(box.app_url_teams, body, headers).status == 200
    box.services.jobs.drain()
    assert box.teams.wait_for(lambda: bool(box.teams.messages_in(TEAM_ID)))


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
