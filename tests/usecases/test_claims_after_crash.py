"""A scheduled post claimed by a process that then died is taken over at once on this host."""

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from bot.storage.store import Store
from bot.usecases.approvals import holder_is_dead

KEY = {"kind": "standup", "channel": "C0TEAM", "project_gid": "1", "slot": "2026-11-23"}


def dead_owner() -> str:
    """The holder id a process of this machine made before it exited."""
    code = "from bot.usecases.approvals import new_owner; print(new_owner())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_claim_of_a_dead_holder_is_taken_over_at_once(tmp_path):
    store = Store(str(tmp_path / "c.db"), clock=lambda: datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    stale = timedelta(minutes=15)
    assert store.claim_slot(**KEY, owner=dead_owner(), scheduled_for=None, stale_after=stale)
    # Without the liveness check the claim would be refused for 15 minutes: the digest lost.
    assert not store.claim_slot(**KEY, owner="other", scheduled_for=None, stale_after=stale)
    assert store.claim_slot(
        **KEY, owner="me", scheduled_for=None, stale_after=stale, holder_dead=holder_is_dead
    )


def test_a_live_or_remote_holder_is_not_taken_over(tmp_path):
    import os

    assert not holder_is_dead(f"{socket.gethostname()}:{os.getpid()}:x")
    assert not holder_is_dead("another-host:1:x")
    assert holder_is_dead(dead_owner())
