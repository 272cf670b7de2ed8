"""/plan-sprint: read the backlog and its recent history, plan the sprint exactly, propose it.

Approve (through the shared ApprovalEngine) sets "Sprint" to the sprint's name and
"AI Suggested Sprint" to Next on every selected task; the engine creates the Sprint option when
the field lacks it. A task is skipped as a conflict when it was completed or deleted, re-estimated
(Story Points or Estimated Hours) or moved to another sprint after the proposal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from bot.domain.models import SuggestedSprint, Task
from bot.domain.planning import LeftOutReason, SprintPlan, plan_sprint
from bot.domain.sprint_inputs import (
    Capacity,
    CapacitySource,
    EffortUnit,
    LeftOutRow,
    NoCapacityError,
    PlanArgs,
    PlanArgsError,
    PlanInputs,
    Velocity,
    canonical_option,
    capacities,
    convert,
    converted_count,
    effort_unit,
    explain_left_out,
    history_start,
    next_sprint_name,
    parse_plan_args,
    plan_inputs,
    sprint_name_from,
    sprint_words,
    velocity,
)
from bot.errors import NotFoundError, UserFacingError
from bot.gateways.asana import (
    FIELD_AI_SPRINT,
    FIELD_ESTIMATED_HOURS,
    FIELD_SPRINT,
    FIELD_STORY_POINTS,
    Project,
)
from bot.render.notes import usage_text
from bot.usecases.approvals import ApprovalEngine, NewProposal
from bot.usecases.prioritize import ProjectAccess

KIND = "plan_sprint"
PLAN_TIME_LIMIT_S = 5.0
# Values seen at proposal time that must still hold when Approve writes (else: a conflict).
GUARD_FIELDS = (FIELD_SPRINT, FIELD_AI_SPRINT, FIELD_STORY_POINTS, FIELD_ESTIMATED_HOURS)
SPRINT_SUBTYPES = ("enum", "text")


USAGE_HINT = "Name it first: `/plan-sprint [project] [sprint name] [capacity]`."


class SprintSource(Protocol):
    def find_project(self, ref: str) -> Project: ...
    def tasks_open_or_completed_since(self, project: Project, since: datetime) -> list[Task]: ...


@dataclass(frozen=True)
class SprintProposal:
    id: str
    project: Project
    sprint: str
    plan: SprintPlan
    view: dict[str, Any]


def check_syntax(
    text: str,
    *,
    parse: Callable[[str], PlanArgs] = parse_plan_args,
    usage: Callable[[str], str] = usage_text,
) -> PlanArgs:
    """The command's arguments; UserFacingError with the usage line when they cannot be read."""
    try:
        return parse(text)
    except PlanArgsError as exc:
        raise UserFacingError(usage(str(exc))) from None


def project_named_first(
    projects: ProjectAccess, args: PlanArgs, channel: str, *, usage: str
) -> tuple[Project, bool]:
    """The project the first word names (and True), else the default one (and False).

    Only projects linked to `channel` count: any other name is refused like an unknown one.
    """
    word = args.project_word
    if word is not None:
        try:
            return projects.resolve(channel, word.text, usage=usage), True
        except NotFoundError:
            if args.project_required:
                raise
    return projects.resolve(channel, "", usage=usage), False


class SprintPlanner:
    def __init__(
        self,
        *,
        asana: SprintSource,
        engine: ApprovalEngine,
        projects: ProjectAccess,
        clock: Callable[[], datetime],
        today: Callable[[], date],
        sprint_days: int = 14,
        weekly_hours: float = 40.0,
        hours_per_point: float = 4.0,
        time_limit_s: float = PLAN_TIME_LIMIT_S,
    ) -> None:
        self._asana = asana
        self._engine = engine
        self._projects = projects
        self._clock = clock
        self._today = today
        self._sprint_days = sprint_days
        self._weekly_hours = weekly_hours
        self._hours_per_point = hours_per_point
        self._time_limit_s = time_limit_s

    def propose(self, text: str, *, channel: str, user: str) -> SprintProposal:
        args = check_syntax(text)
        project, project_taken = project_named_first(
            self._projects, args, channel, usage=USAGE_HINT
        )
        field = project.fields.get(FIELD_SPRINT)
        if field is None or field.subtype not in SPRINT_SUBTYPES:
            raise UserFacingError(
                f"“{project.name}” has no “{FIELD_SPRINT}” field to plan with: add a single-select "
                f"(enum) custom field named {FIELD_SPRINT} to the project in Asana, then try again."
            )
        now = self._clock()
        # One paginated stream: the open backlog and what was completed in the velocity window.
        stream = self._asana.tasks_open_or_completed_since(
            project, history_start(now, self._sprint_days)
        )
        tasks = [t for t in stream if not t.completed]
        done = [t for t in stream if t.completed]
        if not tasks:
            raise UserFacingError(f"“{project.name}” has no open tasks: nothing to plan.")

        options = (
            list(field.options)
            if field.subtype == "enum"
            else sorted({t.sprint for t in [*tasks, *done] if t.sprint})
        )
        try:
            args = parse_plan_args(text, sprint_words=sprint_words(options))
            typed = sprint_name_from(args, project_taken=project_taken)
        except PlanArgsError as exc:
            raise UserFacingError(usage_text(str(exc))) from None
        sprint = canonical_option(typed or next_sprint_name(options), options)

        unit = effort_unit([*tasks, *done])
        hpp = self._hours_per_point
        history = velocity(
            done, now=now, sprint_days=self._sprint_days, unit=unit, hours_per_point=hpp
        )
        argument = (
            None
            if args.capacity is None
            else convert(args.capacity, args.capacity_unit or unit, unit, hpp)
        )
        try:
            capacity = capacities(
                tasks,
                history,
                argument=argument,
                unit=unit,
                sprint_days=self._sprint_days,
                weekly_hours=self._weekly_hours,
                hours_per_point=hpp,
            )
        except NoCapacityError:
            raise UserFacingError(
                f"“{project.name}” has no completed work in the last three sprints and no one is "
                "assigned, so there is no capacity to plan against: give one, e.g. "
                "`/plan-sprint 40`."
            ) from None
        inputs = plan_inputs(tasks, unit=unit, hours_per_point=hpp, today=self._today())
        plan = self._plan(inputs, capacity, tasks)
        left_out = explain_left_out(plan, inputs, capacity)
        view = sprint_view(
            project,
            sprint=sprint,
            sprint_is_new=field.subtype == "enum" and sprint not in field.options,
            sprint_typed=typed is not None,
            args=args,
            unit=unit,
            hours_per_point=hpp,
            converted=converted_count(tasks, unit),
            history=history,
            sprint_days=self._sprint_days,
            weekly_hours=self._weekly_hours,
            capacity=capacity,
            inputs=inputs,
            plan=plan,
            left_out=left_out,
            missing_fields=project.missing((FIELD_AI_SPRINT,)),
        )
        proposal = NewProposal(
            kind=KIND,
            project_gid=project.gid,
            project_name=project.name,
            channel=channel,
            created_by=user,
            items=[_item(inputs.candidates[gid].task, sprint) for gid in plan.selected],
            inputs={
                "command": text,
                "now": now.isoformat(),
                "tasks": [_snapshot(inputs, gid) for gid in inputs.candidates],
                "completed_in_window": [t.gid for t in done],
            },
            model_output=None,
            view=view,
        )
        self._engine.propose(proposal)
        return SprintProposal(proposal.id, project, sprint, plan, view)

    def _plan(self, inputs: PlanInputs, capacity: Capacity, tasks: Sequence[Task]) -> SprintPlan:
        try:
            return plan_sprint(
                inputs.items,
                team_capacity=capacity.team,
                person_capacity={p.gid: p.capacity for p in capacity.persons},
                groups=inputs.groups,
                time_limit_s=self._time_limit_s,
            )
        except ValueError as exc:
            if "cycle" not in str(exc):
                raise
            names = {t.gid: t.name for t in tasks}
            path = re.sub(r"\d+", lambda m: f"“{names.get(m[0], m[0])}”", str(exc).split(":")[-1])
            raise UserFacingError(
                f"The backlog has a dependency cycle:{path}. Fix it in Asana, then plan again."
            ) from None


def sprint_view(
    project: Project,
    *,
    sprint: str,
    sprint_is_new: bool,
    sprint_typed: bool,
    args: PlanArgs,
    unit: EffortUnit,
    hours_per_point: float,
    converted: int,
    history: Velocity,
    sprint_days: int,
    weekly_hours: float,
    capacity: Capacity,
    inputs: PlanInputs,
    plan: SprintPlan,
    left_out: Sequence[LeftOutRow],
    missing_fields: Sequence[str],
) -> dict[str, Any]:
    """Everything the Slack message shows, as plain data kept with the proposal."""
    chosen = set(plan.selected)

    def row(gid: str) -> dict[str, Any]:
        c = inputs.candidates[gid]
        return {
            "gid": gid,
            "name": c.task.name,
            "permalink": c.task.permalink,
            "effort": None if c.effort is None else round(c.effort, 1),
            "assignee": c.task.assignee.name if c.task.assignee else None,
            "value": c.value,
            "value_source": c.value_source.value,
            "group": c.task.parent_name if c.group else None,
            "from_sprint": c.task.sprint if c.task.sprint and c.task.sprint != sprint else None,
        }

    groups = [
        {
            "name": g.label,
            "bonus": g.value,
            "size": len(g.item_ids),
            "complete": all(i in chosen for i in g.item_ids),
        }
        for g in inputs.groups
    ]
    reasons: dict[str, int] = {}
    for left in left_out:
        reasons[left.reason.value] = reasons.get(left.reason.value, 0) + 1
    return {
        "kind": KIND,
        "fallback": (
            f"Sprint plan for {project.name}, {sprint}: {len(plan.selected)} tasks, "
            f"{plan.total_effort:g}/{capacity.team:g} {unit.value}"
        ),
        "project": {"gid": project.gid, "name": project.name, "permalink": project.permalink},
        "sprint": {"name": sprint, "new": sprint_is_new, "typed": sprint_typed},
        "unit": unit.value,
        "hours_per_point": hours_per_point,
        "converted": converted,
        "capacity": {
            "team": capacity.team,
            "used": round(plan.total_effort, 1),
            "source": capacity.source.value,
            "argument": (
                None
                if capacity.source is not CapacitySource.ARGUMENT
                else {
                    "value": args.capacity,
                    "unit": (args.capacity_unit or unit).value,
                }
            ),
            "velocity": history.team,
            "sprints": list(history.sprints),
            "sprint_days": sprint_days,
            "completed_counted": history.counted,
            "completed_unestimated": history.unestimated,
            "weekly_hours": weekly_hours,
            "hours_share": capacity.hours_share,
        },
        "people": [
            {
                "name": p.name,
                "capacity": p.capacity,
                "used": round(plan.effort_by_person.get(p.gid, 0.0), 1),
                "source": p.source.value,
            }
            for p in capacity.persons
        ],
        "plan": {
            "value": round(plan.total_value, 1),
            "optimal": plan.optimal,
            "method": plan.method,
            "note": plan.note,
            "seconds": round(plan.seconds, 2),
            "groups": groups,
        },
        "counts": {
            "open": len(inputs.candidates),
            "selected": len(plan.selected),
            "left_out": len(left_out),
            "by_reason": reasons,
        },
        "missing_fields": list(missing_fields),
        "selected": [row(gid) for gid in plan.selected],
        "left_out": [
            {
                **row(left.gid),
                "reason": left.reason.value,
                "blocker": left.blocker,
                "blocker_state": left.blocker_state,
                "person": left.person,
                "would_be": left.would_be,
                "capacity": left.capacity,
            }
            for left in sorted(
                left_out,
                key=lambda r: (_REASON_ORDER[r.reason], -inputs.candidates[r.gid].value, r.gid),
            )
        ],
    }


_REASON_ORDER = {
    LeftOutReason.OVER_CAPACITY: 0,
    LeftOutReason.PERSON_OVER_CAPACITY: 1,
    LeftOutReason.BLOCKED: 2,
    LeftOutReason.NEEDS_ESTIMATE: 3,
}


def _item(task: Task, sprint: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    changes = {FIELD_SPRINT: sprint, FIELD_AI_SPRINT: SuggestedSprint.NEXT.value}
    guard = {name: task.field_value(name) for name in GUARD_FIELDS}
    return task.gid, task.name, changes, guard


def _snapshot(inputs: PlanInputs, gid: str) -> dict[str, Any]:
    c = inputs.candidates[gid]
    task = c.task
    return {
        "gid": gid,
        "name": task.name,
        "assignee": task.assignee.gid if task.assignee else None,
        "story_points": task.story_points,
        "estimated_hours": task.estimated_hours,
        "sprint": task.sprint,
        "parent": task.parent_gid,
        "dependencies": [d.gid for d in task.open_dependencies],
        "effort": c.effort,
        "value": c.value,
        "value_source": c.value_source.value,
        "modified_at": task.modified_at.isoformat() if task.modified_at else None,
    }
