"""Holder ids and the approval lease: who may write, record and finish (issue 10 §3)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from bot.storage.store import Store
from bot.usecases.approvals import Place, holder_is_dead, new_owner


def owner_from_another_process(code: str = "print(new_owner())") -> str:
    """The holder id another (now finished) process of this machine made."""
    script = f"from bot.usecases.approvals import Place, new_owner; {code}"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_two_processes_sharing_host_and_pid_get_different_holder_ids():
    # Containers with host networking share the host name, and each may run as pid 1.
    code = 'print(new_owner(Place("web-1", "m"), pid=1))'
    first, second = owner_from_another_process(code), owner_from_another_process(code)
    assert first.startswith("web-1:1:") and second.startswith("web-1:1:")
    assert first != second


def test_a_holder_is_judged_dead_only_on_its_own_machine():
    dead_here = owner_from_another_process()
    assert holder_is_dead(dead_here)
    # Another machine (or container) with the same host name sees the same holder id: its pid
    # means nothing there, so it must wait for the lease to expire instead.
    elsewhere = Place(socket.gethostname(), "another-machine")
    assert not holder_is_dead(dead_here, here=elsewhere)
    assert not holder_is_dead(new_owner())  # ourselves
    assert not holder_is_dead(f"{socket.gethostname()}:{os.getpid()}:x")  # an older id format


def test_a_holder_with_our_pid_but_another_token_is_a_process_that_died():
    # A restarted container's pid 1 meets the lease its predecessor (also pid 1) left behind.
    here = Place.current()
    predecessor = f"{here.host}:{os.getpid()}:{here.machine}:0123456789ab"
    assert holder_is_dead(predecessor)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def approving(tmp_path) -> tuple[Store, Clock]:
    clock = Clock()
    store = Store(str(tmp_path / "lease.db"), clock=clock)
    store.create_proposal(
        proposal_id="p1",
        kind="priorities",
        project_gid="1",
        project_name="P",
        channel="C",
        created_by="U",
        prompt_version=None,
        model=None,
        inputs=None,
        model_output=None,
        view=None,
        items=[("t1", "Task one", {"AI Priority Score": 50}, {})],
    )
    assert store.claim_decision("p1", user="U", decision="approve")
    return store, clock


def test_only_the_lease_holder_records_and_finishes(tmp_path):
    store, clock = approving(tmp_path)
    assert store.take_lease("p1", owner="slow", seconds=2)
    clock.now += timedelta(seconds=3)  # the slow worker's lease lapsed
    assert store.take_lease("p1", owner="new", seconds=2)
    assert not store.take_lease("p1", owner="slow", seconds=2)  # its renewal fails

    outcome = [("t1", "written", "", {})]
    assert not store.mark_items("p1", outcome, actor="U", owner="slow")
    assert not store.finish("p1", status="applied", result={}, owner="slow")
    assert store.items("p1")[0].status == "pending"
    assert store.audit_rows("p1")[-1]["action"] == "approve"  # nothing recorded by the loser

    assert store.mark_items("p1", outcome, actor="U", owner="new")
    assert store.finish("p1", status="applied", result={}, owner="new")
    finished = [r for r in store.audit_rows("p1") if r["action"].startswith("finished")]
    assert len(finished) == 1 and store.proposal("p1").status == "applied"
