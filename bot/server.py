"""HTTP mode: Bolt behind waitress (a multi-threaded WSGI server); requests at /slack/events."""

from __future__ import annotations

import threading

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server


class HttpServer:
    def __init__(
        self, app: App, *, host: str = "0.0.0.0", port: int = 3000, threads: int = 48
    ) -> None:
        self._server = create_server(
            SlackRequestHandler(app), host=host, port=port, threads=threads
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self._server.effective_host  # type: ignore[union-attr]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self._server.effective_port}/slack/events"  # type: ignore[union-attr]

    def serve_forever(self) -> None:
        self._server.run()

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
