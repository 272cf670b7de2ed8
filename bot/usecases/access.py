"""The one place that decides who may act: who may ask, who may decide, which projects a
channel may use (issue 10)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.domain.access import (
    ApproverRule,
    Denial,
    Installation,
    Requester,
    SlackPerson,
    person_denial,
    request_denial,
)
from bot.errors import NotFoundError, UpstreamError, UserFacingError
from bot.render.notes import not_linked_for_posting, not_linked_message
from bot.storage.store import Store

# Long enough that a burst of clicks costs one users.info, short enough that a person made a
# guest (or removed as admin) loses access within a minute.
PERSON_TTL_S = 60.0
LOOKUP_WAIT_S = 5.0  # longest a request waits for another request's users.info


@dataclass
class _PendingLookup:
    """One users.info call under way, that other requests for the same person wait for."""

    done: threading.Event = field(default_factory=threading.Event)
    person: SlackPerson | None = None
    failed: bool = False


class Directory(Protocol):
    """What access needs from Slack (the gateway, or a fake)."""

    def installation(self) -> Installation: ...
    def person(self, user_id: str) -> SlackPerson | None: ...


class ProjectReader(Protocol):
    def project(self, gid: str) -> Any: ...
    def find_project(self, ref: str) -> Any: ...


@dataclass(frozen=True)
class LinkedProject:
    channel: str
    gid: str
    name: str
    source: str  # "home" (linked on the Home tab) | "default" | "everywhere" (settings)


TEAMS = "teams:"  # how the core names Teams people and conversations: teams:<id>


def place(channel: str) -> str:
    """Where links apply: a Teams channel thread (`…;messageid=…`) belongs to its channel."""
    return channel.split(";", 1)[0] if channel.startswith(TEAMS) else channel


class AccessPolicy:
    def __init__(
        self,
        *,
        directory: Directory,
        store: Store,
        asana: ProjectReader,
        approvers: ApproverRule,
        default_project: str | None,
        default_channel: str | None,
        everywhere: frozenset[str] = frozenset(),
        teams_approvers: frozenset[str] = frozenset(),
        monotonic: Callable[[], float] = time.monotonic,
        person_ttl_s: float = PERSON_TTL_S,
    ) -> None:
        self._directory = directory
        self._store = store
        self._asana = asana
        self._approvers = approvers
        self._default_project = default_project
        self._default_channel = default_channel
        self._everywhere = everywhere
        self._teams_approvers = teams_approvers  # AAD object ids and emails, lower case
        self._monotonic = monotonic
        self._ttl = person_ttl_s
        self._people: dict[str, tuple[float, SlackPerson | None]] = {}
        self._asking: dict[str, _PendingLookup] = {}  # users.info calls under way, by user
        self._lock = threading.Lock()

    # -- who may ask -----------------------------------------------------------------------

    def refusal(self, requester: Requester) -> Denial | None:
        """Why a command or click must be refused before anything else, or None."""
        try:
            installation = self._directory.installation()
            # Team checks first: a request from another workspace costs no users.info.
            return request_denial(installation, requester) or person_denial(
                installation, self.person(requester.user_id)
            )
        except UpstreamError:
            return Denial.UNVERIFIED  # fail closed: never let an unchecked person through

    def person(self, user_id: str) -> SlackPerson | None:
        """`users.info` for a person, cached briefly; a burst of first requests asks once.

        This runs before the 3-second ack: fifty commands arriving together from one person
        must not make fifty `users.info` calls, so the first caller asks and the rest wait for
        its answer (or its failure, which refuses them too).
        """
        now = self._monotonic()
        with self._lock:
            hit = self._people.get(user_id)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
            pending = self._asking.get(user_id)
            leader = pending is None
            if pending is None:
                pending = self._asking[user_id] = _PendingLookup()
        if not leader:
            if not pending.done.wait(timeout=LOOKUP_WAIT_S) or pending.failed:
                raise UpstreamError("Slack", "users.info did not answer in time")
            return pending.person
        try:
            pending.person = self._directory.person(user_id)
            with self._lock:
                self._people[user_id] = (now, pending.person)
            return pending.person
        except BaseException:
            pending.failed = True
            raise
        finally:
            with self._lock:
                self._asking.pop(user_id, None)
            pending.done.set()

    # -- who may decide --------------------------------------------------------------------

    @property
    def approvers_configured(self) -> bool:
        """COPILOT_APPROVERS names someone (Slack)."""
        return self._approvers.configured

    def approvers_named_for(self, user: str) -> bool:
        """Whether the settings name any approver on `user`'s surface (Slack or Teams)."""
        if user.startswith(TEAMS):
            return bool(self._teams_approvers)
        return self._approvers.configured

    @property
    def approver_ids(self) -> frozenset[str]:
        return self._approvers.ids

    @property
    def admins_approve(self) -> bool:
        return self._approvers.admins

    def is_approver(self, user: str) -> bool:
        if user.startswith(TEAMS):
            # TEAMS_APPROVERS names people by AAD object id or by email (as Teams' roster says).
            aad = user[len(TEAMS) :]
            if aad in self._teams_approvers:
                return True
            person = self._store.teams_person(aad)
            return bool(person and person.email and person.email.lower() in self._teams_approvers)
        if not self._approvers.configured:
            return False
        try:
            person = self.person(user)  # cached: the request check just read it
        except UpstreamError:
            return False
        return self._approvers.allows(person, user)

    # -- which projects a channel may use --------------------------------------------------

    def teams_denial(self, role: str | None) -> Denial | None:
        """Who may ask in Teams (other tenants never reach this far): members, not guests."""
        if role is None:
            return Denial.UNKNOWN_USER
        return Denial.GUEST if role.lower() == "guest" else None

    def links(self, channel: str | None = None) -> list[LinkedProject]:
        """Every link (of one channel, or of all): stored ones, then the settings' defaults."""
        channel = place(channel) if channel else channel
        found: dict[tuple[str, str], LinkedProject] = {}
        for row in self._store.channel_links():
            if channel is None or place(row.channel) == channel:
                key = (row.channel, row.project_gid)
                found[key] = LinkedProject(row.channel, row.project_gid, row.project_name, "home")
        if self._default_project and self._default_channel:
            if channel is None or channel == place(self._default_channel):
                key = (self._default_channel, self._default_project)
                if key not in found:
                    name = self._store.digest_project_name(self._default_project) or ""
                    found[key] = LinkedProject(*key, name=name, source="default")
        return list(found.values())

    @property
    def everywhere(self) -> frozenset[str]:
        """COPILOT_PROJECTS: the gids every channel may use."""
        return self._everywhere

    def linked_gids(self, channel: str) -> frozenset[str]:
        return frozenset(link.gid for link in self.links(channel)) | self._everywhere

    def may_use(self, channel: str, project_gid: str) -> bool:
        return bool(channel) and project_gid in self.linked_gids(channel)

    def require_link(self, channel: str, project: Any) -> None:
        """For scheduled and command-line posts: refuse a channel the project is not linked to."""
        if not self.may_use(channel, project.gid):
            raise UserFacingError(not_linked_for_posting(project.name, channel))

    def resolve(self, channel: str, ref: str, *, usage: str) -> Any:
        """The project `ref` (a gid or a name) names among the channel's projects.

        Only linked projects are ever read, so an unknown and an unlinked project are refused
        with the same words after the same Asana reads: nothing tells them apart.
        """
        ref = " ".join(ref.split())
        gids = sorted(self.linked_gids(channel))
        if not ref:
            return self._default_for(channel, gids, usage)
        if ref.isdigit():
            if ref not in gids:
                raise NotFoundError(not_linked_message(ref))
            try:
                return self._asana.project(ref)
            except NotFoundError:
                raise NotFoundError(not_linked_message(ref)) from None
        wanted = ref.casefold()
        matches = [p for p in self._read_all(gids) if " ".join(p.name.split()).casefold() == wanted]
        if len(matches) != 1:  # two linked projects with one name: the gid tells them apart
            if matches:
                gids_text = ", ".join(p.gid for p in matches)
                raise UserFacingError(
                    f"Several projects of this channel are named “{ref}” ({gids_text}): use the "
                    "gid."
                )
            raise NotFoundError(not_linked_message(ref))
        return matches[0]

    def _read_all(self, gids: list[str]) -> list[Any]:
        projects = []
        for gid in gids:
            try:
                projects.append(self._asana.project(gid))
            except NotFoundError:
                continue  # linked, then deleted in Asana
        return projects

    def _default_for(self, channel: str, gids: list[str], usage: str) -> Any:
        if self._default_project and self._default_project in gids:
            return self._asana.project(self._default_project)
        if len(gids) == 1:
            return self._asana.project(gids[0])
        if not gids:
            raise UserFacingError(
                "No project is linked to this channel yet: an approver can link one on the "
                "copilot's Home tab."
            )
        names = ", ".join(f"“{p.name}”" for p in self._read_all(gids))
        raise UserFacingError(f"Which project? {usage} This channel's projects: {names}.")

    # -- changing links (approvers only, from the Home tab) --------------------------------

    def link(self, user: str, channel: str, project_ref: str) -> LinkedProject:
        self._require_approver(user)
        if not channel:
            raise UserFacingError("Pick a channel.")
        ref = " ".join(project_ref.split())
        if not ref:
            raise UserFacingError("Give the Asana project's name or gid.")
        project = self._asana.find_project(ref)  # an approver may name any project
        self._store.link_project(channel, project.gid, project.name, by=user)
        return LinkedProject(channel, project.gid, project.name, "home")

    def unlink(self, user: str, channel: str, project_gid: str) -> bool:
        self._require_approver(user)
        return self._store.unlink_project(channel, project_gid, by=user)

    def _require_approver(self, user: str) -> None:
        if not self.is_approver(user):
            raise UserFacingError("Only the team's approvers can link projects to channels.")
