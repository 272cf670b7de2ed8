"""/prioritize: read the backlog, score it (rules + model judgement), store it as a proposal."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from bot.domain.models import SuggestedSprint, Task
from bot.domain.scoring import (
    Judgement,
    ScoredTask,
    check_judgements,
    effort_points,
    looks_like_injection,
    rules_score,
    score_backlog,
)
from bot.errors import ModelOutputError, UserFacingError
from bot.gateways.asana import (
    AI_FIELDS,
    FIELD_AI_CONFIDENCE,
    FIELD_AI_RATIONALE,
    FIELD_AI_SCORE,
    FIELD_AI_SPRINT,
    FIELD_MANUAL_OVERRIDE,
    Project,
)
from bot.render.prompts import data_json, prompt_version, render_messages
from bot.storage.store import Store
from bot.usecases.approvals import ApprovalEngine, NewProposal

log = logging.getLogger(__name__)

PROMPT = "prioritize"
BATCH_SIZE = 25
MAX_CONCURRENT_BATCHES = 4


class BacklogSource(Protocol):
    def find_project(self, ref: str) -> Project: ...
    def open_tasks(self, project: Project) -> list[Task]: ...


class ProjectAccess(Protocol):
    """Resolves a project among those a channel may use (bot.usecases.access.AccessPolicy)."""

    def resolve(self, channel: str, ref: str, *, usage: str) -> Project: ...


class Judge(Protocol):
    model: str

    def judge(self, messages: list[dict[str, str]]) -> tuple[list[dict[str, Any]], Any]: ...


@dataclass
class ModelStats:
    calls: int = 0
    cached: int = 0
    refused_batches: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class PriorityProposal:
    id: str
    project: Project
    ranked: list[ScoredTask]
    missing_fields: list[str]
    model: str | None
    stats: ModelStats
    view: dict[str, Any]  # what the Slack message shows, as stored with the proposal


class Prioritizer:
    def __init__(
        self,
        *,
        asana: BacklogSource,
        engine: ApprovalEngine,
        store: Store,
        judge: Judge | None,
        projects: ProjectAccess,
        today: Callable[[], date],
        hours_per_point: float = 4.0,
    ) -> None:
        self._asana = asana
        self._engine = engine
        self._store = store
        self._judge = judge
        self._projects = projects
        self._today = today
        self._hours_per_point = hours_per_point

    def resolve_project(self, ref: str, *, channel: str) -> Project:
        """The project `ref` names among those `channel` may use (empty: its default)."""
        return self._projects.resolve(
            channel, ref, usage="Use `/prioritize <project gid or name>`."
        )

    def propose(self, project_ref: str, *, channel: str, user: str) -> PriorityProposal:
        project = self.resolve_project(project_ref, channel=channel)
        tasks = self._asana.open_tasks(project)
        if not tasks:
            raise UserFacingError(f"“{project.name}” has no open tasks: nothing to prioritize.")
        today = self._today()
        stats = ModelStats()
        version = prompt_version(PROMPT) if self._judge else None
        judgements, refused = self._judgements(project, tasks, today, stats, version)
        ranked = score_backlog(
            tasks,
            today=today,
            judgements=judgements,
            refused=refused,
            hours_per_point=self._hours_per_point,
        )
        model = self._judge.model if self._judge else None
        missing = project.missing(AI_FIELDS)
        view = priority_view(project, ranked, stats, model=model, missing_fields=missing)
        proposal = NewProposal(
            kind="prioritize",
            project_gid=project.gid,
            project_name=project.name,
            channel=channel,
            created_by=user,
            items=[_item(s) for s in ranked],
            inputs=[_snapshot(t) for t in tasks],
            model_output={
                "judgements": {gid: j.__dict__ for gid, j in judgements.items()},
                "refused": refused,
                "calls": stats.calls,
                "cached": stats.cached,
            },
            view=view,
            prompt_version=version,
            model=model,
        )
        self._engine.propose(proposal)
        return PriorityProposal(
            id=proposal.id,
            project=project,
            ranked=ranked,
            missing_fields=missing,
            model=model,
            stats=stats,
            view=view,
        )

    # -- model judgement -------------------------------------------------------------------

    def _judgements(
        self,
        project: Project,
        tasks: Sequence[Task],
        today: date,
        stats: ModelStats,
        version: str | None,
    ) -> tuple[dict[str, Judgement], dict[str, str]]:
        if self._judge is None or version is None:
            return {}, {}
        rows = {t.gid: _model_row(t, today, self._hours_per_point) for t in tasks}
        keys = {gid: _cache_key(row, version, self._judge.model) for gid, row in rows.items()}
        cached = self._store.cached_judgements(list(keys.values()))
        judgements: dict[str, Judgement] = {}
        todo: list[Task] = []
        for task in tasks:
            hit = cached.get(keys[task.gid])
            if hit is not None:
                judgements[task.gid] = Judgement(
                    task_gid=task.gid,
                    score=hit["score"],
                    confidence=hit["confidence"],
                    rationale=hit["rationale"],
                    suggested_sprint=SuggestedSprint(hit["suggested_sprint"]),
                )
                stats.cached += 1
            else:
                todo.append(task)

        # A task whose text talks to the model is judged alone: it can sway only its own score.
        flagged = {t.gid for t in todo if looks_like_injection(t)}
        suspicious = [t for t in todo if t.gid in flagged]
        ordinary = [t for t in todo if t.gid not in flagged]
        batches = [ordinary[i : i + BATCH_SIZE] for i in range(0, len(ordinary), BATCH_SIZE)]
        batches += [[t] for t in suspicious]

        refused: dict[str, str] = {}
        new_cache: dict[str, Any] = {}

        def run(batch: list[Task]) -> tuple[list[Task], dict[str, Judgement] | str, Any]:
            messages = render_messages(
                PROMPT,
                project_name=project.name,
                today=today.isoformat(),
                tasks=batch,
                tasks_json=data_json([rows[t.gid] for t in batch]),
            )
            try:
                answers, usage = self._judge.judge(messages)  # type: ignore[union-attr]
                return batch, check_judgements([t.gid for t in batch], answers), usage
            except (ModelOutputError, ValueError) as exc:
                return batch, str(exc), None

        with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_BATCHES) as pool:
            for batch, result, usage in pool.map(run, batches):
                stats.calls += 1
                if usage is not None:
                    stats.prompt_tokens += usage.prompt_tokens
                    stats.completion_tokens += usage.completion_tokens
                if isinstance(result, str):
                    log.warning("model batch of %d refused: %s", len(batch), result)
                    stats.refused_batches.append(result)
                    refused.update({t.gid: f"model answer refused: {result}" for t in batch})
                    continue
                judgements.update(result)
                for gid, judgement in result.items():
                    value = {k: v for k, v in judgement.__dict__.items() if k != "task_gid"}
                    new_cache[keys[gid]] = value
        if new_cache:
            self._store.cache_judgements(new_cache, model=self._judge.model)
        return judgements, refused


def priority_view(
    project: Project,
    ranked: Sequence[ScoredTask],
    stats: ModelStats,
    *,
    model: str | None,
    missing_fields: Sequence[str],
) -> dict[str, Any]:
    """Everything the Slack message shows, as plain data kept with the proposal."""
    sources: dict[str, int] = {}
    for scored in ranked:
        sources[scored.source.value] = sources.get(scored.source.value, 0) + 1
    return {
        "kind": "prioritize",
        "project": {"gid": project.gid, "name": project.name, "permalink": project.permalink},
        "model": model,
        "counts": {"tasks": len(ranked), "by_source": sources},
        "model_calls": stats.calls,
        "model_cached": stats.cached,
        "refused": sorted(set(stats.refused_batches)),
        "missing_fields": list(missing_fields),
        "rows": [
            {
                "rank": rank,
                "gid": s.task.gid,
                "name": s.task.name,
                "score": s.score,
                "rules_score": s.rules.score,
                "confidence": s.confidence,
                "rationale": s.rationale,
                "sprint": s.suggested_sprint.value,
                "assignee": s.task.assignee.name if s.task.assignee else None,
                "assignee_email": s.task.assignee.email if s.task.assignee else None,
                "permalink": s.task.permalink,
                "source": s.source.value,
                "note": s.note,
            }
            for rank, s in enumerate(ranked, start=1)
        ],
    }


def _model_row(task: Task, today: date, hours_per_point: float) -> dict[str, Any]:
    """What the model sees of a task: its text as data, and the rules score to adjust."""
    rules = rules_score(task, today=today, hours_per_point=hours_per_point)
    return {
        "id": task.gid,
        "name": task.name,
        "notes": task.notes[:1500],
        "rules_score": rules.score,
        "business_value": task.business_value,
        "effort": effort_points(task, hours_per_point),
        "due_on": task.due_on.isoformat() if task.due_on else None,
        "blocked_by": len(task.open_dependencies),
        "unblocks": len(task.open_dependents),
    }


def _cache_key(row: dict[str, Any], version: str, model: str) -> str:
    # `today` is in the rules score (urgency), so a day passing re-asks only for dated tasks.
    payload = json.dumps({"row": row, "prompt": version, "model": model}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _item(scored: ScoredTask) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    task = scored.task
    changes = {
        FIELD_AI_SCORE: scored.score,
        FIELD_AI_CONFIDENCE: scored.confidence,
        FIELD_AI_RATIONALE: scored.rationale,
        FIELD_AI_SPRINT: scored.suggested_sprint.value,
    }
    guard = {
        FIELD_AI_SCORE: task.ai.score,
        FIELD_AI_CONFIDENCE: task.ai.confidence,
        FIELD_AI_RATIONALE: task.ai.rationale,
        FIELD_AI_SPRINT: task.ai.suggested_sprint,
        FIELD_MANUAL_OVERRIDE: task.manual_override,
    }
    return task.gid, task.name, changes, guard


def _snapshot(task: Task) -> dict[str, Any]:
    return {
        "gid": task.gid,
        "name": task.name,
        "notes": task.notes,
        "assignee": task.assignee.name if task.assignee else None,
        "due_on": task.due_on.isoformat() if task.due_on else None,
        "start_on": task.start_on.isoformat() if task.start_on else None,
        "business_value": task.business_value,
        "story_points": task.story_points,
        "estimated_hours": task.estimated_hours,
        "manual_override": task.manual_override,
        "dependencies": [d.gid for d in task.open_dependencies],
        "dependents": [d.gid for d in task.open_dependents],
        "ai": task.ai.__dict__,
        "modified_at": task.modified_at.isoformat() if task.modified_at else None,
    }
