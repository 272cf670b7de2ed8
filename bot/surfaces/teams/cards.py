"""Adaptive Cards from the use cases' neutral views: pure functions, Teams' markup only.

Cards are version 1.5 (the highest Teams renders) and stay within a 28 KB message budget whatever
the backlog size: the rows shown shrink until the card fits, and "Show all" pages through the rest.
Everything that came from Asana or the model is escaped for Adaptive Card markdown, so a task
named `[click](https://evil)` or `**x**` shows as typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from bot.domain.digest import Item, Reason, ReasonKind, StandupDigest
from bot.domain.models import Person
from bot.render.sprint import capacity_reason

CARD_VERSION = "1.5"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_BUDGET = 26_000  # bytes of card JSON: Teams caps a whole message at 28 KB
TOP_TASKS = 20
PAGE_SIZE = 40
SHOW_SELECTED = 30
SHOW_PER_REASON = 8
NAME_MAX = 150

# Action.Execute verbs; the data of each carries the proposal id.
APPROVE = "approve"
REJECT = "reject"
RETRY = "retry"
PAGE = "page"
VERBS = frozenset({APPROVE, REJECT, RETRY, PAGE})

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>~])")
_SAFE_URL = re.compile(r"^https?://[^\s<>()\[\]]+$")

Names = Callable[[str | None], str]  # "teams:<aad id>" (or a Slack id) -> a display name

ESTIMATE_HINT = "_Type **estimate** to propose Story Points for these from similar finished work._"
REASON_TITLES = {
    "over capacity": "Over the team's capacity",
    "assignee over capacity": "Assignee at capacity",
    "blocked": "Blocked",
    "needs estimate": "Needs estimate",
}


def md(text: str | None) -> str:
    """Escape Adaptive Card markdown: no link, emphasis or list survives from outside text."""
    return _MARKDOWN.sub(r"\\\1", " ".join((text or "").split()))


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def link(url: str | None, label: str) -> str:
    shown = md(label)
    return f"[{shown}]({url})" if url and _SAFE_URL.match(url) else shown


def when(moment: datetime | None) -> str:
    """Shown in each reader's own time zone by Teams (DATE/TIME functions), UTC as data."""
    if moment is None:
        return ""
    iso = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({iso}, SHORT)}}}} {{{{TIME({iso})}}}}"


def text(value: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def subtle(value: str) -> dict[str, Any]:
    return text(value, isSubtle=True, size="Small", spacing="None")


def heading(value: str) -> dict[str, Any]:
    return text(md(clip(value, 150)), size="Large", weight="Bolder", style="heading")


def execute(title: str, verb: str, data: Mapping[str, Any], style: str = "default") -> dict:
    return {
        "type": "Action.Execute",
        "title": title,
        "verb": verb,
        "data": dict(data),
        "style": style,
    }


def card(body: Sequence[dict[str, Any]], actions: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    built: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": list(body),
    }
    if actions:
        built["actions"] = list(actions)
    return built


def size(built: Mapping[str, Any]) -> int:
    return len(json.dumps(built).encode())


def fit(build: Callable[[int], dict[str, Any]], most: int) -> dict[str, Any]:
    """The card with as many rows as fit the budget (at most `most`)."""
    shown = most
    built = build(shown)
    while size(built) > CARD_BUDGET and shown > 0:
        shown = max(0, shown - max(1, shown // 4))
        built = build(shown)
    return built


# -- decisions -------------------------------------------------------------------------------


def decision_text(decision: Mapping[str, Any], names: Names) -> str:
    """Who decided, when, and what happened to every task that was not written."""
    status = decision["status"]
    who = md(names(decision.get("by")))
    at = when(decision.get("at"))
    if status == "approving":
        return f"⏳ **Approving…** by {who}: writing to Asana."
    if status == "rejecting":
        return f"⏳ **Rejecting…** by {who}."
    if status == "rejected":
        return f"❌ **Rejected** by {who} {at}. Nothing was written to Asana."
    written = decision.get("written", 0)
    skipped: Sequence[Mapping[str, str]] = decision.get("skipped", [])
    failed: Sequence[Mapping[str, str]] = decision.get("failed", [])
    icon, label = ("✅", "Approved") if status == "applied" else ("⚠️", "Approved, partly applied")
    lines = [
        f"{icon} **{label}** by {who} {at}: "
        f"{written} task{'s' if written != 1 else ''} written to Asana."
    ]
    if decision.get("resumed"):
        lines.append("_Finished after a restart: no write was repeated._")
    for title, entries in (("Skipped", skipped), ("Not written yet", failed)):
        if entries:
            shown = "\n".join(
                f"- {md(clip(e['label'], 80))}: {md(clip(e['reason'], 160))}" for e in entries[:8]
            )
            extra = f"\n\n…and {len(entries) - 8} more" if len(entries) > 8 else ""
            lines.append(f"**{title} ({len(entries)}):**\n\n{shown}{extra}")
    if failed:
        lines.append("Press **Retry failed writes** to try those again.")
    return "\n\n".join(lines)


def proposal_head(
    title: str, decision: Mapping[str, Any] | None, names: Names
) -> list[dict[str, Any]]:
    """A proposal's heading; after a click, who decided and what happened, right under it."""
    body = [heading(title)]
    if decision is not None:
        body.append(text(decision_text(decision, names)))
    return body


def proposal_actions(
    proposal_id: str, decision: Mapping[str, Any] | None, *, page_from: int | None
) -> list[dict[str, Any]]:
    actions = []
    ref = {"proposal": proposal_id}
    if decision is None:
        actions += [
            execute("Approve", APPROVE, ref, "positive"),
            execute("Reject", REJECT, ref, "destructive"),
        ]
    elif decision.get("status") == "partial":
        actions.append(execute("Retry failed writes", RETRY, ref, "positive"))
    if page_from is not None:
        actions.append(execute("Show all", PAGE, ref | {"offset": page_from}))
    return actions


def proposal_card(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    names: Names,
    decision: Mapping[str, Any] | None = None,
    chart_png: str | None = None,
) -> dict[str, Any]:
    """The card of any proposal, by its kind (every flow shares the approval engine);
    `chart_png` (base64) is the load chart an overload alert shows."""
    kind = view.get("kind")
    if kind == "prioritize":
        return priority_card(
            view, proposal_id, proposed_by=proposed_by, names=names, decision=decision
        )
    if kind == "plan_sprint":
        return sprint_card(
            view, proposal_id, proposed_by=proposed_by, names=names, decision=decision
        )
    if kind == "overload":
        return overload_card(view, proposal_id, names=names, decision=decision, chart_png=chart_png)
    if kind == "retro":
        from bot.surfaces.teams.retro_cards import retro_card  # it builds on this module

        return retro_card(view, proposal_id, names=names, decision=decision)
    if kind in ("triage", "estimate"):  # issue 13; imported here: it builds on this module
        from bot.surfaces.teams.triage_cards import estimate_card, triage_card

        if kind == "triage":
            return triage_card(view, proposal_id, names=names, decision=decision)
        return estimate_card(
            view, proposal_id, proposed_by=proposed_by, names=names, decision=decision
        )
    raise ValueError(f"no card for proposals of kind {kind!r}")


def page_card(view: Mapping[str, Any], proposal_id: str, offset: int) -> dict[str, Any]:
    """One page of a proposal's full list, for the person who pressed Show all / Next."""
    if view.get("kind") == "plan_sprint":
        rows = [("✓", r) for r in view["selected"]] + [("✗", r) for r in view["left_out"]]
        unit = view["unit"]
        lines = [
            f"{mark} {_selected_line(r, unit) if mark == '✓' else _left_line(r, unit)}"
            for mark, r in rows
        ]
        title = f"{view['sprint']['name']} · {view['project']['name']}"
    else:
        lines = [_task_line(r, long=False) for r in view["rows"]]
        title = f"AI priorities · {view['project']['name']}"
    offset = max(0, min(offset, max(0, len(lines) - 1)))
    page = lines[offset : offset + PAGE_SIZE]
    end = offset + len(page)
    body = [
        heading(title),
        subtle(f"{offset + 1}–{end} of {len(lines)}"),
        *(text(line, spacing="Small") for line in page),
    ]
    actions = []
    if end < len(lines):
        actions.append(execute(f"Next {PAGE_SIZE}", PAGE, {"proposal": proposal_id, "offset": end}))
    actions.append(execute("Back to the proposal", PAGE, {"proposal": proposal_id, "offset": -1}))
    return card(body, actions)


# -- /prioritize -----------------------------------------------------------------------------


def _task_line(row: Mapping[str, Any], *, long: bool) -> str:
    name = link(row.get("permalink"), clip(row["name"], NAME_MAX))
    confidence = f"{round(row['confidence'] * 100)}% confident"
    head = f"**{row['rank']}.** {name} — **{row['score']:g}** · {confidence} · {md(row['sprint'])}"
    if not long:
        return head
    who = md(row.get("assignee")) or "unassigned"
    tail = f"{md(clip(row['rationale'], 280))}\n\n_{who} · {md(row['source'])}"
    if row.get("note"):
        tail += f" ({md(clip(row['note'], 120))})"
    return f"{head}\n\n{tail}_"


def priority_card(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    names: Names,
    decision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The /prioritize proposal; with `decision`, the same card after a click."""
    project = view["project"]
    rows: Sequence[Mapping[str, Any]] = view["rows"]
    parts = [f"{len(rows)} open tasks ranked", f"proposed by {md(names(proposed_by))}"]
    if view.get("model"):
        parts.append(f"model {md(view['model'])}")
    parts.extend(f"{n} by {md(src)}" for src, n in sorted(view["counts"]["by_source"].items()))
    warnings = []
    if view.get("missing_fields"):
        warnings.append(
            f"⚠️ The project lacks {md(', '.join(view['missing_fields']))}: run "
            f"`copilot setup --project {md(project['gid'])}` before approving."
        )
    if view.get("refused"):
        warnings.append(
            "⚠️ Some model answers were refused, those tasks use the rules score: "
            + md("; ".join(view["refused"])[:500])
        )

    def build(shown: int) -> dict[str, Any]:
        body = proposal_head(f"AI priorities · {project['name']}", decision, names)
        body.append(subtle(" · ".join(parts)))
        body.extend(text(w, color="Warning") for w in warnings)
        body.extend(
            text(_task_line(r, long=True), separator=i == 0, spacing="Medium")
            for i, r in enumerate(rows[:shown])
        )
        more = len(rows) - shown
        if more > 0:
            body.append(
                subtle(
                    f"…and {more} more in this proposal (it covers all {len(rows)} open tasks). "
                    "Press **Show all** to page through them; once approved, sort the project by "
                    "**AI Priority Score** in Asana."
                )
            )
        page_from = shown if more > 0 else None
        return card(body, proposal_actions(proposal_id, decision, page_from=page_from))

    return fit(build, TOP_TASKS)


# -- plan sprint -----------------------------------------------------------------------------


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _qty(value: float | None, unit: str) -> str:
    return f"{_num(value)} {'pt' if unit == 'pts' and value == 1 else unit}"


def _sprint_task(row: Mapping[str, Any], unit: str) -> str:
    name = link(row.get("permalink"), clip(row["name"], 80))
    parts = [] if row.get("effort") is None else [_qty(row["effort"], unit)]
    parts.append(md(row.get("assignee")) or "unassigned")
    parts.append(f"value {row['value']:g}")
    return f"{name} — " + " · ".join(parts)


def _selected_line(row: Mapping[str, Any], unit: str) -> str:
    extra = []
    if row.get("group"):
        extra.append(f"part of {md(clip(row['group'], 60))}")
    if row.get("from_sprint"):
        extra.append(f"now in {md(clip(row['from_sprint'], 40))}")
    return _sprint_task(row, unit) + (f" _({'; '.join(extra)})_" if extra else "")


def _left_line(row: Mapping[str, Any], unit: str) -> str:
    reason, task = row["reason"], _sprint_task(row, unit)
    if reason == "blocked":
        blocker = md(clip(row.get("blocker") or "a dependency", 60))
        return f"{task}: blocked by “{blocker}” ({md(row.get('blocker_state'))})"
    if reason == "assignee over capacity":
        return (
            f"{task}: {md(row.get('person'))} would be at "
            f"{_num(row.get('would_be'))}/{_num(row.get('capacity'))} {unit}"
        )
    if reason == "over capacity":
        return (
            f"{task}: the sprint would hold "
            f"{_num(row.get('would_be'))}/{_num(row.get('capacity'))} {unit}"
        )
    return f"{task}: needs an estimate"


def _capacity_lines(view: Mapping[str, Any]) -> list[str]:
    cap, unit = view["capacity"], view["unit"]
    why = capacity_reason(view)
    lines = [f"**Capacity {cap['team']:g} {unit}**: {why}. **Planned {cap['used']:g} {unit}.**"]
    for person in view["people"][:12]:
        lines.append(
            f"- {md(clip(person['name'], 40))}: {person['used']:g}/{person['capacity']:g} "
            f"{unit} _({md(person['source'])})_"
        )
    return lines


def sprint_card(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    names: Names,
    decision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The plan-sprint proposal; with `decision`, the same card after a click."""
    project, sprint, unit = view["project"], view["sprint"], view["unit"]
    counts, plan, cap = view["counts"], view["plan"], view["capacity"]
    selected: Sequence[Mapping[str, Any]] = view["selected"]
    left_out: Sequence[Mapping[str, Any]] = view["left_out"]
    solver = "optimal" if plan["optimal"] else "may not be optimal"
    notes = []
    if view.get("missing_fields"):
        notes.append(
            f"⚠️ The project lacks {md(', '.join(view['missing_fields']))}: run "
            f"`copilot setup --project {md(project['gid'])}` before approving."
        )
    if sprint["new"]:
        notes.append(
            f"“{md(sprint['name'])}” is not an option of the Sprint field yet: Approve adds it."
        )
    if not plan["optimal"]:
        notes.append(f"⚠️ {md(plan['note'] or 'the solver did not prove this plan optimal')}.")

    def build(shown: int) -> dict[str, Any]:
        body = proposal_head(f"Sprint plan · {sprint['name']} · {project['name']}", decision, names)
        body.append(
            subtle(
                f"{counts['selected']} of {counts['open']} open tasks selected · "
                f"{cap['used']:g}/{cap['team']:g} {unit} · value {plan['value']:g} · {solver} "
                f"({plan['seconds']:g} s) · proposed by {md(names(proposed_by))}"
            )
        )
        body.append(text("\n\n".join(_capacity_lines(view))))
        body.extend(text(n) for n in notes)
        body.append(
            text(
                f"**Selected ({len(selected)})**: Approve sets **Sprint** = {md(sprint['name'])} "
                "and **AI Suggested Sprint** = Next on each.",
                separator=True,
            )
        )
        lines = [f"- {_selected_line(r, unit)}" for r in selected[:shown]]
        if lines:
            body.append(text("\n".join(lines)))
        per_reason = min(SHOW_PER_REASON, shown)
        if left_out:
            body.append(text(f"**Left out ({len(left_out)})**", separator=True))
            for reason, title in REASON_TITLES.items():
                rows = [r for r in left_out if r["reason"] == reason]
                if rows:
                    shown_rows = "\n".join(f"- {_left_line(r, unit)}" for r in rows[:per_reason])
                    more = (
                        f"\n- …and {len(rows) - per_reason} more" if len(rows) > per_reason else ""
                    )
                    hint = f"\n\n{ESTIMATE_HINT}" if reason == "needs estimate" else ""
                    body.append(text(f"**{title} ({len(rows)})**{hint}\n\n{shown_rows}{more}"))
        has_more = len(selected) > shown or any(
            sum(r["reason"] == reason for r in left_out) > per_reason for reason in REASON_TITLES
        )
        return card(
            body, proposal_actions(proposal_id, decision, page_from=0 if has_more else None)
        )

    return fit(build, SHOW_SELECTED)


# -- overload alerts -------------------------------------------------------------------------


def _day(iso: str | None) -> str:
    if not iso:
        return "no date"
    d = date.fromisoformat(iso)
    return f"{d:%a} {d.day} {d:%b}"


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} h" if value == round(value) else f"{value:.1f} h"


def _pct(value: int | None) -> str:
    return "n/a" if value is None else f"{value}%"


def overload_card(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    names: Names,
    decision: Mapping[str, Any] | None = None,
    chart_png: str | None = None,
) -> dict[str, Any]:
    """One overload alert with its proposed fix; with `decision`, the card after a click.

    The load chart (a base64 PNG, data URI: Adaptive Cards 1.2+) comes last, when the card
    with it stays within the budget; otherwise the card says it was left out."""
    week = f"{_day(view['week_start'])} – {_day(view['week_end'])}"
    person = f"**{md(clip(view['person'].get('name') or '?', 80))}**"
    body = proposal_head(f"Over capacity · week of {week}", decision, names)
    body.append(
        text(
            f"⚠️ {person} is forecast at **{_hours(view['load'])}** in the week of {week}: "
            f"**{_pct(view['percent'])}** of a {_hours(view['capacity'])} week (alert above "
            f"{_hours(view['limit'])}, {view['threshold']:.0%})."
        )
    )
    project = view["project"]
    body.append(
        subtle(
            f"{link(project.get('permalink'), project['name'])} · forecast of {_day(view['today'])}"
        )
    )
    causes = view["causes"]
    lines = [
        f"- {link(c.get('permalink'), clip(c['name'], 80))} — {_hours(c['hours'])}"
        for c in causes[:10]
    ]
    body.append(text(f"**What fills the week** ({len(causes)} tasks)\n\n" + "\n".join(lines)))
    moves = view["moves"]
    if moves:
        fix = [
            f"- **Reassign** {link(m.get('permalink'), clip(m['name'], 80))} "
            f"({_hours(m['total_hours'])}) to **{md(m.get('to_name') or 'a teammate')}** "
            f"({_hours(m.get('to_before'))} → {_hours(m.get('to_after'))} that week)"
            if m["kind"] == "reassign"
            else f"- **Move later** {link(m.get('permalink'), clip(m['name'], 80))}: due "
            f"{_day(m.get('from_due'))} → **{_day(m.get('new_due'))}**"
            for m in moves
        ]
        body.append(
            text(
                f"**Proposed fix:** {len(moves)} change{'s' if len(moves) != 1 else ''}, the week "
                f"drops to **{_hours(view['load_after'])}** ({_pct(view['percent_after'])}).\n\n"
                + "\n".join(fix)
            )
        )
    else:
        body.append(text("❌ **No fix found:** take scope out of the week by hand."))
    actions = proposal_actions(proposal_id, decision, page_from=None) if moves or decision else []
    if chart_png:
        chart = {
            "type": "Image",
            "url": f"data:image/png;base64,{chart_png}",
            "altText": f"Weekly load vs capacity · {clip(project['name'], 80)}",
            "size": "Stretch",
        }
        with_chart = card([*body, chart], actions)
        if size(with_chart) <= CARD_BUDGET:
            return with_chart
        body.append(subtle("The load chart did not fit in this card."))
    return card(body, actions)


def notice_card(message: str) -> dict[str, Any]:
    """A short answer (errors, usage, refusals): `message` is already safe markdown."""
    return card([text(message)])


NO_TEAMS_APPROVERS = (
    "Nobody may approve in Teams yet: name the approvers with TEAMS_APPROVERS (AAD object ids or "
    "emails, comma-separated) and restart the copilot. Nothing was changed."
)

HELP_LINES = (
    "**prioritize [project]**: rank every open task of a project (its gid or its name; default "
    "the channel's project) and propose the ranking for approval.",
    "**plan sprint [project] [sprint name] [capacity]**: propose the next sprint, e.g. "
    '`plan sprint`, `plan sprint 40`, `plan sprint "Platform Backlog" Sprint 25 30 pts`.',
    "**retro [project] [sprint]**: the retrospective of a finished sprint (default the one "
    "that ended last) with up to three action items to approve, e.g. `retro`, `retro Sprint 23`.",
    "**sprint start [project] <sprint> <YYYY-MM-DD>** (approvers): when a sprint started, for "
    "its retrospective (otherwise the day its plan was approved).",
    "**settings**: stand-up digest schedules, projects linked to channels and weekly hours, in "
    "our personal chat (approvers change them there).",
    "**estimate [project]**: propose Story Points for every open task without an estimate, "
    "each with the three most similar finished tasks as evidence.",
    "New tasks are triaged as they are created: a card proposes their priority, estimate, "
    "acceptance criteria, possible duplicates and an assignee.",
    "**forecast [project] [scope]**: when the work lands (P50 and P85 dates): the tasks "
    "suggested for Next + Future, `next`, `all`, or a milestone's name.",
    "**nudges on** / **nudges off**: your own daily nudges about tasks at risk; approvers: "
    "**nudges on for [project]** / **nudges off for [project]**.",
    "**help**: this list.",
    "In a channel or group chat, @mention me first; in our personal chat, just type. Nothing is "
    "written to Asana until an approver presses **Approve**.",
)


def help_card(reason: str = "") -> dict[str, Any]:
    """What the copilot does and how to ask; `reason` (already safe markdown) comes first."""
    body = [text(reason, weight="Bolder")] if reason else []
    body += [heading("Asana Copilot"), *(text(f"- {line}", spacing="Small") for line in HELP_LINES)]
    return card(body)


def welcome_card() -> dict[str, Any]:
    """Posted once when the copilot is added to a team, group chat or personal chat."""
    return help_card(
        "Hi! I rank Asana backlogs, plan sprints, post a stand-up digest every working morning "
        "and warn when someone is forecast over capacity."
    )


# -- stand-up digests ------------------------------------------------------------------------

DIGEST_SECTIONS = (
    ("blocked", "⛔", "Blocked"),
    ("overdue", "⏰", "Overdue"),
    ("at_risk", "⚠️", "At risk"),
    ("done", "✅", "Done since the last digest"),
    ("in_progress", "🔄", "In progress (changed since the last digest)"),
)


def _short_day(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def digest_reason(reason: Reason, today: date) -> str:
    """Why an item is listed, in words (the Slack digest says the same)."""
    kind = reason.kind
    name = f"“{md(clip(reason.task_name or '', 60))}”"
    on = _short_day(reason.on) if reason.on else None
    if kind is ReasonKind.DEPENDENCY_OVERDUE:
        return f"waits on {name} (still open{', due ' + on if on else ''})"
    if kind is ReasonKind.STATUS_BLOCKED:
        return "Status: Blocked"
    if kind is ReasonKind.TAGGED_BLOCKED:
        return "tagged _blocked_"
    if kind is ReasonKind.COMMENT_BLOCKED:
        return f"latest comment: “{md(clip(reason.text or '', 120))}”"
    if kind is ReasonKind.OVERDUE:
        if reason.on is None:
            return "overdue"
        late = (today - reason.on).days
        return f"due {on} ({late} day{'s' if late != 1 else ''} late)"
    if kind is ReasonKind.DUE_SOON_OPEN_DEPENDENCIES:
        more = f" and {reason.count - 1} more" if reason.count > 1 else ""
        return f"due {on or 'soon'}, still waiting on {name}{more}"
    if kind is ReasonKind.PUSHED_BY_DEPENDENCY:
        chain = "".join(f" ← “{md(clip(n, 40))}”" for n in reason.chain[:3])
        return f"waits on {name}{chain}, not done before {on or 'later'}"
    return md(kind.value)


def digest_card(digest: StandupDigest, mentions: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """A stand-up digest; `mentions` maps an Asana person gid to (member id, name) in Teams."""
    f = digest.facts
    used: dict[str, str] = {}

    def who(person: Person | None) -> str:
        if person is None:
            return "_unassigned_"
        if person.gid in mentions:
            member_id, name = mentions[person.gid]
            used[member_id] = name
            return f"<at>{md(name)}</at>"
        return f"_{md(clip(person.name, 60))}_"

    def line(item: Item, *, due: bool = False) -> str:
        reasons = [digest_reason(r, f.today) for r in item.reasons]
        if due and item.due_on and not reasons:
            reasons.append(f"due {_short_day(item.due_on)}")
        head = f"- {link(item.permalink, clip(item.name, 120))} · {who(item.assignee)}"
        return f"{head} — {'; '.join(reasons)}" if reasons else head

    project = link(digest.project_url, digest.project_name or digest.project_gid)
    if f.quiet:
        body = [
            text(
                f"☀️ Quiet day in {project}: nothing finished, moved, blocked, late or at risk "
                f"since {when(f.since)}."
            )
        ]
        if digest.forecast_line:
            body.append(subtle(f"🔮 {md(digest.forecast_line)}"))
        return card(body)

    def build(per_section: int) -> dict[str, Any]:
        used.clear()
        body = [
            heading(f"Stand-up · {digest.project_name or digest.project_gid}"),
            subtle(
                f"{_short_day(f.today)} · changes since {when(f.since)} · {f.open_count} open "
                f"tasks in {project}"
            ),
        ]
        if digest.forecast_line:
            body.append(subtle(f"🔮 {md(digest.forecast_line)}"))
        if digest.summary:
            body.append(text(md(digest.summary)))
        if digest.comments_unread:
            body.append(
                text(
                    f"⚠️ The comments of {digest.comments_unread} changed task(s) could not be "
                    "read: a blocker mentioned only in a comment may be missing.",
                    color="Warning",
                )
            )
        left_out = 0
        for key, icon, title in DIGEST_SECTIONS:
            items = getattr(f, key)
            if not items:
                continue
            lines = [line(i, due=key == "in_progress") for i in items[:per_section]]
            left_out += max(0, len(items) - per_section)
            body.append(text(f"{icon} **{title} ({len(items)})**\n\n" + "\n".join(lines)))
        if f.people:
            people = []
            for person_line in f.people[:per_section]:
                parts = []
                if person_line.finished:
                    parts.append(
                        "finished "
                        + ", ".join(md(clip(i.name, 60)) for i in person_line.finished[:3])
                    )
                if person_line.today:
                    parts.append(
                        "today " + ", ".join(md(clip(i.name, 60)) for i in person_line.today[:4])
                    )
                people.append(f"- {who(person_line.person)}: {' · '.join(parts)}")
            left_out += max(0, len(f.people) - per_section)
            body.append(text("👥 **Who is on what**\n\n" + "\n".join(people)))
        if left_out:
            body.append(
                subtle(
                    f"✂️ Cut to fit Teams: {left_out} more line(s) not shown. "
                    f"See everything in {project}."
                )
            )
        built = card(body)
        if used:
            built["msteams"]["entities"] = [
                {
                    "type": "mention",
                    "text": f"<at>{md(name)}</at>",
                    "mentioned": {"id": mid, "name": name},
                }
                for mid, name in used.items()
            ]
        return built

    return fit(build, 50)
