"""Triage of a new task (issue 13 §2): acceptance criteria drafted by rules, possible
duplicates, and who could take it. Pure: plain values in, frozen dataclasses out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.domain.estimate import TextIndex

DUPLICATE_SIMILARITY = 0.35  # cosine similarity of TF-IDF texts worth a look
MAX_DUPLICATES = 3
MAX_CRITERIA = 5
MAX_CANDIDATES = 5

_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\[ ?\])\s+(.*\S)\s*$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_MUST = re.compile(r"\b(should|must|needs? to|has to|have to|so that|expect|when|if)\b", re.I)


@dataclass(frozen=True)
class Duplicate:
    gid: str
    name: str
    permalink: str
    similarity: float


@dataclass(frozen=True)
class Candidate:
    """A person who could take a task: shared skills, and their planned hours ahead."""

    gid: str
    name: str
    shared_skills: tuple[str, ...]
    planned_hours: float
    capacity_hours: float

    @property
    def free_hours(self) -> float:
        return self.capacity_hours - self.planned_hours


def draft_criteria(name: str, notes: str) -> tuple[str, ...]:
    """Acceptance criteria drafted by rules from a task's description.

    Bullet or numbered lines are taken as criteria as written; otherwise the sentences that state
    an expectation ("should", "must", "so that", "when"); always ending with the task's own
    outcome, so a task without a description still gets one checkable line.
    """
    lines = [m.group(1) for line in (notes or "").splitlines() if (m := _BULLET.match(line))]
    if not lines:
        text = " ".join((notes or "").split())
        lines = [s for s in _SENTENCE.split(text) if s and _MUST.search(s)]
    criteria = [_as_criterion(line) for line in lines if len(line.split()) >= 2]
    title = " ".join(name.split()).rstrip(".")
    criteria.append(f"“{title}” is done, reviewed and verified outside the author's machine.")
    unique = list(dict.fromkeys(c for c in criteria if c))
    return (
        tuple(unique[: MAX_CRITERIA - 1] + unique[-1:])
        if len(unique) > MAX_CRITERIA
        else tuple(unique)
    )


def _as_criterion(line: str) -> str:
    line = " ".join(line.split()).rstrip(".;:")
    if len(line) > 200:
        line = line[:199] + "…"
    return line[:1].upper() + line[1:] + "."


def find_duplicates(
    title: str,
    notes: str,
    open_tasks: Sequence[tuple[str, str, str, str]],
    *,
    at_least: float = DUPLICATE_SIMILARITY,
    most: int = MAX_DUPLICATES,
) -> tuple[Duplicate, ...]:
    """Open tasks (gid, name, notes, permalink) whose text is close to the new task's."""
    if not open_tasks:
        return ()
    index = TextIndex([(name, body) for _, name, body, _ in open_tasks])
    found = index.similar(title, notes, k=most, at_least=at_least)
    return tuple(
        Duplicate(open_tasks[i][0], open_tasks[i][1], open_tasks[i][3], sim) for i, sim in found
    )


def rank_candidates(
    skills: Iterable[str],
    people_skills: Mapping[str, frozenset[str]],
    names: Mapping[str, str],
    planned_hours: Mapping[str, float],
    capacity_hours: Mapping[str, float],
    *,
    most: int = MAX_CANDIDATES,
) -> tuple[Candidate, ...]:
    """People sharing a skill with the task, those with the most free hours first.

    Without a skill in common with anyone (or a task without skills), everyone with capacity is
    a candidate: the select menu then ranks by free hours alone. Ties go by name, then gid.
    """
    wanted = frozenset(s.casefold() for s in skills)
    pool = {p: wanted & held for p, held in people_skills.items() if wanted & held}
    if not pool:
        pool = {p: frozenset() for p in capacity_hours}
    ranked = sorted(
        (
            Candidate(
                gid=p,
                name=names.get(p, p),
                shared_skills=tuple(sorted(shared)),
                planned_hours=round(planned_hours.get(p, 0.0), 1),
                capacity_hours=round(capacity_hours.get(p, 0.0), 1),
            )
            for p, shared in pool.items()
            if capacity_hours.get(p, 0.0) > 0
        ),
        key=lambda c: (-c.free_hours, c.name, c.gid),
    )
    return tuple(ranked[:most])
