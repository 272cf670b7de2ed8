"""Teams in one process: the SDK runtime, the gateway, the JWT check, and what the handlers do.

People are `teams:<AAD object id>` and conversations `teams:<conversation id>` wherever the core
keeps a person or a channel (proposals, audit log, links, schedules), so the engine, the access
policy and the store need no Teams-specific code beyond these strings.
"""

from __future__ import annotations

import base64
import html
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.domain.access import Denial
from bot.domain.digest import StandupDigest
from bot.errors import PostBlocked, PostRefused, UpstreamError, UserFacingError
from bot.jobs import Deadline, SingleFlight
from bot.render.chart import compact_png
from bot.render.notes import INTERRUPTED_NOTE, deadline_note, decision_refusal_text, expired_note
from bot.settings import TeamsSettings
from bot.surfaces.teams import cards, settings_cards
from bot.surfaces.teams.auth import ActivityAuth, ClientCredentialsToken, SigningKeys
from bot.surfaces.teams.endpoint import TeamsEndpoint, WsgiApp
from bot.surfaces.teams.forecast_cards import nudge_card
from bot.surfaces.teams.gateway import Member, TeamsGateway
from bot.surfaces.teams.personal import PersonalSettings
from bot.surfaces.teams.sdk import TeamsRuntime
from bot.usecases.access import TEAMS as PREFIX
from bot.usecases.approvals import DecisionResult, Outcome, Refusal, decision_view
from bot.usecases.chat import APP_REMOVED, Proposed
from bot.usecases.sprint import check_syntax

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MEMBER_TTL_S = 60.0  # a person made a guest loses access within a minute
REMEMBER_TTL_S = 600.0  # an unchanged connector or name is written again after ten minutes
REMEMBERED_MAX = 50_000
# The load chart inside an overload card: with the card's text it stays under the 28 KB budget.
CHART_BYTES = 10_000
CARD_RESPONSE = "application/vnd.microsoft.card.adaptive"
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"


def is_teams(channel_or_user: str | None) -> bool:
    return bool(channel_or_user) and str(channel_or_user).startswith(PREFIX)


def conversation_of(channel: str) -> str:
    """`teams:<conversation id>` → the conversation id."""
    return channel[len(PREFIX) :]


def base_conversation(conversation_id: str) -> str:
    """A channel thread's conversation id without its `;messageid=…` (the channel itself)."""
    return conversation_id.split(";", 1)[0]


@dataclass(frozen=True)
class Sender:
    """Who sent an activity and where, as the core names them."""

    user: str  # teams:<aad object id>
    aad_object_id: str
    member_id: str  # the bot-scoped id ("29:…"), for mentions and 1:1 chats
    name: str
    conversation: str  # the conversation id, with `;messageid=` in a channel thread
    kind: str  # "channel" | "groupChat" | "personal"
    service_url: str
    tenant_id: str

    @property
    def channel(self) -> str:
        return PREFIX + self.conversation


def from_slack_text(text: str) -> str:
    """A note written for Slack (mrkdwn, escaped) as Adaptive Card markdown."""
    plain = html.unescape(text)
    plain = re.sub(r"<@[A-Z0-9]+>", "someone", plain)
    plain = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2", plain)
    for code, emoji in ((":warning:", "⚠️"), (":hourglass_flowing_sand:", "⏳"), (":x:", "❌")):
        plain = plain.replace(code, emoji)
    escaped = cards.md(plain)
    return re.sub(r"\\\*([^*\\]+?)\\\*", r"**\1**", escaped)  # Slack's *bold*


class TeamsSurface:
    def __init__(self, settings: TeamsSettings, services: Services) -> None:
        from bot.surfaces.teams.handlers import register

        self.settings = settings
        self._tenant_id = settings.tenant_id  # `settings` becomes the personal settings below
        self._services = services
        self._members: dict[tuple[str, str], tuple[float, Member | None]] = {}
        # What sender() last wrote, and when: (kind, id) -> (values, monotonic time).
        self._remembered: dict[tuple[str, str], tuple[tuple[Any, ...], float]] = {}
        self._names: dict[str, str] = {}  # AAD object id -> display name, as last seen
        self._lock = threading.Lock()
        token = ClientCredentialsToken(
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
        )
        self.runtime = TeamsRuntime(
            client_id=settings.client_id,
            tenant_id=settings.tenant_id,
            openid_metadata_url=settings.openid_metadata_url,
            token=token,
            setup=lambda app: register(app, services, self),
        )
        self.gateway = TeamsGateway(self.runtime)
        self.settings = PersonalSettings(services, self)
        self.auth = ActivityAuth(
            client_id=settings.client_id,
            tenant_id=settings.tenant_id,
            keys=SigningKeys(settings.openid_metadata_url),
        )

    def endpoint(self, fallback: WsgiApp) -> TeamsEndpoint:
        """POST /api/messages for the WSGI server; other paths go to `fallback`."""
        return TeamsEndpoint(self.auth, self.runtime, fallback)

    def close(self) -> None:
        self.runtime.close()

    # -- who, where ----------------------------------------------------------------------------

    def sender(self, activity: Mapping[str, Any]) -> Sender:
        """Who sent `activity`; remembers the conversation's serviceUrl and the person's name."""
        person = activity.get("from") or {}
        conversation = activity.get("conversation") or {}
        channel_data = activity.get("channelData") or {}
        sender = Sender(
            user=PREFIX + str(person.get("aadObjectId") or person.get("id")).lower(),
            aad_object_id=str(person.get("aadObjectId") or "").lower(),
            member_id=str(person.get("id")),
            name=str(person.get("name") or ""),
            conversation=str(conversation.get("id")),
            kind=str(conversation.get("conversationType") or "personal"),
            service_url=str(activity.get("serviceUrl")),
            tenant_id=str(
                conversation.get("tenantId") or (channel_data.get("tenant") or {}).get("id") or ""
            ),
        )
        store = self._services.store
        where = (
            base_conversation(sender.conversation),
            sender.service_url,
            sender.tenant_id,
            sender.kind,
            str((channel_data.get("team") or {}).get("id") or "") or None,
        )
        if self._changed(("conversation", where[0]), where):
            with self._forgotten_on_failure(("conversation", where[0])):
                store.remember_teams_conversation(
                    where[0],
                    service_url=where[1],
                    tenant_id=where[2],
                    kind=where[3],
                    team_id=where[4],
                )
        if sender.aad_object_id and sender.name:
            with self._lock:
                self._names[sender.aad_object_id] = sender.name
        if sender.aad_object_id and self._changed(
            ("person", sender.aad_object_id), (sender.member_id, sender.name)
        ):
            with self._forgotten_on_failure(("person", sender.aad_object_id)):
                store.remember_teams_person(
                    sender.aad_object_id, member_id=sender.member_id, name=sender.name
                )
        return sender

    @contextmanager
    def _forgotten_on_failure(self, key: tuple[str, str]) -> Iterator[None]:
        """A write that failed is not remembered as written: the next activity tries again."""
        try:
            yield
        except BaseException:
            with self._lock:
                self._remembered.pop(key, None)
            raise

    def _changed(self, key: tuple[str, str], values: tuple[Any, ...]) -> bool:
        """True when `values` (a conversation's connector, a person's name) differ from what
        this process last wrote for `key`, or that was REMEMBER_TTL_S ago. Every activity
        carries them, but writing them each time made every click wait for the database's
        write lock behind running approvals (the Approve answer's p99 was ~1.7 s at 50
        concurrent clicks, see bench/teams.py)."""
        now = time.monotonic()
        with self._lock:
            last = self._remembered.get(key)
            if last is not None and last[0] == values and now - last[1] < REMEMBER_TTL_S:
                return False
            if len(self._remembered) > REMEMBERED_MAX:
                self._remembered.clear()
            self._remembered[key] = (values, now)
        return True

    def member(self, sender: Sender) -> Member | None:
        """The sender as the conversation's roster has them (role, email), cached a minute."""
        key = (base_conversation(sender.conversation), sender.member_id)
        now = time.monotonic()
        with self._lock:
            hit = self._members.get(key)
        if hit is not None and now - hit[0] < MEMBER_TTL_S:
            return hit[1]
        found = self.gateway.member(key[0], sender.member_id, service_url=sender.service_url)
        if found is not None and found.email:
            self._services.store.remember_teams_person(
                found.aad_object_id, member_id=found.id, name=found.name, email=found.email
            )
        with self._lock:
            self._members[key] = (now, found)
        return found

    def refusal(self, sender: Sender) -> str | None:
        """Why this person may not use the copilot here (the access policy decides), or None."""
        try:
            member = self.member(sender)
        except UpstreamError:
            return (
                "Teams could not tell who you are just now; try again in a minute. "
                "Nothing was changed."
            )
        denial = self._services.access.teams_denial(member.role if member else None)
        if denial is Denial.GUEST:
            return "Guests can't use the copilot in this team; ask a member. Nothing was changed."
        if denial is not None:
            return "The copilot answers only members of this conversation. Nothing was changed."
        return None

    def name(self, user: str | None) -> str:
        """A display name for `teams:<aad>` (as last seen), else a neutral word. From memory
        when this process has seen the person: a card names people on every click."""
        if not is_teams(user):
            return "someone"
        aad = str(user)[len(PREFIX) :]
        with self._lock:
            known = self._names.get(aad)
        if known:
            return known
        person = self._services.store.teams_person(aad)
        if person is None or not person.name:
            return "someone"
        with self._lock:
            if len(self._names) > REMEMBERED_MAX:
                self._names.clear()
            self._names[aad] = person.name
        return person.name

    # -- answers -------------------------------------------------------------------------------

    def answer(self, sender: Sender, card: Mapping[str, Any]) -> str:
        """Post a card where the sender wrote (the thread, chat or personal chat)."""
        return self.gateway.post(sender.conversation, service_url=sender.service_url, card=card)

    def tell(self, sender: Sender, text: str) -> None:
        """A private answer: in the person's 1:1 chat with the copilot (`text` is safe markdown)."""
        chat = self.gateway.personal_chat(
            sender.member_id, tenant_id=sender.tenant_id, service_url=sender.service_url
        )
        self.gateway.post(chat, service_url=sender.service_url, card=cards.notice_card(text))

    def private_reply(self, sender: Sender) -> Callable[[str], None]:
        """The job queue's `reply` for this person: Slack-worded notes, said privately."""
        return lambda note: self.tell(sender, from_slack_text(note))

    def installed(self, activity: Mapping[str, Any]) -> None:
        """A conversationUpdate: when it adds the copilot, an install (see `install_update`)."""
        bot = (activity.get("recipient") or {}).get("id")
        added = [m.get("id") for m in activity.get("membersAdded") or []]
        if bot and bot in added:
            self._install(activity, welcome=True)
        else:
            self.sender(activity)  # another member came or went: refresh where we are

    def install_update(self, activity: Mapping[str, Any]) -> None:
        """installationUpdate: "add" remembers the conversation and says hello (once, whichever
        of it and the conversationUpdate comes first); "remove" drops the conversation's
        reference, so nothing more is posted there, and leaves approvers a record of why.
        "upgrade" (the app updated in place) changes nothing."""
        action = str(activity.get("action") or "")
        if action == "add":
            self._install(activity, welcome=True)
        elif action == "remove":
            self._uninstall(activity)
        else:
            log.info("installationUpdate %r: nothing to do", action[:40])

    def _install(self, activity: Mapping[str, Any], *, welcome: bool) -> None:
        with self._lock:  # a removal dropped references: write them again now
            self._remembered.clear()
        sender = self.sender(activity)
        team_id = _team_of(activity)
        scope = team_id or base_conversation(sender.conversation)
        fresh = self._services.store.teams_installed(scope, team_id=team_id, by=sender.user)
        if fresh and welcome:
            self.answer(sender, cards.welcome_card())

    def _uninstall(self, activity: Mapping[str, Any]) -> None:
        """Not `sender()`: that would store the reference again."""
        store = self._services.store
        person = activity.get("from") or {}
        who = PREFIX + str(person.get("aadObjectId") or person.get("id") or "someone").lower()
        team_id = _team_of(activity)
        conversation = base_conversation(str((activity.get("conversation") or {}).get("id")))
        with self._lock:
            self._remembered.clear()
        removed = {
            PREFIX + c
            for c in store.teams_removed(team_id or conversation, team_id=team_id, by=who)
        }
        removed.add(PREFIX + conversation)
        self._services.digests.removed_from(removed)
        log.info("removed from Teams conversation(s) %s by %s", sorted(removed), who)

    # -- commands ------------------------------------------------------------------------------

    def prioritize(self, sender: Sender, project_ref: str, flights: SingleFlight) -> None:
        from bot.presenters import run_prioritize

        reply = self.private_reply(sender)
        self._services.jobs.command(
            lambda deadline: run_prioritize(
                self._services,
                flights,
                project_ref,
                channel=sender.channel,
                user=sender.user,
                reply=reply,
                deadline=deadline,
            ),
            reply=reply,
            late=lambda deadline: deadline_note(deadline.seconds),
        )

    def plan_sprint(self, sender: Sender, text: str) -> None:
        if not self._readable(sender, check_syntax, text):
            return
        planner = self._services.planner
        self._queue_proposal(
            sender, lambda: planner.propose(text, channel=sender.channel, user=sender.user)
        )

    def sprint_start(self, sender: Sender, text: str) -> None:
        """`sprint start [project] <sprint> <YYYY-MM-DD>` (approvers): answered privately."""
        retros = self._services.retros

        def work() -> None:
            try:
                notice = retros.set_start(sender.user, text)
            except UserFacingError as exc:
                notice = str(exc)
            self.tell(sender, from_slack_text(notice))

        self._services.jobs.other.submit(work, reply=self.private_reply(sender))

    def retro(self, sender: Sender, text: str) -> None:
        """`retro [project] [sprint]`: the retrospective card in the conversation."""
        from bot.usecases.retro import check_syntax as check_retro

        if not self._readable(sender, check_retro, text):
            return
        retros = self._services.retros
        self._queue_proposal(
            sender, lambda: retros.propose(text, channel=sender.channel, user=sender.user)
        )

    def estimate(self, sender: Sender, project_ref: str) -> None:
        """`estimate [project]`: like /estimate in Slack."""
        triage = self._services.triage
        self._queue_proposal(
            sender,
            lambda: triage.propose_estimates(project_ref, channel=sender.channel, user=sender.user),
        )

    def _readable(self, sender: Sender, check: Callable[[str], object], text: str) -> bool:
        """False (and the usage line told) when the command's text cannot be read."""
        try:
            check(text)
        except UserFacingError as exc:  # a wrong syntax gets the usage line, and nothing else
            self.tell(sender, from_slack_text(str(exc)))
            return False
        return True

    def _queue_proposal(self, sender: Sender, propose: Callable[[], Proposed]) -> None:
        """Queue a command answered by a proposal, posted in the conversation unless too late."""

        def work(deadline: Deadline) -> None:
            proposal = propose()
            if not deadline.claim():  # the person was told it took too long: post nothing
                return
            self.post_proposal(sender.channel, proposal.view, proposal.id, proposed_by=sender.user)

        self._services.jobs.command(
            work,
            reply=self.private_reply(sender),
            late=lambda deadline: deadline_note(deadline.seconds),
        )

    def post_proposal(
        self,
        channel: str,
        view: Mapping[str, Any],
        proposal_id: str,
        *,
        proposed_by: str,
        chart: Callable[[], bytes] | None = None,
    ) -> str:
        """Post a new proposal's card in its conversation and link the two; the activity id.

        When Teams refuses for good (403: the conversation blocks the bot's messages, or the
        copilot was removed), the proposal is withdrawn so no invisible proposal stays open,
        and the error goes on.
        """
        chart_png = self._keep_chart(proposal_id, chart) if chart is not None else None
        card = cards.proposal_card(
            view, proposal_id, proposed_by=proposed_by, names=self.name, chart_png=chart_png
        )
        try:
            activity_id = self._post_to(channel, card)
        except PostRefused as exc:
            self._services.engine.withdraw(proposal_id, reason=str(exc))
            raise
        self._services.engine.posted(proposal_id, channel, activity_id)
        return activity_id

    def _keep_chart(self, proposal_id: str, chart: Callable[[], bytes]) -> str | None:
        """The load chart, small enough for the card, kept for the card's redraws; base64."""
        png = compact_png(chart(), max_bytes=CHART_BYTES)
        if png is None:
            return None
        encoded = base64.b64encode(png).decode("ascii")
        self._services.store.keep_card_image(proposal_id, encoded)
        return encoded

    def _service_url(self, conversation: str) -> str:
        """Where a conversation's connector lives: as last seen there, else as last seen at all
        (any channel of a team the copilot is in can be named; Teams answers 404 otherwise)."""
        store = self._services.store
        if store.teams_install_state(base_conversation(conversation)) == "removed":
            raise PostBlocked(
                "Teams",
                f"the copilot was removed from Teams conversation {conversation}",
                code=APP_REMOVED,
            )
        where = store.teams_conversation(base_conversation(conversation))
        service_url = where.service_url if where else store.latest_teams_service_url()
        if service_url is None:
            raise UserFacingError(
                f"The copilot has not been added to Teams conversation {conversation} yet: add "
                "it to the team first. Nothing was posted."
            )
        return service_url

    def _post_to(self, channel: str, card: Mapping[str, Any]) -> str:
        conversation = conversation_of(channel)
        return self.gateway.post(
            conversation, service_url=self._service_url(conversation), card=card
        )

    def post_digest(self, channel: str, digest: StandupDigest) -> str:
        """A stand-up digest in a Teams channel, assignees @mentioned when their Asana email is
        a member's; the activity id."""
        conversation = conversation_of(channel)
        service_url = self._service_url(conversation)
        by_email = {
            m.email.lower(): m
            for m in self.gateway.members(base_conversation(conversation), service_url=service_url)
            if m.email
        }
        mentions = {
            item.assignee.gid: (member.id, member.name)
            for item in digest.facts.items()
            if item.assignee is not None
            and item.assignee.email
            and (member := by_email.get(item.assignee.email.lower())) is not None
        }
        card = cards.digest_card(digest, mentions)
        return self.gateway.post(conversation, service_url=service_url, card=card)

    def post_notice(self, channel: str, text: str) -> str:
        """A short note (the shared note markup) in a Teams channel."""
        return self._post_to(channel, cards.notice_card(from_slack_text(text)))

    def share_chart(
        self, channel: str, *, kind: str, filename: str, title: str, png: Callable[[], bytes]
    ) -> str | None:
        return None  # Teams shows the chart in each alert's card (post_proposal), not apart

    def person_id(self, channel: str, email: str | None) -> str | None:
        return None  # a Teams card finds its @mentions in the conversation's roster

    def post_direct(self, user: str, view: Mapping[str, Any]) -> str:
        """A nudge in the person's personal chat with the copilot (the connector's create
        conversation), for `teams:<aad>` the copilot has met; the activity id."""
        if view.get("kind") != "nudge":
            raise ValueError(f"no direct message for a {view.get('kind')!r} view")
        store = self._services.store
        person = store.teams_person(user[len(PREFIX) :])
        service_url = store.latest_teams_service_url()
        if person is None or not person.member_id or service_url is None:
            raise PostRefused("Teams", f"{user} was never seen in Teams: no personal chat")
        chat = self.gateway.personal_chat(
            person.member_id, tenant_id=self._tenant_id, service_url=service_url
        )
        return self.gateway.post(chat, service_url=service_url, card=nudge_card(view))

    def say_privately(self, channel: str, user: str, text: str, *, reply_to: str = "") -> None:
        """A note for `teams:<aad>` in their personal chat with the copilot, where it is known."""
        person = self._services.store.teams_person(user[len(PREFIX) :])
        where = self._services.store.teams_conversation(base_conversation(conversation_of(channel)))
        if person is None or not person.member_id or where is None:
            log.warning("cannot reach %s privately: never seen in that conversation", user)
            return
        chat = self.gateway.personal_chat(
            person.member_id, tenant_id=where.tenant_id or "", service_url=where.service_url
        )
        self.gateway.post(
            chat, service_url=where.service_url, card=cards.notice_card(from_slack_text(text))
        )

    # -- card actions --------------------------------------------------------------------------

    def card_action(self, activity: Mapping[str, Any]) -> dict[str, Any]:
        """Answer an Action.Execute at once; Approve/Reject/Retry continue in the background.

        Only what needs no Asana call happens before the answer: refusals, expiry and late
        clicks (the engine audits them), pages. Writes never run inside the request.
        """
        sender = self.sender(activity)
        action = (activity.get("value") or {}).get("action") or {}
        verb, data = str(action.get("verb")), action.get("data") or {}
        if not isinstance(data, dict):
            data = {}
        services = self._services
        if verb in settings_cards.VERBS:
            refusal = self.refusal(sender)
            if refusal is not None:
                return _message(refusal)
            return self.settings.act(sender, activity, verb, data)
        engine = services.engine
        proposal = services.store.proposal(str(data.get("proposal") or ""))
        if verb not in cards.VERBS or proposal is None:
            return _message("That proposal no longer exists.")
        if proposal.channel != sender.channel:
            return _message("That proposal belongs to another conversation.")
        if verb == cards.PAGE:
            offset = data.get("offset")
            if isinstance(offset, int) and offset >= 0:
                return _card(cards.page_card(proposal.view, proposal.id, offset))
            return _card(self._card(proposal, None))
        refusal = self.refusal(sender)
        if refusal is not None:
            return _message(refusal)
        if proposal.status == "approving":
            return _message(
                "This proposal is being applied right now; the card will update when it is done."
            )
        decidable = proposal.status == "open" or (
            verb == cards.RETRY and proposal.status == "partial"
        )
        if not decidable or engine.refusal(sender.user, proposal) or engine.is_expired(proposal):
            # Nothing to write: the engine answers (and audits) at once.
            result = (
                engine.retry(proposal.id, user=sender.user, channel=sender.channel)
                if verb == cards.RETRY
                else engine.decide(
                    proposal.id, user=sender.user, channel=sender.channel, decision=verb
                )
            )
            if result.outcome is Outcome.REFUSED:
                if result.refusal is Refusal.NO_APPROVERS:
                    return _message(cards.NO_TEAMS_APPROVERS)
                return _message(from_slack_text(decision_refusal_text(result.refusal)))
            if result.outcome is Outcome.EXPIRED:
                return _message(from_slack_text(expired_note(engine.proposal_ttl_days)))
            return _card(self._card(result.proposal, result))

        if verb == cards.APPROVE:
            try:  # a triage card's assignee menus are submitted with Approve
                services.triage.choose_from_inputs(
                    proposal, data, user=sender.user, channel=sender.channel
                )
            except UserFacingError as exc:
                return _message(from_slack_text(str(exc)))

        def work() -> None:
            if verb == cards.RETRY:
                result = engine.retry(proposal.id, user=sender.user, channel=sender.channel)
            else:
                result = engine.decide(
                    proposal.id, user=sender.user, channel=sender.channel, decision=verb
                )
            if result.outcome is Outcome.INTERRUPTED:  # nobody is applying it: say so
                self.private_reply(sender)(from_slack_text(INTERRUPTED_NOTE))
            elif result.outcome is not Outcome.IN_PROGRESS:
                self.refresh(result)

        services.jobs.decisions.submit(work, reply=self.private_reply(sender))
        pending = {"status": PENDING[verb], "by": sender.user, "at": services.clock()}
        return _card(self._card(proposal, None, pending=pending))

    def _card(
        self,
        proposal: Any,
        result: DecisionResult | None,
        *,
        pending: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        decision = pending
        if result is not None and proposal.status != "open":
            decision = decision_view(result)
        chart_png = None
        if proposal.view.get("kind") == "overload":  # its card shows the load chart again
            chart_png = self._services.store.card_image(proposal.id)
        return cards.proposal_card(
            proposal.view,
            proposal.id,
            proposed_by=proposal.created_by,
            names=self.name,
            decision=decision,
            chart_png=chart_png,
        )

    def refresh(self, result: DecisionResult) -> None:
        """Update a proposal's message in place for everyone: who decided, what was written."""
        proposal = result.proposal
        if not proposal.message_ts or not proposal.view:
            return
        conversation = conversation_of(proposal.channel)
        self.gateway.update(
            conversation,
            proposal.message_ts,
            service_url=self._service_url(conversation),
            card=self._card(proposal, result),
        )


PENDING = {cards.APPROVE: "approving", cards.REJECT: "rejecting", cards.RETRY: "approving"}


def _team_of(activity: Mapping[str, Any]) -> str | None:
    return str(((activity.get("channelData") or {}).get("team") or {}).get("id") or "") or None


def _card(card: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "type": CARD_RESPONSE, "value": dict(card)}


def _message(text: str) -> dict[str, Any]:
    return {"statusCode": 200, "type": MESSAGE_RESPONSE, "value": text}
