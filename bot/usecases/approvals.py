"""The one proposal/approval engine every flow reuses (priorities, sprints, rebalancing).

Exactly-once in effect: a decision is claimed atomically (one winner among racing clicks); one
worker at a time holds a lease, renewed by a heartbeat while it writes, and only the holder
records outcomes; each batch's tasks are re-read right before the batch is sent (and before any
resend), so a task a person changed meanwhile is skipped and a task that already holds the
values (a write that landed just before a crash) is recorded, not written again.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from bot.domain.changes import ItemAction, check_item, keep_filled
from bot.domain.models import Task
from bot.errors import NotFoundError, UpstreamError, UserFacingError
from bot.storage.store import ItemRow, ProposalRow, Store

log = logging.getLogger(__name__)

# A heartbeat renews the lease every third of this while a worker writes, so a live worker keeps
# it through any wait (Retry-After, timeouts); a worker that died on this host is detected at
# once (holder_is_dead), elsewhere its lease expires after this.
LEASE_SECONDS = 300.0
PROPOSAL_TTL_DAYS = 7  # buttons older than this answer "expired" (COPILOT_PROPOSAL_TTL_DAYS)
BATCH_SIZE = 10  # Asana's /batch limit
UNCERTAIN_RETRIES = 2  # resends of a write whose outcome Asana did not tell (after a re-read)
RATE_LIMIT_RESENDS = 3  # resends of a batch Asana answered 429 (after Retry-After and a re-read)

ItemOutcome = tuple[str, str, str, dict[str, Any]]  # gid, status, reason, audit detail
# What a kind of proposal does once its items are written (triage: a comment on each task). It
# gets the written items and a `confirm` to call before each outside write (False: the lease is
# lost, stop); it returns outcomes for the items whose follow-up failed (Retry runs them again).
FollowUp = Callable[[ProposalRow, Sequence[ItemRow], Callable[[], bool]], list[ItemOutcome]]


@dataclass(frozen=True)
class Place:
    """Where a pid names one process: a host name plus this kernel boot and pid namespace.

    Containers with host networking share the host name, and different machines can share a
    name too, so the name alone cannot say that a pid seen in a holder id is a process here.
    """

    host: str
    machine: str  # "" when unknown: then no holder is ever judged dead, leases just expire

    @staticmethod
    @functools.cache
    def current() -> Place:
        try:
            boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
            namespace = os.readlink("/proc/self/ns/pid")
        except OSError:
            return Place(socket.gethostname(), "")
        digest = hashlib.sha256(f"{boot}|{namespace}".encode()).hexdigest()[:12]
        return Place(socket.gethostname(), digest)


def process_id() -> str:
    """This process's holder id (host:pid:machine:token) among every instance sharing the
    database; its heartbeats say it is alive (bot.usecases.instances)."""
    return new_owner()


def instance_of(owner: str) -> str:
    """The process part (host:pid:machine:token) of a holder id of a lease or a claim."""
    return ":".join(owner.split(":")[:4])


@functools.cache
def _process_token(pid: int) -> str:
    # Keyed by pid so a forked child gets its own token.
    return uuid.uuid4().hex[:12]


def new_owner(place: Place | None = None, pid: int | None = None) -> str:
    """host:pid:machine:token, the holder id of leases and claims (see holder_is_dead).

    The token is random per process: two processes that share host name and pid (containers on
    different machines) never share a holder id. `place` and `pid` default to this process's.
    """
    here = place or Place.current()
    return f"{here.host}:{pid or os.getpid()}:{here.machine}:{_process_token(os.getpid())}"


def holder_is_dead(owner: str, here: Place | None = None) -> bool:
    """True when `owner` names a process of this machine and pid namespace that no longer runs."""
    here = here or Place.current()
    host, pid_text, machine, token = ([*owner.split(":"), "", "", ""])[:4]
    if not here.machine or host != here.host or machine != here.machine or not pid_text.isdigit():
        return False  # another machine, container or boot (or an older id): its lease expires
    pid = int(pid_text)
    if pid == os.getpid():
        # Our own pid in our own namespace: the holder is us, or an earlier process whose pid we
        # now have (a restarted container's pid 1), which therefore is gone.
        return token != _process_token(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """A held approval lease, renewed from a heartbeat thread while the worker writes.

    A renewal the database answers False (another worker holds it, or the proposal is no longer
    approving) loses the lease for good. A renewal that fails (e.g. "database is locked") proves
    nothing either way: nobody else can take the lease before it runs out, so the worker goes on
    until the last good renewal + the lease length − a margin, then gives up (`expired`). The
    worker checks `confirm()` before every send and stops once it is False.
    """

    def __init__(
        self,
        store: Store,
        proposal_id: str,
        owner: str,
        seconds: float,
        every: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner = owner
        self._store = store
        self._proposal_id = proposal_id
        self._seconds = seconds
        self._every = every
        self._clock = clock
        # Time for a send that starts just before the deadline to end before the lease does.
        self._margin = seconds / 3
        self._renewed = clock()  # the caller took the lease just now
        self._lost = threading.Event()
        self._expired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{proposal_id}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    @property
    def expired(self) -> bool:
        """Lost because renewals kept failing, not to another worker: nobody else holds it."""
        return self._expired

    def confirm(self) -> bool:
        """Renew now; False (for good) when the lease is no longer ours, or may no longer be."""
        if self._lost.is_set():
            return False
        try:
            held = self._store.take_lease(
                self._proposal_id, owner=self.owner, seconds=self._seconds
            )
        except Exception:
            # Unknown, not lost: our last renewal still keeps everyone else out for a while.
            log.exception("renewing the lease on proposal %s failed", self._proposal_id)
            if self._clock() < self._renewed + self._seconds - self._margin:
                return True
            log.warning("could not renew the lease on proposal %s; stopping", self._proposal_id)
            self._expired = True
            self._lost.set()
            return False
        if held:
            self._renewed = self._clock()
        else:
            log.warning("lost the lease on proposal %s; stopping", self._proposal_id)
            self._lost.set()
        return held

    def wait(self, seconds: float) -> bool:
        """Sleep (Retry-After) unless the lease is lost meanwhile; True while still held."""
        return not self._lost.wait(seconds)

    def _beat(self) -> None:
        while not self._done.wait(self._every):
            if not self.confirm():
                return


class TaskWriter(Protocol):
    """What the engine needs from Asana (the gateway, or a fake in tests)."""

    def project(self, gid: str) -> Any: ...
    def tasks_by_gid(self, gids: Sequence[str]) -> dict[str, Task | None]: ...
    def encode_write(self, project: Any, task_gid: str, changes: Mapping[str, Any]) -> Any: ...
    def write_tasks(self, writes: Sequence[Any]) -> list[Any]: ...


class ItemCreator(Protocol):
    """Makes one item of a proposal kind whose items create things (tasks, comments) instead of
    writing fields; it looks for its earlier write first, so calling it again is safe."""

    def create(self, proposal: ProposalRow, item: ItemRow) -> ItemOutcome: ...


WRITTEN = ("written", "already")  # item statuses meaning Asana holds the values
NOT_WRITTEN = ("failed", "pending")  # what Retry would try again


class Deciders(Protocol):
    """Who may decide proposals, and where (bot.usecases.access.AccessPolicy in the app)."""

    def approvers_named_for(self, user: str) -> bool: ...
    def is_approver(self, user: str) -> bool: ...
    def may_use(self, channel: str, project_gid: str) -> bool: ...


@dataclass(frozen=True)
class FixedApprovers:
    """Exactly these user ids decide, in any channel (tests and tools); none: nobody."""

    ids: frozenset[str]

    def approvers_named_for(self, user: str) -> bool:
        return bool(self.ids)

    def is_approver(self, user: str) -> bool:
        return user in self.ids

    def may_use(self, channel: str, project_gid: str) -> bool:
        return True


class Refusal(StrEnum):
    NO_APPROVERS = "no approvers"  # COPILOT_APPROVERS is unset: nobody may decide
    NOT_APPROVER = "not approver"
    NOT_LINKED = "not linked"  # the project is no longer linked to the proposal's channel


class Outcome(StrEnum):
    APPLIED = "applied"
    PARTIAL = "partial"
    REJECTED = "rejected"
    REFUSED = "refused"  # not an approver
    ALREADY_DECIDED = "already decided"
    IN_PROGRESS = "in progress"
    # The worker could not renew its lease (the database kept failing) and stopped; nobody else
    # holds it: the next Approve (or Retry) click finishes the approval.
    INTERRUPTED = "interrupted"
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
    refusal: Refusal | None = None  # why, when the outcome is REFUSED

    @property
    def written(self) -> list[ItemResult]:
        return [i for i in self.items if i.status in WRITTEN]

    @property
    def skipped(self) -> list[ItemResult]:
        return [i for i in self.items if i.status == "skipped"]

    @property
    def failed(self) -> list[ItemResult]:
        return [i for i in self.items if i.status in NOT_WRITTEN]


def decision_view(result: DecisionResult) -> dict[str, Any]:
    """The decision as every surface draws it on the proposal's message: who, when, what."""
    proposal = result.proposal
    at = datetime.fromisoformat(proposal.decided_at) if proposal.decided_at else None
    return {
        "status": proposal.status,
        "by": proposal.decided_by,
        "at": at,
        "written": len(result.written),
        "skipped": [{"label": i.label, "reason": i.reason} for i in result.skipped],
        "failed": [
            {"label": i.label, "reason": i.reason or "not written yet"} for i in result.failed
        ],
        "resumed": result.resumed,
    }


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
        approvers: Deciders | frozenset[str],
        lease_seconds: float = LEASE_SECONDS,
        proposal_ttl_days: int = PROPOSAL_TTL_DAYS,
        clock: Callable[[], datetime] | None = None,
        holder_dead: Callable[[str], bool] = holder_is_dead,
        heartbeat_seconds: float | None = None,
        lease_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        # Whether a lease's holder died (this host: its pid; elsewhere: its heartbeats).
        self._holder_dead = holder_dead
        self._lease_clock = lease_clock  # measures how long a lease is safe without renewals
        self._proposal_ttl_days = proposal_ttl_days
        # By default the store's clock: the one that stamped the proposals' created_at.
        self._clock = clock or (lambda: datetime.fromisoformat(store.now()))
        self._asana = asana
        self._deciders = (
            FixedApprovers(approvers) if isinstance(approvers, frozenset) else approvers
        )
        # host:pid:machine:token — lets a restart here see that the holder is dead.
        self._owner = new_owner()
        self._lease_seconds = lease_seconds
        self._heartbeat_seconds = heartbeat_seconds or lease_seconds / 3
        # Workers of this engine that gave up (renewals kept failing) but may not have managed
        # to release their lease: the next click takes it over instead of waiting it out.
        self._abandoned: set[str] = set()
        self._creators: dict[str, ItemCreator] = {}  # proposal kind → what makes its items
        self._follow_ups: dict[str, FollowUp] = {}  # proposal kind → what follows its writes

    def register_creator(self, kind: str, creator: ItemCreator) -> None:
        """Proposals of `kind` create things (see `_create`) rather than write task fields."""
        self._creators[kind] = creator

    def add_follow_up(self, kind: str, follow_up: FollowUp) -> None:
        """Run `follow_up` after the writes of every approval of `kind` (see FollowUp)."""
        self._follow_ups[kind] = follow_up

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

    def withdraw(self, proposal_id: str, *, reason: str) -> bool:
        """Close a proposal whose message Slack refused: nobody can see it, so nobody decides."""
        return self._store.withdraw_proposal(proposal_id, reason=reason)

    def can_approve(self, user: str) -> bool:
        """Approvers only; without COPILOT_APPROVERS, nobody."""
        return self._deciders.is_approver(user)

    def refusal(self, user: str, proposal: ProposalRow) -> Refusal | None:
        """Why `user` may not decide `proposal` (approve, reject or retry), or None."""
        if not self._deciders.approvers_named_for(user):
            return Refusal.NO_APPROVERS
        if not self.can_approve(user):
            return Refusal.NOT_APPROVER
        if not self._deciders.may_use(proposal.channel, proposal.project_gid):
            return Refusal.NOT_LINKED
        return None

    def _refused(self, proposal: ProposalRow, user: str, decision: str) -> DecisionResult | None:
        why = self.refusal(user, proposal)
        if why is None:
            return None
        detail = {"decision": decision, "why": why.value}
        self._store.audit(proposal.id, user, "refused", detail=detail)
        return DecisionResult(Outcome.REFUSED, proposal, refusal=why)

    def decide(self, proposal_id: str, *, user: str, channel: str, decision: str) -> DecisionResult:
        """Approve or reject on behalf of `user` clicking in `channel`."""
        proposal = self._load(proposal_id, channel)
        if refused := self._refused(proposal, user, decision):
            return refused
        if self._expired(proposal, user, decision):
            return DecisionResult(Outcome.EXPIRED, proposal)
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
        if refused := self._refused(proposal, user, "retry"):
            return refused
        if self._expired(proposal, user, "retry"):
            return DecisionResult(Outcome.EXPIRED, proposal)
        if self._store.reopen_for_retry(proposal_id, user=user) or proposal.status == "approving":
            return self.apply(proposal_id)
        return DecisionResult(Outcome.ALREADY_DECIDED, proposal, self._item_results(proposal_id))

    def resume_incomplete(self) -> list[DecisionResult]:
        """At start-up: finish approvals a crash cut short."""
        results = []
        for proposal in self._store.proposals_with_status("approving"):
            try:
                holder = self._store.lease_owner(proposal.id)
                if holder and self._holder_dead(holder):
                    # The process that held it died: no need to wait for the lease to expire.
                    self._store.release_lease(proposal.id, owner=holder)
                self._store.audit(proposal.id, "copilot", "resume", detail={})
                results.append(self.apply(proposal.id, resumed=True))
            except Exception:
                # One proposal's failure must not keep the others unfinished; its next click
                # (or the next start) finishes it.
                log.exception("resuming proposal %s failed", proposal.id)
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
            holder = self._store.lease_owner(proposal_id)
            if holder is None or holder not in self._abandoned:
                return self._busy(proposal_id)
            self._store.release_lease(proposal_id, owner=holder)
            if not self._store.take_lease(proposal_id, owner=worker, seconds=self._lease_seconds):
                return self._busy(proposal_id)
        try:
            with Lease(
                self._store,
                proposal_id,
                worker,
                self._lease_seconds,
                self._heartbeat_seconds,
                clock=self._lease_clock,
            ) as lease:
                proposal = self._store.proposal(proposal_id)
                assert proposal is not None
                pending = [i for i in self._store.items(proposal_id) if i.status == "pending"]
                if pending and proposal.kind in self._creators:
                    self._create(proposal, pending, lease)
                elif pending:
                    self._write(proposal, pending, lease)
                self._follow_up(proposal, lease)
            items = self._item_results(proposal_id)
            done = DecisionResult(Outcome.APPLIED, proposal, items, resumed=resumed)
            status = "partial" if done.failed else "applied"
            summary = {
                "written": len(done.written),
                "skipped": len(done.skipped),
                "failed": len(done.failed),
                "resumed": resumed,
            }
            # Only the holder finishes: a worker that lost its lease leaves that to the new one.
            if lease.expired:
                self._abandoned.add(worker)
                return self._interrupted(proposal_id)
            if lease.lost or not self._store.finish(
                proposal_id, status=status, result=summary, owner=worker
            ):
                return self._busy(proposal_id)
        finally:
            try:
                self._store.release_lease(proposal_id, owner=worker)
            except Exception:  # it runs out by itself; the next click takes over then
                log.exception("releasing the lease on proposal %s failed", proposal_id)
        final = self._store.proposal(proposal_id)
        assert final is not None
        outcome = Outcome.APPLIED if final.status == "applied" else Outcome.PARTIAL
        return DecisionResult(outcome, final, tuple(items), resumed=resumed)

    # -- internals -------------------------------------------------------------------------

    def is_expired(self, proposal: ProposalRow) -> bool:
        """Whether a click on `proposal` would be refused as older than the TTL (no audit)."""
        # Only what a click could still write: a decided proposal answers who decided, and an
        # approval under way (or cut short by a crash) is finished whatever its age.
        if proposal.status not in ("open", "partial"):
            return False
        age = self._clock() - datetime.fromisoformat(proposal.created_at)
        return age > timedelta(days=self._proposal_ttl_days)

    def _expired(self, proposal: ProposalRow, user: str, decision: str) -> bool:
        """True (and audited) when a click would act on a proposal older than the TTL."""
        if not self.is_expired(proposal):
            return False
        age = self._clock() - datetime.fromisoformat(proposal.created_at)
        self._store.audit(
            proposal.id, user, "expired", detail={"decision": decision, "age_days": age.days}
        )
        return True

    def _busy(self, proposal_id: str) -> DecisionResult:
        """Another worker holds the lease (IN_PROGRESS), or the proposal is no longer approving."""
        proposal = self._store.proposal(proposal_id)
        assert proposal is not None
        outcome = Outcome.IN_PROGRESS if proposal.status == "approving" else Outcome.ALREADY_DECIDED
        return DecisionResult(outcome, proposal, self._item_results(proposal_id))

    def _interrupted(self, proposal_id: str) -> DecisionResult:
        """This worker gave up (renewals kept failing); nobody else is applying the proposal."""
        proposal = self._store.proposal(proposal_id)
        assert proposal is not None
        if proposal.status != "approving":
            return self._busy(proposal_id)
        return DecisionResult(Outcome.INTERRUPTED, proposal, self._item_results(proposal_id))

    def _write(self, proposal: ProposalRow, pending: list[ItemRow], lease: Lease) -> None:
        """Write the pending items a batch at a time; stop at a lost lease or a refused batch.

        Only the proposal's own tasks are read (by gid, right before each batch), never the whole
        project: the per-batch read is needed anyway, so a project read would only add requests.
        """
        actor = proposal.decided_by or "copilot"
        try:
            project = self._asana.project(proposal.project_gid)
        except (UpstreamError, UserFacingError) as exc:
            self._record(lease, proposal, pending, f"could not read the project: {exc}", actor)
            return
        for start in range(0, len(pending), BATCH_SIZE):
            chunk = pending[start : start + BATCH_SIZE]
            stop = self._write_chunk(proposal, project, chunk, actor, lease)
            if stop is not None:
                rest = [i for i in pending[start:] if i.task_gid not in stop.settled]
                if not lease.lost and rest:
                    self._record(lease, proposal, rest, stop.reason, actor)
                return

    def _create(self, proposal: ProposalRow, pending: list[ItemRow], lease: Lease) -> None:
        """Items that create (a task, a comment): one at a time, each recorded at once.

        The creator looks for its own earlier write before making one (a marker), so a resend
        after a crash between Asana's answer and this record finds it instead of making another.
        Asana failing stops the run; the rest is recorded as failed, for Retry.
        """
        creator = self._creators[proposal.kind]
        actor = proposal.decided_by or "copilot"
        for n, item in enumerate(pending):
            if not lease.confirm():
                return
            self._store.audit(proposal.id, actor, "create_sent", detail={"item": item.task_gid})
            try:
                outcome = creator.create(proposal, item)
            except (UpstreamError, UserFacingError) as exc:
                self._record(lease, proposal, pending[n:], f"not written: {exc}", actor)
                return
            self._store.mark_items(proposal.id, [outcome], actor=actor, owner=lease.owner)

    def _follow_up(self, proposal: ProposalRow, lease: Lease) -> None:
        """The kind's follow-up on the written items, by the lease holder, before finishing.

        It runs on every apply (a resume, a Retry), so it must be safe to run again: the triage
        comment looks for its own marker among the task's stories before posting.
        """
        follow_up = self._follow_ups.get(proposal.kind)
        if follow_up is None or lease.lost:
            return
        written = [i for i in self._store.items(proposal.id) if i.status in WRITTEN]
        if not written or not lease.confirm():
            return
        failed = follow_up(proposal, written, lease.confirm)
        if failed and not lease.lost:
            actor = proposal.decided_by or "copilot"
            self._store.mark_items(proposal.id, failed, actor=actor, owner=lease.owner)

    def _record(
        self, lease: Lease, proposal: ProposalRow, items: Sequence[ItemRow], reason: str, actor: str
    ) -> None:
        outcomes = [(i.task_gid, "failed", reason, {}) for i in items]
        self._store.mark_items(proposal.id, outcomes, actor=actor, owner=lease.owner)

    def _write_chunk(
        self, proposal: ProposalRow, project: Any, chunk: list[ItemRow], actor: str, lease: Lease
    ) -> _Stop | None:
        """Read the chunk's tasks, send what still needs writing, re-read before any resend.

        Returns why the whole run must stop (a lost lease, Asana refusing or unreachable), with
        the items already settled, or None to go on with the next chunk.
        """
        outcomes: list[ItemOutcome] = []
        writes: dict[str, Any] = {}
        stop: _Stop | None = None
        for item in chunk:
            try:
                writes[item.task_gid] = self._asana.encode_write(
                    project, item.task_gid, item.changes
                )
            except UserFacingError as exc:
                outcomes.append((item.task_gid, "failed", str(exc), {}))
            except UpstreamError as exc:
                # Asana is unreachable (e.g. adding a sprint option): nothing else will go
                # through; the rest is recorded as failed, for Retry.
                stop = _Stop(f"not sent: {exc}")
                break
        remaining = [] if stop is not None else [i for i in chunk if i.task_gid in writes]
        seen: dict[str, datetime | None] = {}  # modified_at at our last read of each task
        unsure: set[str] = set()  # sent, outcome unknown: it may have landed
        kept_by_task: dict[str, list[str]] = {}  # the keys of a person's values kept, per task
        uncertain_left, rate_limited_left = UNCERTAIN_RETRIES, RATE_LIMIT_RESENDS
        while remaining:
            if not lease.confirm():
                stop = _Stop("lost the lease")
                break
            try:
                current = self._asana.tasks_by_gid([i.task_gid for i in remaining])
            except UpstreamError as exc:
                stop = _Stop(f"could not re-read Asana before writing: {exc}")
                break
            send: list[ItemRow] = []
            for listed in remaining:
                task = current.get(listed.task_gid)
                item, kept, kept_keys = _keep_filled(listed, task)
                if kept_keys:
                    kept_by_task.setdefault(item.task_gid, []).extend(kept_keys)
                if kept is not None and not item.changes:  # nothing left to write
                    outcomes.append((item.task_gid, "skipped", kept, {"kept": kept_keys}))
                    continue
                if item is not listed:
                    writes[item.task_gid] = self._asana.encode_write(
                        project, item.task_gid, item.changes
                    )
                outcome = _settle(item, task, seen, unsure)
                if outcome is not None:
                    outcomes.append(_with_kept(outcome, kept_by_task))
                elif item.task_gid in unsure and uncertain_left < 0:
                    outcomes.append(
                        (item.task_gid, "failed", "Asana did not confirm the write", {})
                    )
                elif rate_limited_left < 0:
                    outcomes.append((item.task_gid, "failed", "Asana kept rate limiting", {}))
                else:
                    assert task is not None
                    seen[item.task_gid] = task.modified_at
                    send.append(item)
            remaining = []
            if not send:
                break
            # The read took time: make sure nobody took over before sending.
            if not lease.confirm():
                stop = _Stop("lost the lease")
                break
            self._store.audit(
                proposal.id, actor, "write_sent", detail={"tasks": [i.task_gid for i in send]}
            )
            results = self._asana.write_tasks([writes[i.task_gid] for i in send])
            wait, limited = 0.0, False
            for item, result in zip(send, results, strict=True):
                if result.ok:
                    unsure.discard(item.task_gid)
                    # item.reason: what was kept of a person's values (see _keep_filled)
                    outcomes.append(
                        _with_kept(
                            (item.task_gid, "written", item.reason, {"changes": item.changes}),
                            kept_by_task,
                        )
                    )
                elif result.retry_after is not None:  # not processed: re-read, then resend
                    remaining.append(item)
                    limited = True
                    wait = max(wait, result.retry_after)
                elif result.uncertain:  # may have landed: re-read before resending
                    unsure.add(item.task_gid)
                    remaining.append(item)
                else:
                    outcomes.append((item.task_gid, "failed", f"Asana refused: {result.error}", {}))
                    if result.refused and stop is None:
                        stop = _Stop(f"not sent: {result.error}")
            if stop is not None:
                # A refused batch (bad token, no access): nothing else will go through.
                outcomes.extend((i.task_gid, "failed", stop.reason, {}) for i in remaining)
                remaining = []
                break
            if any(i.task_gid in unsure for i in remaining):
                uncertain_left -= 1
            if limited:
                # Every 429 counts, whatever its Retry-After (0 included): the budget ends it.
                rate_limited_left -= 1
                self._store.audit(proposal.id, actor, "rate_limited", detail={"retry_after": wait})
                if not lease.wait(wait):
                    stop = _Stop("lost the lease")
                    break
        if not lease.lost and outcomes:
            self._store.mark_items(proposal.id, outcomes, actor=actor, owner=lease.owner)
        if stop is not None:
            stop.settled = {o[0] for o in outcomes}
        return stop

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


@dataclass
class _Stop:
    """Why a run stops early (the rest is recorded as failed unless the lease was lost)."""

    reason: str
    settled: set[str] = field(default_factory=set)


def _keep_filled(item: ItemRow, task: Task | None) -> tuple[ItemRow, str | None, list[str]]:
    """The item without the values a person has set since (Story Points), what was kept (for
    people) and the keys kept (recorded in the outcome's detail, for follow-ups to read).

    Checked on the fresh read right before each send, as the guards are: a person's estimate is
    never overwritten, and the rest of the item is still written.
    """
    if task is None:
        return item, None, []
    changes, guard, kept = keep_filled(item.changes, item.guard, task)
    if not kept:
        return item, None, []
    reason = "; ".join(f"kept the {key} a person set ({value})" for key, value in kept.items())
    return replace(item, changes=changes, guard=guard, reason=reason), reason, list(kept)


def _with_kept(outcome: ItemOutcome, kept_by_task: Mapping[str, list[str]]) -> ItemOutcome:
    """The outcome with the keys of a person's values kept on its task, if any, in its detail."""
    gid, status, reason, detail = outcome
    kept = kept_by_task.get(gid)
    return (gid, status, reason, {**detail, "kept": sorted(set(kept))}) if kept else outcome


def _settle(
    item: ItemRow, task: Task | None, seen: Mapping[str, datetime | None], unsure: set[str]
) -> ItemOutcome | None:
    """The outcome of an item from a fresh read of its task, or None: it still needs writing."""
    check = check_item(item.changes, item.guard, task)
    if check.action is ItemAction.ALREADY:
        if item.task_gid in unsure:  # our uncertain write landed
            return (item.task_gid, "written", "", {"changes": item.changes, "verified": True})
        return (item.task_gid, "already", check.reason, {})
    if check.action is ItemAction.SKIP:
        return (item.task_gid, "skipped", check.reason, {})
    assert task is not None
    if item.task_gid in seen and task.modified_at != seen[item.task_gid]:
        # Someone edited the task while we waited to (re)send: theirs wins.
        return (item.task_gid, "skipped", "conflict: changed in Asana during the approval", {})
    return None
