"""The Teams stand-in behaves as the Bot Framework documents: tokens, connector, cards, faults."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import jwt

from bot.sandbox.teams_standin import MAX_MESSAGE_BYTES, TEAM_ID, TeamsStandIn


def call(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    token: str | None = None,
    form: dict | None = None,
) -> tuple[int, Any, dict]:
    headers = {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), dict(exc.headers)


def bot_token(teams: TeamsStandIn, **change: str) -> tuple[int, Any]:
    form = {
        "grant_type": "client_credentials",
        "client_id": teams.client_id,
        "client_secret": teams.client_secret,
        "scope": "https://api.botframework.com/.default",
    } | change
    status, body, _ = call(teams.token_url, method="POST", form=form)
    return status, body


def card(version: str = "1.5", **extra: Any) -> dict[str, Any]:
    content = {
        "type": "AdaptiveCard",
        "version": version,
        "body": [{"type": "TextBlock", "text": "hi"}],
    } | extra
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}
        ],
    }


def test_the_metadata_names_the_keys_that_sign_activities(teams: TeamsStandIn) -> None:
    status, metadata, _ = call(teams.openid_metadata_url)
    assert status == 200 and metadata["issuer"] == "https://api.botframework.com"
    _, jwks, _ = call(metadata["jwks_uri"])
    (key,) = jwks["keys"]
    assert key["kid"] == teams.kid and "msteams" in key["endorsements"]
    public = jwt.PyJWK(key, algorithm="RS256").key
    claims = jwt.decode(
        teams.token_for_app(), public, algorithms=["RS256"], audience=teams.client_id
    )
    assert claims["serviceurl"] == teams.service_url


def test_the_token_endpoint_checks_the_client_credentials_and_scope(teams: TeamsStandIn) -> None:
    status, body = bot_token(teams)
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert bot_token(teams, client_secret="wrong")[0] == 401
    assert (
        bot_token(teams, scope="https://graph.microsoft.com/.default")[1]["error"]
        == "invalid_scope"
    )
    assert bot_token(teams, grant_type="password")[0] == 400


def test_the_connector_needs_the_bots_token(teams: TeamsStandIn) -> None:
    url = f"{teams.service_url}v3/conversations/{TEAM_ID}/activities"
    assert call(url, method="POST", body={"type": "message", "text": "x"})[0] == 401
    forged = teams.token_for_app()  # an activity token is not a connector token
    assert call(url, method="POST", body={"type": "message", "text": "x"}, token=forged)[0] == 401


def test_post_update_and_members(teams: TeamsStandIn) -> None:
    token = bot_token(teams)[1]["access_token"]
    base = f"{teams.service_url}v3/conversations/{urllib.parse.quote(TEAM_ID)}"
    status, sent, _ = call(f"{base}/activities", method="POST", body=card(), token=token)
    assert status == 201
    status, _, _ = call(
        f"{base}/activities/{sent['id']}",
        method="PUT",
        body={"type": "message", "text": "v2"},
        token=token,
    )
    assert status == 200 and teams.activities[(TEAM_ID, sent["id"])]["text"] == "v2"
    assert (
        call(
            f"{base}/activities/999",
            method="PUT",
            body={"type": "message", "text": "x"},
            token=token,
        )[0]
        == 404
    )
    status, members, _ = call(f"{base}/members", token=token)
    assert {m["email"] for m in members} >= {"ana@example.com", "gus@partner.example"}
    assert "xena@elsewhere.example" not in {m["email"] for m in members}
    status, created, _ = call(
        f"{teams.service_url}v3/conversations",
        method="POST",
        body={"members": [{"id": "29:1ben"}], "tenantId": teams.tenant_id, "isGroup": False},
        token=token,
    )
    assert status == 201 and created["id"].startswith("a:")


def test_cards_above_1_5_unknown_elements_and_oversized_messages_are_refused(
    teams: TeamsStandIn,
) -> None:
    token = bot_token(teams)[1]["access_token"]
    url = f"{teams.service_url}v3/conversations/{urllib.parse.quote(TEAM_ID)}/activities"
    status, body, _ = call(url, method="POST", body=card("1.6"), token=token)
    assert status == 400 and "above 1.5" in body["error"]["message"]
    bad = card(actions=[{"type": "Action.Popover", "title": "x"}])
    assert call(url, method="POST", body=bad, token=token)[0] == 400
    big = {"type": "message", "text": "x" * MAX_MESSAGE_BYTES}
    status, body, _ = call(url, method="POST", body=big, token=token)
    assert status == 413 and body["error"]["code"] == "MessageSizeTooBig"
    assert teams.history == []


def test_faults_answer_in_the_bot_framework_shape(teams: TeamsStandIn) -> None:
    token = bot_token(teams)[1]["access_token"]
    url = f"{teams.service_url}v3/conversations/{urllib.parse.quote(TEAM_ID)}/activities"
    teams.faults.add(429, retry_after=3)
    teams.faults.add(403, method="POST")
    status, body, headers = call(url, method="POST", body=card(), token=token)
    assert status == 429 and headers["Retry-After"] == "3"
    status, body, _ = call(url, method="POST", body=card(), token=token)
    assert status == 403 and body["error"]["code"] == "MessageWritesBlocked"
    assert call(url, method="POST", body=card(), token=token)[0] == 201


def _png(width: int, height: int) -> bytes:
    """A real PNG of that size (Pillow), for the image checks."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_in_cards_are_checked_as_teams_shows_them(teams: TeamsStandIn) -> None:
    import base64

    token = bot_token(teams)[1]["access_token"]
    url = f"{teams.service_url}v3/conversations/{urllib.parse.quote(TEAM_ID)}/activities"

    def with_image(image_url: str) -> dict[str, Any]:
        return card(body=[{"type": "Image", "url": image_url}])

    def data(raw: bytes, kind: str = "png") -> str:
        return f"data:image/{kind};base64,{base64.b64encode(raw).decode()}"

    assert call(url, method="POST", body=with_image(data(_png(200, 100))), token=token)[0] == 201
    assert (
        call(url, method="POST", body=with_image("https://x.example/c.png"), token=token)[0] == 201
    )
    refused = {
        "plain http": "http://x.example/c.png",
        "not an image": data(b"%PDF-1.7 not a picture"),
        "another format than declared": data(_png(10, 10), "jpeg"),
        "bad base64": "data:image/png;base64,@@@",
        "too many pixels": data(_png(1500, 300)),
    }
    for why, image_url in refused.items():
        status, body, _ = call(url, method="POST", body=with_image(image_url), token=token)
        assert status == 400, why
        assert "/body/0" in body["error"]["message"], why
    # The image counts toward the message budget, like everything else in it.
    huge = data(_png(1000, 1000) + b"\0" * MAX_MESSAGE_BYTES)
    assert call(url, method="POST", body=with_image(huge), token=token)[0] == 413
    assert len(teams.history) == 2


def test_a_team_lists_its_channels_and_an_uninstalled_bot_is_refused(
    teams: TeamsStandIn,
) -> None:
    token = bot_token(teams)[1]["access_token"]
    base = f"{teams.service_url}v3/teams/{urllib.parse.quote(TEAM_ID)}"
    status, body, _ = call(f"{base}/conversations", token=token)
    assert status == 200
    assert body["conversations"] == [
        {"id": TEAM_ID},  # General: unnamed, as Teams sends it
        {"id": "19:platform-planning@thread.tacv2", "name": "Planning"},
    ]
    assert call(base, token=token)[1]["name"] == "Platform"
    teams._removed(TEAM_ID, removed=True)
    url = f"{teams.service_url}v3/conversations/{urllib.parse.quote(TEAM_ID)}/activities"
    status, body, _ = call(url, method="POST", body=card(), token=token)
    assert status == 403 and body["error"]["code"] == "BotNotInConversationRoster"
    assert call(f"{base}/conversations", token=token)[0] == 404
