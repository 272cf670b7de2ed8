"""POST /asana/events/{project gid}: Asana's handshake and signed deliveries, as a WSGI app.

Answers at once: a handshake is echoed only while our own creation for that target is in flight;
a delivery must carry X-Hook-Signature, the HMAC-SHA256 of the raw body with that project's
webhook secret, else 401 and nothing happens. Secrets and bodies are never logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from bot.usecases.webhooks import EVENTS_PATH, AsanaWebhooks

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Asana batches events; a delivery is far below this.
MAX_BODY_BYTES = 4 * 1024 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    413: "Payload Too Large",
    503: "Service Unavailable",
}


class AsanaEventsEndpoint:
    """Answers POST /asana/events/…; hands any other request to `fallback`."""

    def __init__(self, webhooks: AsanaWebhooks, fallback: WsgiApp) -> None:
        self._webhooks = webhooks
        self._fallback = fallback

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "")
        if not path.startswith(EVENTS_PATH) or environ.get("REQUEST_METHOD") != "POST":
            return self._fallback(environ, start_response)
        project_gid = path[len(EVENTS_PATH) :].rstrip("/")
        if not project_gid.isdigit() or len(project_gid) > 32:
            return _answer(start_response, 404)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _answer(start_response, 400)
        if length > MAX_BODY_BYTES:
            return _answer(start_response, 413)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            return self._handle(environ, start_response, project_gid, body)
        except Exception as error:  # the store is down: Asana retries a failed delivery
            log.warning("an Asana delivery could not be checked: %s", type(error).__name__)
            return _answer(start_response, 503)

    def _handle(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        project_gid: str,
        body: bytes,
    ) -> Iterable[bytes]:
        secret = environ.get("HTTP_X_HOOK_SECRET")
        if secret is not None:
            if self._webhooks.handshake(project_gid, secret):
                log.info("Asana webhook handshake accepted for project %s", project_gid)
                return _answer(start_response, 200, [("X-Hook-Secret", secret)])
            log.warning("refused an Asana handshake nobody asked for (project %s)", project_gid)
            return _answer(start_response, 401)
        signature = str(environ.get("HTTP_X_HOOK_SIGNATURE") or "")
        if not self._webhooks.authentic(project_gid, body, signature):
            log.warning("refused an unsigned or forged Asana delivery (project %s)", project_gid)
            return _answer(start_response, 401)
        try:
            events = json.loads(body)["events"]
            if not isinstance(events, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _answer(start_response, 400)
        self._webhooks.receive(project_gid, events)  # heartbeats carry no events
        return _answer(start_response, 200)


def _answer(
    start_response: Callable[..., Any], status: int, headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    start_response(f"{status} {_REASONS[status]}", [("Content-Length", "0"), *(headers or [])])
    return [b""]
