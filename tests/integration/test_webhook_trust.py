"""Asana webhooks end to end over real HTTP (issue 13 §1 and §6), on SQLite and PostgreSQL.

The sandbox Asana performs the handshake and signs its deliveries; the app serves
/asana/events/{project}; new tasks go to a recording implementation of the NewTasks port
(what triage implements). Forged requests are sent straight to the app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.demo import CHANNEL, LEAD, Sandbox, running_sandbox
from bot.server import HttpServer
from bot.services import build_services
from bot.usecases.webhooks import NewTasks

from .conftest import backend_env, both_backends


class RecordingTriage:
    """A real NewTasks: remembers each call (project, task gids)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self._cond = threading.Condition()

    def tasks_created(self, project_gid: str, task_gids: Sequence[str]) -> None:
        with self._cond:
            self.calls.append((project_gid, list(task_gids)))
            self._cond.notify_all()

    def wait(self, count: int = 1, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        with self._cond:
            while len(self.calls) < count and time.monotonic() < end:
                self._cond.wait(end - time.monotonic())

    def tasks(self) -> list[str]:
        return [gid for _, gids in self.calls for gid in gids]


def _check(sink: NewTasks) -> NewTasks:
    return sink  # RecordingTriage satisfies the port the app declares


@pytest.fixture
def hooks(frozen_now, request):
    env = frozen_now.env | backend_env(request)
    with running_sandbox(tasks=20, use_model=False, env=env, webhooks=True) as box:
        sink = RecordingTriage()
        box.services.webhooks.sink = _check(sink)
        box.services.webhooks.burst_quiet = 3.0  # a test's burst is never split
        yield box, sink


@pytest.fixture
def backend(request) -> dict[str, str]:
    """DATABASE_URL on PostgreSQL, nothing on SQLite (indirectly parametrized)."""
    return backend_env(request)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def events_url(box: Sandbox, project_gid: str) -> str:
    return f"{box.server.base_url}/asana/events/{project_gid}"


def added(box: Sandbox, task_gid: str, user: str | None) -> dict[str, Any]:
    return {
        "user": {"gid": user, "resource_type": "user"} if user else None,
        "created_at": "2026-06-10T09:00:00.000Z",
        "action": "added",
        "resource": {"gid": task_gid, "resource_type": "task", "resource_subtype": "default_task"},
        "parent": {"gid": box.seed.project_gid, "resource_type": "project"},
    }


def signed(box: Sandbox, events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"events": events}).encode()
    secret = box.services.store.webhook_secret(box.seed.project_gid)
    assert secret is not None
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hook-Signature": sig, "Content-Type": "application/json"}


def settle(box: Sandbox) -> None:
    """Wait for the work after the answers, then hand any pending burst over."""
    box.services.jobs.drain()
    box.services.webhooks.flush()


def person(box: Sandbox) -> str:
    return next(u for u in box.asana.store.users if u != box.asana.store.me)


@both_backends("hooks")
def test_each_linked_project_gets_exactly_one_webhook_and_ensure_reuses_it(hooks):
    box, _ = hooks
    store = box.services.store
    linked = sorted(box.services.webhooks.linked_projects())
    assert linked == sorted([box.seed.project_gid, box.seed.other_project_gid])
    hub = box.asana.webhooks
    assert sorted(w["resource"]["gid"] for w in hub.webhooks.values()) == linked
    for webhook in hub.webhooks.values():
        assert webhook["target"] == events_url(box, webhook["resource"]["gid"])
        assert {"resource_type": "task", "action": "added"} in webhook["filters"]
        assert {"resource_type": "task", "action": "changed"} in webhook["filters"]
    before = set(hub.webhooks)
    outcomes = box.services.webhooks.ensure_all()
    assert {o.action for o in outcomes} == {"kept"} and set(hub.webhooks) == before
    # A webhook on our target whose secret we lost (a wiped database) cannot be verified:
    # ensure deletes it and creates one it can.
    store.forget_webhook(box.seed.project_gid)
    outcome = box.services.webhooks.ensure(box.seed.project_gid)
    assert outcome.action == "re-created"
    mine = [w for w in hub.webhooks.values() if w["resource"]["gid"] == box.seed.project_gid]
    assert len(mine) == 1 and mine[0]["gid"] == outcome.webhook_gid


@both_backends("hooks")
def test_a_task_a_person_creates_reaches_triage_and_the_copilots_own_writes_do_not(hooks):
    box, sink = hooks
    task = box.asana.store.add_task(box.seed.project_gid, "Export to PDF", by=person(box))
    sink.wait()
    assert sink.calls == [(box.seed.project_gid, [task])]
    # The copilot's own write (events whose user is the token's own) is ignored.
    mine = box.asana.store.add_task(box.seed.project_gid, "Written by the copilot")
    body, headers = signed(box, [added(box, mine, box.asana.store.me)])
    assert post(events_url(box, box.seed.project_gid), body, headers)[0] == 200
    settle(box)
    assert sink.tasks() == [task]


@both_backends("hooks")
def test_forged_deliveries_and_unasked_handshakes_get_401_and_nothing_happens(hooks):
    box, sink = hooks
    project = box.seed.project_gid
    task = box.asana.store.add_task(None, "Forged", workspace_gid=box.seed.workspace_gid)
    body, good = signed(box, [added(box, task, person(box))])
    wrong_key = hmac.new(b"not the secret", body, hashlib.sha256).hexdigest()
    tampered = body.replace(b"Forged", b"forged") + b" "
    unlinked = "1209876543299999"
    cases = {
        "no signature": (project, body, {}),
        "empty signature": (project, body, {"X-Hook-Signature": ""}),
        "another key": (project, body, {"X-Hook-Signature": wrong_key}),
        "tampered body": (project, tampered, good),
        "unknown webhook": (unlinked, body, good),
        "handshake nobody asked for": (project, b"", {"X-Hook-Secret": "a" * 64}),
        "handshake for an unknown project": (unlinked, b"", {"X-Hook-Secret": "b" * 64}),
    }
    secret_before = box.services.store.webhook_secret(project)
    for name, (gid, payload, headers) in cases.items():
        status, answer = post(events_url(box, gid), payload, headers)
        assert status == 401, name
        assert "X-Hook-Secret" not in answer, name
    settle(box)
    assert sink.calls == []
    assert box.services.store.webhook_secret(project) == secret_before


@both_backends("hooks")
def test_the_same_body_three_times_is_answered_each_time_and_handed_over_once(hooks):
    box, sink = hooks
    task = box.asana.store.add_task(None, "Retried", workspace_gid=box.seed.workspace_gid)
    body, headers = signed(box, [added(box, task, person(box))])
    answers = [post(events_url(box, box.seed.project_gid), body, headers)[0] for _ in range(3)]
    assert answers == [200, 200, 200]
    settle(box)
    assert sink.calls == [(box.seed.project_gid, [task])]


@both_backends("hooks")
def test_100_events_in_one_second_are_all_acknowledged_and_handed_over_in_one_call(hooks):
    box, sink = hooks
    who = person(box)
    tasks = [
        box.asana.store.add_task(None, f"Import {n}", workspace_gid=box.seed.workspace_gid)
        for n in range(100)
    ]
    deliveries = [signed(box, [added(box, gid, who)]) for gid in tasks]
    url = events_url(box, box.seed.project_gid)
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda d: post(url, *d)[0], deliveries))
    assert statuses == [200] * 100
    settle(box)
    assert len(sink.calls) == 1
    assert sorted(sink.calls[0][1]) == sorted(tasks)


@both_backends("hooks")
def test_events_asana_never_delivered_are_caught_by_the_reconcile_read(hooks):
    box, sink = hooks
    box.asana.webhooks.knobs.drop_next = 1  # Asana: some events may never arrive
    lost = box.asana.store.add_task(box.seed.project_gid, "Never delivered", by=person(box))
    assert box.services.webhooks.reconcile() == [lost]
    settle(box)
    assert sink.tasks() == [lost]
    assert box.services.webhooks.reconcile() == []  # handed over once


@both_backends("hooks")
def test_a_webhook_asana_disabled_is_recreated_and_approvers_are_told(hooks):
    box, sink = hooks
    project = box.seed.project_gid
    old = box.services.store.webhook_row(project).webhook_gid
    box.asana.webhooks.deactivate(old)  # what Asana does after a day of failed deliveries
    box.services.webhooks.reconcile()
    row = box.services.store.webhook_row(project)
    assert row.webhook_gid != old and old not in box.asana.webhooks.webhooks
    assert box.asana.webhooks.webhooks[row.webhook_gid]["active"]
    assert row.problem and "disabled" in row.problem
    # Approvers see it on the Home tab.
    from bot.surfaces.slack.listeners.webhooks import webhook_problems_section

    blocks = webhook_problems_section(box.services)("U0LEAD")
    assert "disabled" in json.dumps(blocks)
    assert webhook_problems_section(box.services)("U0NOTAPPROVER") == []
    task = box.asana.store.add_task(project, "After the re-creation", by=person(box))
    sink.wait()
    assert sink.tasks() == [task]
    # The next reconcile finds the re-created webhook healthy: the notice goes away.
    box.services.webhooks.reconcile()
    assert box.services.store.webhook_row(project).problem is None
    assert webhook_problems_section(box.services)("U0LEAD") == []


@both_backends("hooks")
def test_the_projects_workspace_is_read_from_asana_once_for_all_webhook_calls(hooks):
    box, _ = hooks
    project, webhooks = box.seed.project_gid, box.services.webhooks
    before = len(box.asana.requests)
    assert webhooks.ensure(project).action == "kept"
    assert webhooks.listing([project])[0][0] == project
    assert webhooks.remove(project).action == "deleted"
    assert webhooks.ensure(project).action == "created"
    webhooks.reconcile()
    reads = [
        r
        for r in list(box.asana.requests)[before:]
        if r.method == "GET" and r.path.rstrip("/").endswith(f"/projects/{project}")
    ]
    assert len(reads) <= 1  # a project never changes workspace


@both_backends("hooks")
def test_a_deleted_webhook_is_recreated_too(hooks):
    box, _ = hooks
    project = box.seed.other_project_gid
    old = box.services.store.webhook_row(project).webhook_gid
    box.asana.webhooks.delete(old)
    box.services.webhooks.reconcile()
    row = box.services.store.webhook_row(project)
    assert row.webhook_gid != old and row.webhook_gid in box.asana.webhooks.webhooks
    assert "deleted" in (row.problem or "")


def test_the_handshake_may_reach_another_instance(frozen_now, pg_url):
    """Two instances on one PostgreSQL: A creates the webhook, Asana's handshake and the
    deliveries reach B (one public URL in front of both), and B accepts them."""
    env = frozen_now.env | {"DATABASE_URL": pg_url}
    with running_sandbox(tasks=20, use_model=False, env=env) as box:
        other = build_services(box.settings)
        server = HttpServer(
            None,
            signing_secret=None,
            seen_before=other.replay_guard(),
            asana_webhooks=other.webhooks,
            host="127.0.0.1",
            port=0,
        ).start()
        try:
            sink = RecordingTriage()
            other.webhooks.sink = sink
            for instance in (box.services, other):
                instance.webhooks.public_url = server.base_url
            outcome = box.services.webhooks.ensure(box.seed.project_gid)
            assert outcome.action == "created"
            task = box.asana.store.add_task(box.seed.project_gid, "Via B", by=person(box))
            sink.wait()
            assert sink.tasks() == [task]
        finally:
            server.stop()
            other.close()


@both_backends("hooks")
def test_two_instances_ensuring_at_once_leave_one_webhook(hooks):
    box, _ = hooks
    project = box.seed.project_gid
    for webhook in list(box.asana.webhooks.webhooks.values()):
        box.asana.webhooks.delete(webhook["gid"])
    box.services.store.forget_webhook(project)
    other = build_services(box.settings)
    other.webhooks.public_url = box.services.webhooks.public_url
    try:
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(lambda s: s.webhooks.ensure(project), [box.services, other]))
    finally:
        other.close()
    assert sorted(o.action for o in outcomes) == ["created", "kept"]
    assert [w["gid"] for w in box.asana.webhooks.webhooks.values()] == [outcomes[0].webhook_gid]


@both_backends("hooks")
def test_late_duplicated_out_of_order_deliveries_give_each_task_once(hooks):
    box, sink = hooks
    knobs = box.asana.webhooks.knobs
    knobs.duplicates, knobs.out_of_order, knobs.delay, knobs.batch_window = 2, True, 0.2, 0.2
    who = person(box)
    with box.asana.store.lock:  # an import: five tasks at once
        tasks = [
            box.asana.store.add_task(box.seed.project_gid, f"CSV {n}", by=who) for n in range(5)
        ]
    end = time.monotonic() + 15
    while len(box.asana.webhooks.deliveries) < 3 and time.monotonic() < end:
        time.sleep(0.05)
    assert [status for _, status, _ in box.asana.webhooks.deliveries] == [200, 200, 200]
    settle(box)
    assert sink.calls == [(box.seed.project_gid, list(reversed(tasks)))]


@both_backends("hooks")
def test_a_heartbeat_is_answered_and_changes_nothing(hooks):
    box, sink = hooks
    gid = box.services.store.webhook_row(box.seed.project_gid).webhook_gid
    box.asana.webhooks.heartbeat(gid)
    end = time.monotonic() + 10
    while not box.asana.webhooks.deliveries and time.monotonic() < end:
        time.sleep(0.05)
    assert [(status, body) for _, status, body in box.asana.webhooks.deliveries] == [
        (200, b'{"events": []}')
    ]
    settle(box)
    assert sink.calls == []


@both_backends("backend")
def test_a_project_no_channel_may_use_any_more_loses_its_webhook(frozen_now, backend):
    env = frozen_now.env | backend | {"COPILOT_PROJECTS": ""}  # only linked projects
    with running_sandbox(tasks=20, use_model=False, env=env, webhooks=True) as box:
        sink = RecordingTriage()
        box.services.webhooks.sink = sink
        project = box.seed.other_project_gid
        box.link(project)  # an approver links it on the Home tab
        assert box.services.webhooks.ensure(project).action == "created"
        box.services.store.unlink_project(CHANNEL, project, by=LEAD)
        task = box.asana.store.add_task(project, "After the unlink", by=person(box))
        end = time.monotonic() + 10
        while not box.asana.webhooks.deliveries and time.monotonic() < end:
            time.sleep(0.05)
        settle(box)
        assert box.asana.webhooks.deliveries and sink.calls == []  # not ours to act on
        box.services.webhooks.reconcile()
        assert box.services.store.webhook_row(project) is None
        assert [w["resource"]["gid"] for w in box.asana.webhooks.webhooks.values()] == [
            box.seed.project_gid
        ]
        assert task not in sink.tasks()


@both_backends("backend")
def test_the_reconcile_gives_a_newly_linked_project_its_webhook(frozen_now, backend):
    env = frozen_now.env | backend | {"COPILOT_PROJECTS": ""}  # only linked projects
    with running_sandbox(tasks=20, use_model=False, env=env, webhooks=True) as box:
        project = box.seed.other_project_gid
        assert box.services.store.webhook_row(project) is None
        box.link(project)  # an approver links it on the Home tab while the app runs
        box.services.webhooks.reconcile()
        row = box.services.store.webhook_row(project)
        assert row is not None and row.status == "active"
        assert box.asana.webhooks.webhooks[row.webhook_gid]["active"]
