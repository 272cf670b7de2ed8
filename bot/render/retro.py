"""A retrospective's words, once for every surface: sections of lines over the stored view.

Each surface passes how it writes a task link and bold text (Block Kit mrkdwn, Adaptive Card
markdown, plain text for the Asana comment); every fact names its tasks, at most SHOWN_TASKS each
("…and N more" after).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

SHOWN_TASKS = 6
USAGE = (
    "Usage: `/retro [project] [sprint]`, e.g. `/retro`, `/retro Sprint 23`, "
    '`/retro "Platform Backlog" Sprint 23`. The project is a gid or a quoted name; the rest is '
    "the sprint's name. Without one: the sprint that ended last."
)
NEEDS_PROJECT = (
    "Action items need a project to go to: set COPILOT_RETRO_PROJECT (e.g. your “Process "
    "Improvement” project's gid) and run /retro again."
)

Link = Callable[[Mapping[str, Any]], str]  # a task row ({name, permalink}) → its link
Style = Callable[[str], str]


def usage_text(reason: str = "") -> str:
    head = f"I could not read that: {reason}\n" if reason else ""
    return head + USAGE


def _day(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%a %d %b")


def _n(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _s(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def title(view: Mapping[str, Any]) -> str:
    return f"Retrospective · {view['sprint']['name']} · {view['project']['name']}"


def dates_line(view: Mapping[str, Any]) -> str:
    s = view["sprint"]
    source = {
        "approval": "from its approved sprint plan",
        "tasks": "from its tasks' dates",
    }.get(s["dates_from"], "")
    committed = (
        "committed = the approved plan's tasks"
        if view["committed_from"] == "approval"
        else "committed = the tasks in the sprint at its start"
    )
    return f"{_day(s['start'])} – {_day(s['end'])} ({source}); {committed}."


def tasks_text(view: Mapping[str, Any], gids: Sequence[str], link: Link) -> str:
    rows = view["tasks"]
    shown = [link(rows[g]) for g in gids[:SHOWN_TASKS] if g in rows]
    more = len(gids) - SHOWN_TASKS
    return ", ".join(shown) + (f" …and {more} more" if more > 0 else "")


def _task_row(view: Mapping[str, Any], gid: str) -> Mapping[str, Any]:
    """A task of the view by gid; a nameless stand-in when the view no longer holds it."""
    return view["tasks"].get(gid, {"name": "?"})


def sections(
    view: Mapping[str, Any], link: Link, bold: Style, esc: Style = lambda s: s
) -> list[tuple[str, list[str]]]:
    """(heading, lines) of the whole retrospective, facts first, then themes and actions.

    `bold` escapes what it is given; `esc` escapes text from Asana or the model for the surface.
    """
    out: list[tuple[str, list[str]]] = []
    com, done = view["committed"], view["completed"]
    delivery = [
        f"{bold('Committed')}: {_s(com['count'], 'task')}, {_n(com['points'])} points. "
        f"{bold('Completed')}: {_s(done['count'], 'task')}, {_n(done['points'])} points "
        f"({view['completed_committed']['count']} of the committed).",
    ]
    for key, label in (
        ("carried_over", "Carried over"),
        ("added", "Added after the start"),
        ("removed", "Removed"),
    ):
        t = view[key]
        if t["count"]:
            delivery.append(
                f"{bold(label)}: {_s(t['count'], 'task')} ({_n(t['points'])} points): "
                + tasks_text(view, t["tasks"], link)
            )
        else:
            delivery.append(f"{bold(label)}: none.")
    v = view["velocity"]
    if v["previous"]:
        before = esc(", ".join(f"{n} {_n(p)}" for n, p in v["previous"]))
        change = (
            f" ({v['points'] / v['mean_previous']:.0%} of the mean {_n(v['mean_previous'])})"
            if v["mean_previous"]
            else ""
        )
        delivery.append(f"{bold('Velocity')}: {_n(v['points'])} points{change}; before: {before}.")
    else:
        delivery.append(f"{bold('Velocity')}: {_n(v['points'])} points (no earlier sprint).")
    out.append(("Delivery", delivery))

    e = view["estimation"]
    estimation: list[str] = []
    if e["hours_per_point"] is None:
        estimation.append("No completed task had both points and hours logged.")
    else:
        estimation.append(
            f"{bold(_n(e['hours_per_point']) + ' h per point')} over {_s(e['measured'], 'task')} "
            "with time logged in Asana."
        )
        for m in e["misses"]:
            row = _task_row(view, m["task"])
            way = "over" if m["ratio"] > 1 else "under"
            estimation.append(
                f"• {link(row)}: {_n(m['hours'])} h for {_n(m['points'])} points "
                f"({m['ratio']:.1f}× the sprint's rate, {way})"
            )
    if e["without_hours"]:
        estimation.append(
            f"No time logged on {_s(len(e['without_hours']), 'completed task')}: "
            + tasks_text(view, e["without_hours"], link)
        )
    out.append(("Estimation", estimation))

    c = view["cycle"]
    cycle: list[str] = []
    if c["median_days"] is None:
        cycle.append("No completed task to measure.")
    else:
        cycle.append(
            f"{bold('Median ' + _n(c['median_days']) + ' days')} from start (or creation) to "
            f"done, over {_s(c['measured'], 'task')}. Slowest:"
        )
        for slow in c["slowest"]:
            row = _task_row(view, slow["task"])
            cycle.append(f"• {link(row)}: {_n(slow['days'])} days (since {slow['since']})")
    out.append(("Cycle time", cycle))

    b = view["blocking"]
    blocking: list[str] = []
    if not b["tasks"]:
        blocking.append("No digest saw a task of this sprint blocked.")
    else:
        blocking.append(
            f"{bold(_s(b['total_days'], 'task-day'))} blocked, on "
            f"{_s(len(b['tasks']), 'task')} (from the stand-up digests)."
        )
        for r in b["recurring"]:
            blocking.append(
                f"• Recurring: “{esc(r['blocker'][:150])}”, {_s(r['days'], 'day')}: "
                + tasks_text(view, r["tasks"], link)
            )
    out.append(("Blocked", blocking))

    over = view["over_capacity"]
    if over:
        out.append(
            (
                "Over capacity",
                [
                    f"• {bold(o['person'][:80])}: {_s(len(o['weeks']), 'week')}, peak "
                    f"{_n(o['peak_load'])} h of {_n(o['capacity'])} h"
                    + (": " + tasks_text(view, o["tasks"], link) if o["tasks"] else "")
                    for o in over
                ],
            )
        )
    else:
        out.append(("Over capacity", ["Nobody had an overload alert during the sprint."]))

    themes = [f"• {esc(t['text'])} ({tasks_text(view, t['tasks'], link)})" for t in view["themes"]]
    if view["themes_source"] == "model":
        if not themes:
            themes.append("The model found no theme its tasks support.")
        if view["themes_dropped"]:
            themes.append(
                f"{_s(view['themes_dropped'], 'theme')} dropped: it cited no task, or a task "
                "not in this sprint."
            )
        out.append(("Themes from the comments", themes))
    elif view["themes_source"] == "rules":
        out.append(("Themes from the comments", [f"Not available: {esc(view['themes_note'])}"]))

    actions = [
        f"{n}. {bold(a['title'])}: {esc(a['why'])} ({tasks_text(view, a['tasks'], link)})"
        for n, a in enumerate(view["actions"], start=1)
    ]
    if not actions:
        actions = ["None: nothing in the facts calls for one."]
    elif view["retro_project"] is None:
        actions.append(NEEDS_PROJECT)
    else:
        name = view["retro_project"].get("name") or view["retro_project"]["gid"]
        actions.append(
            f"Approve creates them as tasks in “{esc(name)}” and posts this retrospective as a "
            f"comment on “{esc(view['sprint']['name'])} retrospective” there."
        )
    out.append(("Proposed action items", actions))
    return out


def retro_text(view: Mapping[str, Any]) -> str:
    """The retrospective as plain text: the comment on the Asana retrospective task."""

    def link(row: Mapping[str, Any]) -> str:
        url = row.get("permalink")
        return f"{row['name']} ({url})" if url else str(row["name"])

    parts = [title(view), dates_line(view)]
    for heading, lines in sections(view, link, lambda s: s):
        if lines and lines[-1].startswith("Approve creates"):
            lines = lines[:-1]  # the note about approving is for the chat message only
        parts.append(heading + "\n" + "\n".join(lines))
    return "\n\n".join(parts)
