"""/forecast: when will the work land? Read the project and its recent history, simulate, explain.

One paginated read (the open tasks and those completed in the history window), the scope and the
history from bot/domain/delivery_inputs, the Monte Carlo from bot/domain/delivery, the words from
bot/render/delivery. Nothing is written anywhere. The same inputs give the same answer: the runs
are seeded.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.domain.delivery import (
    HISTORY_SPRINTS,
    DeliveryForecast,
    ForecastStatus,
    forecast_delivery,
    windowed_history,
)
from bot.domain.delivery_inputs import (
    Scope,
    ScopeError,
    ScopeKind,
    additions,
    completions,
    current_sprint,
    current_sprint_start,
    effort,
    forecast_unit,
    is_scope_keyword,
    parse_forecast_args,
    scope_kind,
    select_scope,
    sprint_names,
)
from bot.domain.models import Task
from bot.domain.sprint_inputs import PlanArgsError
from bot.errors import NotFoundError, UserFacingError
from bot.gateways.asana import FIELD_SPRINT, Project
from bot.render.burnup import burnup_png
from bot.render.delivery import assumptions, digest_line
from bot.usecases.prioritize import ProjectAccess

KIND = "forecast"
SEED = 14  # the runs' seed: the same project on the same day gives the same dates
SHOWN_TASKS = 10
USAGE = (
    "Usage: `/forecast [project] [scope]`: the project first (a gid, or its name in quotes), then "
    "the scope: nothing for the tasks suggested for Next + Future, `next`, `all` for every open "
    "task, or the name of a milestone (it and its subtasks)."
)
USAGE_HINT = "Name it first: `/forecast [project] [scope]`."


class ForecastSource(Protocol):
    def tasks_open_or_completed_since(
        self, project: Project, since: datetime, *, created: bool = False
    ) -> list[Task]: ...


class ApprovedSprint(Protocol):
    approved_at: datetime


class SprintAnchors(Protocol):
    """Where sprints started (bot/storage/retros.py, shared with /retro)."""

    def approved_sprints(
        self, project_gid: str, *, with_tasks: bool = ...
    ) -> Sequence[ApprovedSprint]: ...
    def sprint_starts(self, project_gid: str) -> dict[str, date]: ...


@dataclass(frozen=True)
class ForecastResult:
    project: Project
    scope: Scope
    forecast: DeliveryForecast
    view: dict[str, Any]

    def chart_png(self) -> bytes:
        return burnup_png(
            self.forecast, title=f"Burn-up · {self.scope.label} · {self.project.name}"
        )


def check_syntax(text: str) -> None:
    """Raise UserFacingError with the usage line when the command's text cannot be read."""
    try:
        parse_forecast_args(text)
    except PlanArgsError as exc:
        raise UserFacingError(f"I could not read that: {exc}\n{USAGE}") from None


class DeliveryForecaster:
    def __init__(
        self,
        *,
        asana: ForecastSource,
        projects: ProjectAccess,
        anchors: SprintAnchors,
        clock: Callable[[], datetime],
        tz: str,
        sprint_days: int = 14,
        history_sprints: int = HISTORY_SPRINTS,
        workdays: frozenset[int] = frozenset(range(5)),
        seed: int = SEED,
    ) -> None:
        self._asana = asana
        self._projects = projects
        self._anchors = anchors
        self._clock = clock
        self._zone = ZoneInfo(tz)
        self._sprint_days = sprint_days
        self._history_sprints = history_sprints
        self._workdays = workdays
        self._seed = seed

    def forecast(self, text: str, *, channel: str) -> ForecastResult:
        """The command: the project among the channel's, the scope, the forecast."""
        check_syntax(text)
        args = parse_forecast_args(text)
        project, taken = self._project(args.project_word, args.project_required, channel)
        scope_text = args.scope_text(project_taken=taken)
        return self.for_project(project, scope_kind(scope_text), scope_text)

    def _project(self, word: Any, required: bool, channel: str) -> tuple[Project, bool]:
        if word is not None and (required or not is_scope_keyword(word.text)):
            try:
                return self._projects.resolve(channel, word.text, usage=USAGE_HINT), True
            except NotFoundError:
                if required:
                    raise
        return self._projects.resolve(channel, "", usage=USAGE_HINT), False

    def for_project(
        self, project: Project, kind: ScopeKind, name: str = "", *, now: datetime | None = None
    ) -> ForecastResult:
        now = now or self._clock()
        today = now.astimezone(self._zone).date()
        days = self._sprint_days
        anchor = self._anchor(project.gid, today)
        start = current_sprint_start(today, anchor, days)
        since = datetime.combine(
            start - timedelta(days=days * self._history_sprints), datetime.min.time(), self._zone
        )
        tasks = self._asana.tasks_open_or_completed_since(project, since, created=True)
        open_tasks = [t for t in tasks if not t.completed]
        done = [t for t in tasks if t.completed]
        try:
            scope = select_scope(open_tasks, kind, name, named=done)
        except ScopeError as exc:
            raise UserFacingError(str(exc)) from None
        if kind in (ScopeKind.NEXT_FUTURE, ScopeKind.NEXT) and not scope.tasks:
            which = "Next or Future" if kind is ScopeKind.NEXT_FUTURE else "Next"
            raise UserFacingError(
                f"No open task of “{project.name}” is suggested for {which} yet (the “AI Suggested "
                "Sprint” field): approve a /prioritize ranking first, or forecast `all`."
            )
        unit = forecast_unit(done, scope.tasks)
        sizes = [effort(t, unit) for t in scope.tasks]
        amount = sum(s for s in sizes if s is not None)
        unestimated = sum(1 for s in sizes if s is None)
        field = project.fields.get(FIELD_SPRINT)
        sprint = current_sprint(open_tasks, list(field.options) if field else ())
        in_scope = {t.gid for t in scope.tasks}
        first = [
            t
            for t in open_tasks
            if sprint is not None and t.sprint == sprint and t.gid not in in_scope
        ]
        counts_first = kind is not ScopeKind.ALL
        ahead = sum(effort(t, unit) or 0.0 for t in first) if counts_first else 0.0
        # Scope growth: the tasks of the scope's kind (open or since done) created in each past
        # sprint, in the forecast's unit.
        grown = select_scope(tasks, kind, name, named=done).tasks
        history = windowed_history(
            completions(done, unit, self._zone),
            current_sprint_start=start,
            sprint_days=days,
            sprints=self._history_sprints,
            added=additions(grown, unit, self._zone),
            names=sprint_names(
                done,
                current_sprint_start=start,
                sprint_days=days,
                sprints=self._history_sprints,
                zone=self._zone,
            ),
        )
        forecast = forecast_delivery(
            history,
            amount,
            today=today,
            sprint_start=start,
            sprint_days=days,
            unit=unit,
            scope_growth=any(h.added for h in history),
            workdays=self._workdays,
            seed=self._seed,
            ahead=ahead,
            unestimated=unestimated,
        )
        view = forecast_view(
            project,
            scope,
            forecast,
            sprint=sprint,
            first=first,
            counts_first=counts_first,
            anchored=anchor is not None,
            sprint_start=start,
            sprint_days=days,
        )
        return ForecastResult(project, scope, forecast, view)

    def _anchor(self, project_gid: str, today: date) -> date | None:
        """The latest day a sprint started, up to today: an approved /plan-sprint, or a start
        an approver set (as /retro reads them); None when there is neither."""
        starts = [
            row.approved_at.astimezone(self._zone).date()
            for row in self._anchors.approved_sprints(project_gid, with_tasks=False)
        ]
        starts += self._anchors.sprint_starts(project_gid).values()
        return max((d for d in starts if d <= today), default=None)

    def digest_line(self, project: Project, *, now: datetime) -> str | None:
        """The Friday digest's line for Next + Future, or None when there is nothing to say."""
        try:
            result = self.for_project(project, ScopeKind.NEXT_FUTURE, now=now)
        except UserFacingError:
            return None
        return html.unescape(result.view["line"])  # plain text: each surface escapes its own


def forecast_view(
    project: Project,
    scope: Scope,
    forecast: DeliveryForecast,
    *,
    sprint: str | None,
    first: Sequence[Task],
    counts_first: bool,
    anchored: bool,
    sprint_start: date,
    sprint_days: int,
) -> dict[str, Any]:
    """Everything both surfaces show, as plain data."""
    unit = forecast.unit

    def row(task: Task) -> dict[str, Any]:
        size = effort(task, unit)
        return {
            "name": task.name,
            "permalink": task.permalink,
            "effort": size,
            "assignee": task.assignee.name if task.assignee else None,
        }

    if not counts_first:
        current = "The current sprint's open work is part of this scope."
    elif sprint is None:
        current = "No open task is in a sprint, so nothing counts ahead of the scope."
    elif first:
        current = (
            f"The current sprint's other open work ({sprint}: {len(first)} "
            f"task{'' if len(first) == 1 else 's'}, {forecast.ahead:g} {unit.value}) counts first."
        )
    else:
        current = f"The current sprint ({sprint}) has no open work outside this scope."
    calendar = (
        f"Sprints of {sprint_days} days from the latest sprint start (an approved /plan-sprint "
        f"or a start an approver set; this one started {sprint_start:%a} {sprint_start.day} "
        f"{sprint_start:%b})."
        if anchored
        else f"Sprints of {sprint_days} days back from today (no /plan-sprint approved yet)."
    )
    return {
        "kind": KIND,
        "fallback": f"Delivery forecast for {project.name} ({scope.label})",
        "project": {"gid": project.gid, "name": project.name, "permalink": project.permalink},
        "scope": {
            "kind": scope.kind.value,
            "label": scope.label,
            "tasks": len(scope.tasks),
            "amount": forecast.scope,
            "unestimated": forecast.unestimated,
            "milestone": (
                {"name": scope.milestone.name, "permalink": scope.milestone.permalink}
                if scope.milestone
                else None
            ),
        },
        "unit": unit.value,
        "status": forecast.status.value,
        "can_forecast": forecast.can_forecast,
        "p50": forecast.p50_on.isoformat() if forecast.p50_on else None,
        "p85": forecast.p85_on.isoformat() if forecast.p85_on else None,
        "p50_sprint": forecast.p50_sprint,
        "p85_sprint": forecast.p85_sprint,
        "line": digest_line(scope.label, forecast),  # mrkdwn: the label is escaped
        "assumptions": assumptions(forecast),
        "current_sprint": current,
        "calendar": calendar,
        "chart": forecast.status is ForecastStatus.OK and forecast.p85_on is not None,
        "tasks": [row(t) for t in scope.tasks[:SHOWN_TASKS]],
        "more_tasks": max(0, len(scope.tasks) - SHOWN_TASKS),
    }
