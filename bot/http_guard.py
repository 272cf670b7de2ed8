"""A WSGI guard in front of Bolt for HTTP mode: size, signature, replay and shape checks.

Bolt verifies signatures too, but a correctly signed yet malformed body (bad JSON in `payload`,
an interaction without a user) reaches its internals and ends in a 500 with a traceback; and
Bolt accepts the same signed request twice within its five minutes. This guard answers those
with 400/401 before Bolt sees them, and never logs the body.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # Slack's payloads are far smaller; views stay under a few hundred KB
INTERACTIVE_TYPES_WITH_USER = {
    "block_actions",
    "view_submission",
    "view_closed",
    "shortcut",
    "message_action",
    "block_suggestion",
}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SlackRequestGuard:
    def __init__(
        self,
        app: WsgiApp,
        *,
        signing_secret: str,
        seen_before: Callable[[str], bool],
        path: str = "/slack/events",
    ) -> None:
        self._app = app
        self._verifier = SignatureVerifier(signing_secret)
        self._seen_before = seen_before
        self._path = path

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self._path or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _answer(start_response, 400, "bad content length")
        if length > MAX_BODY_BYTES:
            return _answer(start_response, 400, "request body too large")
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            "x-slack-request-timestamp": environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
            "x-slack-signature": environ.get("HTTP_X_SLACK_SIGNATURE", ""),
        }
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _answer(start_response, 400, "body is not UTF-8")  # Slack sends only UTF-8
        numeric_timestamp = headers["x-slack-request-timestamp"].isdigit()
        if not numeric_timestamp or not self._verifier.is_valid_request(body, headers):
            return _answer(start_response, 401, "invalid request")
        if self._seen_before(headers["x-slack-signature"]):
            return _answer(start_response, 401, "replayed request")
        problem = shape_problem(text, environ.get("CONTENT_TYPE", ""))
        if problem:
            log.info("refused a signed but malformed request: %s", problem)
            return _answer(start_response, 400, problem)
        environ["wsgi.input"] = io.BytesIO(body)
        return self._app(environ, start_response)


class ReplayCache:
    """Signatures seen in the last 10 minutes (Slack refuses timestamps older than 5).

    In memory on purpose: a check on every request must not wait behind database writes.
    Slack sends each request once (its retries carry a new timestamp and signature), so a
    repeat is a replay. For one process (SQLite); instances sharing a database use
    SharedReplayCache instead, so a request replayed to another instance is refused too.
    """

    def __init__(self, ttl_seconds: float = 600.0, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl_seconds
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def seen_before(self, signature: str) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._seen) > 10_000 or (self._seen and next(iter(self._seen.values())) < now):
                self._seen = {s: t for s, t in self._seen.items() if t >= now}
            if signature in self._seen:
                return True
            self._seen[signature] = now + self._ttl
            return False


class SignatureLedger(Protocol):
    def seen_signature(self, signature: str, *, ttl: timedelta) -> bool: ...

    def prune_signatures(self) -> int: ...


class SharedReplayCache:
    """Signatures seen by any instance sharing the database (one INSERT … ON CONFLICT each)."""

    PRUNE_EVERY = 1000

    def __init__(self, ledger: SignatureLedger, ttl_seconds: float = 600.0) -> None:
        self._ledger = ledger
        self._ttl = timedelta(seconds=ttl_seconds)
        self._calls = 0
        self._lock = threading.Lock()

    def seen_before(self, signature: str) -> bool:
        with self._lock:
            self._calls += 1
            prune = self._calls % self.PRUNE_EVERY == 0
        if prune:
            self._ledger.prune_signatures()
        return self._ledger.seen_signature(signature, ttl=self._ttl)


def shape_problem(text: str, content_type: str) -> str | None:
    """Why a signed body cannot be a Slack request we handle, or None when it can."""
    if content_type.startswith("application/json"):
        try:
            data = json.loads(text)
        except ValueError:
            return "body is not valid JSON"
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return "JSON body without a type"
        return None
    form = parse_qs(text, keep_blank_values=True)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except ValueError:
            return "payload is not valid JSON"
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return "payload without a type"
        if payload["type"] in INTERACTIVE_TYPES_WITH_USER:
            user = payload.get("user")
            if not isinstance(user, dict) or not isinstance(user.get("id"), str):
                return "interaction without a user"
        if payload["type"] == "block_actions" and not isinstance(payload.get("actions"), list):
            return "block_actions without actions"
        if payload["type"] in ("view_submission", "view_closed"):
            view = payload.get("view")
            if not isinstance(view, dict) or not isinstance(view.get("type"), str):
                return "view payload without a view type"
        return None
    if "command" in form:
        for field in ("user_id", "channel_id"):
            if not form.get(field, [""])[0]:
                return f"slash command without {field}"
        return None
    if "ssl_check" in form:
        return None
    return "not a Slack request"


def _answer(start_response: Callable[..., Any], status: int, message: str) -> list[bytes]:
    reason = {400: "Bad Request", 401: "Unauthorized"}[status]
    body = json.dumps({"error": message}).encode()
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
