"""Asana webhooks, done properly (issue 13 §1 and §6).

- One webhook per linked project, target `{COPILOT_PUBLIC_URL}/asana/events/{project gid}`, so
  each delivery is checked with its own webhook's secret. `ensure` lists first, reuses ours,
  deletes strays on our target whose secret we do not hold, creates what is missing.
- The handshake is accepted only while our own creation request for that target is in flight
  (recorded in the shared store, so any instance may answer it), and only once.
- A delivery is checked (HMAC-SHA256 of the raw body, constant-time) and answered at once; the
  work runs after it on its own lane: events are deduplicated by a key derived from the event
  (Asana's carry no id), the copilot's own writes are ignored, and new tasks of a burst reach
  the sink in one call.
- A periodic reconcile read (`modified_since`) catches what was never delivered, and re-creates a
  webhook Asana disabled or deleted, telling the approvers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.errors import CopilotError
from bot.gateways.asana import TaskStamp, WebhookInfo

log = logging.getLogger(__name__)

EVENTS_PATH = "/asana/events/"
# Tasks added to the project and tasks changed in it (issue 13 §1).
FILTERS = (
    {"resource_type": "task", "action": "added"},
    {"resource_type": "task", "action": "changed"},
)
# How long a creation waits for its handshake (our request's read timeout is 30 s).
HANDSHAKE_WINDOW = timedelta(seconds=60)
# Asana retries a failed delivery for up to 24 h: a key is kept well beyond that.
EVENT_KEY_RETENTION = timedelta(days=7)
RECONCILE_EVERY = timedelta(minutes=10)
# Read a little before the last watermark: a task saved as the last read ran is not missed.
RECONCILE_OVERLAP = timedelta(minutes=2)
# A burst of new tasks (an import) reaches the sink in one call: it is sent once no new task has
# come for this long, or at the latest after BURST_MAX.
BURST_QUIET = 1.0
BURST_MAX = 10.0


class NewTasks(Protocol):
    """Where new tasks go (triage): non-blocking, ignores tasks it has already seen."""

    def tasks_created(self, project_gid: str, task_gids: Sequence[str]) -> None: ...


class WebhookApi(Protocol):
    """What this module needs of the Asana gateway."""

    def me(self) -> str: ...
    def project(self, gid: str) -> Any: ...
    def webhooks(
        self, workspace_gid: str, resource_gid: str | None = None
    ) -> list[WebhookInfo]: ...
    def webhook(self, gid: str) -> WebhookInfo | None: ...
    def create_webhook(
        self, resource_gid: str, target: str, filters: Sequence[dict[str, Any]]
    ) -> WebhookInfo: ...
    def delete_webhook(self, gid: str) -> bool: ...
    def tasks_modified_since(self, project_gid: str, since: datetime) -> list[TaskStamp]: ...


class WebhookStore(Protocol):
    """The store's webhook aggregate (bot.storage.webhooks)."""

    def begin_webhook_creation(
        self, project_gid: str, target: str, *, within: timedelta, seen: Any = None
    ) -> bool: ...
    def accept_handshake(self, project_gid: str, target: str, secret: str) -> bool: ...
    def finish_webhook_creation(self, project_gid: str, webhook_gid: str) -> bool: ...
    def abandon_webhook_creation(self, project_gid: str) -> None: ...
    def webhook_secret(self, project_gid: str) -> str | None: ...
    def webhook_row(self, project_gid: str) -> Any: ...
    def webhook_rows(self) -> list[Any]: ...
    def forget_webhook(self, project_gid: str) -> None: ...
    def mark_reconciled(self, project_gid: str, at: datetime) -> None: ...
    def record_webhook_problem(self, project_gid: str, problem: str) -> None: ...
    def clear_webhook_problem(self, project_gid: str) -> None: ...
    def first_sightings(self, project_gid: str, keys: Sequence[str]) -> set[str]: ...
    def prune_event_keys(self, *, older_than: timedelta) -> int: ...


@dataclass(frozen=True)
class Outcome:
    """What `ensure` or `remove` did for one project."""

    project_gid: str
    action: str  # kept | created | re-created | deleted | absent | failed
    webhook_gid: str | None = None
    detail: str = ""


def event_key(event: dict[str, Any]) -> str:
    """A stable key for an event (Asana's have no id): the hash of its canonical JSON.

    Two deliveries of one event (a retry, a replay, a duplicate) give the same key; two events
    differ at least in their time, resource, action or change.
    """
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"))
    return "event:" + hashlib.sha256(canonical.encode()).hexdigest()


def task_key(project_gid: str, task_gid: str) -> str:
    """The key of "this task was created in this project", whoever saw it first."""
    return f"task:{project_gid}:{task_gid}"


def signature_ok(secret: str, body: bytes, signature: str) -> bool:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


class Burst:
    """Gathers new tasks per project and hands each burst to the sink in one call."""

    def __init__(
        self, sink: NewTasks, *, quiet: float = BURST_QUIET, longest: float = BURST_MAX
    ) -> None:
        self._sink = sink
        self._quiet = quiet
        self._longest = longest
        self._cond = threading.Condition()
        self._pending: dict[str, list[str]] = {}
        self._last: dict[str, float] = {}
        self._first: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, project_gid: str, task_gids: Sequence[str], now: float) -> None:
        if not task_gids:
            return
        with self._cond:
            gids = self._pending.setdefault(project_gid, [])
            gids.extend(g for g in task_gids if g not in gids)
            self._first.setdefault(project_gid, now)
            self._last[project_gid] = now
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="asana-burst", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _due(self, now: float) -> list[str]:
        return [
            p
            for p in self._pending
            if now - self._last[p] >= self._quiet or now - self._first[p] >= self._longest
        ]

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    now = time.monotonic()
                    if self._due(now):
                        break
                    waits = [
                        min(self._last[p] + self._quiet, self._first[p] + self._longest) - now
                        for p in self._pending
                    ]
                    self._cond.wait(max(0.01, min(waits)) if waits else None)
                if self._stopped and not self._pending:
                    return
                ready = self._due(time.monotonic()) or list(self._pending)
                batches = [(p, self._pending.pop(p)) for p in ready]
                for p in ready:
                    self._first.pop(p, None)
                    self._last.pop(p, None)
            for project_gid, gids in batches:
                try:
                    self._sink.tasks_created(project_gid, gids)
                except Exception as error:  # the sink queues and should not fail: say so loudly
                    log.error(
                        "%d new task(s) of project %s not handed over: %s",
                        len(gids),
                        project_gid,
                        type(error).__name__,
                    )

    def flush(self) -> None:
        """Hand everything pending over now (shutdown, tests)."""
        with self._cond:
            batches = list(self._pending.items())
            self._pending.clear()
            self._first.clear()
            self._last.clear()
        for project_gid, gids in batches:
            self._sink.tasks_created(project_gid, gids)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)


class AsanaWebhooks:
    """Keeps the webhooks, takes their deliveries, and reconciles what they miss."""

    def __init__(
        self,
        *,
        asana: WebhookApi,
        store: WebhookStore,
        projects: Callable[[], Iterable[str]],
        sink: NewTasks | None,
        submit: Callable[[Callable[[], None]], None],
        clock: Callable[[], datetime],
        public_url: str | None,
        monotonic: Callable[[], float] | None = None,
        burst_quiet: float = BURST_QUIET,
        lock: Callable[[str], AbstractContextManager[Any]] | None = None,
    ) -> None:
        self._asana = asana
        self._store = store
        self._projects = projects
        self._submit = submit
        self._clock = clock
        self._monotonic = monotonic or time.monotonic
        self.public_url = public_url.rstrip("/") if public_url else None
        self.sink = sink
        self._burst: Burst | None = None
        self.burst_quiet = burst_quiet
        self._lock = threading.Lock()
        # One `ensure` per project at a time across instances (the database's lock when shared):
        # two instances starting together must not create two webhooks.
        self._project_locks: dict[str, threading.Lock] = {}
        # Project gid → its workspace gid: an Asana project never changes workspace.
        self._workspaces: dict[str, str] = {}
        self._named_lock = lock or self._local_lock

    # -- keeping one webhook per project -------------------------------------------------------

    def target_for(self, project_gid: str) -> str:
        if not self.public_url:
            raise CopilotError("COPILOT_PUBLIC_URL is not set: Asana has nowhere to send events")
        return f"{self.public_url}{EVENTS_PATH}{project_gid}"

    def linked_projects(self) -> list[str]:
        return sorted(set(self._projects()))

    def _workspace_of(self, project_gid: str) -> str:
        """The project's workspace gid, read from Asana once per project."""
        with self._lock:
            known = self._workspaces.get(project_gid)
        if known is None:
            known = self._asana.project(project_gid).workspace_gid
            with self._lock:
                self._workspaces[project_gid] = known
        return known

    def _local_lock(self, name: str) -> AbstractContextManager[Any]:
        with self._lock:
            return self._project_locks.setdefault(name, threading.Lock())

    def ensure(self, project_gid: str) -> Outcome:
        """Make sure the project has exactly one webhook of ours, whose secret we hold."""
        with self._named_lock(f"asana-webhook:{project_gid}"):
            return self._ensure(project_gid)

    def _ensure(self, project_gid: str) -> Outcome:
        target = self.target_for(project_gid)
        workspace_gid = self._workspace_of(project_gid)
        # Our row read before and after the listing, until it did not change meanwhile: then no
        # other instance's creation began or ended during the listing, so a webhook in it that
        # is not the row's is a stray, never another instance's webhook in the making. The
        # creation below goes ahead only if the row is still as read (a compare-and-swap).
        for _ in range(5):
            before = self._store.webhook_row(project_gid)
            listed = self._asana.webhooks(workspace_gid, project_gid)
            row = self._store.webhook_row(project_gid)
            if row == before:
                break
        ours = [w for w in listed if w.target == target]
        known = row.webhook_gid if row is not None and row.status == "active" else None
        secret = self._store.webhook_secret(project_gid) if known else None
        keep = next((w for w in ours if w.gid == known and w.active and secret), None)
        if keep is None and not self._store.begin_webhook_creation(
            project_gid, target, within=HANDSHAKE_WINDOW, seen=row
        ):
            # Another instance created it, or is creating it: wait, then keep what it made.
            self._wait_for_other_creation(project_gid)
            return self._ensure(project_gid)
        try:
            for stray in ours:
                if stray is not keep:
                    # Disabled by Asana, or one whose secret we lost: it cannot be trusted.
                    self._asana.delete_webhook(stray.gid)
        except Exception:
            if keep is None:
                self._store.abandon_webhook_creation(project_gid)
            raise
        if keep is not None:
            return Outcome(project_gid, "kept", keep.gid)
        created = self._create(project_gid, target)
        return Outcome(project_gid, "re-created" if known or ours else "created", created.gid)

    def _wait_for_other_creation(self, project_gid: str) -> None:
        end = self._monotonic() + HANDSHAKE_WINDOW.total_seconds()
        while self._monotonic() < end:
            row = self._store.webhook_row(project_gid)
            if row is None or row.status != "creating":
                return
            time.sleep(0.1)

    def _create(self, project_gid: str, target: str) -> WebhookInfo:
        try:
            created = self._asana.create_webhook(project_gid, target, FILTERS)
        except Exception:
            self._store.abandon_webhook_creation(project_gid)
            raise
        if not self._store.finish_webhook_creation(project_gid, created.gid):
            # Asana says created, but no handshake of ours was accepted: not a webhook we trust.
            self._asana.delete_webhook(created.gid)
            self._store.abandon_webhook_creation(project_gid)
            raise CopilotError(f"the webhook of project {project_gid} came without a handshake")
        log.info("Asana webhook %s created for project %s", created.gid, project_gid)
        return created

    def ensure_all(self, project_gids: Iterable[str] | None = None) -> list[Outcome]:
        outcomes = []
        for gid in project_gids if project_gids is not None else self.linked_projects():
            try:
                outcomes.append(self.ensure(gid))
            except CopilotError as error:
                log.warning("no webhook for project %s: %s", gid, error)
                outcomes.append(Outcome(gid, "failed", detail=str(error)))
        return outcomes

    def remove(self, project_gid: str) -> Outcome:
        """Delete our webhooks on the project (every one on our target) and forget them."""
        target = self.target_for(project_gid)
        deleted = [
            w.gid
            for w in self._asana.webhooks(self._workspace_of(project_gid), project_gid)
            if w.target == target and self._asana.delete_webhook(w.gid)
        ]
        self._store.forget_webhook(project_gid)
        if not deleted:
            return Outcome(project_gid, "absent")
        return Outcome(project_gid, "deleted", ", ".join(deleted))

    def listing(self, project_gids: Iterable[str]) -> list[tuple[str, list[WebhookInfo]]]:
        """Every webhook the token has on each project (ours or not)."""
        found = []
        for gid in project_gids:
            found.append((gid, self._asana.webhooks(self._workspace_of(gid), gid)))
        return found

    # -- the handshake and deliveries ----------------------------------------------------------

    def handshake(self, project_gid: str, secret: str) -> bool:
        """Asana's handshake for the project's target: True only for our creation in flight."""
        if not self.public_url or not secret or len(secret) > 512:
            return False
        return self._store.accept_handshake(project_gid, self.target_for(project_gid), secret)

    def authentic(self, project_gid: str, body: bytes, signature: str) -> bool:
        """Whether a delivery carries the HMAC of that project's webhook secret."""
        if not signature:
            return False
        secret = self._store.webhook_secret(project_gid)
        return secret is not None and signature_ok(secret, body, signature)

    def receive(self, project_gid: str, events: list[dict[str, Any]]) -> None:
        """Take an authentic delivery; the work runs after the answer, on the events lane."""
        if events:
            self._submit(lambda: self.process(project_gid, events))

    def process(self, project_gid: str, events: Sequence[dict[str, Any]]) -> list[str]:
        """Handle a delivery's events once each; return the new tasks handed over."""
        me = self._asana.me()
        keyed = {event_key(e): e for e in events if isinstance(e, dict)}
        fresh = self._store.first_sightings(project_gid, list(keyed))
        added = []
        for key, event in keyed.items():
            if key not in fresh or _by(event) == me:
                continue  # seen already, or the copilot's own write
            resource = event.get("resource") or {}
            parent = event.get("parent") or {}
            if (
                event.get("action") == "added"
                and resource.get("resource_type") == "task"
                and parent.get("resource_type") == "project"
                and parent.get("gid") == project_gid
                and resource.get("gid")
            ):
                added.append(str(resource["gid"]))
        return self._hand_over(project_gid, added)

    def _hand_over(self, project_gid: str, task_gids: Sequence[str]) -> list[str]:
        if not task_gids or project_gid not in self.linked_projects():
            return []  # a project no channel may use any more: its events are not ours to act on
        keys = {task_key(project_gid, g): g for g in task_gids}
        fresh = self._store.first_sightings(project_gid, list(keys))
        new = [g for k, g in keys.items() if k in fresh]
        if new and self.sink is not None:
            self._bursts().add(project_gid, new, self._monotonic())
        return new

    def _bursts(self) -> Burst:
        with self._lock:
            if self._burst is None:
                assert self.sink is not None
                self._burst = Burst(self.sink, quiet=self.burst_quiet)
            return self._burst

    # -- the reconcile read and the webhooks' health -------------------------------------------

    def reconcile(self) -> list[str]:
        """Every few minutes, for each linked project: make sure its webhook is there and
        active (a project linked since, a creation that failed, a webhook Asana disabled or
        deleted), read its tasks changed since the last read, and hand over the new ones no
        delivery brought. A project no longer linked loses its webhook."""
        handed: list[str] = []
        me = self._asana.me()
        linked = set(self.linked_projects())
        rows = {r.project_gid: r for r in self._store.webhook_rows()}
        for gid, row in rows.items():
            if gid not in linked and row.status != "creating":
                self._unlinked(gid)
        for gid in sorted(linked):
            row = rows.get(gid)
            if row is not None and row.status == "creating":
                continue  # an instance is creating it right now
            started = self._clock()
            try:
                if row is None or row.status == "failed":
                    outcome = self.ensure(gid)
                    log.info("Asana webhook of project %s: %s", gid, outcome.action)
                    if row is None:
                        continue  # a new webhook: nothing before it to catch up on
                else:
                    self._check_health(row)
                stamp = row.reconciled_at or row.created_at  # the store's ISO times
                since = datetime.fromisoformat(stamp) if stamp else started
                since -= RECONCILE_OVERLAP
                stamps = self._asana.tasks_modified_since(gid, since)
                created = [
                    s.gid
                    for s in stamps
                    if s.created_at is not None
                    and s.created_at >= since
                    and s.created_by != me
                    and not s.completed
                ]
                handed += self._hand_over(gid, created)
                self._store.mark_reconciled(gid, started)
            except CopilotError as error:
                log.warning("reconcile of project %s failed: %s", gid, error)
        self._store.prune_event_keys(older_than=EVENT_KEY_RETENTION)
        return handed

    def _unlinked(self, project_gid: str) -> None:
        """No channel may use the project any more: stop its webhook."""
        try:
            self.remove(project_gid)
            log.info("project %s is no longer linked: its Asana webhook was deleted", project_gid)
        except CopilotError as error:
            log.warning("webhook of unlinked project %s not deleted: %s", project_gid, error)

    def _check_health(self, row: Any) -> None:
        info = self._asana.webhook(row.webhook_gid) if row.webhook_gid else None
        if info is not None and info.active:
            if row.problem:
                # The webhook re-created after a problem is healthy: the notice has done its job.
                self._store.clear_webhook_problem(row.project_gid)
            return
        why = (
            "Asana deleted the project's webhook"
            if info is None
            else "Asana disabled the project's webhook after failed deliveries"
            + (f" (last: {info.last_failure_content[:80]})" if info.last_failure_content else "")
        )
        log.warning("%s (project %s): re-creating it", why, row.project_gid)
        outcome = self.ensure(row.project_gid)
        self._store.record_webhook_problem(
            row.project_gid,
            f"{why}; it was re-created ({outcome.webhook_gid}). New tasks meanwhile are picked "
            "up by the reconcile read.",
        )

    def flush(self) -> None:
        """Hand pending new tasks over now, without waiting for the burst to end (tests)."""
        with self._lock:
            burst = self._burst
        if burst is not None:
            burst.flush()

    def close(self) -> None:
        with self._lock:
            burst, self._burst = self._burst, None
        if burst is not None:
            burst.stop()


def _by(event: dict[str, Any]) -> str | None:
    user = event.get("user")
    return str(user.get("gid")) if isinstance(user, dict) and user.get("gid") else None
