"""Forged and malformed requests to POST /api/messages: refused before the SDK, nothing posted.

Each case is what an attacker or a broken client can send; the answer is 400/401/403 with a short
reason, the SDK never sees the request (it would answer a malformed body with a 500), and the
connector receives nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.sandbox.teams_standin import OTHER_TENANT, TEAM_ID, TeamsStandIn

Case = Callable[[TeamsStandIn], tuple[dict[str, str], bytes]]
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _message(teams: TeamsStandIn, **changes: Any) -> dict[str, Any]:
    activity = teams.activity("message", user="29:1ana", conversation=TEAM_ID, text="prioritize")
    activity.update(changes)
    return {k: v for k, v in activity.items() if v is not None}


def _signed(activity: Any, token: str | None = None, raw: bytes | None = None) -> Case:
    def build(teams: TeamsStandIn) -> tuple[dict[str, str], bytes]:
        body = raw if raw is not None else json.dumps(activity(teams)).encode()
        value = token(teams) if callable(token) else token
        headers = {"Content-Type": "application/json"}
        headers["Authorization"] = f"Bearer {value or teams.token_for_app()}"
        return headers, body

    return build


def _with_token(**claims: Any) -> Case:
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
    return jwt.encode(
        claims,
        "public-key-as-secret-0123456789abcdef",
        algorithm="HS256",
        headers={"kid": teams.kid},
    )


def _unsigned(teams: TeamsStandIn) -> str:
    claims = {
        "iss": "https://api.botframework.com",
        "aud": teams.client_id,
        "exp": time.time() + 60,
    }
    return jwt.encode(claims | {"serviceurl": teams.service_url}, None, algorithm="none")


CASES: dict[str, tuple[Case, int]] = {
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
    "body is not JSON": (_signed(None, raw=b"type=message&text=hi"), 400),
    "body is not UTF-8": (_signed(None, raw=b"\xff\xfe{}"), 400),
    "body is a JSON list": (_signed(None, raw=b"[]"), 400),
    "activity without a type": (_signed(lambda t: _message(t, type=None)), 400),
    "activity without a conversation": (_signed(lambda t: _message(t, conversation=None)), 400),
    "activity without a sender": (_signed(lambda t: _message(t, **{"from": None})), 400),
    "message text that is not a string": (_signed(lambda t: _message(t, text={"x": 1})), 400),
    "an invoke we do not handle": (
        _signed(lambda t: _message(t, type="invoke", name="composeExtension/query", value={})),
        400,
    ),
    "a card action without a verb": (
        _signed(
            lambda t: _message(t, type="invoke", name="adaptiveCard/action", value={"action": {}})
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
    "a body over the size limit": (_signed(None, raw=b"{" + b" " * 300_000 + b"}"), 400),
    "another tenant": (
        _signed(lambda t: _message(t, conversation={"id": TEAM_ID, "tenantId": OTHER_TENANT})),
        403,
    ),
    "another channel than Teams": (_signed(lambda t: _message(t, channelId="slack")), 403),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_forged_or_malformed_request_is_refused_before_the_sdk(
    served, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    teams, url = served
    build, status = CASES[name]
    headers, body = build(teams)
    with caplog.at_level(logging.INFO):
        result = teams.post_raw(url, body, headers)
    assert result.status == status, result.body
    assert "error" in result.json()
    assert teams.calls == [] and teams.history == []  # nothing reached the connector
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith("microsoft_teams")]


def test_the_same_request_signed_properly_is_answered(served) -> None:
    teams, url = served
    headers, body = _signed(_message)(teams)
    assert teams.post_raw(url, body, headers).status == 200
    assert teams.wait_for(lambda: bool(teams.history))


def test_there_are_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20
