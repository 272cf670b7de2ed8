"""POST /api/messages as a WSGI app: the JWT and shape check, then the SDK. Never logs a body."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from bot.errors import UpstreamError
from bot.surfaces.teams.auth import MAX_BODY_BYTES, ActivityAuth, Refusal
from bot.surfaces.teams.sdk import MESSAGING_PATH, TeamsRuntime

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class TeamsEndpoint:
    """Answers POST /api/messages; hands any other request to `fallback`."""

    def __init__(self, auth: ActivityAuth, runtime: TeamsRuntime, fallback: WsgiApp) -> None:
        self._auth = auth
        self._runtime = runtime
        self._fallback = fallback

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != MESSAGING_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self._fallback(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return answer(start_response, 400, {"error": "bad content length"})
        if length > MAX_BODY_BYTES:
            return answer(start_response, 400, {"error": "request body too large"})
        body = environ["wsgi.input"].read(length) if length else b""
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        try:
            caller = self._auth.check(authorization, body)
        except Refusal as refusal:
            log.info("refused a Teams request (%s): %s", refusal.status, refusal.reason)
            return answer(start_response, refusal.status, {"error": refusal.reason})
        except UpstreamError as exc:
            # Without the signing keys nothing can be trusted; Teams retries a 503.
            log.warning("could not check a Teams request: %s", exc)
            return answer(start_response, 503, {"error": "signing keys unavailable"})
        activity = caller.activity
        if activity["type"] == "installationUpdate" and activity["action"].endswith("-upgrade"):
            # The app updated in place: nothing to remember or drop, and the SDK cannot parse it.
            return answer(start_response, 200, None)
        status, payload = self._runtime.handle(activity, authorization)
        return answer(start_response, status, payload)


def answer(start_response: Callable[..., Any], status: int, payload: Any) -> list[bytes]:
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = [("Content-Length", str(len(body)))]
    if payload is not None:
        headers.append(("Content-Type", "application/json; charset=utf-8"))
    start_response(f"{status} {REASONS.get(status, 'Status')}", headers)
    return [body]
