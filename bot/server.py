"""HTTP mode: Bolt behind waitress (a multi-threaded WSGI server); requests at /slack/events."""

from __future__ import annotations

import threading
from collections.abc import Callable

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot.http_guard import MAX_BODY_BYTES, SlackRequestGuard


class HttpServer:
    def __init__(
        self,
        app: App,
        *,
        signing_secret: str,
        seen_before: Callable[[str], bool],
        host: str = "0.0.0.0",
        port: int = 3000,
        threads: int = 48,
    ) -> None:
        wsgi = SlackRequestGuard(
            SlackRequestHandler(app), signing_secret=signing_secret, seen_before=seen_before
        )
        self._server = create_server(
            wsgi, host=host, port=port, threads=threads, max_request_body_size=MAX_BODY_BYTES * 2
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        host = self._server.effective_host  # type: ignore[union-attr]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self._server.effective_port}/slack/events"  # type: ignore[union-attr]

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
        self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
