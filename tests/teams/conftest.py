"""Teams test fixtures: the stand-in and the real SDK behind the JWT check, over loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from waitress.server import create_server

from bot.sandbox.teams_standin import TeamsStandIn
from bot.server import stop_waitress
from bot.settings import Secret
from bot.surfaces.teams.auth import ActivityAuth, ClientCredentialsToken, SigningKeys
from bot.surfaces.teams.endpoint import TeamsEndpoint, answer
from bot.surfaces.teams.sdk import App, TeamsRuntime


def _echo(app: App) -> None:
    @app.on_message
    async def echo(ctx) -> None:  # type: ignore[no-untyped-def]
        await ctx.send(f"echo: {ctx.activity.text}")


@pytest.fixture
def teams() -> Iterator[TeamsStandIn]:
    with TeamsStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def runtime(teams: TeamsStandIn) -> Iterator[TeamsRuntime]:
    built = TeamsRuntime(
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
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def served(teams: TeamsStandIn, runtime: TeamsRuntime) -> Iterator[tuple[TeamsStandIn, str]]:
    auth = ActivityAuth(
        client_id=teams.client_id,
        tenant_id=teams.tenant_id,
        keys=SigningKeys(teams.openid_metadata_url),
    )
    endpoint = TeamsEndpoint(auth, runtime, lambda e, s: answer(s, 404, {"error": "no route"}))
    server = create_server(endpoint, host="127.0.0.1", port=0, threads=4)
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):
            if not stopping.is_set():  # closing the socket can wake the loop on a dead fd
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield teams, f"http://127.0.0.1:{server.effective_port}/api/messages"
    finally:
        stopping.set()
        stop_waitress(server, thread)
