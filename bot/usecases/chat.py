"""The chat port: what use cases ask of a chat surface, in the core's own terms.

Use cases hand over neutral views (dicts with a "kind") and notes; a surface (Slack's Block Kit,
Teams' Adaptive Cards) draws and posts them. Channels are the core's strings: a Slack channel id,
or `teams:<conversation id>`; bot/surfaces/router.py picks the surface by that prefix.

Errors: a surface raises bot.errors.PostRefused when the service certainly did not post (a retry
may), PostBlocked when it refused until a person acts, and any other UpstreamError when the
outcome is unknown (it may be there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bot.domain.digest import StandupDigest
from bot.usecases.approvals import DecisionResult

# The code of a post refused because the copilot was removed from the conversation.
APP_REMOVED = "app_removed"


class Proposed(Protocol):
    """What a use case's `propose` returns: the stored proposal's id and its view."""

    @property
    def id(self) -> str: ...
    @property
    def view(self) -> Mapping[str, Any]: ...


class ChatPort(Protocol):
    def post_proposal(
        self,
        channel: str,
        view: Mapping[str, Any],
        proposal_id: str,
        *,
        proposed_by: str,
        chart: Callable[[], bytes] | None = None,
    ) -> str:
        """Post a stored proposal with Approve / Reject and link the two (engine.posted); the
        message id. When the service certainly did not post, the proposal is withdrawn (nobody
        could decide it) and PostRefused goes on. `chart` draws the load chart (PNG) for a
        surface that shows it in the proposal itself; Slack shares it after (`share_chart`)."""
        ...

    def refresh(self, result: DecisionResult) -> None:
        """Redraw a proposal's message for everyone after a decision."""
        ...

    def post_digest(self, channel: str, digest: StandupDigest) -> str:
        """Post a stand-up digest (at most once per call, even across a retried request)."""
        ...

    def post_notice(self, channel: str, text: str) -> str:
        """Post a short note (bot/render/text.py markup) in a channel."""
        ...

    def share_chart(
        self, channel: str, *, kind: str, filename: str, title: str, png: Callable[[], bytes]
    ) -> str | None:
        """Share a chart in the channel; its id, or None where the surface keeps none.
        `kind` says which: "load" (overload alerts) or "burn-up" (/forecast), for what the
        surface says when it cannot share it. `png` draws it, only if the surface shows it."""
        ...

    def person_id(self, channel: str, email: str | None) -> str | None:
        """The chat user to @mention for an Asana email in that channel, if the surface
        mentions by id (Slack); None otherwise (Teams finds its own mentions in the roster)."""
        ...

    def post_direct(self, user: str, view: Mapping[str, Any]) -> str:
        """Post a view (a nudge) privately to a person: their DM with the app in Slack, their
        personal chat with the copilot in Teams (`teams:<aad>`); the message id."""
        ...

    def say_privately(self, channel: str, user: str, text: str, *, reply_to: str = "") -> None:
        """Say a note privately to `user` about `channel` (`reply_to`: Slack's response_url)."""
        ...
