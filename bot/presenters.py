"""Turning use-case results into messages: shared by the surfaces, start-up resume and jobs.

Everything goes through the chat port (services.chat), which hands a `teams:` channel to Teams
and any other to Slack; nothing here knows a surface.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.errors import UpstreamError, UserFacingError
from bot.jobs import Deadline, SingleFlight, message_for
from bot.render.notes import (
    RUN_FAILED,
    already_running_note,
    deadline_note,
    ranking_failed_note,
    ranking_ready_note,
)
from bot.usecases.approvals import DecisionResult, Outcome

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


def refresh_message(services: Services, result: DecisionResult) -> None:
    """Update the proposal message in place with its decision and what was written."""
    services.chat.refresh(result)


def resume_and_report(services: Services) -> list[DecisionResult]:
    """At start-up: finish approvals a crash cut short and say so on their messages."""
    results = services.engine.resume_incomplete()
    if any(r.outcome is Outcome.IN_PROGRESS for r in results):
        # A lease from the crashed process is still running: wait it out once, then finish.
        time.sleep(services.engine.lease_seconds + 1)
        results = services.engine.resume_incomplete()
    for result in results:
        if result.outcome in (Outcome.IN_PROGRESS, Outcome.INTERRUPTED):
            continue
        try:
            refresh_message(services, result)
        except Exception as exc:
            log.warning("could not update proposal %s: %s", result.proposal.id, type(exc).__name__)
    return results


def finish_abandoned(services: Services) -> list[DecisionResult]:
    """While running: finish approvals another instance left (it died) and redraw them."""
    results = services.engine.resume_abandoned()
    for result in results:
        try:
            refresh_message(services, result)
        except Exception as exc:
            log.warning("could not update proposal %s: %s", result.proposal.id, type(exc).__name__)
    return results


def start_up(services: Services) -> None:
    """At start-up, off the serving thread: finish cut-short approvals, tell cut-short commands."""
    try:
        told = services.commands.tell_interrupted()
        if told:
            log.info("told %d person(s) their command was interrupted by a restart", told)
    except Exception as exc:
        log.warning("could not check for interrupted commands: %s", type(exc).__name__)
    resume_and_report(services)


def keep_finishing_abandoned(services: Services, stop: Any, every: float = 10.0) -> None:
    """With instances sharing a database: every few seconds, pick up what a dead one left."""
    while not stop.wait(every):
        try:
            finish_abandoned(services)
            services.commands.tell_interrupted()
        except Exception as exc:
            log.warning("could not check for abandoned work: %s", type(exc).__name__)


# -- /prioritize: one run per project at a time, within the command's deadline ---------------


@dataclass(frozen=True)
class RankingOutcome:
    """How a /prioritize run ended, for the requests that waited for it."""

    project_name: str
    channel: str
    user: str
    message_ts: str | None = None  # posted
    failure: str | None = None  # what the leader was told (already escaped)


def run_prioritize(
    services: Services,
    flights: SingleFlight,
    project_ref: str,
    *,
    channel: str,
    user: str,
    reply: Callable[[str], None],
    deadline: Deadline,
) -> None:
    """Rank a project's backlog and post the proposal, unless a ranking of it is running.

    A request for a project already being ranked waits for that run (no second model run): in
    the same channel it is told when the proposal is posted; from another channel its own
    proposal follows, built from the model answers the first run cached, since buttons only
    act in the channel of their message.
    """
    project = services.prioritizer.resolve_project(project_ref, channel=channel)

    def when_landed(outcome: RankingOutcome) -> None:
        if outcome.failure is not None:
            reply(ranking_failed_note(project.name, outcome.failure))
        elif outcome.channel == channel:
            reply(ranking_ready_note(project.name, outcome.user))
        else:
            services.jobs.command(
                lambda d: run_prioritize(
                    services,
                    flights,
                    project.gid,
                    channel=channel,
                    user=user,
                    reply=reply,
                    deadline=d,
                ),
                reply=reply,
                late=lambda d: deadline_note(d.seconds),
            )

    running = flights.join(project.gid, user=user, channel=channel, waiter=when_landed)
    if running is not None:
        deadline.claim()  # answered for now; the run it waits for has its own deadline
        reply(
            already_running_note(
                project.name, running.user, same_channel=running.channel == channel
            )
        )
        return
    outcome = RankingOutcome(project.name, channel, user, failure="it stopped unexpectedly.")
    try:
        proposal = services.prioritizer.propose(project, channel=channel, user=user)
        if not deadline.claim():
            # The person was told it took too long: a proposal now would be a surprise.
            services.store.audit(proposal.id, "copilot", "not_posted_late", detail={})
            outcome = RankingOutcome(
                project.name, channel, user, failure=deadline_note(deadline.seconds)
            )
            return
        ts = services.chat.post_proposal(channel, proposal.view, proposal.id, proposed_by=user)
        outcome = RankingOutcome(project.name, channel, user, message_ts=ts)
    except Exception as error:
        if deadline.expired:
            failure = deadline_note(deadline.seconds)
        elif isinstance(error, (UserFacingError, UpstreamError)):
            failure = message_for(error)
        else:  # logged once, with its reference, when the job reports it to the leader
            failure = RUN_FAILED
        outcome = RankingOutcome(project.name, channel, user, failure=failure)
        raise
    finally:
        flights.land(project.gid, outcome)
