"""The one HTTP server: stopping it ends its worker threads, even with a keep-alive connection."""

from __future__ import annotations

import http.client
import threading

from bot.server import HttpServer


def waitress_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("waitress")]


def test_stop_ends_every_worker_thread_even_with_a_connection_kept_alive() -> None:
    before = waitress_threads()
    server = HttpServer(
        None, signing_secret=None, seen_before=lambda s: False, host="127.0.0.1", port=0
    )
    server.start()
    host, port = server.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("POST", "/nowhere", body=b"{}")
    response = connection.getresponse()
    assert response.status == 404  # no surface configured: nothing is served
    response.read()  # the connection stays open (HTTP/1.1 keep-alive)
    assert len(waitress_threads()) > len(before)
    server.stop()
    connection.close()
    assert waitress_threads() == before
