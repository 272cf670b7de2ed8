"""Small immutable records the domain core works on; no vendor types, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class SuggestedSprint(StrEnum):
    """Options of the "AI Suggested Sprint" enum field, in Asana's spelling."""

    NEXT = "Next"
    FUTURE = "Future"
    BACKLOG = "Backlog"


@dataclass(frozen=True)
class Person:
    gid: str
    name: str
    email: str | None = None


@dataclass(frozen=True)
class TaskLink:
    """A dependency or dependent as the task list read returns it."""

    gid: str
    name: str
    completed: bool
    due_on: date | None = None


@dataclass(frozen=True)
class AiFields:
    """The values the copilot writes; also what a task holds now (None = empty)."""

    score: float | None = None
    confidence: float | None = None
    rationale: str | None = None
    suggested_sprint: str | None = None


# A custom field's value as read: number, text, enum option name, or multi-select option names.
FieldValue = float | str | tuple[str, ...] | None


@dataclass(frozen=True)
class Task:
    gid: str
    name: str
    notes: str = ""
    permalink: str = ""
    assignee: Person | None = None
    start_on: date | None = None
    due_on: date | None = None
    # The due time, when the task has one (Asana then also answers its date as due_on).
    due_at: datetime | None = None
    completed: bool = False
    completed_at: datetime | None = None
    modified_at: datetime | None = None
    created_at: datetime | None = None  # read only where asked for (retrospectives, forecasts)
    dependencies: tuple[TaskLink, ...] = ()
    dependents: tuple[TaskLink, ...] = ()
    parent_gid: str | None = None
    parent_name: str | None = None
    business_value: float | None = None
    story_points: float | None = None
    estimated_hours: float | None = None
    manual_override: float | None = None
    actual_minutes: float | None = None  # time already logged in Asana's time tracking
    sprint: str | None = None
    ai: AiFields = field(default_factory=AiFields)
    tags: tuple[str, ...] = ()
    # Every custom field by name as read (number, text, enum option name, or a tuple of the
    # chosen option names of a multi-select), for guards and fields the core has no attribute
    # for (e.g. "Skills", "Status").
    custom_values: tuple[tuple[str, FieldValue], ...] = ()
    # Names of the enum and multi-select fields among them: their option names compare the way
    # Asana matches options (case and spacing aside), see changes.option_key.
    enum_fields: frozenset[str] = frozenset()

    @property
    def open_dependencies(self) -> tuple[TaskLink, ...]:
        return tuple(d for d in self.dependencies if not d.completed)

    @property
    def open_dependents(self) -> tuple[TaskLink, ...]:
        return tuple(d for d in self.dependents if not d.completed)

    def field_value(self, name: str) -> FieldValue:
        for key, value in self.custom_values:
            if key == name:
                return value
        return None

    def has_field(self, name: str) -> bool:
        return any(key == name for key, _ in self.custom_values)
