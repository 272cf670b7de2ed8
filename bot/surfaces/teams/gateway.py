"""Outgoing calls to Teams (the Bot Connector) through the SDK's API client, from any thread.

Microsoft asks bots to retry 429 (after Retry-After), 412, 502 and 504 with backoff; the SDK does
not, so this gateway does, a bounded number of times. A 403 (for example MessageWritesBlocked: the
conversation no longer accepts the bot's messages) is permanent and never retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from bot.errors import PostBlocked, UpstreamError
from bot.surfaces.teams.sdk import (
    Account,
    Attachment,
    CreateConversationParams,
    MessageActivityInput,
    TeamsRuntime,
)

log = logging.getLogger(__name__)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
TRANSIENT = frozenset({429, 412, 502, 504})
MAX_ATTEMPTS = 4
MAX_WAIT_S = 30.0

T = TypeVar("T")


@dataclass(frozen=True)
class Member:
    """A person in a Teams conversation, as the connector describes them."""

    id: str  # the bot-scoped id ("29:…")
    aad_object_id: str
    name: str
    email: str | None
    role: str  # "user" | "guest" | … (Teams' userRole)
    tenant_id: str | None


@dataclass(frozen=True)
class Mention:
    """An @mention in a message: Teams notifies the person."""

    member_id: str
    name: str


def connector_error(exc: BaseException) -> tuple[int | None, str]:
    """The HTTP status and Bot Framework error code of a failed connector call."""
    if isinstance(exc, httpx.HTTPStatusError):
        code = ""
        try:
            body = exc.response.json()
            code = str(((body or {}).get("error") or {}).get("code") or "")
        except ValueError:
            pass
        return exc.response.status_code, code or f"HTTP {exc.response.status_code}"
    return None, type(exc).__name__


class TeamsGateway:
    def __init__(
        self,
        runtime: TeamsRuntime,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._runtime = runtime
        self._sleep = sleep
        self._max_attempts = max_attempts

    def _call(self, what: str, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        for attempt in range(1, self._max_attempts + 1):
            try:
                return self._runtime.run(make())
            except httpx.HTTPStatusError as exc:
                status, code = connector_error(exc)
                if status == 403:  # blocked (writes blocked, the bot removed): a person must act
                    raise PostBlocked(
                        "Teams", f"{what} failed ({code})", status=403, code=code
                    ) from None
                if status not in TRANSIENT or attempt == self._max_attempts:
                    raise UpstreamError("Teams", f"{what} failed ({code})", status=status) from None
                wait = _retry_after(exc.response) if status == 429 else 0.5 * 2 ** (attempt - 1)
                log.info("Teams answered %s to %s; retrying in %.1f s", status, what, wait)
                self._sleep(min(wait, MAX_WAIT_S))
            except httpx.TransportError as exc:
                raise UpstreamError("Teams", f"{what} failed ({type(exc).__name__})") from None
        raise AssertionError("unreachable")

    def post(
        self,
        conversation_id: str,
        *,
        service_url: str,
        card: Mapping[str, Any] | None = None,
        text: str | None = None,
        mentions: Sequence[Mention] = (),
    ) -> str:
        """Post a message (a card and/or text); the new activity's id."""
        activity = _message(card, text, mentions)
        api = self._runtime.app.api
        sent = self._call(
            "posting a message",
            lambda: api.conversations.create_activity(
                conversation_id, activity, service_url=service_url
            ),
        )
        return str(sent.id)

    def update(
        self,
        conversation_id: str,
        activity_id: str,
        *,
        service_url: str,
        card: Mapping[str, Any] | None = None,
        text: str | None = None,
    ) -> None:
        """Replace a message the bot posted, for everyone in the conversation."""
        activity = _message(card, text, ())
        api = self._runtime.app.api
        self._call(
            "updating a message",
            lambda: api.conversations.update_activity(
                conversation_id, activity_id, activity, service_url=service_url
            ),
        )

    def personal_chat(self, member_id: str, *, tenant_id: str, service_url: str) -> str:
        """The 1:1 chat of a person with the copilot (created by Teams if new): its id."""
        params = CreateConversationParams(members=[Account(id=member_id)], tenant_id=tenant_id)
        api = self._runtime.app.api.from_service_url(service_url)
        created = self._call("opening a personal chat", lambda: api.conversations.create(params))
        return str(created.id)

    def team_channels(self, team_id: str, *, service_url: str) -> tuple[str, list[tuple[str, str]]]:
        """A team's name and its channels, (id, name); Teams leaves the General channel (whose id
        is the team's) unnamed."""
        api = self._runtime.app.api.from_service_url(service_url)
        team = self._call("reading a team", lambda: api.teams.get_by_id(team_id))
        channels = self._call(
            "listing a team's channels", lambda: api.teams.get_conversations(team_id)
        )
        named = [(str(c.id), c.name or "General") for c in channels if c.id]
        return str(team.name or "Team"), named

    def member(self, conversation_id: str, member_id: str, *, service_url: str) -> Member | None:
        """One person of a conversation (by bot-scoped id or AAD object id), None if not in it."""
        api = self._runtime.app.api.from_service_url(service_url)
        try:
            account = self._runtime.run(
                api.conversations.get_member_by_id(conversation_id, member_id)
            )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:
                return None
            status, code = connector_error(exc)
            raise UpstreamError(
                "Teams", f"reading a member failed ({code})", status=status
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamError(
                "Teams", f"reading a member failed ({type(exc).__name__})"
            ) from None
        return _member(account)

    def members(self, conversation_id: str, *, service_url: str) -> list[Member]:
        """Everyone in a conversation (for @mentions by email)."""
        api = self._runtime.app.api.from_service_url(service_url)
        accounts = self._call(
            "reading members", lambda: api.conversations.get_members(conversation_id)
        )
        return [_member(a) for a in accounts]


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _message(card: Mapping[str, Any] | None, text: str | None, mentions: Sequence[Mention]) -> Any:
    activity = MessageActivityInput(text=text or "")
    if card is not None:
        activity = activity.add_attachments(
            Attachment(content_type=ADAPTIVE_CARD, content=dict(card))
        )
    for mention in mentions:
        account = Account(id=mention.member_id, name=mention.name)
        activity = activity.add_mention(account, text=mention.name, add_text=False)
    return activity


def _member(account: Any) -> Member:
    return Member(
        id=str(account.id),
        aad_object_id=str(account.aad_object_id or "").lower(),
        name=str(account.name or ""),
        email=(account.email or account.user_principal_name or None),
        role=str(account.user_role or "user"),
        tenant_id=account.tenant_id,
    )
