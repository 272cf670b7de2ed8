"""The real Teams SDK against the stand-in over loopback: a signed message in, a reply out."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from waitress.server import create_server

from bot.sandbox.teams_standin import TEAM_ID, TeamsStandIn
from bot.settings import Secret
from bot.surfaces.teams.auth import ActivityAuth, ClientCredentialsToken, SigningKeys
from bot.surfaces.teams.endpoint import TeamsEndpoint, answer
from bot.surfaces.teams.sdk import App, TeamsRuntime


def _echo(app: App) -> None:
    @app.on_message
    async def echo(ctx) -> None:  # type: ignore[no-untyped-def]
        await ctx.send(f"echo: {ctx.activity.text}")


@pytest.fixture
def served() -> Iterator[tuple[TeamsStandIn, str]]:
    with TeamsStandIn() as teams:
        runtime = TeamsRuntime(
            client_id=teams.client_id,
            tenant_id=teams.tenant_id,
            openid_metadata_url=teams.openid_metadata_url,
            token=ClientCredentialsToken(
                token_url=teams.token_url,
                client_id=teams.client_id,
                client_secret=Secret(teams.client_secret),
            ),
            setup=_echo,
        )
        auth = ActivityAuth(
            client_id=teams.client_id,
            tenant_id=teams.tenant_id,
            keys=SigningKeys(teams.openid_metadata_url),
        )
        endpoint = TeamsEndpoint(auth, runtime, lambda e, s: answer(s, 404, {"error": "no route"}))
        server = create_server(endpoint, host="127.0.0.1", port=0, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            yield teams, f"http://127.0.0.1:{server.effective_port}/api/messages"
        finally:
            server.close()
            thread.join(timeout=5)
            runtime.close()


def test_a_signed_message_is_answered_through_the_connector(served) -> None:
    teams, url = served
    result = teams.message(url, "hello", user="29:1ana", conversation=TEAM_ID)
    assert result.status == 200, result.body
    assert teams.wait_for(lambda: bool(teams.messages_in(TEAM_ID)))
    (reply,) = teams.messages_in(TEAM_ID)
    assert "echo:" in reply["text"] and "hello" in reply["text"]
    assert teams.tokens_issued == 1
    post = teams.calls_to("POST", "/activities")[0]
    assert post.status == 201
