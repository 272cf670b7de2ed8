"""Microsoft's Teams SDK, run inside our process: the only module that imports it.

The SDK is asynchronous and brings its own server (FastAPI + uvicorn); the copilot serves Slack and
Teams on one port with one WSGI server and runs work on threads. So the SDK gets an event loop of
its own on a thread, its messaging route is collected by an adapter instead of served, and both
the WSGI endpoint and the background jobs hand it coroutines through `run`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from bot.errors import ConfigError

# Importing microsoft_teams.apps warns that a preview class it instantiates may change, and
# building an App warns that the (unused) bot client it builds is deprecated. Nothing else is
# silenced: pyproject's pytest filterwarnings names the same two messages.
SDK_PREVIEW_WARNING = r"HtmlWidgetSecurityPolicy is in preview"
SDK_BOT_CLIENT_WARNING = r"The bot client is deprecated"
MESSAGING_PATH = "/api/messages"
REQUEST_TIMEOUT_S = 15.0  # Bot Framework gives a bot 15 s to answer an activity

T = TypeVar("T")
log = logging.getLogger(__name__)


@contextmanager
def _sdk_warnings_ignored() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SDK_PREVIEW_WARNING, category=FutureWarning)
        warnings.filterwarnings(
            "ignore", message=SDK_BOT_CLIENT_WARNING, category=DeprecationWarning
        )
        yield


@contextmanager
def _quiet_import() -> Iterator[None]:
    """Import the SDK without its FutureWarning and without it loading a `.env` from the cwd."""
    added = "PYTHON_DOTENV_DISABLED" not in os.environ
    if added:
        os.environ["PYTHON_DOTENV_DISABLED"] = "1"
    try:
        with _sdk_warnings_ignored():
            yield
    finally:
        if added:
            os.environ.pop("PYTHON_DOTENV_DISABLED", None)


with _quiet_import():
    from microsoft_teams.api import (
        Account,
        Attachment,
        CreateConversationParams,
        MessageActivityInput,
        TokenCredentials,
    )
    from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
    from microsoft_teams.apps import App
    from microsoft_teams.apps.http.adapter import HttpRequest, HttpRouteHandler

__all__ = [
    "Account",
    "App",
    "Attachment",
    "CreateConversationParams",
    "MessageActivityInput",
    "TeamsRuntime",
]


class _RouteCollector:
    """An HttpServerAdapter that serves nothing: it keeps the SDK's routes for our WSGI server."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], HttpRouteHandler] = {}

    def register_route(self, method: str, path: str, handler: HttpRouteHandler) -> None:
        self.routes[(method, path)] = handler

    def serve_static(self, path: str, directory: str) -> None:
        raise NotImplementedError("the copilot serves no static pages")

    async def start(self, port: int) -> None:
        raise NotImplementedError("served by the copilot's WSGI server")

    async def stop(self) -> None:
        return None


class TeamsRuntime:
    """One SDK App and its event loop thread, built from settings; `close` stops both."""

    def __init__(
        self,
        *,
        client_id: str,
        tenant_id: str,
        openid_metadata_url: str,
        token: Callable[..., Any],
        setup: Callable[[App], None],
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="teams-sdk", daemon=True
        )
        self._thread.start()
        self._routes = _RouteCollector()
        try:
            with _sdk_warnings_ignored():
                self.app = App(
                    client_id=client_id,
                    tenant_id=tenant_id,
                    token=token,
                    cloud=with_overrides(PUBLIC, openid_metadata_url=openid_metadata_url),
                    http_server_adapter=self._routes,
                    dangerously_allow_unauthenticated_requests=False,  # never from the environment
                    state=False,
                )
            if not isinstance(self.app.credentials, TokenCredentials):
                # The SDK prefers a CLIENT_SECRET from the environment over our token provider.
                raise ConfigError(
                    "CLIENT_SECRET is set in the environment: unset it (the copilot reads "
                    "TEAMS_CLIENT_SECRET)"
                )
            setup(self.app)
            self.run(self.app.initialize())
            self._messages = self._routes.routes[("POST", MESSAGING_PATH)]
        except BaseException:
            self.close()
            raise

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run a coroutine on the SDK's loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def handle(self, activity: dict[str, Any], authorization: str) -> tuple[int, Any]:
        """Give a checked activity to the SDK; its HTTP status and JSON body (or None)."""
        request = HttpRequest(body=activity, headers={"authorization": authorization})
        response = self.run(self._messages(request), timeout=REQUEST_TIMEOUT_S)
        return int(response["status"]), response.get("body")

    async def _close_http(self) -> None:
        # The App's client serves incoming turns; app.api got a client of its own (a clone).
        for client in {
            id(c): c for c in (self.app.http_client.http, self.app.api.http.http)
        }.values():
            await client.aclose()

    def close(self) -> None:
        if self._loop.is_running() and hasattr(self, "app"):
            try:
                self.run(self._close_http(), timeout=5)
            except Exception as exc:  # closing must not hide why we are closing
                log.warning("could not close the Teams HTTP clients: %s", type(exc).__name__)
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()
