"""/retro: a sprint's retrospective from Asana, the approvals, the digests and the alerts.

A sprint is the set of tasks whose Sprint field holds its name. Its dates: a start an approver
set (Home tab / Teams), else the approval of its /plan-sprint proposal, else its tasks' start
and due dates; it lasts COPILOT_SPRINT_DAYS. The facts come from bot.domain.retro; the model (when
configured) only adds themes from the sprint's comments, each checked against the sprint's
tasks. Up to three action items are proposed; Approve (the shared engine) creates them as tasks
in COPILOT_RETRO_PROJECT and posts the retrospective as a comment on "<sprint> retrospective"
there, once: every write is looked for (by a marker carrying the proposal id) before it is made.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.domain.changes import option_key
from bot.domain.digest import DigestSchedule
from bot.domain.models import Task
from bot.domain.retro import (
    ActionItem,
    BlockedDay,
    OverloadRecord,
    RetroFacts,
    RetroTask,
    SprintWindow,
    ThemeCheck,
    ThemeClaim,
    build_retro,
    check_themes,
    facts_for_model,
    propose_actions,
    sprint_window,
)
from bot.domain.sprint_inputs import (
    PlanArgs,
    PlanArgsError,
    canonical_option,
    parse_words,
    split_words,
)
from bot.errors import (
    ConfigError,
    CopilotError,
    ModelOutputError,
    ModelUnavailableError,
    UserFacingError,
)
from bot.gateways.asana import FIELD_SPRINT, Comment, Project
from bot.render.prompts import data_json, prompt_version, render_messages
from bot.render.retro import retro_text, usage_text
from bot.storage.retros import ApprovedSprintRow
from bot.storage.store import ProposalRow, Store
from bot.usecases.approvals import ApprovalEngine, ItemOutcome, NewProposal, new_owner
from bot.usecases.chat import ChatPort
from bot.usecases.prioritize import ProjectAccess
from bot.usecases.sprint import check_syntax as check_plan_syntax
from bot.usecases.sprint import project_named_first

log = logging.getLogger(__name__)

KIND = "retro"
PROMPT = "retro"
USAGE_HINT = "Name it first: `/retro [project] [sprint]`."
START_USAGE = (
    "Set a sprint's start as `[project] <sprint name> <YYYY-MM-DD>`, e.g. "
    '`"Platform Backlog" Sprint 25 2026-12-07`.'
)
HISTORY_SPRINTS = 6  # completed tasks are read back this many sprint lengths
# The morning-after job: at JOB_AT in the team's zone, every day.
JOB_ID = "retro:morning-after"
JOB_AT = "09:00"
LEDGER_KIND = "retro"
CATCH_UP_DAYS = 3  # a sprint ending on Friday is looked back on by Monday's run at the latest
STALE_CLAIM = timedelta(minutes=15)
COPILOT = "copilot"
SUMMARY_ITEM = "summary"
COMMENT_ITEM = "comment"
ACTION_PREFIX = "action:"


class RetroSource(Protocol):
    def project(self, gid: str) -> Project: ...
    def tasks_open_or_completed_since(
        self, project: Project, since: datetime, *, created: bool = False
    ) -> list[Task]: ...
    def comments_by_task(self, task_gids: Sequence[str]) -> dict[str, list[Comment]]: ...


class ThemeWriter(Protocol):
    model: str

    def themes(self, messages: list[dict[str, str]]) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class RetroReport:
    id: str
    project: Project
    facts: RetroFacts
    view: dict[str, Any]


def marker(proposal_id: str, item: str) -> str:
    """The text a write carries so that it is found, not made again, after a retry or a crash."""
    return f"[copilot retro {proposal_id} {item}]"


def check_syntax(text: str) -> PlanArgs:
    """`[project] [sprint]`, parsed like /plan-sprint's but without a capacity."""
    return check_plan_syntax(text, parse=parse_words, usage=usage_text)


class Retrospectives:
    def __init__(
        self,
        *,
        asana: RetroSource,
        engine: ApprovalEngine,
        store: Store,
        projects: ProjectAccess,
        llm: ThemeWriter | None,
        clock: Callable[[], datetime],
        zone: str,
        sprint_days: int = 14,
        retro_project: str | None = None,
        retro_project_name: Callable[[str], str] | None = None,
        known_projects: Callable[[], Mapping[str, str]] = dict,
        default_project: str | None = None,
        chat: ChatPort | None = None,
        schedules: Callable[[], Sequence[DigestSchedule]] = list,
        project: Callable[[str], Project] | None = None,
        holder_dead: Callable[[str], bool] = lambda owner: False,
    ) -> None:
        self._chat = chat  # where the morning-after job posts
        self._schedules = schedules  # the digests' (channel, project) pairs
        self._project_of = project or self._asana_project
        self._holder_dead = holder_dead
        self._owner = new_owner()
        self._default_project = default_project  # ASANA_PROJECT: when none is named
        # gid → name as linked ("" when unknown) of the projects linked somewhere or everywhere
        self._known_projects = known_projects
        self._asana = asana
        self._engine = engine
        self._store = store
        self._projects = projects
        self._llm = llm
        self._clock = clock
        self._zone = ZoneInfo(zone)
        self._sprint_days = sprint_days
        self._retro_project = retro_project
        self._retro_project_name = retro_project_name
        self._target_names: dict[str, str] = {}  # the retro project's name, read once

    # -- the command ---------------------------------------------------------------------------

    def propose(self, text: str, *, channel: str, user: str) -> RetroReport:
        args = check_syntax(text)
        project, taken = project_named_first(self._projects, args, channel, usage=USAGE_HINT)
        words = args.words[1:] if taken else args.words
        typed = " ".join(w.text for w in words).strip() or None
        return self.report(project, typed, channel=channel, user=user)

    # -- the morning after ------------------------------------------------------------------------

    def morning_after(self, *, owner: str | None = None) -> list[str]:
        """Post the retrospective of each sprint that ended since the last morning, once.

        For every digest schedule's channel and project. The posted ledger (kind "retro", slot =
        the sprint's name) is claimed before anything is read, as the digests' is, so a second
        instance or a restart posts nothing twice. Returns the sprints this call posted.
        """
        if self._chat is None:
            raise ConfigError("retrospectives have no chat surface to post to")
        owner = owner or self._owner
        today = self.today()
        posted: list[str] = []
        # Each project's history is read once per morning, for every schedule and sprint of it.
        reads: dict[str, tuple[list[RetroTask], dict[str, str]]] = {}
        for schedule in self._schedules():
            try:
                project = self._project_of(schedule.project_gid)
                if project.gid not in reads:
                    reads[project.gid] = self._read(project)
                read = reads[project.gid]
                due = [
                    w
                    for w in self.finished(project, read=read)
                    if today - timedelta(days=CATCH_UP_DAYS) <= w.end < today
                ]
            except CopilotError as exc:
                log.error("retrospectives of %s not checked: %s", schedule.project_gid, exc)
                continue
            for window in due:
                key = {
                    "kind": LEDGER_KIND,
                    "channel": schedule.channel,
                    "project_gid": project.gid,
                    "slot": window.name,
                }
                if not self._store.claim_slot(
                    **key,
                    owner=owner,
                    scheduled_for=None,
                    stale_after=STALE_CLAIM,
                    holder_dead=self._holder_dead,
                ):
                    continue
                try:
                    report = self.report(
                        project, window.name, channel=schedule.channel, user=COPILOT, read=read
                    )
                except BaseException:
                    self._store.release_slot(**key, owner=owner)
                    raise
                if not self._store.begin_posting(**key, owner=owner):
                    continue
                ts = self._chat.post_proposal(
                    schedule.channel, report.view, report.id, proposed_by=COPILOT
                )
                self._store.slot_posted(**key, message_ts=ts)
                posted.append(window.name)
        return posted

    def _asana_project(self, gid: str) -> Project:
        return self._asana.project(gid)

    # -- a sprint's start, set by an approver (Slack Home tab, Teams personal chat) --------------

    def set_start(self, user: str, text: str) -> str:
        """`[project] <sprint name> <YYYY-MM-DD>`: that sprint starts that day; a notice."""
        if not self._engine.can_approve(user):
            raise UserFacingError("Only the team's approvers can set when a sprint starts.")
        try:
            words = list(split_words(text))
        except PlanArgsError as exc:
            raise UserFacingError(f"I could not read that: {exc} {START_USAGE}") from None
        if len(words) < 2:
            raise UserFacingError(START_USAGE)
        try:
            day = date.fromisoformat(words[-1].text)
        except ValueError:
            raise UserFacingError(f"“{words[-1].text[:40]}” is not a date. {START_USAGE}") from None
        words = words[:-1]
        project = self._known_project(words[0].text) if len(words) > 1 else None
        if project is None:
            project = self._known_project("")
        else:
            words = words[1:]
        sprint = " ".join(w.text for w in words).strip()
        if not sprint or len(sprint) > 100:
            raise UserFacingError(START_USAGE)
        tasks, _ = self._read(project)
        sprint = canonical_option(sprint, [*self.windows(project, tasks), sprint])
        self._store.set_sprint_start(project.gid, sprint, day, by=user)
        end = day + timedelta(days=self._sprint_days - 1)
        return (
            f"{sprint} of {project.name} now runs {day:%a %d %b} – {end:%a %d %b %Y} "
            f"({self._sprint_days} days): its retrospective uses these dates."
        )

    def _target_name(self, gid: str) -> str:
        """The retro project's name, read once (its gid, not kept, when Asana cannot say)."""
        if self._retro_project_name is None:
            return ""
        if gid not in self._target_names:
            name = self._retro_project_name(gid)
            if name == gid:
                return name
            self._target_names[gid] = name
        return self._target_names[gid]

    def _known_project(self, ref: str) -> Project | None:
        """A project linked to some channel (or to every one) by gid or name; None for ''.

        A name is matched on the links' names first (one read, to confirm it); only when that
        finds nothing is every linked project read for its current name.
        """
        known = self._known_projects()
        gids = sorted(known)
        ref = " ".join(ref.split())
        if not ref:
            if self._default_project or len(gids) == 1:
                return self._asana.project(self._default_project or gids[0])
            raise UserFacingError(f"Which project? Name it first. {START_USAGE}")
        if ref.isdigit():
            return self._asana.project(ref) if ref in gids else None
        wanted = ref.casefold()
        named = [g for g in gids if option_key(known[g]) == wanted]
        if len(named) == 1:
            project = self._asana.project(named[0])
            if project.name.casefold() == wanted:
                return project
        found = [p for p in map(self._asana.project, gids) if p.name.casefold() == wanted]
        return found[0] if len(found) == 1 else None

    # -- sprints -------------------------------------------------------------------------------

    def today(self) -> date:
        return self._clock().astimezone(self._zone).date()

    def windows(
        self,
        project: Project,
        tasks: Sequence[RetroTask],
        approvals: Mapping[str, ApprovedSprintRow] | None = None,
    ) -> dict[str, SprintWindow]:
        """Every sprint the project knows, dated (sprints nothing dates are left out).

        `approvals` is `_approvals(project)` when the caller has it already.
        """
        field = project.fields.get(FIELD_SPRINT)
        names = list(field.options) if field is not None and field.options else []
        names += sorted({t.sprint for t in tasks if t.sprint and t.sprint not in names})
        if approvals is None:
            approvals = self._approvals(project)
        starts = self._store.sprint_starts(project.gid)
        found: dict[str, SprintWindow] = {}
        for name in names:
            approved = approvals.get(name)
            start = starts.get(name) or (
                approved.approved_at.astimezone(self._zone).date() if approved else None
            )
            window = sprint_window(name, tasks, sprint_days=self._sprint_days, approved_on=start)
            if window is not None:
                found[name] = window
        return found

    def _approvals(self, project: Project) -> dict[str, ApprovedSprintRow]:
        """The project's approved sprint plans by sprint (the latest per sprint wins)."""
        return {a.sprint: a for a in self._store.approved_sprints(project.gid)}

    def finished(
        self, project: Project, *, read: tuple[list[RetroTask], dict[str, str]] | None = None
    ) -> list[SprintWindow]:
        """The project's finished sprints, the one that ended last at the end.

        `read` is the project's history (`_read`) when the caller has it already.
        """
        tasks, _ = read if read is not None else self._read(project)
        today = self.today()
        return sorted(
            (w for w in self.windows(project, tasks).values() if w.end < today),
            key=lambda w: (w.end, w.start, w.name),
        )

    def _read(self, project: Project) -> tuple[list[RetroTask], dict[str, str]]:
        """The project's tasks of the last sprints, and its people (Asana gid → name)."""
        since = self._clock() - timedelta(days=self._sprint_days * HISTORY_SPRINTS)
        read = self._asana.tasks_open_or_completed_since(project, since, created=True)
        people = {t.assignee.gid: t.assignee.name for t in read if t.assignee is not None}
        return [_retro_task(t) for t in read], people

    # -- the report ----------------------------------------------------------------------------

    def report(
        self,
        project: Project,
        sprint: str | None,
        *,
        channel: str,
        user: str,
        read: tuple[list[RetroTask], dict[str, str]] | None = None,
    ) -> RetroReport:
        """Work out the sprint's retrospective and store it as a proposal (nothing posted).

        `read` is the project's history (`_read`) when the caller has it already.
        """
        tasks, people = read if read is not None else self._read(project)
        approvals = self._approvals(project)
        windows = self.windows(project, tasks, approvals)
        today = self.today()
        ended = sorted(
            (w for w in windows.values() if w.end < today), key=lambda w: (w.end, w.start)
        )
        if sprint is None:
            if not ended:
                raise UserFacingError(
                    f"No sprint of “{project.name}” has ended yet: nothing to look back on."
                )
            window = ended[-1]
        else:
            name = canonical_option(sprint, windows)
            if name not in windows:
                known = ", ".join(f"“{w.name}”" for w in ended[-5:]) or "none yet"
                raise UserFacingError(
                    f"“{project.name}” has no sprint named “{sprint[:80]}” with dates "
                    f"(finished sprints: {known}). {USAGE_HINT}"
                )
            window = windows[name]
            if window.end >= today:
                raise UserFacingError(
                    f"“{window.name}” has not ended yet (it runs to {window.end:%a %d %b}): its "
                    "retrospective comes the morning after."
                )
        approved = approvals.get(window.name)
        facts = self._facts(
            project, tasks, people, window, ended, approved.task_gids if approved else None
        )
        comments = self._comments(facts, window)
        themes, source, note = self._themes(project, facts, tasks, comments)
        actions = propose_actions(facts)
        target = self._retro_project
        proposal_id = uuid.uuid4().hex[:16]
        view = retro_view(
            project,
            facts,
            themes=themes,
            themes_source=source,
            themes_note=note,
            actions=actions,
            retro_project=(
                {
                    "gid": target,
                    "name": self._target_name(target),
                }
                if target
                else None
            ),
        )
        items = _items(proposal_id, view, target) if target and actions else []
        proposal = NewProposal(
            kind=KIND,
            project_gid=project.gid,
            project_name=project.name,
            channel=channel,
            created_by=user,
            items=items,
            inputs={
                "sprint": window.name,
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "now": self._clock().isoformat(),
                "committed_from": facts.committed_source,
            },
            model_output={"themes": [t["text"] for t in view["themes"]], "note": note},
            view=view,
            prompt_version=prompt_version(PROMPT) if source == "model" else None,
            model=self._llm.model if self._llm is not None and source == "model" else None,
            id=proposal_id,
        )
        self._engine.propose(proposal)
        return RetroReport(proposal.id, project, facts, view)

    def _facts(
        self,
        project: Project,
        tasks: Sequence[RetroTask],
        people: Mapping[str, str],
        window: SprintWindow,
        ended: Sequence[SprintWindow],
        committed: Sequence[str] | None,
    ) -> RetroFacts:
        before = sorted(
            (w for w in ended if w.end < window.end and w.name != window.name),
            key=lambda w: w.end,
            reverse=True,
        )
        previous = [
            (w.name, build_retro(w, tasks, zone=self._zone).completed.points) for w in before[:3]
        ]
        blocked = [
            BlockedDay(r.task_gid, r.day, r.blocker)
            for r in self._store.blocked_days(project.gid, window.start, window.end)
        ]
        alerts = [
            OverloadRecord(
                person=people.get(a.person_gid, a.person_gid),
                week_start=date.fromisoformat(a.week_start),
                load=a.load,
                capacity=a.capacity,
                task_gids=tuple(sorted(a.task_gids)),
            )
            for a in self._store.overload_alerts_between(
                project.gid, window.start - timedelta(days=6), window.end
            )
        ]
        return build_retro(
            window,
            tasks,
            committed=committed,
            blocked_days=blocked,
            overloads=alerts,
            previous_velocity=previous,
            zone=self._zone,
        )

    def _comments(self, facts: RetroFacts, window: SprintWindow) -> dict[str, list[str]]:
        """The sprint's comments (written from its start to the day after its end), by task."""
        start = datetime.combine(window.start, datetime.min.time(), tzinfo=self._zone)
        end = datetime.combine(window.end + timedelta(days=1), datetime.min.time(), self._zone)
        found = self._asana.comments_by_task(list(facts.tasks))
        return {
            gid: [
                c.text
                for c in said
                if c.text.strip() and (c.created_at is None or start <= c.created_at < end)
            ]
            for gid, said in found.items()
            if said
        }

    def _themes(
        self,
        project: Project,
        facts: RetroFacts,
        tasks: Sequence[RetroTask],
        comments: Mapping[str, Sequence[str]],
    ) -> tuple[ThemeCheck, str | None, str]:
        """(checked themes, "model" | None, why the model's were not all used)."""
        if self._llm is None or not any(comments.values()):
            return ThemeCheck(()), None, ""
        given = facts_for_model(facts, project=project.name, comments=comments)
        messages = render_messages(
            PROMPT,
            project_name=project.name,
            sprint=facts.window.name,
            retro_json=data_json(given),
        )
        try:
            answer = self._llm.themes(messages)
        except (ModelOutputError, ModelUnavailableError) as exc:
            log.warning("retrospective themes not used: %s", exc)
            return ThemeCheck(()), "rules", str(exc)
        claims = [ThemeClaim(a["text"], tuple(a["task_ids"])) for a in answer]
        checked = check_themes(
            claims,
            facts,
            known_task_names=[t.name for t in tasks],
        )
        for claim, why in checked.dropped:
            log.warning("retrospective theme dropped (%s): %.80s", why, claim.text)
        note = (
            f"{len(checked.dropped)} theme(s) dropped: {checked.dropped[0][1]}"
            if checked.dropped
            else ""
        )
        return checked, "model", note


def _retro_task(task: Task) -> RetroTask:
    return RetroTask(
        gid=task.gid,
        name=task.name,
        sprint=task.sprint,
        points=task.story_points,
        created_at=task.created_at,
        start_on=task.start_on,
        due_on=task.due_on,
        completed_at=task.completed_at if task.completed else None,
        hours_logged=(task.actual_minutes / 60) if task.actual_minutes else None,
        assignee=task.assignee.name if task.assignee else None,
        permalink=task.permalink,
    )


# -- the view ---------------------------------------------------------------------------------


def retro_view(
    project: Project,
    facts: RetroFacts,
    *,
    themes: ThemeCheck,
    themes_source: str | None,
    themes_note: str,
    actions: Sequence[ActionItem],
    retro_project: Mapping[str, str] | None,
) -> dict[str, Any]:
    """Everything the message shows, as plain data kept with the proposal."""

    def tally(t: Any) -> dict[str, Any]:
        return {"count": t.count, "points": t.points, "tasks": list(t.task_gids)}

    w = facts.window
    e, c, b, v = facts.estimation, facts.cycle, facts.blocking, facts.velocity
    return {
        "kind": KIND,
        "fallback": (
            f"Retrospective of {w.name} ({project.name}): {facts.completed.count} of "
            f"{facts.committed.count} committed tasks done, {facts.completed.points:g} points"
        ),
        "project": {"gid": project.gid, "name": project.name, "permalink": project.permalink},
        "sprint": {
            "name": w.name,
            "start": w.start.isoformat(),
            "end": w.end.isoformat(),
            "dates_from": w.source.value,
        },
        "tasks": {
            g: {"name": t.name, "permalink": t.permalink, "points": t.points}
            for g, t in facts.tasks.items()
        },
        "committed_from": facts.committed_source,
        "committed": tally(facts.committed),
        "completed": tally(facts.completed),
        "completed_committed": tally(facts.completed_committed),
        "carried_over": tally(facts.carried_over),
        "added": tally(facts.added),
        "removed": tally(facts.removed),
        "estimation": {
            "hours_per_point": None if e.hours_per_point is None else round(e.hours_per_point, 2),
            "measured": len(e.measured),
            "without_hours": list(e.without_hours),
            "misses": [
                {
                    "task": m.task_gid,
                    "points": m.points,
                    "hours": round(m.hours, 1),
                    "ratio": round(m.ratio, 2),
                }
                for m in e.misses
            ],
        },
        "cycle": {
            "median_days": None if c.median_days is None else round(c.median_days, 1),
            "measured": len(c.measured),
            "slowest": [
                {"task": s.task_gid, "days": round(s.days, 1), "since": s.since.value}
                for s in c.slowest
            ],
        },
        "blocking": {
            "total_days": b.total_days,
            "tasks": [
                {"task": t.task_gid, "days": t.days, "blockers": list(t.blockers)} for t in b.tasks
            ],
            "recurring": [
                {"blocker": r.blocker, "tasks": list(r.task_gids), "days": r.days}
                for r in b.recurring
            ],
        },
        "over_capacity": [
            {
                "person": o.person,
                "weeks": [d.isoformat() for d in o.weeks],
                "peak_load": round(o.peak_load, 1),
                "capacity": round(o.capacity, 1),
                "tasks": [g for g in o.task_gids if g in facts.tasks],
            }
            for o in facts.over_capacity
        ],
        "velocity": {
            "points": v.points,
            "previous": [[n, p] for n, p in v.previous],
            "mean_previous": None if v.mean_previous is None else round(v.mean_previous, 1),
        },
        "themes": [{"text": t.text, "tasks": list(t.task_gids)} for t in themes.kept],
        "themes_source": themes_source,
        "themes_note": themes_note,
        "themes_dropped": len(themes.dropped),
        "actions": [{"title": a.title, "why": a.why, "tasks": list(a.task_gids)} for a in actions],
        "retro_project": dict(retro_project) if retro_project else None,
    }


def summary_task_name(sprint: str) -> str:
    return f"{sprint} retrospective"


def _items(
    proposal_id: str, view: Mapping[str, Any], target: str
) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """The writes Approve makes, in order: each action item, the summary task, its comment."""
    sprint = view["sprint"]["name"]
    items: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    for n, action in enumerate(view["actions"], start=1):
        key = f"{ACTION_PREFIX}{n}"
        links = [
            view["tasks"][g].get("permalink") or view["tasks"][g]["name"]
            for g in action["tasks"][:10]
            if g in view["tasks"]
        ]
        notes = "\n".join(
            [
                f"From the retrospective of {sprint} ({view['project']['name']}).",
                action["why"],
                *(f"- {x}" for x in links),
                "",
                marker(proposal_id, key),
            ]
        )
        items.append(
            (
                key,
                action["title"],
                {"create_task": {"project": target, "name": action["title"], "notes": notes}},
                {},
            )
        )
    items.append(
        (
            SUMMARY_ITEM,
            summary_task_name(sprint),
            {"find_or_create_task": {"project": target, "name": summary_task_name(sprint)}},
            {},
        )
    )
    text = retro_text(view) + "\n\n" + marker(proposal_id, COMMENT_ITEM)
    items.append(
        (
            COMMENT_ITEM,
            f"Comment on “{summary_task_name(sprint)}”",
            {"comment": {"project": target, "task_name": summary_task_name(sprint), "text": text}},
            {},
        )
    )
    return items


# -- the writes Approve makes (through the engine's creator hook) -------------------------------


class RetroTarget(Protocol):
    def project_tasks_named(self, project_gid: str) -> list[dict[str, Any]]: ...
    def create_task(self, project_gid: str, *, name: str, notes: str) -> dict[str, Any]: ...
    def comments(self, task_gid: str) -> list[Comment]: ...
    def add_comment(self, task_gid: str, text: str) -> str: ...


class RetroWriter:
    """Creates a retrospective's action items, its summary task and its comment, each once.

    Every write is looked for first: an action item by the marker in its notes, the summary task
    by its name, the comment by the marker in its text. So a second click, a Retry, or a restart
    after a crash between Asana's answer and our record finds the write and records it.
    """

    def __init__(self, asana: RetroTarget) -> None:
        self._asana = asana
        # The target project's tasks, read once per apply: keyed by proposal id and kept only
        # for the same ProposalRow object, which the engine reads afresh for every apply (a
        # Retry, a resume after a crash), so a fresh apply always re-reads the project.
        self._read: dict[str, tuple[ProposalRow, str, list[dict[str, Any]]]] = {}

    def create(self, proposal: ProposalRow, item: Any) -> ItemOutcome:
        try:
            outcome = self._create(proposal, item)
        except BaseException:
            # A write whose answer was lost may have landed: the next apply must look again.
            self._read.pop(proposal.id, None)
            raise
        if item.task_gid == COMMENT_ITEM:  # the last write of a proposal
            self._read.pop(proposal.id, None)
        return outcome

    def _tasks(self, proposal: ProposalRow, project_gid: str) -> list[dict[str, Any]]:
        kept = self._read.get(proposal.id)
        if kept is not None and kept[0] is proposal and kept[1] == project_gid:
            return kept[2]
        rows = list(self._asana.project_tasks_named(project_gid))
        self._read[proposal.id] = (proposal, project_gid, rows)
        return rows

    def _made(
        self, proposal: ProposalRow, project_gid: str, name: str, notes: str
    ) -> dict[str, Any]:
        """Create a task and add it to this apply's read, so later items find it."""
        made = self._asana.create_task(project_gid, name=name, notes=notes)
        rows = self._tasks(proposal, project_gid)
        rows.append({"gid": made["gid"], "name": name, "notes": notes, **made})
        return made

    def _create(self, proposal: ProposalRow, item: Any) -> ItemOutcome:
        changes = item.changes
        if "create_task" in changes:
            spec = changes["create_task"]
            mark = marker(proposal.id, item.task_gid)
            for row in self._tasks(proposal, spec["project"]):
                if mark in (row.get("notes") or ""):
                    return (item.task_gid, "already", row["gid"], {"created": row["gid"]})
            made = self._made(proposal, spec["project"], spec["name"], spec["notes"])
            return (item.task_gid, "written", made["gid"], {"created": made["gid"]})
        if "find_or_create_task" in changes:
            spec = changes["find_or_create_task"]
            found = self._summary_task(proposal, spec["project"], spec["name"])
            if found is not None:
                return (item.task_gid, "already", found, {"found": found})
            notes = (
                f"Retrospectives of {spec['name'].removesuffix(' retrospective')}, by the copilot."
            )
            made = self._made(proposal, spec["project"], spec["name"], notes)
            return (item.task_gid, "written", made["gid"], {"created": made["gid"]})
        if "comment" in changes:
            spec = changes["comment"]
            task = self._summary_task(proposal, spec["project"], spec["task_name"])
            if task is None:
                return (item.task_gid, "failed", "the retrospective task is missing", {})
            mark = marker(proposal.id, COMMENT_ITEM)
            if any(mark in c.text for c in self._asana.comments(task)):
                return (item.task_gid, "already", task, {"task": task})
            story = self._asana.add_comment(task, spec["text"])
            return (item.task_gid, "written", task, {"task": task, "story": story})
        return (item.task_gid, "failed", "unknown retrospective write", {})

    def _summary_task(self, proposal: ProposalRow, project_gid: str, name: str) -> str | None:
        wanted = option_key(name)
        rows = self._tasks(proposal, project_gid)
        found = [r for r in rows if option_key(r.get("name") or "") == wanted]
        return (
            min(found, key=lambda r: int(r["gid"]) if str(r["gid"]).isdigit() else 0)["gid"]
            if found
            else None
        )
