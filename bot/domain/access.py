"""Who may ask the copilot anything, and who may decide: pure rules over plain facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Installation:
    """Where the app is installed, as `auth.test` says."""

    team_id: str
    enterprise_id: str | None = None
    is_enterprise_install: bool = False


@dataclass(frozen=True)
class SlackPerson:
    """What `users.info` says about a person that matters for access."""

    id: str
    team_id: str | None
    enterprise_id: str | None = None
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    is_admin: bool = False
    is_owner: bool = False
    deleted: bool = False
    teams: frozenset[str] = frozenset()  # on Enterprise Grid: the org's workspaces they are in

    @property
    def is_guest(self) -> bool:
        return self.is_restricted or self.is_ultra_restricted


@dataclass(frozen=True)
class Requester:
    """Who a command or click says it comes from, as Slack put it in the payload."""

    user_id: str
    team_id: str | None  # the workspace the request came from
    enterprise_id: str | None = None
    user_team_id: str | None = None  # the clicking user's own team (interactive payloads)


class Denial(StrEnum):
    OTHER_TEAM = "other team"
    OTHER_ENTERPRISE = "other enterprise"
    EXTERNAL = "external user"
    GUEST = "guest"
    UNKNOWN_USER = "unknown user"
    UNVERIFIED = "unverified"  # Slack could not tell us who this is


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value else None


def requester_of(body: Mapping[str, Any]) -> Requester | None:
    """Read who asked from a slash command or an interactive payload; None when no user."""
    user = body.get("user")
    if isinstance(user, Mapping):
        user_id = _text(user.get("id"))
        user_team = _text(user.get("team_id"))
    else:
        user_id = _text(body.get("user_id")) or _text(user)
        user_team = _text(body.get("user_team"))
    if user_id is None:
        return None
    team = body.get("team")
    team_id = _text(team.get("id")) if isinstance(team, Mapping) else _text(team)
    team_id = team_id or _text(body.get("team_id"))
    enterprise = body.get("enterprise")
    enterprise_id = (
        _text(enterprise.get("id")) if isinstance(enterprise, Mapping) else _text(enterprise)
    )
    if enterprise_id is None and isinstance(team, Mapping):
        enterprise_id = _text(team.get("enterprise_id"))
    enterprise_id = enterprise_id or _text(body.get("enterprise_id"))
    return Requester(user_id, team_id, enterprise_id, user_team)


def _same_org(installation: Installation, person: SlackPerson) -> bool:
    """True when the person belongs to the installed workspace (or org, on a grid-wide install)."""
    if installation.enterprise_id and person.enterprise_id == installation.enterprise_id:
        return (
            installation.is_enterprise_install
            or person.team_id == installation.team_id
            or installation.team_id in person.teams
        )
    if installation.is_enterprise_install:
        return False
    return person.team_id == installation.team_id  # else a Slack Connect member's home team


def request_denial(installation: Installation, requester: Requester) -> Denial | None:
    """Refuse a request from another workspace or org, or from another team's member."""
    grid = bool(installation.is_enterprise_install and installation.enterprise_id)
    if grid:
        if requester.enterprise_id != installation.enterprise_id:
            return Denial.OTHER_ENTERPRISE
        return None  # on an org-wide install, any workspace of the org is home
    if requester.team_id != installation.team_id:
        return Denial.OTHER_TEAM
    if requester.enterprise_id is not None and requester.enterprise_id != (
        installation.enterprise_id
    ):
        return Denial.OTHER_ENTERPRISE
    if requester.user_team_id is not None and requester.user_team_id != installation.team_id:
        return Denial.EXTERNAL  # a Slack Connect member clicking in a shared channel
    return None


def person_denial(installation: Installation, person: SlackPerson | None) -> Denial | None:
    """Refuse an unknown person, a member of another team or org, and a guest."""
    if person is None or person.deleted:
        return Denial.UNKNOWN_USER
    if not _same_org(installation, person):
        return Denial.EXTERNAL
    if person.is_guest:
        return Denial.GUEST
    return None


def denial(
    installation: Installation, requester: Requester, person: SlackPerson | None
) -> Denial | None:
    """Why this request must be refused, or None. These rules come before any other."""
    return request_denial(installation, requester) or person_denial(installation, person)


@dataclass(frozen=True)
class ApproverRule:
    """COPILOT_APPROVERS: explicit user ids, and/or `admins` (workspace admins and owners)."""

    ids: frozenset[str] = frozenset()
    admins: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.ids) or self.admins

    def allows(self, person: SlackPerson | None, user_id: str) -> bool:
        """Nobody when unset. A guest or an outsider never decides, even when listed."""
        if not self.configured:
            return False
        if person is not None and person.is_guest:
            return False
        if user_id in self.ids:
            return True
        return self.admins and person is not None and (person.is_admin or person.is_owner)
