"""The write window and the lease (issue 10 §2–3, issue 9 §3/§6/§7): real clients, sandbox.

Approve reads each batch's tasks right before writing them and again before any resend; a
heartbeat keeps the lease of a worker that waits (Retry-After, timeouts); only the holder records.
"""

from __future__ import annotations

import threading

import pytest

from bot.demo import CHANNEL, LEAD, Sandbox
from bot.usecases.approvals import ApprovalEngine, Outcome

from .conftest import (
    batch_faults,
    batch_kinds,
    click,
    current,
    prioritize,
    proposal_id,
    put_actions,
)
from .test_overload_flow import check, crunch_sandbox
from .test_overload_flow import click as click_alert

SCORE = "AI Priority Score"


def wait_until(condition, timeout: float = 60.0) -> None:
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not condition():
            assert not done.wait(0.02), "timed out waiting"
    finally:
        deadline.cancel()


def put_batches_sent(box: Sandbox) -> int:
    return batch_kinds(box).count("put")


def answered(box: Sandbox, status: int) -> bool:
    return any(r.path == "/batch" and r.status == status for r in box.asana.requests)


def rate_limited_answers(box: Sandbox) -> int:
    return sum(r.path == "/batch" and r.status == 429 for r in box.asana.requests)


def finished_rows(box: Sandbox, pid: str) -> list[dict]:
    return [r for r in box.services.store.audit_rows(pid) if r["action"].startswith("finished")]


def in_background(work) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_person_editing_during_a_slow_approval_keeps_their_value(box):
    message = prioritize(box)
    pid = proposal_id(message)
    # A task of the last batch, with a plain name so the message shows it verbatim.
    target = [i for i in box.services.store.items(pid)[-10:] if i.label.isascii()][-1]
    theirs = 12.0 if target.changes[SCORE] != 12 else 13.0
    field_gid = box.services.asana.project(box.seed.project_gid).fields[SCORE].gid
    # Every batch is answered 0.3 s late: the approval takes a few seconds, like a big one.
    box.asana.faults.add("latency", method="POST", path_contains="/batch", times=-1, delay=0.3)

    def person() -> None:  # edits in Asana once the approval is under way
        wait_until(lambda: put_batches_sent(box) >= 1)
        box.asana.store.set_custom_field(target.task_gid, field_gid, theirs)

    editor = in_background(person)
    click(box, message, "proposal_approve")
    editor.join()

    assert box.asana.store.field_value(target.task_gid, SCORE) == theirs
    assert target.task_gid not in put_actions(box)
    [item] = [i for i in box.services.store.items(pid) if i.task_gid == target.task_gid]
    assert item.status == "skipped" and "AI Priority Score changed" in item.reason
    audit = [
        r["action"] for r in box.services.store.audit_rows(pid) if r["task_gid"] == item.task_gid
    ]
    assert audit == ["skipped"]
    updated = box.slack.render(current(box, message))
    assert "Skipped (1)" in updated and target.label in updated
    assert "59 tasks written" in updated
    assert set(put_actions(box).values()) == {1}


def test_a_person_editing_while_a_batch_waits_out_a_429_keeps_their_value(box):
    message = prioritize(box)
    pid = proposal_id(message)
    target = box.services.store.items(pid)[0]  # in the first batch
    theirs = 12.0 if target.changes[SCORE] != 12 else 13.0
    field_gid = box.services.asana.project(box.seed.project_gid).fields[SCORE].gid
    batch_faults(box, None, ("429", {"retry_after": 1}))  # the first write is rate limited

    def person() -> None:  # edits while the copilot waits to resend
        wait_until(lambda: answered(box, 429))
        box.asana.store.set_custom_field(target.task_gid, field_gid, theirs)

    editor = in_background(person)
    click(box, message, "proposal_approve")
    editor.join()

    assert box.asana.store.field_value(target.task_gid, SCORE) == theirs
    assert target.task_gid not in put_actions(box)
    [item] = [i for i in box.services.store.items(pid) if i.task_gid == target.task_gid]
    assert item.status == "skipped" and "AI Priority Score changed" in item.reason
    counts = put_actions(box)
    assert len(counts) == 59 and set(counts.values()) == {1}


def test_any_edit_while_a_batch_waits_to_be_resent_makes_it_skip_that_task(box):
    # Business Value is not one of the written fields; its change still moves modified_at.
    message = prioritize(box)
    pid = proposal_id(message)
    target = box.services.store.items(pid)[1]
    before = box.asana.store.field_value(target.task_gid, SCORE)
    batch_faults(box, None, ("429", {"retry_after": 1}))

    def person() -> None:
        wait_until(lambda: answered(box, 429))
        box.asana.store.set_custom_field(target.task_gid, box.seed.field_gids["Business Value"], 1)

    editor = in_background(person)
    click(box, message, "proposal_approve")
    editor.join()

    assert target.task_gid not in put_actions(box)
    assert box.asana.store.field_value(target.task_gid, SCORE) == before
    [item] = [i for i in box.services.store.items(pid) if i.task_gid == target.task_gid]
    assert (
        item.status == "skipped" and item.reason == "conflict: changed in Asana during the approval"
    )


def test_a_second_click_after_the_lease_span_writes_nothing_twice(box):
    # The box's lease is 1 s; the first worker waits out three 429s (Retry-After 1 s each).
    message = prioritize(box)
    pid = proposal_id(message)
    batch_faults(box, *[("429", {"retry_after": 1})] * 3)
    first = in_background(lambda: click(box, message, "proposal_approve"))
    wait_until(lambda: rate_limited_answers(box) >= 3)  # more than a lease span later
    click(box, message, "proposal_approve")  # a second click
    first.join()

    assert box.services.store.proposal(pid).status == "applied"
    counts = put_actions(box)
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert len(finished_rows(box, pid)) == 1
    assert any("being applied right now" in e["text"] for e in box.slack.ephemerals)


def test_a_worker_that_lost_its_lease_sends_nothing_more_and_records_nothing(box):
    message = prioritize(box)
    pid = proposal_id(message)
    # A worker whose heartbeat never comes in time (a paused process): its 0.5 s lease lapses
    # while it waits out a 2 s Retry-After, and another worker takes the proposal over.
    stalled = ApprovalEngine(
        box.services.store,
        box.services.asana,
        approvers=frozenset({LEAD}),
        lease_seconds=0.5,
        heartbeat_seconds=3600,
    )
    batch_faults(box, None, ("429", {"retry_after": 2}))
    outcome: list[Outcome] = []
    worker = in_background(
        lambda: outcome.append(
            stalled.decide(pid, user=LEAD, channel=CHANNEL, decision="approve").outcome
        )
    )
    wait_until(lambda: answered(box, 429))
    wait_until(lambda: box.services.engine.apply(pid).outcome is Outcome.APPLIED, timeout=30)
    worker.join()

    assert outcome[0] in (Outcome.IN_PROGRESS, Outcome.ALREADY_DECIDED)
    counts = put_actions(box)
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert len(finished_rows(box, pid)) == 1
    written = [
        r["task_gid"]
        for r in box.services.store.audit_rows(pid)
        if r["action"] in ("written", "already")
    ]
    assert sorted(written) == sorted(counts)


def test_batch_requests_carry_no_page_limit(box):
    message = prioritize(box)
    box.asana.reset_requests()
    click(box, message, "proposal_approve")
    batches = [r for r in box.asana.requests if r.method == "POST" and r.path == "/batch"]
    assert len(batches) == 12
    assert [r.query for r in batches] == [{}] * 12


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_batch_stops_the_approval_and_names_the_token(box, status):
    message = prioritize(box)
    pid = proposal_id(message)
    box.asana.reset_requests()
    batch_faults(box, None, (str(status), {}))  # the first write is refused
    click(box, message, "proposal_approve")

    assert batch_kinds(box) == ["get", "put"]  # nothing resent, no later batch sent
    assert put_actions(box) == {}
    assert box.services.store.proposal(pid).status == "partial"
    items = box.services.store.items(pid)
    assert {i.status for i in items} == {"failed"}
    assert all("ASANA_ACCESS_TOKEN" in i.reason for i in items)
    sent = [r for r in box.services.store.audit_rows(pid) if r["action"] == "write_sent"]
    assert len(sent) == 1
    updated = box.slack.render(current(box, message))
    assert "ASANA_ACCESS_TOKEN" in updated and "[Retry failed writes]" in updated


def test_a_one_task_fix_reads_only_that_task():
    with crunch_sandbox() as (box, crunch):
        [alert] = check(box, crunch).alerts
        box.asana.reset_requests()
        click_alert(box, alert.message_ts, "proposal_approve")
        assert put_actions(box) == {crunch.tablet: 1}
        # The project (for its fields) and one /batch reading the task; no project task list.
        assert box.asana.count("GET") == 1
        assert box.asana.count("GET", f"/projects/{crunch.project_gid}/tasks") == 0
        assert batch_kinds(box) == ["get", "put"]
