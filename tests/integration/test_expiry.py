"""A button older than COPILOT_PROPOSAL_TTL_DAYS answers "expired" through Slack, writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from .conftest import click, last_ephemeral, prioritize, proposal_id, put_actions


def test_approve_on_a_proposal_eight_days_old_says_expired_and_writes_nothing(box):
    message = prioritize(box)
    pid = proposal_id(message)
    box.asana.reset_requests()
    # Eight days on (relative to whenever the test runs); the clock keeps ticking.
    with time_machine.travel(datetime.now(UTC) + timedelta(days=8), tick=True):
        click(box, message, "proposal_approve")
    assert "expired: run the command again" in last_ephemeral(box)
    assert "more than 7 days old" in last_ephemeral(box)
    assert put_actions(box) == {} and box.asana.count("POST", "/batch") == 0
    assert box.services.store.proposal(pid).status == "open"  # type: ignore[union-attr]
    assert [r["action"] for r in box.services.store.audit_rows(pid)][-1] == "expired"
