"""Issue 10 §5: proposals expire after COPILOT_PROPOSAL_TTL_DAYS, decided snapshots keep no task
notes, and the daily prune removes old proposals and caches but keeps the audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.storage.store import Store
from bot.usecases.approvals import ApprovalEngine, NewProposal, Outcome
from bot.usecases.retention import prune_old_data

T0 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)  # a fixed instant: nothing here reads today's date


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class NoAsana:
    """Any Asana call is a failure here: an expired click must not read or write anything."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _called(self, name: str) -> Any:
        self.calls.append(name)
        raise AssertionError(f"Asana was called: {name}")

    def project(self, gid: str) -> Any:
        return self._called("project")

    def open_tasks(self, project: Any) -> list[Any]:
        return self._called("open_tasks")

    def tasks_by_gid(self, gids: Sequence[str]) -> dict[str, Any]:
        return self._called("tasks_by_gid")

    def encode_write(self, project: Any, task_gid: str, changes: Mapping[str, Any]) -> Any:
        return self._called("encode_write")

    def write_tasks(self, writes: Sequence[Any]) -> list[Any]:
        return self._called("write_tasks")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    return Store(str(tmp_path / "copilot.db"), clock=clock)


def propose(
    engine: ApprovalEngine, *, notes: str = "Customer Acme's renewal hinges on this"
) -> str:
    return engine.propose(
        NewProposal(
            kind="prioritize",
            project_gid="1200",
            project_name="Platform",
            channel="C0TEAM",
            created_by="U0LEAD",
            items=[("1201", "Fix login", {"AI Priority Score": 80.0}, {"AI Priority Score": None})],
            inputs=[{"gid": "1201", "name": "Fix login", "notes": notes}],
            view={"rows": []},
        )
    )


def test_a_click_on_a_proposal_older_than_the_ttl_is_expired_writes_nothing_and_is_audited(
    store: Store, clock: Clock
):
    asana = NoAsana()
    engine = ApprovalEngine(store, asana, approvers=frozenset({"U0LEAD"}), proposal_ttl_days=7)
    proposal_id = propose(engine)
    clock.now = T0 + timedelta(days=7, minutes=1)

    for decision in ("approve", "reject"):
        result = engine.decide(proposal_id, user="U0LEAD", channel="C0TEAM", decision=decision)
        assert result.outcome is Outcome.EXPIRED
    assert engine.retry(proposal_id, user="U0LEAD", channel="C0TEAM").outcome is Outcome.EXPIRED

    assert asana.calls == []
    proposal = store.proposal(proposal_id)
    assert proposal is not None and proposal.status == "open" and proposal.decided_by is None
    assert [i.status for i in store.items(proposal_id)] == ["pending"]
    expired = [r for r in store.audit_rows(proposal_id) if r["action"] == "expired"]
    assert [r["detail"]["decision"] for r in expired] == ["approve", "reject", "retry"]


def test_within_the_ttl_a_decision_goes_through(store: Store, clock: Clock):
    engine = ApprovalEngine(store, NoAsana(), approvers=frozenset({"U0LEAD"}), proposal_ttl_days=7)
    proposal_id = propose(engine)
    clock.now = T0 + timedelta(days=6, hours=23)
    result = engine.decide(proposal_id, user="U0LEAD", channel="C0TEAM", decision="reject")
    assert result.outcome is Outcome.REJECTED


def test_an_already_decided_proposal_still_says_who_decided_after_the_ttl(
    store: Store, clock: Clock
):
    approvers = frozenset({"U0LEAD", "U0B"})
    engine = ApprovalEngine(store, NoAsana(), approvers=approvers, proposal_ttl_days=7)
    proposal_id = propose(engine)
    engine.decide(proposal_id, user="U0LEAD", channel="C0TEAM", decision="reject")
    clock.now = T0 + timedelta(days=30)
    result = engine.decide(proposal_id, user="U0B", channel="C0TEAM", decision="approve")
    assert result.outcome is Outcome.ALREADY_DECIDED


def test_a_decided_snapshot_keeps_no_task_notes(store: Store):
    engine = ApprovalEngine(store, NoAsana(), approvers=frozenset({"U0LEAD"}))
    kept, decided = propose(engine), propose(engine)
    engine.decide(decided, user="U0LEAD", channel="C0TEAM", decision="reject")
    assert store.proposal(decided).inputs == [{"gid": "1201", "name": "Fix login"}]  # type: ignore[union-attr]
    assert store.proposal(kept).inputs[0]["notes"].startswith("Customer Acme")  # type: ignore[union-attr]


def test_the_daily_prune_removes_old_proposals_and_caches_and_keeps_the_audit_log(
    store: Store, clock: Clock
):
    engine = ApprovalEngine(store, NoAsana(), approvers=frozenset({"U0LEAD"}))
    old = propose(engine)
    engine.decide(old, user="U0LEAD", channel="C0TEAM", decision="reject")
    store.audit(old, "U0LEAD", "written", "1201", {"changes": {}})  # a write, as the engine logs it
    store.cache_judgements({"old-key": {"score": 1}}, model="m")
    store.remember_slack_user("old@acme.example", "U0OLD")
    store.remember_comments({"1201": ("Blocked on keys", T0, T0)})
    store.keep_card_image(old, "iVBORw0KGgo=")  # the load chart of an old Teams card
    audit_before = store.audit_rows(old)

    clock.now = T0 + timedelta(days=80)
    recent = propose(engine)
    store.cache_judgements({"new-key": {"score": 2}}, model="m")
    store.keep_card_image(recent, "iVBORw0KGgo=")

    clock.now = T0 + timedelta(days=91)
    counts = prune_old_data(store, clock=clock, retention_days=90)

    assert store.proposal(old) is None and store.items(old) == []
    assert store.proposal(recent) is not None and len(store.items(recent)) == 1
    assert store.cached_judgements(["old-key", "new-key"]) == {"new-key": {"score": 2}}
    assert store.cached_slack_user("old@acme.example", max_age=timedelta(days=999)) == (
        False,
        None,
    )
    assert store.latest_comments(["1201"]) == {}
    assert counts == {
        "proposal_items": 1,
        "proposals": 1,
        "model_cache": 1,
        "task_comments": 1,
        "slack_users": 1,
        "teams_card_images": 1,
    }
    assert store.card_image(old) is None and store.card_image(recent) == "iVBORw0KGgo="
    # The audit log keeps the decision and the write of the pruned proposal.
    assert store.audit_rows(old) == audit_before
    assert {"reject", "written"} <= {r["action"] for r in store.audit_rows(old)}


def test_an_approval_under_way_is_never_pruned(store: Store, clock: Clock):
    engine = ApprovalEngine(store, NoAsana(), approvers=frozenset({"U0LEAD"}))
    proposal_id = propose(engine)
    assert store.claim_decision(proposal_id, user="U0LEAD", decision="approve")  # approving
    clock.now = T0 + timedelta(days=365)
    prune_old_data(store, clock=clock, retention_days=90)
    assert store.proposal(proposal_id) is not None


def test_the_migration_drops_notes_from_snapshots_decided_before_it(store: Store):
    from bot.storage.migrations import Schema
    from bot.storage.schema import m006_retention

    engine = ApprovalEngine(store, NoAsana(), approvers=frozenset({"U0LEAD"}))
    decided, still_open = propose(engine), propose(engine)
    engine.decide(decided, user="U0LEAD", channel="C0TEAM", decision="reject")
    with store.write() as conn:
        # As a database written before this release holds it: a decided proposal with its notes.
        conn.execute(
            "update proposals set inputs_json = ? where id = ?",
            ['[{"gid": "1201", "name": "Fix login", "notes": "old notes"}]', decided],
        )
        m006_retention(Schema(conn))
    assert store.proposal(decided).inputs == [{"gid": "1201", "name": "Fix login"}]  # type: ignore[union-attr]
    assert "notes" in store.proposal(still_open).inputs[0]  # type: ignore[union-attr]
