"""Buttons on proposals: Approve, Reject, Retry, Show all. Ack first, decide in the background."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.errors import UpstreamError
from bot.presenters import refresh_message
from bot.render.notes import (
    IN_PROGRESS_NOTE,
    INTERRUPTED_NOTE,
    decision_refusal_text,
    decision_unshown_note,
    expired_note,
    queued_note,
)
from bot.render.text import mention
from bot.services import Services
from bot.surfaces.slack.blocks.common import APPROVE, PAGE, REJECT, RETRY, page_blocks
from bot.surfaces.slack.surface import private_reply, show_page
from bot.usecases.approvals import Outcome


def register(app: App, services: Services) -> None:
    @app.action(APPROVE)
    def handle_action_approve(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        _decide(services, body, action, "approve")
        ack()

    @app.action(REJECT)
    def handle_action_reject(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        _decide(services, body, action, "reject")
        ack()

    @app.action(RETRY)
    def handle_action_retry(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        _decide(services, body, action, "retry")
        ack()

    @app.action(PAGE)
    def handle_action_page(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        def work() -> None:
            show_page(
                services, body, action, kind="prioritize", title="Ranking of", render=page_blocks
            )

        reply = private_reply(services, body)
        services.jobs.pages.submit(
            work, reply=reply, queued=lambda n: reply(queued_note("page", n))
        )
        ack()


def _decide(
    services: Services, body: dict[str, Any], action: dict[str, Any], decision: str
) -> None:
    """Enqueue the decision (the caller acks right after, so the work is queued first)."""
    proposal_id = str(action.get("value", ""))
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get(
        "channel_id", ""
    )

    def work() -> None:
        if decision == "retry":
            result = services.engine.retry(proposal_id, user=user, channel=channel)
        else:
            result = services.engine.decide(
                proposal_id, user=user, channel=channel, decision=decision
            )
        reply = private_reply(services, body)
        if result.outcome is Outcome.REFUSED:
            reply(decision_refusal_text(result.refusal))
            return
        if result.outcome is Outcome.EXPIRED:
            reply(expired_note(services.engine.proposal_ttl_days))
            return
        if result.outcome is Outcome.IN_PROGRESS:
            reply(IN_PROGRESS_NOTE)
            return
        if result.outcome is Outcome.INTERRUPTED:
            reply(INTERRUPTED_NOTE)
            return
        if result.outcome is Outcome.ALREADY_DECIDED:
            p = result.proposal
            verb = "rejected" if p.status == "rejected" else "approved"
            reply(f"Already {verb} by {mention(p.decided_by)}; nothing more was written.")
        try:
            refresh_message(services, result)
        except UpstreamError as exc:
            # The decision stands (Asana may be written): tell the clicker, never "nothing
            # was changed", which the job would say if this went on up.
            reply(
                decision_unshown_note(
                    result.proposal.status,
                    len(result.written),
                    len(result.failed),
                    getattr(exc, "code", "") or str(exc),
                )
            )

    reply = private_reply(services, body)
    services.jobs.decisions.submit(
        work, reply=reply, queued=lambda ahead: reply(queued_note(decision, ahead))
    )
