"""Asana's webhooks in the sandbox, as its API reference and webhooks guide describe them.

- POST /webhooks sends the handshake (a POST to the target carrying `X-Hook-Secret`) while the
  creation request is still open, and creates the webhook only when the target answers 200 or
  204 echoing that secret; otherwise the creation fails and nothing is left behind.
- Events are compact (`user`, `created_at`, `action`, `resource`, `parent`, `change`), with no
  id, delivered in batches as `{"events": [...]}` with `X-Hook-Signature`: the HMAC-SHA256 hex
  of the raw body keyed with the webhook's secret. Heartbeats are deliveries with no events.
- A failed delivery (not 2xx, a timeout, a refused connection) is retried with exponential
  backoff; after `failure_period` of failures without one success (24 h at Asana) the webhook
  is deactivated (`active: false`) and delivers nothing more.
- Knobs for what Asana warns receivers of: duplicates, delays, out-of-order and lost events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0  # seconds the target has to answer the handshake
DELIVERY_TIMEOUT = 10.0  # Asana's timeout for a delivery
FAILURE_PERIOD = 24 * 3600.0  # failing this long without a success deactivates a webhook
HEARTBEAT_EVERY = 8 * 3600.0
FILTER_KEYS = {"resource_type", "resource_subtype", "action", "fields"}


class WebhookError(Exception):
    """A request Asana refuses: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class WebhookKnobs:
    """How deliveries behave; tests compress Asana's hours into fractions of a second."""

    batch_window: float = 0.05  # events within this window go out in one delivery
    delay: float = 0.0  # seconds every delivery waits before going out (late events)
    duplicates: int = 0  # extra copies of every delivery (Asana may deliver twice)
    out_of_order: bool = False  # each batch's events delivered newest first
    drop_next: int = 0  # the next N events are lost (Asana: "may never arrive")
    retry_first: float = 0.1  # first backoff after a failed delivery; doubles each time
    retry_max: float = 60.0
    failure_period: float = FAILURE_PERIOD
    heartbeat_every: float | None = HEARTBEAT_EVERY
    timeout: float = DELIVERY_TIMEOUT


def signature(secret: str, body: bytes) -> str:
    """X-Hook-Signature: HMAC-SHA256 of the raw body, hex."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _stamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# Straight to the target: no proxy from the environment stands between the sandbox and the app.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, Any, bytes]:
    """POST and return (status, response headers, body); status 0 when no answer came."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
    except (OSError, urllib.error.URLError) as error:
        return 0, {}, str(error).encode()


class _Delivery:
    """One webhook's delivery loop on its own thread: batches, signs, retries, heartbeats."""

    def __init__(self, hub: WebhookHub, webhook: dict[str, Any], secret: str) -> None:
        self.hub = hub
        self.webhook = webhook
        self.secret = secret
        self.pending: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.stopped = False
        self.thread = threading.Thread(
            target=self._loop, name=f"asana-webhook-{webhook['gid']}", daemon=True
        )
        self.thread.start()

    def add(self, event: dict[str, Any]) -> None:
        with self.cond:
            self.pending.append(event)
            self.cond.notify()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify()

    def _loop(self) -> None:
        knobs = self.hub.knobs
        last_sent = time.monotonic()
        while True:
            with self.cond:
                while not self.pending and not self.stopped:
                    wait = None
                    if knobs.heartbeat_every is not None:
                        wait = max(0.0, last_sent + knobs.heartbeat_every - time.monotonic())
                        if wait == 0.0:
                            break
                    self.cond.wait(wait)
                if self.stopped:
                    return
            time.sleep(knobs.batch_window)  # gather a burst into one delivery
            with self.cond:
                events, self.pending = self.pending, []
            if knobs.out_of_order:
                events.reverse()
            if knobs.delay:
                time.sleep(knobs.delay)
            for _ in range(1 + knobs.duplicates):
                if not self._deliver(events) or self.stopped:
                    return
            last_sent = time.monotonic()

    def _deliver(self, events: list[dict[str, Any]]) -> bool:
        """Deliver until it works; False when the webhook was deactivated or deleted."""
        knobs = self.hub.knobs
        body = json.dumps({"events": events}).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Hook-Signature": signature(self.secret, body),
        }
        backoff = knobs.retry_first
        first_failure: float | None = None
        while not self.stopped:
            status, _, answer = _post(self.webhook["target"], body, headers, knobs.timeout)
            now = self.hub.now()
            with self.hub.lock:
                if 200 <= status < 300:
                    self.webhook.update(
                        last_success_at=_stamp(now),
                        delivery_retry_count=0,
                        next_attempt_after=None,
                        failure_deletion_timestamp=None,
                    )
                    self.hub.deliveries.append((self.webhook["gid"], status, body))
                    return True
                self.hub.deliveries.append((self.webhook["gid"], status, body))
                if first_failure is None:
                    first_failure = time.monotonic()
                    deadline = now + timedelta(seconds=knobs.failure_period)
                    self.webhook["failure_deletion_timestamp"] = _stamp(deadline)
                self.webhook.update(
                    last_failure_at=_stamp(now),
                    last_failure_content=(f"{status} " if status else "")
                    + answer.decode("utf-8", "replace")[:200],
                    delivery_retry_count=self.webhook["delivery_retry_count"] + 1,
                    next_attempt_after=_stamp(now + timedelta(seconds=backoff)),
                )
                if time.monotonic() - first_failure >= knobs.failure_period:
                    self.webhook["active"] = False
                    self.stopped = True
                    return False
            with self.cond:
                self.cond.wait(backoff)
            backoff = min(backoff * 2, knobs.retry_max)
        return False


class WebhookHub:
    """Every webhook of the sandbox, and the events Asana would send them."""

    def __init__(
        self,
        *,
        new_gid: Callable[[], str],
        now: Callable[[], datetime],
        resource_of: Callable[[str], dict[str, Any] | None],
        projects_of_task: Callable[[str], list[str]],
        knobs: WebhookKnobs | None = None,
    ) -> None:
        self.knobs = knobs or WebhookKnobs()
        self.lock = threading.RLock()
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.owners: dict[str, str] = {}  # webhook gid -> the user that created it
        self.deliveries: list[tuple[str, int, bytes]] = []  # (webhook gid, status, body)
        self._loops: dict[str, _Delivery] = {}
        self._new_gid = new_gid
        self.now = now
        self._resource_of = resource_of
        self._projects_of_task = projects_of_task

    # -- the API ---------------------------------------------------------------------------

    def create(self, data: dict[str, Any], *, owner: str, workspace: str | None) -> dict[str, Any]:
        resource_gid = data.get("resource")
        target = data.get("target")
        if not resource_gid:
            raise WebhookError(400, "resource: Missing input")
        if not isinstance(target, str) or not target:
            raise WebhookError(400, "target: Missing input")
        if not target.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise WebhookError(400, "target: Webhook target must use https")
        resource = self._resource_of(str(resource_gid))
        if resource is None:
            raise WebhookError(404, f"resource: Unknown object: {resource_gid}")
        filters = data.get("filters") or []
        if not isinstance(filters, list) or not all(
            isinstance(f, dict) and set(f) <= FILTER_KEYS for f in filters
        ):
            raise WebhookError(400, "filters: Invalid filter")
        with self.lock:
            for webhook in self.webhooks.values():
                if webhook["resource"]["gid"] == resource["gid"] and webhook["target"] == target:
                    raise WebhookError(
                        403, "Duplicate webhook: one already exists for this resource and target"
                    )
        secret = secrets.token_hex(32)
        # The handshake, while the creation request is open: the target must echo the secret.
        status, headers, _ = _post(
            target,
            b"",
            {"X-Hook-Secret": secret, "Content-Type": "application/json"},
            HANDSHAKE_TIMEOUT,
        )
        echoed = headers.get("X-Hook-Secret") if headers else None
        if status not in (200, 204) or echoed is None or not hmac.compare_digest(echoed, secret):
            raise WebhookError(
                400, f"The remote server did not respond with the handshake secret ({status})"
            )
        gid = self._new_gid()
        webhook = {
            "gid": gid,
            "resource_type": "webhook",
            "active": True,
            "resource": resource,
            "target": target,
            "created_at": _stamp(self.now()),
            "last_failure_at": None,
            "last_failure_content": None,
            "last_success_at": None,
            "delivery_retry_count": 0,
            "next_attempt_after": None,
            "failure_deletion_timestamp": None,
            "filters": [dict(f) for f in filters],
            "workspace": workspace,
        }
        with self.lock:
            self.webhooks[gid] = webhook
            self.owners[gid] = owner
            self._loops[gid] = _Delivery(self, webhook, secret)
        return webhook

    def listing(self, *, workspace: str, resource: str | None, owner: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                w
                for gid, w in self.webhooks.items()
                if self.owners[gid] == owner
                and w["workspace"] == workspace
                and (resource is None or w["resource"]["gid"] == resource)
            ]

    def get(self, gid: str) -> dict[str, Any]:
        with self.lock:
            if gid not in self.webhooks:
                raise WebhookError(404, f"webhook: Unknown object: {gid}")
            return self.webhooks[gid]

    def delete(self, gid: str) -> None:
        with self.lock:
            if gid not in self.webhooks:
                raise WebhookError(404, f"webhook: Unknown object: {gid}")
            del self.webhooks[gid]
            self.owners.pop(gid, None)
            loop = self._loops.pop(gid)
        loop.stop()

    # -- events ----------------------------------------------------------------------------

    def publish(self, event: dict[str, Any]) -> None:
        """Hand an event to every active webhook it concerns (or lose it, when told to)."""
        with self.lock:
            if self.knobs.drop_next > 0:
                self.knobs.drop_next -= 1
                return
            for gid, webhook in self.webhooks.items():
                if webhook["active"] and self._concerns(webhook, event):
                    self._loops[gid].add(event)

    def _concerns(self, webhook: dict[str, Any], event: dict[str, Any]) -> bool:
        watched = webhook["resource"]["gid"]
        resource = event["resource"]
        parent = event.get("parent") or {}
        inside = resource["gid"] == watched or parent.get("gid") == watched
        if not inside and resource["resource_type"] == "task":
            inside = watched in self._projects_of_task(resource["gid"])
        if not inside:
            return False
        filters = webhook["filters"]
        return not filters or any(_passes(f, event) for f in filters)

    def deactivate(self, gid: str) -> None:
        """What Asana does after the failure period (also a test shortcut)."""
        with self.lock:
            self.webhooks[gid]["active"] = False
            loop = self._loops.get(gid)
        if loop is not None:
            loop.stop()

    def heartbeat(self, gid: str) -> None:
        """Send a heartbeat now (an empty delivery), as Asana does every 8 hours."""
        with self.lock:
            loop = self._loops[gid]
        threading.Thread(target=loop._deliver, args=([],), daemon=True).start()

    def stop(self) -> None:
        with self.lock:
            loops = list(self._loops.values())
        for loop in loops:
            loop.stop()


def _passes(rule: dict[str, Any], event: dict[str, Any]) -> bool:
    resource = event["resource"]
    if rule.get("resource_type") and rule["resource_type"] != resource["resource_type"]:
        return False
    if rule.get("resource_subtype") and rule["resource_subtype"] != resource.get(
        "resource_subtype"
    ):
        return False
    if rule.get("action") and rule["action"] != event["action"]:
        return False
    fields = rule.get("fields")
    if fields and event["action"] == "changed":
        return (event.get("change") or {}).get("field") in fields
    return True


def render(webhook: dict[str, Any], opt_fields: str | None) -> dict[str, Any]:
    """A webhook as the API answers it: compact by default, or the fields asked for."""
    compact = ("gid", "resource_type", "active", "resource", "target")
    out = {k: webhook[k] for k in compact}
    if opt_fields:
        names = {f.split(".")[0] for f in opt_fields.split(",") if f}
        out = {"gid": webhook["gid"], "resource_type": "webhook"}
        out |= {k: webhook[k] for k in names if k in webhook and k != "workspace"}
    return json.loads(json.dumps(out))


def full(webhook: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps({k: v for k, v in webhook.items() if k != "workspace"}))
