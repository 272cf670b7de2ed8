"""The approval engine when Asana or the database fails mid-run (fakes; the real clients are in
tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from bot.errors import UpstreamError
from bot.gateways.asana import WriteResult
from bot.storage.store import Store
from bot.usecases.approvals import RATE_LIMIT_RESENDS, ApprovalEngine, Lease, Outcome

SCORE = "AI Priority Score"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def with_proposal(tmp_path: Any, pid: str = "p1", tasks: int = 25, store: Store | None = None):
    store = store or Store(str(tmp_path / "a.db"), clock=Clock())
    items = [(f"t{i}", f"Task {i}", {SCORE: 50}, {SCORE: None}) for i in range(tasks)]
    store.create_proposal(
        proposal_id=pid,
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
        items=items,
    )
    return store


class FakeTask:
    def __init__(self, gid: str, score: float | None) -> None:
        self.gid, self.score = gid, score
        self.completed = False
        self.modified_at = datetime(2026, 1, 1, tzinfo=UTC)
        self.assignee = self.due_on = self.due_at = self.start_on = None
        self.enum_fields: frozenset[str] = frozenset()

    def field_value(self, key: str) -> Any:
        return self.score if key == SCORE else None


class FakeAsana:
    """Holds scores; `down_at` makes encode_write fail as Asana unreachable for that task."""

    def __init__(self, *, down_at: str | None = None, retry_after: float | None = None) -> None:
        self.down_at, self.retry_after = down_at, retry_after
        self.scores: dict[str, float] = {}
        self.sends = 0

    def project(self, gid: str) -> Any:
        return SimpleNamespace(gid=gid, fields={})

    def tasks_by_gid(self, gids: list[str]) -> dict[str, Any]:
        return {g: FakeTask(g, self.scores.get(g)) for g in gids}

    def encode_write(self, project: Any, gid: str, changes: dict[str, Any]) -> Any:
        if gid == self.down_at:
            raise UpstreamError("Asana", "adding option failed (503)")
        return gid, changes

    def write_tasks(self, writes: list[Any]) -> list[WriteResult]:
        self.sends += 1
        assert self.sends < 50, "resent forever"
        if self.retry_after is not None:
            return [
                WriteResult(g, ok=False, status=429, retry_after=self.retry_after)
                for g, _ in writes
            ]
        for gid, changes in writes:
            self.scores[gid] = changes[SCORE]
        return [WriteResult(g, ok=True, status=200) for g, _ in writes]


def test_asana_unreachable_while_encoding_ends_partial_with_the_rest_retryable(tmp_path):
    store = with_proposal(tmp_path)
    asana = FakeAsana(down_at="t12")
    engine = ApprovalEngine(store, asana, approvers=frozenset({"U"}))

    result = engine.decide("p1", user="U", channel="C", decision="approve")

    assert result.outcome is Outcome.PARTIAL
    assert store.proposal("p1").status == "partial"
    statuses = {i.task_gid: i.status for i in store.items("p1")}
    assert [g for g, s in statuses.items() if s == "written"] == [f"t{i}" for i in range(10)]
    assert all(statuses[f"t{i}"] == "failed" for i in range(10, 25))
    assert len(asana.scores) == 10
    # Retry, once Asana answers again, writes the rest.
    asana.down_at = None
    again = engine.retry("p1", user="U", channel="C")
    assert again.outcome is Outcome.APPLIED
    assert len(asana.scores) == 25


def test_a_batch_always_answering_429_with_retry_after_0_stops_after_the_budget(tmp_path):
    store = with_proposal(tmp_path, tasks=5)
    asana = FakeAsana(retry_after=0.0)
    engine = ApprovalEngine(store, asana, approvers=frozenset({"U"}))

    result = engine.decide("p1", user="U", channel="C", decision="approve")

    assert result.outcome is Outcome.PARTIAL
    assert asana.sends == 1 + RATE_LIMIT_RESENDS
    assert {i.reason for i in store.items("p1")} == {"Asana kept rate limiting"}


class FlakyStore(Store):
    """take_lease raises "database is locked" on the calls numbered in `fail`; release_lease on
    the first `fail_releases` calls."""

    def __init__(self, path: str, fail: set[int], fail_releases: int = 0) -> None:
        super().__init__(path, clock=Clock())
        self.fail, self.calls = fail, 0
        self.fail_releases = fail_releases

    def release_lease(self, proposal_id: str, *, owner: str) -> None:
        if self.fail_releases > 0:
            self.fail_releases -= 1
            raise RuntimeError("database is locked")
        super().release_lease(proposal_id, owner=owner)

    def take_lease(self, proposal_id: str, *, owner: str, seconds: float) -> bool:
        self.calls += 1
        if self.calls in self.fail:
            raise RuntimeError("database is locked")
        return super().take_lease(proposal_id, owner=owner, seconds=seconds)


def test_a_failed_lease_renewal_is_unknown_not_lost(tmp_path):
    store = with_proposal(tmp_path, store=FlakyStore(str(tmp_path / "f.db"), fail={3}))
    asana = FakeAsana()
    engine = ApprovalEngine(store, asana, approvers=frozenset({"U"}))

    result = engine.decide("p1", user="U", channel="C", decision="approve")

    assert result.outcome is Outcome.APPLIED
    assert len(asana.scores) == 25


def test_a_lease_is_given_up_only_when_its_time_runs_out(tmp_path):
    store = with_proposal(tmp_path, store=FlakyStore(str(tmp_path / "f.db"), fail={2, 3}))
    assert store.claim_decision("p1", user="U", decision="approve")
    assert store.take_lease("p1", owner="w", seconds=300)
    now = [0.0]
    lease = Lease(store, "p1", "w", 300, 100, clock=lambda: now[0])
    now[0] = 150
    assert lease.confirm() and not lease.lost  # failed, but nobody else can hold it yet
    now[0] = 250  # past 300 - the margin since the last good renewal
    assert not lease.confirm()
    assert lease.lost and lease.expired


def test_a_worker_that_gave_up_says_interrupted_and_the_next_click_finishes(tmp_path):
    # The first renewal fails: with a zero lease the worker gives up at once.
    store = with_proposal(tmp_path, store=FlakyStore(str(tmp_path / "f.db"), fail={2}))
    asana = FakeAsana()
    engine = ApprovalEngine(
        store, asana, approvers=frozenset({"U"}), lease_seconds=0.0, heartbeat_seconds=60
    )

    first = engine.decide("p1", user="U", channel="C", decision="approve")

    assert first.outcome is Outcome.INTERRUPTED
    assert store.proposal("p1").status == "approving"
    assert asana.sends == 0
    # The database answers again: the next click takes over and finishes.
    second = engine.decide("p1", user="U", channel="C", decision="approve")
    assert second.outcome is Outcome.APPLIED
    assert len(asana.scores) == 25


def test_one_proposal_failing_to_resume_does_not_stop_the_others(tmp_path):
    store = with_proposal(tmp_path, "p1", tasks=3)
    with_proposal(tmp_path, "p2", tasks=3, store=store)
    for pid in ("p1", "p2"):
        assert store.claim_decision(pid, user="U", decision="approve")

    class Boom(FakeAsana):
        def project(self, gid: str) -> Any:
            raise RuntimeError("unexpected")

    engine = ApprovalEngine(store, Boom(), approvers=frozenset({"U"}))
    first = engine.resume_incomplete()  # neither finishes, but nothing escapes
    assert first == []
    asana = FakeAsana()
    engine = ApprovalEngine(store, asana, approvers=frozenset({"U"}))
    assert {r.proposal.id for r in engine.resume_incomplete()} == {"p1", "p2"}


def test_the_next_click_takes_over_a_lease_its_worker_gave_up_and_could_not_release(tmp_path):
    store = FlakyStore(str(tmp_path / "f.db"), fail={2}, fail_releases=1)
    with_proposal(tmp_path, store=store)
    asana = FakeAsana()
    ticks = iter(range(0, 10_000, 250))  # each look at the clock is 250 s later
    engine = ApprovalEngine(
        store,
        asana,
        approvers=frozenset({"U"}),
        heartbeat_seconds=3600,
        lease_clock=lambda: float(next(ticks)),
    )

    first = engine.decide("p1", user="U", channel="C", decision="approve")
    assert first.outcome is Outcome.INTERRUPTED
    assert store.lease_owner("p1") is not None  # the release failed: the lease still stands

    second = engine.decide("p1", user="U", channel="C", decision="approve")
    assert second.outcome is Outcome.APPLIED
    assert len(asana.scores) == 25
