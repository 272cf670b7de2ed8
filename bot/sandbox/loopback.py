"""What every sandbox service shares: one HTTP server on a free loopback port, on a thread."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Self


class LoopbackService:
    """Serve one ThreadingHTTPServer in the background; stop it; use it as a context manager.

    Subclasses build their server in `start()` and hand it to `_serve`.
    """

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def _serve(self, server: ThreadingHTTPServer, name: str) -> None:
        self._server = server
        # poll_interval 0.01: shutdown() waits for the loop to look; the default 0.5 s (and even
        # 0.05) adds up over the four stand-ins every sandbox stops.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
