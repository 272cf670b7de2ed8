"""Clicks never wait behind the model (issue 10 §4): separate workers, one /prioritize per
project at a time, a total deadline per command, and a "queued" note when a pool is full.

The model is held by a gate in front of the OpenAI stand-in, so the tests assert the order of
events (the Approve is applied while the model is still held), never how long anything took.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.demo import CHANNEL, LEAD, Sandbox, proposal_id_of, running_sandbox
from bot.sandbox.slack_standin import SlackChannel

from .conftest import prioritize

OTHER_CHANNEL = "C0OTHER"


class GatedModel:
    """A loopback proxy in front of the model stand-in: each request waits for `open()`."""

    def __init__(self) -> None:
        self.target = ""
        self._gate = threading.Event()
        self._gate.set()
        self._lock = threading.Lock()
        self.held = 0  # requests waiting at the gate right now
        self.arrived = threading.Event()
        gated = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                gated._forward(self)

            def do_GET(self) -> None:
                gated._forward(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def close(self) -> None:
        self.arrived.clear()
        self._gate.clear()

    def open(self) -> None:
        self._gate.set()

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            self.held += 1
        self.arrived.set()
        self._gate.wait(120)
        with self._lock:
            self.held -= 1
        request = urllib.request.Request(
            self.target + handler.path,
            data=body if handler.command == "POST" else None,
            method=handler.command,
            headers={k: v for k, v in handler.headers.items() if k.lower() != "host"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=60) as answer:
                status, data, kind = answer.status, answer.read(), answer.headers["Content-Type"]
        except urllib.error.HTTPError as error:
            status, data, kind = error.code, error.read(), error.headers["Content-Type"]
        handler.send_response(status)
        handler.send_header("Content-Type", kind or "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self) -> GatedModel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.open()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def gated_box(**env: str) -> Iterator[tuple[Sandbox, GatedModel]]:
    with GatedModel() as gate:
        with running_sandbox(
            tasks=60, lease_seconds=1.0, env={"OPENAI_BASE_URL": gate.url, **env}
        ) as box:
            assert box.openai is not None
            gate.target = box.openai.base_url.removesuffix("/v1")
            box.setup_fields()
            try:
                yield box, gate
            finally:
                gate.open()


def type_command(box: Sandbox, name: str, *, user: str = LEAD, channel: str = CHANNEL) -> str:
    """Type a slash command without waiting for its work; return the ack's text."""
    answer = box.slack.slash_command(box.app_url, name, "", user_id=user, channel_id=channel)
    assert answer.status == 200
    return answer.json().get("text", "") if answer.body else ""


def notes_to(box: Sandbox, user: str) -> list[str]:
    return [e["text"] for e in box.slack.ephemerals if e["user"] == user]


def ranking_messages(box: Sandbox, channel: str = CHANNEL) -> list[dict]:
    """The /prioritize proposals posted in `channel`."""
    return [m for m in box.slack.channel_messages(channel) if _kind(box, m) == "prioritize"]


def _kind(box: Sandbox, message: dict) -> str | None:
    try:
        proposal = box.services.store.proposal(proposal_id_of(message))
    except LookupError:
        return None
    return proposal.kind if proposal else None


def test_approve_is_applied_while_four_prioritize_wait_for_the_model():
    with gated_box() as (box, gate):
        _, sprint = box.command("/plan-sprint")  # a proposal to approve; no model involved
        assert sprint is not None
        sprint_id = proposal_id_of(sprint)
        gate.close()
        users = [LEAD, "U0BOB", "U0CAROL", "U0DAVE"]
        for user in users:
            type_command(box, "/prioritize", user=user)
        assert gate.arrived.wait(30), "the model was never asked"

        box.slack.click_button(
            box.app_url,
            channel_id=CHANNEL,
            message_ts=sprint["ts"],
            action_id="proposal_approve",
            user_id=LEAD,
        )
        applied = box.slack.wait_for(
            lambda: box.services.store.proposal(sprint_id).status == "applied", 30
        )
        # The order of events: Approve done while the model is still held at the gate.
        assert applied and gate.held > 0
        assert ranking_messages(box) == []

        gate.open()
        box.services.jobs.drain(timeout=120)
        assert len(ranking_messages(box)) == 1  # one model run for the project, one proposal
        leader, *followers = users
        for user in followers:
            notes = notes_to(box, user)
            assert any("already running" in n and "<@U0LEAD>" in n for n in notes), notes
            assert any("is ready: it was just posted in this channel" in n for n in notes), notes
        assert not any("already running" in n for n in notes_to(box, leader))


def test_a_request_from_another_channel_gets_its_own_proposal_after_the_first_run():
    with gated_box() as (box, gate):
        box.slack.add_conversation(SlackChannel(OTHER_CHANNEL))
        gate.close()
        type_command(box, "/prioritize")
        assert gate.arrived.wait(30)
        type_command(box, "/prioritize", user="U0BOB", channel=OTHER_CHANNEL)
        assert box.slack.wait_for(
            lambda: any("already running" in n for n in notes_to(box, "U0BOB")), 30
        )
        assert ranking_messages(box, OTHER_CHANNEL) == []

        gate.open()
        box.services.jobs.drain(timeout=120)
        assert len(ranking_messages(box)) == 1
        assert len(ranking_messages(box, OTHER_CHANNEL)) == 1
        # The second proposal reused the first run's model answers: no model call of its own.
        second = box.services.store.proposal(
            proposal_id_of(ranking_messages(box, OTHER_CHANNEL)[0])
        )
        assert second is not None and second.channel == OTHER_CHANNEL
        assert second.model_output["calls"] == 0 and second.model_output["cached"] == 60


def test_a_command_past_its_deadline_says_so_and_posts_nothing_late():
    with gated_box(COPILOT_COMMAND_DEADLINE_SECONDS="1") as (box, gate):
        gate.close()
        type_command(box, "/prioritize")
        assert gate.arrived.wait(30)
        assert box.slack.wait_for(
            lambda: any("took longer than 1 s" in n for n in notes_to(box, LEAD)), 30
        )
        gate.open()  # the model answers after the person was told: nothing may appear now
        box.services.jobs.drain(timeout=120)
        assert ranking_messages(box) == []
        late = [r for r in box.services.store.audit_rows() if r["action"] == "not_posted_late"]
        assert len(late) == 1
        notes = notes_to(box, LEAD)
        assert sum("took longer" in n for n in notes) == 1
        assert not any("Something went wrong" in n for n in notes)


def test_a_click_that_cannot_start_at_once_is_told_it_is_queued(box):
    message = prioritize(box)
    proposal_id = proposal_id_of(message)
    lane = box.services.jobs.decisions
    release = threading.Event()
    for _ in range(lane.workers):  # every decision worker busy
        lane.submit(lambda: release.wait(60), reply=lambda text: None)
    box.slack.click_button(
        box.app_url,
        channel_id=CHANNEL,
        message_ts=message["ts"],
        action_id="proposal_approve",
        user_id=LEAD,
    )
    assert box.slack.wait_for(lambda: any("Queued" in n for n in notes_to(box, LEAD)), 30)
    note = next(n for n in notes_to(box, LEAD) if "Queued" in n)
    assert f"{lane.workers} other clicks are ahead of yours" in note
    assert "Your Approve will follow" in note
    assert box.services.store.proposal(proposal_id).status == "open"  # not started yet
    release.set()
    box.services.jobs.drain(timeout=120)
    assert box.services.store.proposal(proposal_id).status == "applied"


def test_a_command_that_cannot_start_at_once_is_acked_as_queued(box):
    assert type_command(box, "/prioritize").startswith("Scoring the backlog of")
    box.services.jobs.drain(timeout=120)
    lane = box.services.jobs.commands
    release = threading.Event()
    for _ in range(lane.workers):  # every command worker busy
        lane.submit(lambda: release.wait(60), reply=lambda text: None)
    ack = type_command(box, "/prioritize")
    assert ack.startswith(f"Queued: {lane.workers} other requests are ahead of yours.")
    assert "Scoring the backlog of the default project as soon as one finishes" in ack
    before = len(ranking_messages(box))
    release.set()
    box.services.jobs.drain(timeout=120)
    assert len(ranking_messages(box)) == before + 1
