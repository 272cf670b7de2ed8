"""Block Kit for capacity (issue 5): the overload alert and the Home tab's capacity section.

Pure functions from plain data (a proposal view, a capacity overview as a dict). Names and task
titles come from Asana and are escaped; the only mention is of a Slack user id that Slack itself
returned for the person's email.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from bot.render.text import clip, escape, mention
from bot.surfaces.slack.blocks.common import (
    MAX_BLOCKS,
    NAME_MAX,
    actions_blocks,
    button,
    context,
    header,
    link,
    proposal_actions,
    proposal_head,
    section,
)

MAX_CAUSES = 10
TABLE_ROWS = 15
MAX_TABLE_PEOPLE = 45
MAX_OPTIONS = 100

CAPACITY_PERSON = "overload_capacity_person"
CAPACITY_HOURS = "overload_capacity_hours"
CAPACITY_SAVE = "overload_capacity_save"  # Home button: opens the "set weekly hours" modal
CAPACITY_RESET = "overload_capacity_reset"  # Home button: opens the "reset" modal
CAPACITY_VIEW = "overload_capacity"  # the modal's callback_id; private_metadata: set | reset


def _day(iso: str | None) -> str:
    if not iso:
        return "no date"
    d = date.fromisoformat(iso)
    return f"{d:%a} {d.day} {d:%b}"


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} h" if value == round(value) else f"{value:.1f} h"


def _pct(value: int | None) -> str:
    return "n/a" if value is None else f"{value}%"


def _who(person: Mapping[str, Any]) -> str:
    user = person.get("slack_user")
    return mention(user) if user else f"*{escape(clip(person.get('name') or '?', 80))}*"


def _task(row: Mapping[str, Any]) -> str:
    return link(row.get("permalink"), clip(row.get("name") or row["gid"], NAME_MAX))


def _move_line(move: Mapping[str, Any]) -> str:
    task = _task(move)
    if move["kind"] == "reassign":
        target = escape(clip(move.get("to_name") or "a teammate", 80))
        return (
            f"• *Reassign* {task} ({_hours(move['total_hours'])}, {_hours(move['hours'])} "
            f"this week) to *{target}* ({_hours(move.get('to_before'))} → "
            f"{_hours(move.get('to_after'))} that week)"
        )
    dates = f"due {_day(move.get('from_due'))} → *{_day(move.get('new_due'))}*"
    if move.get("new_start"):
        dates += f", start {_day(move.get('from_start'))} → {_day(move.get('new_start'))}"
    return f"• *Move later* {task} ({_hours(move['total_hours'])}): {dates}"


def overload_blocks(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    decision: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One overload alert with its proposed fix; with `decision`, the message after a click."""
    del proposed_by  # the copilot proposes these; who decided is in the decision line
    week_label = f"{_day(view['week_start'])} – {_day(view['week_end'])}"
    blocks = proposal_head(f"Over capacity · week of {week_label}", decision)
    head = (
        f":warning: {_who(view['person'])} is forecast at *{_hours(view['load'])}* in the week "
        f"of {week_label}: *{_pct(view['percent'])}* of a {_hours(view['capacity'])} week "
        f"(alert above {_hours(view['limit'])}, {view['threshold']:.0%})."
    )
    if view.get("reason") == "grown":
        head += "\n_It has grown since the last alert._"
    elif view.get("reason") == "returned":
        head += "\n_It had cleared and is back._"
    blocks.append(section(head))
    project = view["project"]
    notes = [link(project.get("permalink"), project["name"]), f"forecast of {_day(view['today'])}"]
    if view.get("unscheduled"):
        notes.append(f"+{_hours(view['unscheduled'])} on tasks without dates (not counted)")
    if view.get("unestimated"):
        n = view["unestimated"]
        notes.append(f"{n} task{'s' if n != 1 else ''} without an estimate (not counted)")
    blocks.append(context(" · ".join(notes)))

    causes: Sequence[Mapping[str, Any]] = view["causes"]
    lines = [f"• {_task(c)} — {_hours(c['hours'])}" for c in causes[:MAX_CAUSES]]
    rest = causes[MAX_CAUSES:]
    if rest:
        lines.append(f"…and {len(rest)} more ({_hours(sum(c['hours'] for c in rest))})")
    blocks.append(section(f"*What fills the week* ({len(causes)} tasks)\n" + "\n".join(lines)))

    moves: Sequence[Mapping[str, Any]] = view["moves"]
    if moves:
        n = len(moves)
        blocks.append(
            section(
                f"*Proposed fix:* {n} change{'s' if n != 1 else ''}, the week drops to "
                f"*{_hours(view['load_after'])}* ({_pct(view['percent_after'])}).\n"
                + "\n".join(_move_line(m) for m in moves)
            )
        )
        skills = (
            " Teammates are chosen by the *Skills* field." if view.get("skills_matched") else ""
        )
        blocks.append(
            context(
                f"Approve writes {'this change' if n == 1 else 'these changes'} to Asana. A task "
                f"completed, reassigned or rescheduled since this alert is skipped.{skills}"
            )
        )
    elif view.get("resolved"):
        blocks.append(
            section(
                "*No change needed here:* approving the alert posted just before this one "
                f"brings this week to {_hours(view['load_after'])}."
            )
        )
    else:
        blocks.append(
            section(
                ":x: *No fix found:* no teammate has the spare hours that week, and no due date "
                "can move later without passing a dependent's dates or the 4-week horizon. "
                "Take scope out of the week by hand."
            )
        )
    if moves or decision is not None:
        blocks += actions_blocks(proposal_actions(proposal_id, decision, has_more=False))
    assert len(blocks) <= MAX_BLOCKS
    return blocks


# -- the Home tab's capacity section -----------------------------------------------------------


def capacity_hint_blocks(text: str) -> list[dict[str, Any]]:
    """The capacity section when there is nothing to show (no default project, Asana down)."""
    return [header("Team capacity"), context(escape(text))]


def capacity_home_blocks(overview: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The capacity section of the Home tab: chart, per-person table, weekly-hours buttons.

    `overview` is `CapacityOverview.as_view()`. At most ~12 blocks, whatever the team size.
    """
    weeks = [date.fromisoformat(w) for w in overview["weeks"]]
    rows: Sequence[Mapping[str, Any]] = overview["rows"]
    blocks: list[dict[str, Any]] = [
        header(f"Team capacity · {overview['project_name']}"),
        context(
            f"Forecast hours per week from Asana dates and estimates; alert above "
            f"{overview['threshold']:.0%} of a person's weekly hours (default "
            f"{_hours(overview['default_hours'])}). :red_circle: marks an overloaded week."
        ),
    ]
    if overview.get("chart_file_id"):
        blocks.append(
            {
                "type": "image",
                "slack_file": {"id": overview["chart_file_id"]},
                "alt_text": "Weekly load against capacity per person",
            }
        )
        when = (overview.get("chart_at") or "")[:10]
        blocks.append(
            context(f"Chart posted with the last capacity alert{f', {when}' if when else ''}.")
        )
    if not rows:
        blocks.append(section("Nobody has open assigned tasks in this project."))
    shown = rows[:MAX_TABLE_PEOPLE]
    for start in range(0, len(shown), TABLE_ROWS):
        blocks.append(section(_table(shown[start : start + TABLE_ROWS], weeks)))
    if len(rows) > len(shown):
        blocks.append(context(f"…and {len(rows) - len(shown)} more people."))
    if overview.get("cached_at"):
        blocks.append(context(f"Forecast as of {escape(overview['cached_at'][:16])} UTC."))
    if rows:
        # number_input exists only in modals: the Home tab offers buttons that open one.
        blocks.append(
            {
                "type": "actions",
                "block_id": "overload_capacity_actions",
                "elements": [
                    button("Set weekly hours…", CAPACITY_SAVE, "set", "primary"),
                    button("Reset to default…", CAPACITY_RESET, "reset"),
                ],
            }
        )
    return blocks


def _table(rows: Sequence[Mapping[str, Any]], weeks: Sequence[date]) -> str:
    head = f"{'person':<20} {'h/week':>7} " + " ".join(f"{w.day:>2} {w:%b}" for w in weeks)
    head += "  no date"
    lines = [head]
    for row in rows:
        cap = f"{row['weekly_hours']:.0f}{'*' if row['overridden'] else ''}"
        cells = " ".join(
            f"{load:>5.0f}{'!' if over else ' '}"
            for load, over in zip(row["loads"], row["overloaded"], strict=True)
        )
        name = clip(row["name"] or "?", 20)
        lines.append(f"{name:<20} {cap:>7} {cells} {row['unscheduled']:>7.0f}")
    flagged = any(any(r["overloaded"]) for r in rows)
    legend = "\n:red_circle: ! = over the alert line" if flagged else ""
    return "```" + escape("\n".join(lines)) + "```\n_* set by hand_" + legend


def capacity_modal(
    rows: Sequence[Mapping[str, Any]], *, default_hours: float, reset: bool
) -> dict[str, Any]:
    """The modal that sets (or resets to the default) one person's weekly hours."""
    options = [
        {
            "text": {"type": "plain_text", "text": clip(row["name"] or row["person_gid"], 75)},
            "value": row["person_gid"],
        }
        for row in rows[:MAX_OPTIONS]
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": CAPACITY_PERSON,
            "label": {"type": "plain_text", "text": "Person"},
            "element": {
                "type": "static_select",
                "action_id": CAPACITY_PERSON,
                "placeholder": {"type": "plain_text", "text": "Choose a person"},
                "options": options,
            },
        }
    ]
    if not reset:
        blocks.append(
            {
                "type": "input",
                "block_id": CAPACITY_HOURS,
                "label": {"type": "plain_text", "text": "Weekly hours (0 = away)"},
                "element": {
                    "type": "number_input",
                    "action_id": CAPACITY_HOURS,
                    "is_decimal_allowed": True,
                    "min_value": "0",
                    "max_value": "168",
                    "placeholder": {"type": "plain_text", "text": f"{default_hours:g}"},
                },
            }
        )
    else:
        blocks.append(
            context(f"Their weekly hours go back to the default, {_hours(default_hours)}.")
        )
    return {
        "type": "modal",
        "callback_id": CAPACITY_VIEW,
        "private_metadata": "reset" if reset else "set",
        "title": {"type": "plain_text", "text": "Reset weekly hours" if reset else "Weekly hours"},
        "submit": {"type": "plain_text", "text": "Reset" if reset else "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def capacity_modal_errors(problem: str) -> dict[str, str]:
    """A form problem as the modal's field errors (response_action "errors")."""
    field = CAPACITY_PERSON if problem.startswith("Choose a person") else CAPACITY_HOURS
    return {field: problem}


def capacity_form_values(
    state: Mapping[str, Any], *, need_hours: bool
) -> tuple[str, str, float | None, str]:
    """(person gid, person name, hours or None, problem) from the Home view's state values."""
    values = state.get("values") or {}
    person = ((values.get(CAPACITY_PERSON) or {}).get(CAPACITY_PERSON) or {}).get(
        "selected_option"
    ) or {}
    raw = ((values.get(CAPACITY_HOURS) or {}).get(CAPACITY_HOURS) or {}).get("value")
    gid = str(person.get("value") or "")
    name = str((person.get("text") or {}).get("text") or gid)
    hours: float | None = None
    problem = ""
    if not gid:
        problem = "Choose a person first."
    elif raw not in (None, ""):
        try:
            hours = float(raw)
        except (TypeError, ValueError):
            problem = f"“{escape(str(raw))}” is not a number of hours."
    elif need_hours:
        problem = "Type the weekly hours first (0 when the person is away)."
    return gid, name, hours, problem


def capacity_notice(change: Mapping[str, Any]) -> str:
    """What the person who changed a capacity reads back."""
    name = escape(clip(change["name"], 80))
    was = (
        _hours(change["previous"])
        if change["previous"] is not None
        else f"the default {_hours(change['default_hours'])}"
    )
    if change["hours"] is None:
        return (
            f"{name}'s weekly hours are back to the default "
            f"{_hours(change['default_hours'])} (were {was})."
        )
    return f"{name}'s weekly hours are now {_hours(change['hours'])} (were {was})."
