"""Backlog scoring: a transparent rules score, and the checks that bound what a model may change.

Rules score (0-100), every factor in 0..1:
    40 x business value (Business Value / 10; unknown counts as 0.5)
  + 25 x urgency        (overdue = 1; due in d days = 1 - d/30, floor 0; no due date = 0)
  + 15 x unblocking     (open dependents, 4 or more = 1)
  + 20 x small effort   (1 - points/13, floor 0; hours become points; unknown 0.5)
  - 10 per incomplete dependency that blocks it (at most 30)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from bot.domain.models import SuggestedSprint, Task

WEIGHT_VALUE = 40.0
WEIGHT_URGENCY = 25.0
WEIGHT_UNBLOCKS = 15.0
WEIGHT_SMALL = 20.0
BLOCKED_PENALTY = 10.0
MAX_BLOCKED_PENALTY = 30.0
URGENCY_HORIZON_DAYS = 30
LARGE_EFFORT_POINTS = 13.0
# How far the model may move a task away from its rules score: judgement, not a free hand.
MAX_MODEL_SHIFT = 30.0
# How far an answer given in a batch may move a task before it is asked again with the task alone:
# past this, another task's text in the same request may be what moved it.
MAX_BATCH_DRIFT = 15.0
RATIONALE_MAX = 280


class ScoreSource(StrEnum):
    MODEL = "model"
    RULES = "rules"  # no model configured
    RULES_FALLBACK = "rules (model answer refused)"
    MANUAL = "manual override"


@dataclass(frozen=True)
class RulesScore:
    score: float
    confidence: float
    rationale: str


@dataclass(frozen=True)
class Judgement:
    """One task's model answer, already checked against the asked ids and ranges."""

    task_gid: str
    score: float
    confidence: float
    rationale: str
    suggested_sprint: SuggestedSprint


@dataclass(frozen=True)
class ScoredTask:
    task: Task
    rules: RulesScore
    score: float
    confidence: float
    rationale: str
    suggested_sprint: SuggestedSprint
    source: ScoreSource
    note: str = ""  # why the model was not used, or that an adjustment was capped


def effort_points(task: Task, hours_per_point: float = 4.0) -> float | None:
    """Effort in story points; hours are converted so both units compare."""
    if task.story_points is not None:
        return task.story_points
    if task.estimated_hours is not None:
        return task.estimated_hours / hours_per_point
    return None


def rules_score(task: Task, *, today: date, hours_per_point: float = 4.0) -> RulesScore:
    """Score a task from its fields alone, with a rationale naming the main drivers."""
    reasons: list[tuple[float, str]] = []  # (weight in points, phrase) to pick the top drivers
    known = 0

    if task.business_value is not None:
        value = max(0.0, min(task.business_value, 10.0)) / 10.0
        known += 1
        reasons.append((WEIGHT_VALUE * value, f"business value {task.business_value:g}/10"))
    else:
        value = 0.5
        reasons.append((0.1, "no business value set"))

    urgency = 0.0
    if task.due_on is not None:
        days = (task.due_on - today).days
        if days < 0:
            urgency = 1.0
            reasons.append((WEIGHT_URGENCY, f"overdue by {-days} day{'s' if days != -1 else ''}"))
        else:
            urgency = max(0.0, 1.0 - days / URGENCY_HORIZON_DAYS)
            when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
            reasons.append((WEIGHT_URGENCY * urgency, f"due {when}"))

    open_dependents = len(task.open_dependents)
    unblocks = min(open_dependents, 4) / 4.0
    if open_dependents:
        plural = "s" if open_dependents != 1 else ""
        reasons.append((WEIGHT_UNBLOCKS * unblocks, f"unblocks {open_dependents} task{plural}"))

    points = effort_points(task, hours_per_point)
    if points is not None:
        known += 1
        small = max(0.0, 1.0 - points / LARGE_EFFORT_POINTS)
        size = "small" if small >= 0.6 else "large" if small <= 0.2 else "medium"
        reasons.append((WEIGHT_SMALL * max(small, 0.2), f"{size} effort ({points:g} pts)"))
    else:
        small = 0.5
        reasons.append((0.1, "no estimate"))

    blockers = len(task.open_dependencies)
    penalty = min(BLOCKED_PENALTY * blockers, MAX_BLOCKED_PENALTY)
    if blockers:
        plural = "ies" if blockers != 1 else "y"
        reasons.append((penalty + 100, f"blocked by {blockers} open dependenc{plural}"))
    if task.due_on is not None:
        known += 1

    raw = (
        WEIGHT_VALUE * value
        + WEIGHT_URGENCY * urgency
        + WEIGHT_UNBLOCKS * unblocks
        + WEIGHT_SMALL * small
        - penalty
    )
    score = round(max(0.0, min(100.0, raw)), 1)
    # Confidence reflects how much of the input was actually known, not how high the score is.
    confidence = round(0.4 + 0.15 * known, 2)
    top = [phrase for _, phrase in sorted(reasons, key=lambda r: -r[0])[:3]]
    joined = "; ".join(top)
    rationale = joined[:1].upper() + joined[1:] + "."
    return RulesScore(score=score, confidence=confidence, rationale=rationale)


def sprint_for(score: float, *, blocked: bool) -> SuggestedSprint:
    """Map a score to a sprint suggestion; a blocked task is never proposed for Next."""
    if score >= 70 and not blocked:
        return SuggestedSprint.NEXT
    if score >= 40:
        return SuggestedSprint.FUTURE
    return SuggestedSprint.BACKLOG


@dataclass(frozen=True)
class CheckedAnswer:
    """One batch answer sorted per task: accepted judgements, and why the others were refused."""

    accepted: dict[str, Judgement]
    refused: dict[str, str]  # asked task gid -> why its answer cannot be used
    unknown_ids: int = 0  # answers naming a task that was not asked (ignored)


def check_judgements(
    asked: Iterable[str],
    answers: Sequence[Mapping[str, object]],
    rejected: Mapping[str, str] | None = None,
) -> CheckedAnswer:
    """Check a batch answer item by item: one bad item costs that task only, not the batch.

    `rejected` maps a task id to why its item already failed validation upstream. An asked task
    is refused when its item is out of range, malformed, answered twice or missing; an answer
    naming a task that was not asked is ignored and counted.
    """
    asked_ids = list(dict.fromkeys(asked))
    asked_set = set(asked_ids)
    accepted: dict[str, Judgement] = {}
    refused: dict[str, str] = {
        gid: reason for gid, reason in (rejected or {}).items() if gid in asked_set
    }
    unknown = 0
    seen: set[str] = set()
    for answer in answers:
        gid = str(answer.get("task_id", ""))
        if gid not in asked_set:
            unknown += 1
            continue
        if gid in seen:
            accepted.pop(gid, None)
            refused[gid] = "answered twice"
            continue
        seen.add(gid)
        if gid in refused:
            continue
        try:
            accepted[gid] = _judgement(gid, answer)
        except ValueError as exc:
            refused[gid] = str(exc)
    for gid in asked_ids:
        if gid not in accepted and gid not in refused:
            refused[gid] = "missing from the answer"
    return CheckedAnswer(accepted=accepted, refused=refused, unknown_ids=unknown)


def _judgement(gid: str, answer: Mapping[str, object]) -> Judgement:
    score, confidence = answer.get("score"), answer.get("confidence")
    if not isinstance(score, int | float) or isinstance(score, bool) or not 0 <= score <= 100:
        raise ValueError(f"score {score!r} is outside 0-100")
    if (
        not isinstance(confidence, int | float)
        or isinstance(confidence, bool)
        or not 0 <= confidence <= 1
    ):
        # 70 might mean 70 %, or a score written in the wrong field: not ours to guess.
        raise ValueError(f"confidence {confidence!r} is outside 0-1")
    rationale = answer.get("rationale")
    if not isinstance(rationale, str) or not rationale.strip():
        raise ValueError("empty rationale")
    try:
        sprint = SuggestedSprint(str(answer.get("suggested_sprint")))
    except ValueError:
        raise ValueError("unknown sprint suggestion") from None
    return Judgement(
        task_gid=gid,
        score=round(float(score), 1),
        confidence=round(float(confidence), 2),
        rationale=clean_rationale(rationale),
        suggested_sprint=sprint,
    )


def second_opinions(
    batch: Sequence[str], accepted: Mapping[str, Judgement], rules: Mapping[str, float]
) -> set[str]:
    """Tasks whose batched answer must be asked again with the task alone.

    Nothing here reads task text: a batched answer is trusted only within MAX_BATCH_DRIFT of
    the rules score, because another task's text in the same request may have swayed it. When
    more than half of a batch moved that far, the request itself was swayed and every task of
    it is asked again alone. A batch of one is already alone: its answer stands.
    """
    if len(batch) <= 1:
        return set()
    drifted = {
        gid
        for gid, judgement in accepted.items()
        if abs(judgement.score - rules[gid]) > MAX_BATCH_DRIFT
    }
    if 2 * len(drifted) > len(batch):
        return set(batch)
    return drifted


def clean_rationale(text: str) -> str:
    """One line, bounded length: it lands in an Asana text field and a Slack message."""
    line = " ".join(text.split())
    return line if len(line) <= RATIONALE_MAX else line[: RATIONALE_MAX - 1] + "…"


def score_backlog(
    tasks: Sequence[Task],
    *,
    today: date,
    judgements: Mapping[str, Judgement] | None = None,
    refused: Mapping[str, str] | None = None,
    hours_per_point: float = 4.0,
) -> list[ScoredTask]:
    """Combine rules, model judgements and manual overrides; return tasks ranked best first.

    `judgements` holds accepted model answers by task gid; `refused` maps a task gid to why its
    model answer was refused. Without either (no model configured) the rules score stands.
    """
    judgements = judgements or {}
    refused = refused or {}
    scored: list[ScoredTask] = []
    for task in tasks:
        rules = rules_score(task, today=today, hours_per_point=hours_per_point)
        blocked = bool(task.open_dependencies)
        if task.manual_override is not None:
            score = round(max(0.0, min(100.0, task.manual_override)), 1)
            scored.append(
                ScoredTask(
                    task=task,
                    rules=rules,
                    score=score,
                    confidence=1.0,
                    rationale=f"Manual Override {task.manual_override:g} kept (set by a person).",
                    suggested_sprint=sprint_for(score, blocked=blocked),
                    source=ScoreSource.MANUAL,
                    note=f"rules would say {rules.score:g}",
                )
            )
            continue
        judgement = judgements.get(task.gid)
        if judgement is None:
            source = ScoreSource.RULES_FALLBACK if task.gid in refused else ScoreSource.RULES
            scored.append(
                ScoredTask(
                    task=task,
                    rules=rules,
                    score=rules.score,
                    confidence=rules.confidence,
                    rationale=rules.rationale,
                    suggested_sprint=sprint_for(rules.score, blocked=blocked),
                    source=source,
                    note=refused.get(task.gid, ""),
                )
            )
            continue
        low, high = rules.score - MAX_MODEL_SHIFT, rules.score + MAX_MODEL_SHIFT
        score = round(max(low, min(high, judgement.score)), 1)
        note = "" if score == judgement.score else f"model said {judgement.score:g}, capped"
        sprint = judgement.suggested_sprint
        if blocked and sprint is SuggestedSprint.NEXT:
            sprint = SuggestedSprint.FUTURE
        scored.append(
            ScoredTask(
                task=task,
                rules=rules,
                score=score,
                confidence=judgement.confidence,
                rationale=judgement.rationale,
                suggested_sprint=sprint,
                source=ScoreSource.MODEL,
                note=note,
            )
        )
    return rank(scored)


def rank(scored: Iterable[ScoredTask]) -> list[ScoredTask]:
    """Best first; ties go to the earlier due date, then the gid, so the order is stable."""
    return sorted(
        scored,
        key=lambda s: (-s.score, s.task.due_on or date.max, s.task.gid),
    )
