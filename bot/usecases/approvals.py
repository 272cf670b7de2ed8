"""The one proposal/approval engine every flow reuses (priorities, sprints, rebalancing).

Exactly-once in effect: a decision is claimed atomically (one winner among racing clicks); one
worker at a time holds a lease while writing; every item's outcome is stored right after its
batch; and before anything is sent the task is re-read, so a task that already holds the values
(a write that landed just before a crash) is recorded, not written again.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.changes import ItemAction, check_item
from bot.domain.models import Task
from bot.errors import NotFoundError, UpstreamError, UserFacingError
from bot.storage.store import ItemRow, ProposalRow, Store

log = logging.getLogger(__name__)

# Longer than the worst single batch (4 attempts behind Retry-After, capped at 60 s, plus read
# timeouts), so a live worker never loses its lease mid-chunk; a dead one on this host is
# detected at once, elsewhere the lease expires.
LEASE_SECONDS = 300.0
UNCERTAIN_RETRIES = 2
PROPOSAL_TTL_DAYS = 7  # buttons older than this answer "expired" (COPILOT_PROPOSAL_TTL_DAYS)


_PROCESS: tuple[int, str] | None = None


def process_id() -> str:
    """host:pid:boot, this process's id among every instance sharing the database."""
    global _PROCESS
    pid = os.getpid()
    if _PROCESS is None or _PROCESS[0] != pid:  # a forked child gets its own
        _PROCESS = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
    return _PROCESS[1]


def instance_of(owner: str) -> str:
    """The process id (host:pid:boot) inside a holder id of a lease or a claim."""
    return ":".join(owner.split(":")[:3])


def new_owner() -> str:
    """host:pid:boot:holder, the holder id of leases and claims (see holder_is_dead)."""
    return f"{process_id()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(owner: str) -> bool:
    """True when `owner` (host:pid:…) names a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class TaskWriter(Protocol):
    """What the engine needs from Asana (the gateway, or a fake in tests)."""

    def project(self, gid: str) -> Any: ...
    def open_tasks(self, project: Any) -> list[Task]: ...
    def tasks_by_gid(self, gids: Sequence[str]) -> dict[str, Task | None]: ...
    def encode_write(self, project: Any, task_gid: str, changes: Mapping[str, Any]) -> Any: ...
    def write_tasks(self, writes: Sequence[Any]) -> list[Any]: ...


WRITTEN = ("written", "already")  # item statuses meaning Asana holds the values
NOT_WRITTEN = ("failed", "pending")  # what Retry would try again


class Outcome(StrEnum):
    APPLIED = "applied"
    PARTIAL = "partial"
    REJECTED = "rejected"
    REFUSED = "refused"  # not an approver
    ALREADY_DECIDED = "already decided"
    IN_PROGRESS = "in progress"
    EXPIRED = "expired"  # older than the proposal TTL: run the command again


@dataclass(frozen=True)
class ItemResult:
    task_gid: str
    label: str
    status: str  # written | already | skipped | failed | pending
    reason: str = ""


@dataclass(frozen=True)
class DecisionResult:
    outcome: Outcome
    proposal: ProposalRow
    items: tuple[ItemResult, ...] = ()
    resumed: bool = False

    @property
    def written(self) -> list[ItemResult]:
        return [i for i in self.items if i.status in WRITTEN]

    @property
    def skipped(self) -> list[ItemResult]:
        return [i for i in self.items if i.status == "skipped"]

    @property
    def failed(self) -> list[ItemResult]:
        return [i for i in self.items if i.status in NOT_WRITTEN]


@dataclass
class NewProposal:
    kind: str
    project_gid: str
    project_name: str
    channel: str
    created_by: str
    items: list[tuple[str, str, dict[str, Any], dict[str, Any]]]  # gid, label, changes, guard
    inputs: Any = None
    model_output: Any = None
    view: Any = None
    prompt_version: str | None = None
    model: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])


class ApprovalEngine:
    def __init__(
        self,
        store: Store,
        asana: TaskWriter,
        *,
        approvers: frozenset[str],
        lease_seconds: float = LEASE_SECONDS,
        proposal_ttl_days: int = PROPOSAL_TTL_DAYS,
        clock: Callable[[], datetime] | None = None,
        holder_dead: Callable[[str], bool] = holder_is_dead,
    ) -> None:
        self._store = store
        # Whether a lease's holder died (this host: its pid; elsewhere: its heartbeats).
        self._holder_dead = holder_dead
        self._proposal_ttl_days = proposal_ttl_days
        # By default the store's clock: the one that stamped the proposals' created_at.
        self._clock = clock or (lambda: datetime.fromisoformat(store.now()))
        self._asana = asana
        self._approvers = approvers
        # host:pid:instance — lets a restart on the same host see that the holder is dead.
        self._owner = new_owner()
        self._lease_seconds = lease_seconds

    @property
    def lease_seconds(self) -> float:
        return self._lease_seconds

    @property
    def proposal_ttl_days(self) -> int:
        return self._proposal_ttl_days

    def propose(self, proposal: NewProposal) -> str:
        self._store.create_proposal(
            proposal_id=proposal.id,
            kind=proposal.kind,
            project_gid=proposal.project_gid,
            project_name=proposal.project_name,
            channel=proposal.channel,
            created_by=proposal.created_by,
            prompt_version=proposal.prompt_version,
            model=proposal.model,
            inputs=proposal.inputs,
            model_output=proposal.model_output,
            view=proposal.view,
            items=proposal.items,
        )
        return proposal.id

    def posted(self, proposal_id: str, channel: str, message_ts: str) -> None:
        self._store.set_message(proposal_id, channel, message_ts)

    def can_approve(self, user: str) -> bool:
        return not self._approvers or user in self._approvers

    def decide(self, proposal_id: str, *, user: str, channel: str, decision: str) -> DecisionResult:
        """Approve or reject on behalf of `user` clicking in `channel`."""
        proposal = self._load(proposal_id, channel)
        if self._expired(proposal, user, decision):
            return DecisionResult(Outcome.EXPIRED, proposal)
        if not self.can_approve(user):
            self._store.audit(proposal_id, user, "refused", detail={"decision": decision})
            return DecisionResult(Outcome.REFUSED, proposal)
        if self._store.claim_decision(proposal_id, user=user, decision=decision):
            if decision == "reject":
                return DecisionResult(Outcome.REJECTED, self._load(proposal_id, channel))
            return self.apply(proposal_id)
        # Someone else decided first, or an approval is under way / was cut short.
        current = self._load(proposal_id, channel)
        if decision == "approve" and current.status == "approving":
            return self.apply(proposal_id)  # finishes a crashed run; a live one holds the lease
        self._store.audit(
            proposal_id, user, f"{decision}_too_late", detail={"status": current.status}
        )
        return DecisionResult(Outcome.ALREADY_DECIDED, current, self._item_results(proposal_id))

    def retry(self, proposal_id: str, *, user: str, channel: str) -> DecisionResult:
        """Try again the items that failed (Asana down, rate limited) of a partial approval."""
        proposal = self._load(proposal_id, channel)
        if self._expired(proposal, user, "retry"):
            return DecisionResult(Outcome.EXPIRED, proposal)
        if not self.can_approve(user):
            self._store.audit(proposal_id, user, "refused", detail={"decision": "retry"})
            return DecisionResult(Outcome.REFUSED, proposal)
        if self._store.reopen_for_retry(proposal_id, user=user) or proposal.status == "approving":
            return self.apply(proposal_id)
        return DecisionResult(Outcome.ALREADY_DECIDED, proposal, self._item_results(proposal_id))

    def resume_incomplete(self) -> list[DecisionResult]:
        """At start-up: finish approvals a crash cut short."""
        results = []
        for proposal in self._store.proposals_with_status("approving"):
            holder = self._store.lease_owner(proposal.id)
            if holder and self._holder_dead(holder):
                # The process that held it died: no need to wait for the lease to expire.
                self._store.release_lease(proposal.id, owner=holder)
            self._store.audit(proposal.id, "copilot", "resume", detail={})
            result = self.apply(proposal.id, resumed=True)
            results.append(result)
        return results

    def resume_abandoned(self) -> list[DecisionResult]:
        """While running: finish approvals whose holder died (another instance, SIGKILL).

        Only proposals with no live holder are touched, so a running approval is left alone
        and nothing is audited for it; which instance resumes one is decided by the lease.
        """
        results = []
        for proposal in self._store.proposals_with_status("approving"):
            holder, until = self._store.lease(proposal.id)
            if holder and self._holder_dead(holder):
                self._store.release_lease(proposal.id, owner=holder)
            elif holder and until and until >= self._store.now():
                continue  # a live holder is on it
            result = self.apply(proposal.id, resumed=True)
            if result.outcome is not Outcome.IN_PROGRESS:
                self._store.audit(proposal.id, "copilot", "resume", detail={})
                results.append(result)
        return results

    def apply(self, proposal_id: str, *, resumed: bool = False) -> DecisionResult:
        """Write the pending items of an `approving` proposal; safe to call again at any point."""
        # One lease token per call: threads of this process compete like separate processes.
        worker = f"{self._owner}:{uuid.uuid4().hex[:8]}"
        if not self._store.take_lease(proposal_id, owner=worker, seconds=self._lease_seconds):
            proposal = self._store.proposal(proposal_id)
            assert proposal is not None
            outcome = (
                Outcome.IN_PROGRESS if proposal.status == "approving" else Outcome.ALREADY_DECIDED
            )
            return DecisionResult(outcome, proposal, self._item_results(proposal_id))
        try:
            proposal = self._store.proposal(proposal_id)
            assert proposal is not None
            pending = [i for i in self._store.items(proposal_id) if i.status == "pending"]
            if pending:
                self._write(proposal, pending, worker)
            items = self._item_results(proposal_id)
            done = DecisionResult(Outcome.APPLIED, proposal, items, resumed=resumed)
            status = "partial" if done.failed else "applied"
            summary = {
                "written": len(done.written),
                "skipped": len(done.skipped),
                "failed": len(done.failed),
                "resumed": resumed,
            }
            self._store.finish(proposal_id, status=status, result=summary)
        finally:
            self._store.release_lease(proposal_id, owner=worker)
        final = self._store.proposal(proposal_id)
        assert final is not None
        outcome = Outcome.APPLIED if final.status == "applied" else Outcome.PARTIAL
        return DecisionResult(outcome, final, tuple(items), resumed=resumed)

    # -- internals -------------------------------------------------------------------------

    def _expired(self, proposal: ProposalRow, user: str, decision: str) -> bool:
        """True (and audited) when a click would act on a proposal older than the TTL."""
        # Only what a click could still write: a decided proposal answers who decided, and an
        # approval under way (or cut short by a crash) is finished whatever its age.
        if proposal.status not in ("open", "partial"):
            return False
        age = self._clock() - datetime.fromisoformat(proposal.created_at)
        if age <= timedelta(days=self._proposal_ttl_days):
            return False
        self._store.audit(
            proposal.id, user, "expired", detail={"decision": decision, "age_days": age.days}
        )
        return True

    def _write(self, proposal: ProposalRow, pending: list[ItemRow], worker: str) -> None:
        actor = proposal.decided_by or "copilot"
        try:
            project = self._asana.project(proposal.project_gid)
            current = {t.gid: t for t in self._asana.open_tasks(project)}
        except (UpstreamError, UserFacingError) as exc:
            self._store.mark_items(
                proposal.id,
                [(i.task_gid, "failed", f"could not re-read Asana: {exc}", {}) for i in pending],
                actor=actor,
            )
            return

        to_write: list[ItemRow] = []
        settled: list[tuple[str, str, str, dict[str, Any]]] = []
        for item in pending:
            check = check_item(item.changes, item.guard, current.get(item.task_gid))
            if check.action is ItemAction.SKIP:
                settled.append((item.task_gid, "skipped", check.reason, {}))
            elif check.action is ItemAction.ALREADY:
                settled.append((item.task_gid, "already", check.reason, {}))
            else:
                to_write.append(item)
        if settled:
            self._store.mark_items(proposal.id, settled, actor=actor)

        for start in range(0, len(to_write), 10):
            # Renew before each chunk; if another worker took over, leave the rest to it.
            if not self._store.take_lease(proposal.id, owner=worker, seconds=self._lease_seconds):
                log.warning("lost the lease on proposal %s; stopping", proposal.id)
                return
            chunk = to_write[start : start + 10]
            self._write_chunk(proposal, project, chunk, actor)

    def _write_chunk(
        self, proposal: ProposalRow, project: Any, chunk: list[ItemRow], actor: str
    ) -> None:
        writes = []
        outcomes: list[tuple[str, str, str, dict[str, Any]]] = []
        for item in chunk:
            try:
                writes.append(
                    (item, self._asana.encode_write(project, item.task_gid, item.changes))
                )
            except UserFacingError as exc:
                outcomes.append((item.task_gid, "failed", str(exc), {}))
        self._store.audit(
            proposal.id, actor, "write_sent", detail={"tasks": [i.task_gid for i, _ in writes]}
        )
        remaining = writes
        for attempt in range(UNCERTAIN_RETRIES + 1):
            if not remaining:
                break
            results = self._asana.write_tasks([w for _, w in remaining])
            uncertain: list[tuple[ItemRow, Any]] = []
            for (item, write), result in zip(remaining, results, strict=True):
                if result.ok:
                    outcomes.append((item.task_gid, "written", "", {"changes": item.changes}))
                elif result.uncertain:
                    uncertain.append((item, write))
                else:
                    outcomes.append((item.task_gid, "failed", f"Asana refused: {result.error}", {}))
            remaining = []
            if uncertain:
                # We cannot tell whether these landed: look before writing again.
                try:
                    now = self._asana.tasks_by_gid([i.task_gid for i, _ in uncertain])
                except UpstreamError as exc:
                    outcomes.extend(
                        (i.task_gid, "failed", f"Asana unreachable: {exc}", {})
                        for i, _ in uncertain
                    )
                    break
                for item, write in uncertain:
                    check = check_item(item.changes, item.guard, now.get(item.task_gid))
                    if check.action is ItemAction.ALREADY:
                        outcomes.append(
                            (
                                item.task_gid,
                                "written",
                                "",
                                {"changes": item.changes, "verified": True},
                            )
                        )
                    elif check.action is ItemAction.SKIP:
                        outcomes.append((item.task_gid, "skipped", check.reason, {}))
                    elif attempt < UNCERTAIN_RETRIES:
                        remaining.append((item, write))
                    else:
                        outcomes.append(
                            (item.task_gid, "failed", "Asana did not confirm the write", {})
                        )
        self._store.mark_items(proposal.id, outcomes, actor=actor)

    def _item_results(self, proposal_id: str) -> tuple[ItemResult, ...]:
        return tuple(
            ItemResult(i.task_gid, i.label, i.status, i.reason)
            for i in self._store.items(proposal_id)
        )

    def _load(self, proposal_id: str, channel: str) -> ProposalRow:
        proposal = self._store.proposal(proposal_id)
        if proposal is None:
            raise NotFoundError("That proposal no longer exists.")
        if proposal.channel and proposal.channel != channel:  # no channel at all: refused too
            raise UserFacingError("That proposal belongs to another channel.")
        return proposal
