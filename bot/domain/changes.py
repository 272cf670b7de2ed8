"""Deciding, per task, whether an approved change may be written: pure, so every flow shares it.

A change maps keys to desired values: a custom field name ("AI Priority Score", "Sprint") or a
task field ("assignee" as a user gid, "due_on"/"start_on" as ISO dates, "due_at" as an instant in
`instant_text` form). A guard maps keys to
the values seen when the proposal was made; if a person changed one since, the task is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.domain.models import Task

NUMBER_TOLERANCE = 1e-4


class ItemAction(StrEnum):
    WRITE = "write"
    ALREADY = "already"  # Asana already holds the desired values: nothing to send
    SKIP = "skip"


@dataclass(frozen=True)
class ItemCheck:
    action: ItemAction
    reason: str = ""


def instant_text(moment: datetime | None) -> str | None:
    """A moment the way Asana writes one (UTC, milliseconds, Z), so written and read compare."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def value_of(task: Task, key: str) -> Any:
    """The current value of a change key on a task, in the same terms a change uses."""
    if key == "assignee":
        return task.assignee.gid if task.assignee else None
    if key == "due_on":
        return task.due_on.isoformat() if task.due_on else None
    if key == "due_at":
        return instant_text(task.due_at)
    if key == "start_on":
        return task.start_on.isoformat() if task.start_on else None
    return task.field_value(key)


def option_key(name: str) -> str:
    """An enum option name as the gateway matches options: spacing and case do not count."""
    return " ".join(name.split()).casefold()


def same(a: Any, b: Any, *, options: bool = False) -> bool:
    """Equal as Asana stores them: numbers within rounding, everything else exactly.

    `options`: the values are enum option names, equal when their option_key is ("Sprint 25"
    written may be read back as the existing option "sprint 25" it resolved to).
    """
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) <= NUMBER_TOLERANCE
    text = option_key if options else str.strip
    if isinstance(a, str) and isinstance(b, str):
        return text(a) == text(b)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        # Multi-select option names: a set; a guard comes back from JSON as a list.
        return sorted(text(str(x)) for x in a) == sorted(text(str(x)) for x in b)
    return a == b


def check_item(
    changes: Mapping[str, Any], guard: Mapping[str, Any], current: Task | None
) -> ItemCheck:
    """Write, already applied, or skip with the reason a person will read."""
    if current is None:
        return ItemCheck(ItemAction.SKIP, "completed or deleted since the proposal")
    if current.completed:
        return ItemCheck(ItemAction.SKIP, "completed since the proposal")
    enums = current.enum_fields
    if all(
        same(value_of(current, key), value, options=key in enums) for key, value in changes.items()
    ):
        return ItemCheck(ItemAction.ALREADY, "already holds these values")
    for key, seen in guard.items():
        now = value_of(current, key)
        if not same(now, seen, options=key in enums):
            return ItemCheck(
                ItemAction.SKIP,
                f"conflict: {key} changed since the proposal ({_show(seen)} → {_show(now)})",
            )
    return ItemCheck(ItemAction.WRITE)


def _show(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


# Values the copilot only fills in: a person's value, even one set after the proposal, stays.
FILL_ONLY = ("Story Points",)


def keep_filled(
    changes: Mapping[str, Any], guard: Mapping[str, Any], current: Task
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """`changes` and `guard` without the fill-only keys a person has set, and what was kept.

    A key that already holds the proposed value stays (the write landed: "already written").
    """
    changes, guard = dict(changes), dict(guard)
    kept: dict[str, str] = {}
    for key in FILL_ONLY:
        if key not in changes:
            continue
        now = value_of(current, key)
        if now is not None and not same(now, changes[key]):
            del changes[key]
            guard.pop(key, None)
            kept[key] = _show(now)
    return changes, guard, kept
