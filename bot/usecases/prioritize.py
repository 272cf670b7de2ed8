"""/prioritize: read the backlog, score it (rules + model judgement), store it as a proposal."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from bot.domain.models import SuggestedSprint, Task
from bot.domain.scoring import (
    MAX_BATCH_DRIFT,
    CheckedAnswer,
    Judgement,
    ScoredTask,
    check_judgements,
    effort_points,
    rules_score,
    score_backlog,
    second_opinions,
)
from bot.errors import ModelOutputError, ModelUnavailableError, UserFacingError
from bot.gateways.asana import (
    AI_FIELDS,
    FIELD_AI_CONFIDENCE,
    FIELD_AI_RATIONALE,
    FIELD_AI_SCORE,
    FIELD_AI_SPRINT,
    FIELD_MANUAL_OVERRIDE,
    Project,
)
from bot.gateways.llm import JudgeAnswer
from bot.render.prompts import data_json, prompt_version, render_messages
from bot.storage.store import Store
from bot.usecases.approvals import ApprovalEngine, NewProposal

log = logging.getLogger(__name__)

PROMPT = "prioritize"
BATCH_SIZE = 25
MAX_CONCURRENT_BATCHES = 4
# How long a fallback to the rules score is remembered for an unchanged task. No answer at all
# (timeout, rate limit, server error) is asked again soon; an unusable answer is not asked again
# for a day, so re-running /prioritize on an unchanged backlog costs no model call either way.
UNAVAILABLE_FALLBACK_TTL = timedelta(minutes=10)
REFUSED_FALLBACK_TTL = timedelta(hours=24)


class BacklogSource(Protocol):
    def find_project(self, ref: str) -> Project: ...
    def open_tasks(self, project: Project) -> list[Task]: ...


class ProjectAccess(Protocol):
    """Resolves a project among those a channel may use (bot.usecases.access.AccessPolicy)."""

    def resolve(self, channel: str, ref: str, *, usage: str) -> Project: ...


class Judge(Protocol):
    model: str

    def judge(self, messages: list[dict[str, str]]) -> JudgeAnswer: ...


@dataclass
class ModelStats:
    calls: int = 0  # model requests made
    cached: int = 0  # tasks answered from the cache (a cached fallback included)
    reasked: Counter[str] = field(default_factory=Counter)  # tasks asked again alone, by why
    fallbacks: Counter[str] = field(default_factory=Counter)  # tasks on the rules score, by why
    unknown_ids: int = 0  # answers naming a task that was not asked (ignored)
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

    def propose(self, project_ref: str | Project, *, channel: str, user: str) -> PriorityProposal:
        # A caller that already resolved the project (the single-flight) passes it: no re-read.
        project = (
            project_ref
            if isinstance(project_ref, Project)
            else self.resolve_project(project_ref, channel=channel)
        )
        tasks = self._asana.open_tasks(project)
        if not tasks:
            raise UserFacingError(f"“{project.name}” has no open tasks: nothing to prioritize.")
        ranked, stats, version, judgements, refused = self._score(project, tasks)
        model = self._judge.model if self._judge else None
        missing = project.missing(AI_FIELDS)
        view = priority_view(project, ranked, stats, model=model, missing_fields=missing)
        proposal = NewProposal(
            kind="prioritize",
            project_gid=project.gid,
            project_name=project.name,
            channel=channel,
            created_by=user,
            items=[priority_item(s) for s in ranked],
            inputs=[_snapshot(t) for t in tasks],
            model_output={
                "judgements": {gid: j.__dict__ for gid, j in judgements.items()},
                "refused": refused,
                "calls": stats.calls,
                "cached": stats.cached,
                "reasked": dict(stats.reasked),
                "unknown_ids": stats.unknown_ids,
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

    def score(self, project: Project, tasks: Sequence[Task]) -> tuple[list[ScoredTask], str | None]:
        """Score `tasks` as /prioritize does (rules, model judgement, the same cache and checks):
        the ranking and the model's name (None: rules only). For triage's new tasks."""
        ranked, *_ = self._score(project, tasks)
        return ranked, self._judge.model if self._judge else None

    def _score(
        self, project: Project, tasks: Sequence[Task]
    ) -> tuple[list[ScoredTask], ModelStats, str | None, dict[str, Judgement], dict[str, str]]:
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
        return ranked, stats, version, judgements, refused

    # -- model judgement -------------------------------------------------------------------

    def _judgements(
        self,
        project: Project,
        tasks: Sequence[Task],
        today: date,
        stats: ModelStats,
        version: str | None,
    ) -> tuple[dict[str, Judgement], dict[str, str]]:
        """Model judgements by task gid, and why the other tasks fall back to the rules score.

        Every task's outcome is cached by content + prompt version + model, a fallback too, so
        an unchanged re-run asks nothing whatever the model answered before.
        """
        if self._judge is None or version is None:
            return {}, {}
        model = self._judge.model
        rows = {t.gid: _model_row(t, today, self._hours_per_point) for t in tasks}
        keys = {gid: _cache_key(row, version, model) for gid, row in rows.items()}
        now = datetime.fromisoformat(self._store.now())
        judgements: dict[str, Judgement] = {}
        refused: dict[str, str] = {}
        todo: list[str] = []
        cached = self._store.cached_judgements(list(keys.values()))
        for gid in rows:
            hit = cached.get(keys[gid])
            if hit is None or ("fallback" in hit and datetime.fromisoformat(hit["until"]) <= now):
                todo.append(gid)
            elif "fallback" in hit:
                refused[gid] = f"model answer refused earlier: {hit['fallback']}"
                stats.fallbacks[hit["fallback"]] += 1
                stats.cached += 1
            else:
                judgements[gid] = Judgement(
                    task_gid=gid,
                    score=hit["score"],
                    confidence=hit["confidence"],
                    rationale=hit["rationale"],
                    suggested_sprint=SuggestedSprint(hit["suggested_sprint"]),
                )
                stats.cached += 1

        outcomes: dict[str, Judgement | _Fallback] = {}
        alone: list[str] = []
        batches = [todo[i : i + BATCH_SIZE] for i in range(0, len(todo), BATCH_SIZE)]
        for batch, result in self._ask(project, today, rows, batches, stats):
            if isinstance(result, ModelOutputError):
                unavailable = isinstance(result, ModelUnavailableError)
                outcomes.update({gid: _Fallback(str(result), unavailable) for gid in batch})
                continue
            rules = {gid: rows[gid]["rules_score"] for gid in batch}
            again = second_opinions(batch, result.accepted, rules)
            if moved := len(again & result.accepted.keys()):
                stats.reasked[f"moved more than {MAX_BATCH_DRIFT:g} points in its batch"] += moved
            # An isolated bad item is asked once more, alone; when most of a batch is bad the
            # model is failing, and asking each task again would only multiply the cost.
            if len(batch) > 1 and 2 * len(result.refused) <= len(batch):
                if unusable := len(result.refused.keys() - again):
                    stats.reasked["its answer was unusable"] += unusable
                again |= result.refused.keys()
            for gid in batch:
                if gid in again:
                    alone.append(gid)
                elif gid in result.accepted:
                    outcomes[gid] = result.accepted[gid]
                else:
                    outcomes[gid] = _Fallback(result.refused[gid], False)

        for [gid], result in self._ask(project, today, rows, [[g] for g in alone], stats):
            if isinstance(result, ModelOutputError):
                reason = f"asked again alone: {result}"
                outcomes[gid] = _Fallback(reason, isinstance(result, ModelUnavailableError))
            elif gid in result.accepted:
                outcomes[gid] = result.accepted[gid]  # the lone answer stands (still capped)
            else:
                outcomes[gid] = _Fallback(f"asked again alone: {result.refused[gid]}", False)

        new_cache: dict[str, Any] = {}
        fell_back: Counter[str] = Counter()
        for gid, outcome in outcomes.items():
            if isinstance(outcome, Judgement):
                judgements[gid] = outcome
                new_cache[keys[gid]] = {
                    k: v for k, v in outcome.__dict__.items() if k != "task_gid"
                }
            else:
                fell_back[outcome.reason] += 1
                refused[gid] = f"model answer refused: {outcome.reason}"
                ttl = UNAVAILABLE_FALLBACK_TTL if outcome.unavailable else REFUSED_FALLBACK_TTL
                new_cache[keys[gid]] = {
                    "fallback": outcome.reason,
                    "until": (now + ttl).isoformat(),
                }
        for reason, n in fell_back.items():
            log.warning("model answer refused for %d task(s), rules score used: %s", n, reason)
        stats.fallbacks.update(fell_back)
        if new_cache:
            self._store.cache_judgements(new_cache, model=model)
        return judgements, refused

    def _ask(
        self,
        project: Project,
        today: date,
        rows: Mapping[str, dict[str, Any]],
        batches: Sequence[list[str]],
        stats: ModelStats,
    ) -> Iterator[tuple[list[str], CheckedAnswer | ModelOutputError]]:
        """Ask for each batch, a few requests at a time; yield each batch's checked answer."""
        judge = self._judge
        assert judge is not None

        def run(batch: list[str]) -> tuple[CheckedAnswer | ModelOutputError, Any]:
            messages = render_messages(
                PROMPT,
                project_name=project.name,
                today=today.isoformat(),
                tasks=batch,
                tasks_json=data_json([rows[gid] for gid in batch]),
            )
            try:
                answer = judge.judge(messages)
            except ModelOutputError as exc:
                return exc, None
            rejected = {r.task_id: r.reason for r in answer.rejected}
            return check_judgements(batch, answer.judgements, rejected), answer.usage

        if not batches:
            return
        with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_BATCHES) as pool:
            for batch, (result, usage) in zip(batches, pool.map(run, batches), strict=True):
                stats.calls += 1
                if usage is not None:
                    stats.prompt_tokens += usage.prompt_tokens
                    stats.completion_tokens += usage.completion_tokens
                if isinstance(result, CheckedAnswer):
                    stats.unknown_ids += result.unknown_ids
                yield batch, result


@dataclass(frozen=True)
class _Fallback:
    reason: str
    unavailable: bool  # no answer at all (timeout, 5xx): worth asking again soon


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
        # Tasks on the rules score because their model answer could not be used, and why.
        "fallbacks": sum(stats.fallbacks.values()),
        "refused": [
            f"{reason} ({n} task{'s' if n != 1 else ''})"
            for reason, n in sorted(stats.fallbacks.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        # Tasks asked again alone (an unusable item, or a batched answer that moved far), by why.
        "reasked": dict(sorted(stats.reasked.items())),
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


def priority_item(scored: ScoredTask) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
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
