"""The settings card of the personal chat: what Slack's Home tab holds, as one Adaptive Card.

Stand-up digest schedules, the channels' linked projects and people's weekly hours, each with its
form (Input.ChoiceSet / Input.Text / Input.Time / Input.Number / Input.Toggle submitted by
Action.Execute). Forms are drawn for approvers only; everyone sees the schedules. The card stays
within the 28 KB message budget: the lists shrink until it fits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.domain.digest import WEEKDAYS, parse_days
from bot.surfaces.teams.cards import CARD_BUDGET, card, clip, execute, heading, md, size, subtle
from bot.surfaces.teams.cards import text as text_block

# Action.Execute verbs of the settings card (the proposal cards' verbs are other words).
OPEN = "settings.open"
SCHEDULE_SAVE = "settings.schedule.save"
SCHEDULE_EDIT = "settings.schedule.edit"
SCHEDULE_REMOVE = "settings.schedule.remove"
LINK_ADD = "settings.link.add"
LINK_REMOVE = "settings.link.remove"
HOURS_SAVE = "settings.hours.save"
VERBS = frozenset(
    {OPEN, SCHEDULE_SAVE, SCHEDULE_EDIT, SCHEDULE_REMOVE, LINK_ADD, LINK_REMOVE, HOURS_SAVE}
)
# Which verbs change something (approvers only): the others just draw the card again.
CHANGES = frozenset({SCHEDULE_SAVE, SCHEDULE_REMOVE, LINK_ADD, LINK_REMOVE, HOURS_SAVE})

DAY_LABELS = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
MAX_CHOICES = 100  # channels or people offered in one list
MOST_SCHEDULES = 30
MOST_LINKS = 40
MOST_PROBLEMS = 10

ChannelName = Callable[[str], str]  # a core channel ("C…" or "teams:…") -> a label


@dataclass(frozen=True)
class SettingsView:
    """Everything the card shows, in plain data (built by the surface from the use cases)."""

    can_edit: bool
    default_tz: str
    schedules: Sequence[Any] = ()  # ScheduleLine-like: .schedule, .next_run, .last_posted
    channels: Sequence[tuple[str, str]] = ()  # (core channel, label) the forms offer
    links: Sequence[Mapping[str, str]] = ()  # channel, gid, name, source (approvers only)
    everywhere: Sequence[str] = ()  # COPILOT_PROJECTS gids (approvers only)
    people: Sequence[Mapping[str, Any]] = ()  # rows: person_gid, name, weekly_hours, overridden
    default_hours: float | None = None
    capacity_hint: str = ""  # why there are no people (no project set, Asana down)
    problems: Sequence[Any] = ()  # DeliveryProblemRow-like (approvers only)
    notice: str = ""  # already safe markdown: what the last click did
    form: Mapping[str, Any] = field(default_factory=dict)  # values to show again in the forms


def days_label(days: str) -> str:
    chosen = [WEEKDAYS[d] for d in parse_days(days)]
    if chosen == list(WEEKDAYS[:5]):
        return "Mon–Fri"
    return ", ".join(DAY_LABELS[d] for d in chosen)


def _choice_set(
    input_id: str,
    label: str,
    choices: Sequence[tuple[str, str]],
    value: str = "",
    *,
    multi: bool = False,
) -> dict[str, Any]:
    built: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": label,
        "style": "compact" if not multi else "expanded",
        "isMultiSelect": multi,
        "choices": [{"title": clip(title, 80), "value": v} for v, title in choices[:MAX_CHOICES]],
    }
    if value:
        built["value"] = value
    return built


def _input_text(input_id: str, label: str, value: str = "", placeholder: str = "") -> dict:
    built: dict[str, Any] = {"type": "Input.Text", "id": input_id, "label": label}
    if value:
        built["value"] = value
    if placeholder:
        built["placeholder"] = placeholder
    return built


def _actions(*actions: dict[str, Any]) -> dict[str, Any]:
    return {"type": "ActionSet", "actions": list(actions)}


def _error(form: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    problem = (form.get("errors") or {}).get(key)
    return [text_block(f"⚠️ {md(problem)}", color="Attention", spacing="None")] if problem else []


def _schedule_section(view: SettingsView, names: ChannelName, most: int) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = [text_block("**Stand-up digests**", spacing="Large")]
    lines = list(view.schedules)
    if not lines:
        body.append(subtle("No digest is scheduled yet."))
    for line in lines[:most]:
        schedule = line.schedule
        project = md(clip(schedule.project_name or schedule.project_gid, 80))
        last = f" · last posted {line.last_posted:%Y-%m-%d}" if line.last_posted else ""
        body.append(
            text_block(
                f"**{project}** → {md(names(schedule.channel))}: {md(schedule.at)} "
                f"{md(schedule.tz)}, {days_label(schedule.days)}; next {line.next_run:%Y-%m-%d}"
                f"{last}",
                spacing="Small",
            )
        )
        if view.can_edit:
            edit = [execute("Edit", SCHEDULE_EDIT, {"schedule": schedule.id})]
            if schedule.source == "home":
                edit.append(
                    execute("Remove", SCHEDULE_REMOVE, {"schedule": schedule.id}, "destructive")
                )
            body.append(_actions(*edit))
    if len(lines) > most:
        body.append(subtle(f"…and {len(lines) - most} more."))
    if not view.can_edit:
        body.append(subtle("Only the team's approvers can change schedules."))
        return body
    form = view.form
    editing = str(form.get("replaces") or "")
    days = form.get("schedule_days") or "mon,tue,wed,thu,fri"
    body += [
        text_block("**Edit the schedule**" if editing else "**Add a schedule**", spacing="Medium"),
        _choice_set("schedule_channel", "Channel", view.channels, form.get("schedule_channel", "")),
        *_error(form, "channel"),
        _input_text(
            "schedule_project", "Asana project", form.get("schedule_project", ""), "Name or gid"
        ),
        *_error(form, "project"),
        {
            "type": "Input.Time",
            "id": "schedule_time",
            "label": "Time",
            "value": form.get("schedule_time") or "09:30",
        },
        *_error(form, "time"),
        _input_text("schedule_tz", "Time zone", form.get("schedule_tz") or view.default_tz),
        *_error(form, "tz"),
        _choice_set(
            "schedule_days",
            "Days",
            [(d, DAY_LABELS[d]) for d in WEEKDAYS],
            ",".join(str(d) for d in (days if isinstance(days, list) else [days])),
            multi=True,
        ),
        *_error(form, "days"),
        _actions(
            execute(
                "Save schedule",
                SCHEDULE_SAVE,
                {"replaces": editing} if editing else {},
                "positive",
            )
        ),
    ]
    return body


def _links_section(view: SettingsView, names: ChannelName, most: int) -> list[dict[str, Any]]:
    if not view.can_edit:
        return []  # links name confidential projects and channels: approvers only
    body: list[dict[str, Any]] = [text_block("**Projects linked to channels**", spacing="Large")]
    if view.everywhere:
        body.append(
            subtle("Every channel may use: " + ", ".join(md(g) for g in view.everywhere[:20]))
        )
    links = list(view.links)
    if not links:
        body.append(subtle("No project is linked yet."))
    for link in links[:most]:
        name = md(clip(link.get("name") or link["gid"], 80))
        body.append(text_block(f"**{name}** → {md(names(link['channel']))}", spacing="Small"))
        if link.get("source") == "home":
            body.append(
                _actions(
                    execute(
                        "Unlink",
                        LINK_REMOVE,
                        {"channel": link["channel"], "gid": link["gid"]},
                        "destructive",
                    )
                )
            )
    if len(links) > most:
        body.append(subtle(f"…and {len(links) - most} more."))
    form = view.form
    body += [
        _choice_set("link_channel", "Channel", view.channels, form.get("link_channel", "")),
        *_error(form, "link_channel"),
        _input_text("link_project", "Asana project", form.get("link_project", ""), "Name or gid"),
        _actions(execute("Link project", LINK_ADD, {}, "positive")),
    ]
    return body


def _hours_section(view: SettingsView) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = [text_block("**Weekly hours**", spacing="Large")]
    if view.capacity_hint:
        return [*body, subtle(md(view.capacity_hint))]
    default = f"{view.default_hours:g}" if view.default_hours is not None else "?"
    lines = [
        f"{md(clip(str(p['name']), 60))}: {float(p['weekly_hours']):g} h"
        + (" (set by hand)" if p.get("overridden") else "")
        for p in view.people[:MAX_CHOICES]
    ]
    body.append(subtle(f"Default {default} h a week. " + "; ".join(lines)))
    if not view.can_edit:
        body.append(subtle("Only the team's approvers can change capacity settings."))
        return body
    form = view.form
    people = [(str(p["person_gid"]), str(p["name"])) for p in view.people]
    body += [
        _choice_set("hours_person", "Person", people, form.get("hours_person", "")),
        {
            "type": "Input.Number",
            "id": "hours_value",
            "label": "Hours a week (0 = away)",
            "min": 0,
            "max": 168,
        },
        *_error(form, "hours"),
        {
            "type": "Input.Toggle",
            "id": "hours_reset",
            "title": "Back to the default",
            "value": "false",
            "valueOn": "true",
            "valueOff": "false",
        },
        _actions(execute("Save hours", HOURS_SAVE, {}, "positive")),
    ]
    return body


def _problems_section(view: SettingsView, names: ChannelName) -> list[dict[str, Any]]:
    if not view.can_edit or not view.problems:
        return []
    body = [text_block("**⛔ Posts that were refused**", spacing="Large")]
    for problem in list(view.problems)[:MOST_PROBLEMS]:
        what = {"digest": "Stand-up digest", "overload": "Overload alert", "chart": "Load chart"}
        label = what.get(problem.kind, problem.kind)
        project = md(clip(problem.project_name or problem.project_gid or "", 80))
        body.append(
            text_block(
                f"{md(label)}{f' · **{project}**' if project else ''} → "
                f"{md(names(problem.channel))}: {md(problem.error)}, last "
                f"{md(problem.last_at[:16])} UTC",
                spacing="Small",
            )
        )
    return body


def settings_card(view: SettingsView, names: ChannelName) -> dict[str, Any]:
    """The personal chat's settings card, within the card budget."""

    def build(most_schedules: int, most_links: int) -> dict[str, Any]:
        body: list[dict[str, Any]] = [heading("Copilot settings")]
        if view.notice:
            body.append(text_block(view.notice, weight="Bolder"))
        body += _problems_section(view, names)
        body += _schedule_section(view, names, most_schedules)
        body += _links_section(view, names, most_links)
        body += _hours_section(view)
        return card(body, [execute("Refresh", OPEN, {})])

    most_schedules, most_links = MOST_SCHEDULES, MOST_LINKS
    built = build(most_schedules, most_links)
    while size(built) > CARD_BUDGET and (most_schedules or most_links):
        most_schedules, most_links = most_schedules // 2, most_links // 2
        built = build(most_schedules, most_links)
    return built


def working_card(what: str) -> dict[str, Any]:
    """The clicker's card while a settings change runs (it is replaced when it is done)."""
    return card([heading("Copilot settings"), text_block(f"⏳ {what}…")])
