"""Nudges (issue 14 §3): one private message a day at most to each owner of a task at risk.

Off until an approver turns them on for a project (Slack Home tab, Teams personal chat). Every
working day at `NUDGE_AT` in the team's time zone the scheduler calls `run`: the open tasks of the
projects turned on, the at-risk rule of bot/domain/nudges, then for each owner their Slack user
(by Asana email) or else their Teams account, unless they turned nudges off. The ledger row
(person, local day) is claimed before the message is sent, so two instances send one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from bot.domain.digest import parse_days
from bot.domain.models import Person, Task
from bot.domain.nudges import Nudge, nudges
from bot.errors import NotFoundError, PostRefused, UpstreamError, UserFacingError
from bot.gateways.asana import Project
from bot.storage.store import NudgeProjectRow, Store
from bot.usecases.access import TEAMS
from bot.usecases.approvals import new_owner
from bot.usecases.people import slack_user_for

if TYPE_CHECKING:
    from bot.scheduler import ScheduledJob

log = logging.getLogger(__name__)

KIND = "nudge"
NUDGE_AT = "09:00"
JOB_ID = "nudges"
STALE_CLAIM = timedelta(minutes=15)  # a claim whose holder died before sending is taken over


class NudgeSource(Protocol):
    def project(self, gid: str) -> Project: ...
    def open_tasks(self, project: Project) -> list[Task]: ...


class ProjectPicker(Protocol):
    def resolve(self, channel: str, ref: str, *, usage: str) -> Project: ...
    def is_approver(self, user: str) -> bool: ...


class DirectPoster(Protocol):
    """The chat port's private post (bot/usecases/chat.py): `U…` in Slack, `teams:<aad>`."""

    def post_direct(self, user: str, view: Mapping[str, Any]) -> str: ...


class UserDirectory(Protocol):
    def user_id_by_email(self, email: str) -> str | None: ...


@dataclass(frozen=True)
class NudgeRun:
    day: date
    sent: tuple[tuple[str, str, int], ...] = ()  # (person, recipient, tasks)
    skipped: tuple[tuple[str, str], ...] = ()  # (person, why)
    projects: int = 0


@dataclass
class NudgeService:
    asana: NudgeSource
    store: Store
    slack: UserDirectory  # the Slack account of an Asana email
    access: ProjectPicker
    chat: DirectPoster
    clock: Callable[[], datetime]
    tz: str = "UTC"
    days: str = "mon-fri"
    stale_days: int = 5
    slack_enabled: bool = True
    teams_enabled: bool = False
    owner: str = field(default_factory=new_owner)

    # -- switches --------------------------------------------------------------------------

    def set_project(self, user: str, channel: str, project_ref: str, *, on: bool) -> Project:
        """An approver turns nudges on or off for a project the channel may use."""
        if not self.access.is_approver(user):
            raise UserFacingError("Only the team's approvers can turn nudges on or off.")
        project = self.access.resolve(channel, project_ref, usage="Name the project.")
        self.store.set_nudges(project.gid, project.name, enabled=on, by=user)
        return project

    def set_project_gid(self, user: str, project_gid: str, name: str, *, on: bool) -> None:
        """The Home tab's switch: the project is one the Home tab listed."""
        if not self.access.is_approver(user):
            raise UserFacingError("Only the team's approvers can turn nudges on or off.")
        self.store.set_nudges(project_gid, name, enabled=on, by=user)

    def projects(self) -> list[NudgeProjectRow]:
        return self.store.nudge_projects()

    def opt_out(self, user: str, *, off: bool) -> None:
        """A person turns their own nudges off (or on again)."""
        self.store.set_nudge_opt_out(user, opted_out=off)

    def opted_out(self, user: str) -> bool:
        return self.store.nudge_opted_out(user)

    # -- the daily run -----------------------------------------------------------------------

    def run(self, now: datetime | None = None) -> NudgeRun:
        now = now or self.clock()
        zone = ZoneInfo(self.tz)
        workdays = parse_days(self.days)
        today = now.astimezone(zone).date()
        if today.weekday() not in workdays:
            return NudgeRun(today)
        enabled = [r for r in self.store.nudge_projects() if r.enabled]
        tasks: list[Task] = []
        project_of: dict[str, str] = {}
        for row in enabled:
            try:
                project = self.asana.project(row.project_gid)
            except NotFoundError:  # deleted in Asana, or the token lost it: the others go on
                log.warning("nudges: project %s not found, skipped", row.project_gid)
                continue
            for task in self.asana.open_tasks(project):
                project_of.setdefault(task.gid, project.name)
                tasks.append(task)
        owners = {t.assignee.gid for t in tasks if t.assignee is not None}
        found = nudges(
            tasks,
            now=now,
            zone=zone,
            workdays=workdays,
            stale_days=self.stale_days,
            last_sent=self.store.nudged_on(owners, today),
        )
        sent: list[tuple[str, str, int]] = []
        skipped: list[tuple[str, str]] = []
        for nudge in found:
            why = self._send(nudge, today, project_of)
            if why is None:
                recipient = self._recipient(nudge.person) or ""
                sent.append((nudge.person.name, recipient, len(nudge.items)))
            else:
                skipped.append((nudge.person.name, why))
        return NudgeRun(today, tuple(sent), tuple(skipped), len(enabled))

    def scheduled_job(self) -> ScheduledJob:
        """The daily job for the one scheduler: NUDGE_AT on the team's days, in its zone."""
        from bot.scheduler import ScheduledJob

        return ScheduledJob(JOB_ID, self.scheduled, at=NUDGE_AT, tz=self.tz, days=self.days)

    def scheduled(self) -> NudgeRun | None:
        """The daily job: run, and log what a run could not do (the next day tries again)."""
        try:
            result = self.run()
        except (UpstreamError, UserFacingError) as exc:
            log.error("nudges not sent: %s", exc)
            return None
        log.info(
            "nudges %s: %d sent, %d skipped", result.day, len(result.sent), len(result.skipped)
        )
        return result

    def _recipient(self, person: Person) -> str | None:
        if self.slack_enabled:
            user = slack_user_for(self.store, self.slack, person.email)
            if user:
                return user
        if self.teams_enabled and person.email:
            aad = self.store.teams_person_by_email(person.email)
            if aad:
                return TEAMS + aad
        return None

    def _send(self, nudge: Nudge, today: date, project_of: Mapping[str, str]) -> str | None:
        """Send one nudge; None when sent, else why not."""
        person = nudge.person
        recipient = self._recipient(person)
        if recipient is None:
            return "no Slack or Teams account with their Asana email"
        if self.store.nudge_opted_out(recipient):
            return "turned nudges off"
        if not self.store.claim_nudge(
            person.gid, today, recipient=recipient, owner=self.owner, stale_after=STALE_CLAIM
        ):
            return "already nudged today"
        try:
            self.chat.post_direct(recipient, nudge_view(nudge, today, project_of, self.stale_days))
        except PostRefused as exc:  # certainly not sent: a later run today may
            self.store.release_nudge(person.gid, today, owner=self.owner)
            log.warning("nudge not sent: %s", exc)
            return f"not sent ({exc})"
        except UpstreamError as exc:  # it may have arrived: never send it twice
            self.store.nudge_sent(person.gid, today, owner=self.owner)
            log.warning("nudge may not have been sent: %s", exc)
            return f"may not have been sent ({exc})"
        except BaseException:
            self.store.release_nudge(person.gid, today, owner=self.owner)
            raise
        self.store.nudge_sent(person.gid, today, owner=self.owner)
        return None


def nudge_view(
    nudge: Nudge, today: date, project_of: Mapping[str, str], stale_days: int
) -> dict[str, Any]:
    """What a nudge says, as plain data both surfaces draw."""
    return {
        "kind": KIND,
        "person": nudge.person.name,
        "day": today.isoformat(),
        "stale_days": stale_days,
        "items": [
            {
                "name": item.name,
                "permalink": item.permalink,
                "project": project_of.get(item.gid, ""),
                "due_on": item.due_on.isoformat() if item.due_on else None,
                "reasons": [r.value for r in item.reasons],
                "dependency": item.open_dependency.name if item.open_dependency else None,
                "untouched_since": (
                    item.untouched_since.isoformat() if item.untouched_since else None
                ),
            }
            for item in nudge.items
        ],
    }
