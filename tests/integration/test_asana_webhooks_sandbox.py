"""The sandbox's webhooks behave as Asana documents them, through the real `asana` client.

A small receiver on loopback plays the app: it answers the handshake (or not), records every
delivery, and can fail on purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asana
import pytest

from bot.errors import UpstreamError, UserFacingError
from bot.gateways.asana import AsanaGateway
from bot.sandbox.asana_seed import seed_team
from bot.sandbox.asana_server import AsanaSandbox, AsanaStore
from bot.sandbox.asana_webhooks import WebhookKnobs
from bot.settings import Secret

FILTERS = [{"resource_type": "task", "action": "added"}]


class Receiver:
    """Plays the app's endpoint: echo the handshake, record deliveries, fail when told."""

    def __init__(self) -> None:
        self.handshake = "echo"  # echo | wrong | refuse
        self.fail_with = 0  # answer deliveries with this status when set
        self.secret: str | None = None
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.got = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                secret = self.headers.get("X-Hook-Secret")
                headers = {}
                status = 200
                if secret is not None:
                    if receiver.handshake == "refuse":
                        status = 403
                    else:
                        receiver.secret = secret
                        headers["X-Hook-Secret"] = (
                            secret if receiver.handshake == "echo" else "nope"
                        )
                else:
                    status = receiver.fail_with or 200
                    with receiver.got:
                        receiver.deliveries.append((dict(self.headers), body))
                        receiver.got.notify_all()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/asana/events/1"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def events(self) -> list[dict[str, Any]]:
        return [e for _, body in self.deliveries for e in json.loads(body)["events"]]

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        with self.got:
            while len(self.deliveries) < count and time.monotonic() < end:
                self.got.wait(end - time.monotonic())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def world(frozen_now) -> Iterator[tuple[AsanaSandbox, Any, AsanaGateway, Receiver]]:
    store = AsanaStore()
    seed = seed_team(store, tasks=10, today=store.now().date(), now=store.now())
    knobs = WebhookKnobs(batch_window=0.05, retry_first=0.05, retry_max=0.2)
    with AsanaSandbox(store, webhook_knobs=knobs) as sandbox:
        gateway = AsanaGateway(base_url=sandbox.base_url, token=Secret(sandbox.token))
        receiver = Receiver()
        try:
            yield sandbox, seed, gateway, receiver
        finally:
            receiver.close()
            gateway.close()


def person(sandbox: AsanaSandbox) -> str:
    return next(u for u in sandbox.store.users if u != sandbox.store.me)


def person_tasks_api(sandbox: AsanaSandbox, who: str) -> asana.TasksApi:
    """The official client with a person's own token: what they do in Asana."""
    config = asana.Configuration()
    config.host = sandbox.base_url
    config.access_token = sandbox.token_for(who)
    return asana.TasksApi(asana.ApiClient(config))


def test_creation_waits_for_the_handshake_and_fails_without_the_echo(world):
    _, seed, gateway, receiver = world
    for mode in ("wrong", "refuse"):
        receiver.handshake = mode
        with pytest.raises(UserFacingError, match="handshake"):
            gateway.create_webhook(seed.project_gid, receiver.url, FILTERS)
    assert gateway.webhooks(seed.workspace_gid) == []
    receiver.handshake = "echo"
    created = gateway.create_webhook(seed.project_gid, receiver.url, FILTERS)
    assert receiver.secret is not None  # the handshake came before the 201
    assert (created.active, created.target, created.resource_gid) == (
        True,
        receiver.url,
        seed.project_gid,
    )
    with pytest.raises(UpstreamError, match="403"):  # one per resource and target
        gateway.create_webhook(seed.project_gid, receiver.url, FILTERS)


def test_list_get_and_delete_follow_the_spec(world):
    sandbox, seed, gateway, receiver = world
    made = [
        gateway.create_webhook(seed.project_gid, f"{receiver.url}?n={n}", FILTERS) for n in range(3)
    ]
    listed = gateway.webhooks(seed.workspace_gid, seed.project_gid)
    assert [w.gid for w in listed] == [w.gid for w in made]
    assert gateway.webhooks(seed.workspace_gid, seed.other_project_gid) == []
    assert gateway.webhook(made[0].gid) == made[0]
    assert gateway.delete_webhook(made[0].gid)
    assert gateway.webhook(made[0].gid) is None
    assert not gateway.delete_webhook(made[0].gid)
    page = sandbox.api.handle(
        "GET", "/webhooks", {"workspace": seed.workspace_gid, "limit": "1"}, None
    )
    assert page.status == 200 and len(page.body["data"]) == 1 and page.body["next_page"]


def test_events_are_compact_signed_and_name_the_person(world):
    sandbox, seed, gateway, receiver = world
    gateway.create_webhook(seed.project_gid, receiver.url, FILTERS)
    who = person(sandbox)
    task = sandbox.store.add_task(seed.project_gid, "Added by a person", by=who)
    receiver.wait_for(1)
    headers, body = receiver.deliveries[0]
    assert receiver.secret is not None
    expected = hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Hook-Signature"] == expected
    [event] = json.loads(body)["events"]
    assert event["user"] == {"gid": who, "resource_type": "user"}
    assert event["action"] == "added"
    assert event["resource"] == {
        "gid": task,
        "resource_type": "task",
        "resource_subtype": "default_task",
    }
    assert event["parent"] == {"gid": seed.project_gid, "resource_type": "project"}
    assert set(event) == {"user", "created_at", "action", "resource", "parent"}


def test_a_person_token_creates_tasks_and_changes_through_the_api(world):
    sandbox, seed, gateway, receiver = world
    gateway.create_webhook(
        seed.project_gid,
        receiver.url,
        [*FILTERS, {"resource_type": "task", "action": "changed"}],
    )
    who = person(sandbox)
    since = sandbox.store.now() - timedelta(seconds=1)
    tasks = person_tasks_api(sandbox, who)
    body = {"data": {"name": "From a form", "projects": [seed.project_gid]}}
    task = tasks.create_task(body, {})
    tasks.update_task({"data": {"name": "Renamed"}}, task["gid"], {})
    assert gateway.me() == sandbox.store.me != who
    receiver.wait_for(1)
    time.sleep(0.3)
    actions = [(e["action"], e["user"]["gid"]) for e in receiver.events()]
    assert actions == [("added", who), ("changed", who)]
    assert receiver.events()[1]["change"] == {"field": "name", "action": "changed"}
    [stamp] = gateway.tasks_modified_since(seed.project_gid, since)
    assert (stamp.gid, stamp.created_by) == (task["gid"], who)


def test_a_burst_is_one_delivery_and_knobs_duplicate_reorder_and_lose(world):
    sandbox, seed, gateway, receiver = world
    gateway.create_webhook(seed.project_gid, receiver.url, FILTERS)
    sandbox.webhooks.knobs.batch_window = 0.3
    with sandbox.store.lock:  # a CSV import: 20 tasks at once
        burst = [sandbox.store.add_task(seed.project_gid, f"Import {n}") for n in range(20)]
    receiver.wait_for(1)
    assert len(receiver.deliveries) == 1 and len(receiver.events()) == 20
    knobs = sandbox.webhooks.knobs
    knobs.duplicates, knobs.out_of_order, knobs.drop_next = 2, True, 1
    with sandbox.store.lock:
        later = [sandbox.store.add_task(seed.project_gid, f"Later {n}") for n in range(3)]
    receiver.wait_for(4)
    bodies = [body for _, body in receiver.deliveries[1:]]
    assert len(bodies) == 3 and len(set(bodies)) == 1  # the same delivery three times
    order = [e["resource"]["gid"] for e in json.loads(bodies[0])["events"]]
    assert order == list(reversed(later[1:]))  # the first one lost, the rest newest first
    assert burst[0] not in order


def test_failing_deliveries_are_retried_then_the_webhook_is_deactivated(world):
    sandbox, seed, gateway, receiver = world
    created = gateway.create_webhook(seed.project_gid, receiver.url, FILTERS)
    receiver.fail_with = 500
    sandbox.webhooks.knobs.failure_period = 0.5
    sandbox.store.add_task(seed.project_gid, "Nobody hears this")
    end = time.monotonic() + 10
    while gateway.webhook(created.gid).active and time.monotonic() < end:
        time.sleep(0.05)
    info = gateway.webhook(created.gid)
    assert info is not None and not info.active
    assert info.last_failure_content and info.last_failure_content.startswith("500")
    tries = len(receiver.deliveries)
    assert tries >= 3  # retried with backoff before giving up
    receiver.fail_with = 0
    sandbox.store.add_task(seed.project_gid, "After deactivation")
    time.sleep(0.3)
    assert len(receiver.deliveries) == tries  # an inactive webhook sends nothing


def test_a_heartbeat_is_a_signed_delivery_without_events(world):
    sandbox, seed, gateway, receiver = world
    created = gateway.create_webhook(seed.project_gid, receiver.url, FILTERS)
    sandbox.webhooks.heartbeat(created.gid)
    receiver.wait_for(1)
    headers, body = receiver.deliveries[0]
    assert json.loads(body) == {"events": []} and headers["X-Hook-Signature"]
