"""Block Kit for /plan-sprint: the proposal, its pages and the usage line; pure functions.

Everything from Asana is escaped; a message stays within Block Kit's limits (50 blocks, 3,000
characters a text) whatever the backlog size: lines are packed into sections by length and the
lists are cut, with **Show all** paging through the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.render.sprint import capacity_reason
from bot.render.text import clip, escape, mention
from bot.surfaces.slack.blocks.common import (
    MAX_BLOCKS,
    actions_blocks,
    button,
    context,
    link,
    pack_lines,
    proposal_actions,
    proposal_head,
    section,
)

SPRINT_PAGE = "sprint_page"
SHOW_SELECTED = 30
SHOW_PER_REASON = 8
SHOW_PEOPLE = 12
PAGE_SIZE = 40
NAME_MAX = 80

REASON_TITLES = {
    "over capacity": "Over the team's capacity",
    "assignee over capacity": "Assignee at capacity",
    "blocked": "Blocked",
    "needs estimate": "Needs estimate",
}


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _qty(value: float | None, unit: str) -> str:
    """An effort with its unit: "1 pt", "3 pts", "12 h"."""
    return f"{_num(value)} {'pt' if unit == 'pts' and value == 1 else unit}"


def _task(row: Mapping[str, Any], unit: str) -> str:
    name = link(row.get("permalink"), clip(row["name"], NAME_MAX))
    parts = [] if row.get("effort") is None else [_qty(row["effort"], unit)]
    parts.append(escape(row.get("assignee")) or "unassigned")
    parts.append(f"value {row['value']:g}")
    return f"• {name} — " + " · ".join(parts)


def _selected_line(row: Mapping[str, Any], unit: str) -> str:
    line = _task(row, unit)
    extra = []
    if row.get("group"):
        extra.append(f"part of {escape(clip(row['group'], 60))}")
    if row.get("from_sprint"):
        extra.append(f"now in {escape(clip(row['from_sprint'], 40))}")
    return line + (f" _({'; '.join(extra)})_" if extra else "")


def _left_line(row: Mapping[str, Any], unit: str) -> str:
    reason = row["reason"]
    if reason == "blocked":
        blocker = escape(clip(row.get("blocker") or "a dependency", 60))
        return f"{_task(row, unit)}: blocked by “{blocker}” ({escape(row.get('blocker_state'))})"
    if reason == "assignee over capacity":
        person = escape(row.get("person"))
        return (
            f"{_task(row, unit)}: {person} would be at "
            f"{_num(row.get('would_be'))}/{_num(row.get('capacity'))} {unit}"
        )
    if reason == "over capacity":
        return (
            f"{_task(row, unit)}: the sprint would hold "
            f"{_num(row.get('would_be'))}/{_num(row.get('capacity'))} {unit}"
        )
    return f"{_task(row, unit)}: needs an estimate"


ESTIMATE_HINT = "_Run `/estimate` to propose Story Points for these from similar finished work._"


def capacity_text(view: Mapping[str, Any]) -> str:
    """Which capacity was used and why, then each person's used / available."""
    cap, unit = view["capacity"], view["unit"]
    why = capacity_reason(view)
    lines = [f"*Capacity {cap['team']:g} {unit}*: {why}. *Planned {cap['used']:g} {unit}.*"]
    people: Sequence[Mapping[str, Any]] = view["people"]
    if people:
        lines.append(
            f"*Per person* (their own velocity when they completed work in those sprints, else "
            f"{cap['weekly_hours']:g} h a week = {cap['hours_share']:g} {unit} a sprint):"
        )
        for person in people[:SHOW_PEOPLE]:
            lines.append(
                f"• {escape(clip(person['name'], 40))}: {person['used']:g}/{person['capacity']:g} "
                f"{unit} _({person['source']})_"
            )
        if len(people) > SHOW_PEOPLE:
            lines.append(f"…and {len(people) - SHOW_PEOPLE} more people")
    return "\n".join(lines)


def notes_text(view: Mapping[str, Any]) -> str:
    """Warnings and the facts a reader needs to trust the plan (unit, groups, solver)."""
    project, sprint, unit = view["project"], view["sprint"], view["unit"]
    notes: list[str] = []
    if view.get("missing_fields"):
        names = ", ".join(view["missing_fields"])
        notes.append(
            f":warning: The project lacks {escape(names)}: run `copilot setup --project "
            f"{escape(project['gid'])}` before approving."
        )
    if sprint["new"]:
        notes.append(
            f"“{escape(sprint['name'])}” is not an option of the Sprint field yet: Approve adds it."
        )
    if unit == "h":
        notes.append("Effort is in hours: this project estimates in Estimated Hours.")
    if view.get("converted"):
        n = view["converted"]
        other = "hours" if unit == "pts" else "points"
        notes.append(
            f"{n} task{'s are' if n != 1 else ' is'} estimated only in {other}, converted at "
            f"{view['hours_per_point']:g} h per point."
        )
    for group in view["plan"]["groups"][:5]:
        state = "all in this sprint" if group["complete"] else "not all fit, so no bonus"
        notes.append(
            f"All-or-nothing: the {group['size']} open subtasks of "
            f"“{escape(clip(group['name'], 60))}” add {group['bonus']:g} only together ({state})."
        )
    if not view["plan"]["optimal"]:
        note = view["plan"]["note"] or "the solver did not prove this plan optimal"
        notes.append(f":warning: {escape(note)}.")
    return "\n".join(notes)


def sprint_blocks(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    decision: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The /plan-sprint proposal; with `decision`, the same message after Approve/Reject."""
    project, sprint, unit = view["project"], view["sprint"], view["unit"]
    counts, plan, cap = view["counts"], view["plan"], view["capacity"]
    selected: Sequence[Mapping[str, Any]] = view["selected"]
    left_out: Sequence[Mapping[str, Any]] = view["left_out"]
    blocks = proposal_head(f"Sprint plan · {sprint['name']} · {project['name']}", decision)
    solver = "optimal" if plan["optimal"] else "may not be optimal"
    blocks.append(
        context(
            f"{counts['selected']} of {counts['open']} open tasks selected · "
            f"{cap['used']:g}/{cap['team']:g} {unit} · value {plan['value']:g} · "
            f"{solver} ({plan['seconds']:g} s) · proposed by {mention(proposed_by)}"
        )
    )
    blocks.extend(section(t) for t in pack_lines(capacity_text(view).splitlines()))
    notes = notes_text(view)
    if notes:
        blocks.extend(section(t) for t in pack_lines(notes.splitlines()))
    blocks.append({"type": "divider"})

    # Keep room for the lists' titles, the "more" lines and the buttons.
    budget = MAX_BLOCKS - len(blocks) - 4
    lines = [
        f"*Selected ({len(selected)})*: Approve sets *Sprint* = {escape(sprint['name'])} and "
        "*AI Suggested Sprint* = Next on each."
    ]
    if selected:
        lines += [_selected_line(r, unit) for r in selected[:SHOW_SELECTED]]
    else:
        lines.append("_Nothing fits the capacity._")
    if len(selected) > SHOW_SELECTED:
        lines.append(f"…and {len(selected) - SHOW_SELECTED} more selected: press *Show all*.")
    packed = pack_lines(lines)
    truncated = len(packed) > budget // 2
    packed = packed[: budget // 2]
    blocks.extend(section(t) for t in packed)
    budget -= len(packed)

    if left_out:
        blocks.append({"type": "divider"})
        lines = [f"*Left out ({len(left_out)})*"]
        for reason, title in REASON_TITLES.items():
            rows = [r for r in left_out if r["reason"] == reason]
            if not rows:
                continue
            lines.append(f"*{title} ({len(rows)})*")
            if reason == "needs estimate":
                lines.append(ESTIMATE_HINT)
            lines += [_left_line(r, unit) for r in rows[:SHOW_PER_REASON]]
            if len(rows) > SHOW_PER_REASON:
                lines.append(f"…and {len(rows) - SHOW_PER_REASON} more")
        packed = pack_lines(lines)
        truncated = truncated or len(packed) > max(1, budget)
        blocks.extend(section(t) for t in packed[: max(1, budget)])

    has_more = (
        truncated
        or len(selected) > SHOW_SELECTED
        or any(
            sum(r["reason"] == reason for r in left_out) > SHOW_PER_REASON
            for reason in REASON_TITLES
        )
    )
    actions = proposal_actions(proposal_id, decision, has_more=False)
    if has_more:
        actions.append(button("Show all", SPRINT_PAGE, f"{proposal_id}:0"))
    blocks += actions_blocks(actions)
    assert len(blocks) <= MAX_BLOCKS
    return blocks


def sprint_page_blocks(
    view: Mapping[str, Any], proposal_id: str, offset: int
) -> list[dict[str, Any]]:
    """One page of the whole plan (selected first, then left out), for the person who asked."""
    unit = view["unit"]
    rows = [("selected", r) for r in view["selected"]] + [("left", r) for r in view["left_out"]]
    page = rows[offset : offset + PAGE_SIZE]
    end = offset + len(page)
    blocks: list[dict[str, Any]] = [
        context(
            f"{escape(view['sprint']['name'])} · {escape(view['project']['name'])}: tasks "
            f"{offset + 1}–{end} of {len(rows)} ({len(view['selected'])} selected first, then "
            "the ones left out)"
        )
    ]
    lines = [
        f"✓ {_selected_line(r, unit)[2:]}" if kind == "selected" else f"✗ {_left_line(r, unit)[2:]}"
        for kind, r in page
    ]
    blocks.extend(section(t) for t in pack_lines(lines))
    if end < len(rows):
        blocks.append(
            {
                "type": "actions",
                "elements": [button(f"Next {PAGE_SIZE}", SPRINT_PAGE, f"{proposal_id}:{end}")],
            }
        )
    return blocks
