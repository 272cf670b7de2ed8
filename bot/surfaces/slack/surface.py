"""Slack's side of the chat port (bot/usecases/chat.py), and the listeners' private replies.

Views become Block Kit here (blocks/), by their kind; the Slack gateway posts them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from bot.domain.digest import StandupDigest
from bot.errors import PostBlocked, PostRefused, UpstreamError, UserFacingError
from bot.render.notes import command_ack, deadline_note
from bot.render.text import escape
from bot.surfaces.slack.blocks.common import fallback_text, notice_blocks
from bot.surfaces.slack.blocks.digest import digest_blocks, digest_text
from bot.surfaces.slack.blocks.home import chart_refused_text
from bot.surfaces.slack.blocks.nudges import nudge_blocks, nudge_text
from bot.surfaces.slack.blocks.proposals import proposal_blocks
from bot.usecases.approvals import DecisionResult, decision_view
from bot.usecases.chat import Proposed
from bot.usecases.people import slack_user_for

if TYPE_CHECKING:
    from slack_bolt import Ack

    from bot.jobs import Deadline
    from bot.services import Services
    from bot.storage.store import Store

log = logging.getLogger(__name__)


class SlackPoster(Protocol):
    """What the surface needs of the Slack gateway (bot/gateways/slack.py, or a test's fake)."""

    def post(self, channel: str, *, text: str, blocks: list[dict[str, Any]]) -> str: ...
    def update(self, channel: str, ts: str, *, text: str, blocks: list[dict[str, Any]]) -> None: ...
    def post_once(self, channel: str, *, text: str, blocks: list[dict[str, Any]]) -> str: ...
    def join(self, channel: str) -> None: ...
    def upload_png(
        self, channel: str, *, filename: str, title: str, content: bytes
    ) -> str | None: ...
    def user_id_by_email(self, email: str) -> str | None: ...
    def respond(self, response_url: str, *, text: str) -> None: ...
    def ephemeral(self, channel: str, user: str, *, text: str) -> None: ...
    def open_dm(self, user: str) -> str: ...


class ProposalLinks(Protocol):
    """The approval engine's part in posting: link a proposal to its message, or withdraw it."""

    def posted(self, proposal_id: str, channel: str, message_ts: str) -> None: ...
    def withdraw(self, proposal_id: str, *, reason: str) -> bool: ...


class SlackSurface:
    def __init__(self, slack: SlackPoster, store: Store, engine: ProposalLinks) -> None:
        self._slack = slack
        self._store = store
        self._engine = engine

    def post_proposal(
        self,
        channel: str,
        view: Mapping[str, Any],
        proposal_id: str,
        *,
        proposed_by: str,
        chart: Callable[[], bytes] | None = None,
    ) -> str:
        """When Slack certainly did not post it (the bot is not in a private channel, the
        channel is archived, …) the proposal is withdrawn, so no invisible proposal stays open,
        and the error goes on to the job queue, which tells the person what to do. A chart is
        not drawn here: Slack gets it as one file after the alerts (`share_chart`)."""
        try:
            ts = self._slack.post(
                channel,
                text=fallback_text(view),
                blocks=proposal_blocks(view, proposal_id, proposed_by=proposed_by),
            )
        except PostRefused as exc:
            self._engine.withdraw(proposal_id, reason=str(exc))
            raise
        self._engine.posted(proposal_id, channel, ts)
        return ts

    def refresh(self, result: DecisionResult) -> None:
        proposal = result.proposal
        if not proposal.message_ts or not proposal.view:
            return
        self._slack.update(
            proposal.channel,
            proposal.message_ts,
            text=fallback_text(proposal.view),
            blocks=proposal_blocks(
                proposal.view,
                proposal.id,
                proposed_by=proposal.created_by,
                decision=decision_view(result),
            ),
        )

    def post_digest(self, channel: str, digest: StandupDigest) -> str:
        return self._slack.post_once(
            channel, text=digest_text(digest), blocks=digest_blocks(digest)
        )

    def post_notice(self, channel: str, text: str) -> str:
        return self._slack.post(channel, text=text, blocks=notice_blocks(text))

    def share_chart(
        self, channel: str, *, kind: str, filename: str, title: str, png: Callable[[], bytes]
    ) -> str | None:
        """Upload the chart; its file id.

        File shares need the bot in the channel even with chat:write.public, so it joins first
        (public channels only; scope channels:join). Where it cannot, the channel is told to
        invite it (and the refusal goes on, for the approvers' Home tab).
        """
        try:
            self._slack.join(channel)
        except UpstreamError as exc:  # private, a DM, no scope: the upload says if it matters
            log.info("did not join %s: %s", channel, exc)
        try:
            return self._slack.upload_png(channel, filename=filename, title=title, content=png())
        except PostBlocked as exc:
            if exc.not_a_member:
                try:
                    self.post_notice(
                        channel,
                        chart_refused_text("burn-up chart", "the next forecast")
                        if kind == "burn-up"
                        else chart_refused_text(),
                    )
                except UpstreamError as failure:
                    log.warning("could not say so in the channel: %s", failure)
            raise

    def person_id(self, channel: str, email: str | None) -> str | None:
        return slack_user_for(self._store, self._slack, email)

    def post_direct(self, user: str, view: Mapping[str, Any]) -> str:
        """A nudge in the person's DM with the app (conversations.open, then one post)."""
        if view.get("kind") != "nudge":
            raise ValueError(f"no direct message for a {view.get('kind')!r} view")
        channel = self._slack.open_dm(user)
        return self._slack.post_once(channel, text=nudge_text(view), blocks=nudge_blocks(view))

    def say_privately(self, channel: str, user: str, text: str, *, reply_to: str = "") -> None:
        if reply_to:
            self._slack.respond(reply_to, text=text)
        else:
            self._slack.ephemeral(channel, user, text=text)


# -- the listeners' private answers --------------------------------------------------------------


def private_reply(services: Services, payload: dict[str, Any]) -> Callable[[str], None]:
    """Answer whoever sent a command or clicked: through its response_url, else ephemerally."""
    response_url = payload.get("response_url", "")
    channel = payload.get("channel_id") or (payload.get("channel") or {}).get("id", "")
    user = payload.get("user_id") or (payload.get("user") or {}).get("id", "")
    return lambda text: services.chat.slack.say_privately(
        channel, user, text, reply_to=response_url
    )


def queue_proposal(
    services: Services,
    ack: Ack,
    command: dict[str, Any],
    propose: Callable[[], Proposed],
    *,
    doing: str,
    check: Callable[[str], object] | None = None,
) -> None:
    """Queue a command whose answer is a proposal, and ack it with its place in line.

    `check` reads the command's text first: a wrong syntax gets the usage line, and nothing is
    queued. The proposal is posted to the command's channel unless the deadline passed first (the
    person was then told it took too long, so nothing is posted).
    """
    channel, user = command["channel_id"], command["user_id"]
    if check is not None:
        try:
            check(command.get("text") or "")
        except UserFacingError as exc:
            ack(response_type="ephemeral", text=escape(str(exc)))
            return

    def work(deadline: Deadline) -> None:
        proposal = propose()
        if not deadline.claim():  # the person was told it took too long: post nothing
            return
        services.chat.post_proposal(channel, proposal.view, proposal.id, proposed_by=user)

    # Enqueue before acking, so once Slack has its answer the work is already queued.
    # Recorded as owed until answered: if this process dies, the next start says so.
    tracked, late = services.commands.tracked(
        command, work, lambda deadline: deadline_note(deadline.seconds)
    )
    ahead = services.jobs.command(tracked, reply=private_reply(services, command), late=late)
    ack(response_type="ephemeral", text=command_ack(doing, ahead))


def show_page(
    services: Services,
    body: dict[str, Any],
    action: dict[str, Any],
    *,
    kind: str,
    title: str,
    render: Callable[[Any, str, int], list[dict[str, Any]]],
) -> None:
    """Answer a "Show all" / "Next" click (value `proposal_id:offset`) with one page, privately."""
    proposal_id, _, offset_text = str(action.get("value", "")).partition(":")
    proposal = services.store.proposal(proposal_id)
    if proposal is None or proposal.kind != kind or not offset_text.isdigit():
        raise UserFacingError("That proposal no longer exists.")
    if proposal.channel != (body.get("channel") or {}).get("id", ""):
        raise UserFacingError("That proposal belongs to another channel.")
    if not services.access.may_use(proposal.channel, proposal.project_gid):
        # Unlinked (perhaps linked by mistake): its ranking is no longer this channel's to read,
        # and saying so would tell the project exists.
        raise UserFacingError("That proposal no longer exists.")
    services.slack.respond(
        body.get("response_url", ""),
        text=f"{title} {escape(proposal.project_name)}",
        blocks=render(proposal.view, proposal_id, int(offset_text)),
    )
