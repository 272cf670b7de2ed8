"""ChatSurfaces: the one chat port the use cases get, choosing Slack or Teams by the channel.

A channel named `teams:<conversation id>` is Teams'; any other is a Slack channel id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.domain.digest import StandupDigest
from bot.errors import ConfigError
from bot.usecases.access import TEAMS
from bot.usecases.approvals import DecisionResult
from bot.usecases.chat import ChatPort


class ChatSurfaces:
    def __init__(self, slack: ChatPort, teams: ChatPort | None = None) -> None:
        self.slack = slack
        self.teams = teams  # set when TEAMS_* are configured

    def surface(self, channel: str) -> ChatPort:
        if not channel.startswith(TEAMS):
            return self.slack
        if self.teams is None:
            raise ConfigError(f"{channel} is a Teams channel, but Teams is not configured")
        return self.teams

    def post_proposal(
        self,
        channel: str,
        view: Mapping[str, Any],
        proposal_id: str,
        *,
        proposed_by: str,
        chart: Callable[[], bytes] | None = None,
    ) -> str:
        return self.surface(channel).post_proposal(
            channel, view, proposal_id, proposed_by=proposed_by, chart=chart
        )

    def refresh(self, result: DecisionResult) -> None:
        channel = result.proposal.channel
        if channel.startswith(TEAMS) and self.teams is None:
            return  # Teams was configured when it was posted, and is not now: nothing to redraw
        self.surface(channel).refresh(result)

    def post_digest(self, channel: str, digest: StandupDigest) -> str:
        return self.surface(channel).post_digest(channel, digest)

    def post_notice(self, channel: str, text: str) -> str:
        return self.surface(channel).post_notice(channel, text)

    def share_chart(
        self, channel: str, *, kind: str, filename: str, title: str, png: Callable[[], bytes]
    ) -> str | None:
        return self.surface(channel).share_chart(
            channel, kind=kind, filename=filename, title=title, png=png
        )

    def person_id(self, channel: str, email: str | None) -> str | None:
        return self.surface(channel).person_id(channel, email)

    def post_direct(self, user: str, view: Mapping[str, Any]) -> str:
        return self.surface(user).post_direct(user, view)  # people are `teams:` in Teams too

    def say_privately(self, channel: str, user: str, text: str, *, reply_to: str = "") -> None:
        self.surface(channel).say_privately(channel, user, text, reply_to=reply_to)
