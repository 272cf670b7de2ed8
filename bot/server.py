"""HTTP mode: one waitress server (multi-threaded WSGI) on one port for both surfaces: Slack
(Bolt behind its guard) at POST /slack/events, Teams (the SDK behind the JWT check) at
POST /api/messages, each when configured; and Asana's webhook deliveries at
POST /asana/events/{project gid}."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import wasyncore
from waitress.server import create_server

from bot.http_guard import MAX_BODY_BYTES, SlackRequestGuard

if TYPE_CHECKING:
    from bot.surfaces.teams.surface import TeamsSurface
    from bot.usecases.webhooks import AsanaWebhooks

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = b'{"error": "not found"}'
    start_response(
        "404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class HttpServer:
    def __init__(
        self,
        app: App | None,
        *,
        signing_secret: str | None,
        seen_before: Callable[[str], bool],
        teams: TeamsSurface | None = None,
        asana_webhooks: AsanaWebhooks | None = None,
        host: str = "0.0.0.0",
        port: int = 3000,
        threads: int = 48,
    ) -> None:
        wsgi: WsgiApp = not_found
        if app is not None:
            assert signing_secret is not None
            wsgi = SlackRequestGuard(
                SlackRequestHandler(app), signing_secret=signing_secret, seen_before=seen_before
            )
        if teams is not None:
            wsgi = teams.endpoint(wsgi)
        if asana_webhooks is not None:
            from bot.asana_endpoint import AsanaEventsEndpoint

            wsgi = AsanaEventsEndpoint(asana_webhooks, wsgi)
        self._server = create_server(
            wsgi, host=host, port=port, threads=threads, max_request_body_size=MAX_BODY_BYTES * 2
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def base_url(self) -> str:
        host = self._server.effective_host  # type: ignore[union-attr]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self._server.effective_port}"  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        """Slack's request URL."""
        return f"{self.base_url}/slack/events"

    @property
    def teams_url(self) -> str:
        """Teams' messaging endpoint."""
        return f"{self.base_url}/api/messages"

    def serve_forever(self) -> None:
        self._server.run()

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            # Closing the listening socket from stop() can wake the loop on a dead descriptor.
            if not self._stopping.is_set():
                raise

    def stop(self) -> None:
        self._stopping.set()
        stop_waitress(self._server, self._thread)


def stop_waitress(server: Any, thread: threading.Thread | None) -> None:
    """Stop a waitress server whose loop runs on `thread`: its sockets, loop and worker threads.

    Its close() leaves accepted (keep-alive) connections in the loop's map, so the loop and its
    worker threads would live on: every socket is closed, then the workers are stopped.
    """
    if thread is not None and thread.is_alive() and _close_inside_loop(server):
        thread.join(timeout=5)
    wasyncore.close_all(server._map)  # what the loop has not closed
    server.task_dispatcher.shutdown(timeout=5)
    if thread is not None:
        thread.join(timeout=5)


def _close_inside_loop(server: Any) -> bool:
    """Have the loop close every socket itself, woken at once by its trigger; False if it cannot.

    Closed from another thread, the sockets would leave the loop asleep in select() for up to a
    second (waitress's asyncore_loop_timeout) before it saw they were gone.
    """
    trigger = server.trigger
    if getattr(trigger, "_closed", False):
        return False
    try:
        trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    except OSError:
        return False
    return True
