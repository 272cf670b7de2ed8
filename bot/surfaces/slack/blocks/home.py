"""The App Home tab and the digest schedule form: pure Block Kit builders (and the form's parser).

Other features add their own Home sections: `home_view(..., extra_sections=[blocks, ...])`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.domain.digest import WEEKDAYS, DigestSchedule, parse_days
from bot.render.notes import APP_NAME, post_refusal_text, slack_refusal_text
from bot.render.text import clip, escape, mention
from bot.surfaces.slack.blocks.common import slack_date

MAX_HOME_BLOCKS = 100
SHOWN_SCHEDULES = 30

SCHEDULE_ADD = "digest_schedule_add"
SCHEDULE_EDIT = "digest_schedule_edit"
SCHEDULE_REMOVE = "digest_schedule_remove"
SCHEDULE_VIEW = "digest_schedule"  # the modal's callback_id

DAY_LABELS = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _button(text: str, action_id: str, value: str = "", style: str | None = None) -> dict:
    button: dict[str, Any] = {"type": "button", "text": _plain(text), "action_id": action_id}
    if value:
        button["value"] = value
    if style:
        button["style"] = style
    return button


def days_label(days: str) -> str:
    """`mon,tue,wed,thu,fri` → `Mon–Fri`; other sets listed."""
    chosen = sorted(parse_days(days))
    if len(chosen) > 2 and chosen == list(range(chosen[0], chosen[-1] + 1)):
        return f"{DAY_LABELS[WEEKDAYS[chosen[0]]]}–{DAY_LABELS[WEEKDAYS[chosen[-1]]]}"
    return ", ".join(DAY_LABELS[WEEKDAYS[d]] for d in chosen)


def schedule_line(
    schedule: DigestSchedule, next_run: datetime, last_posted: datetime | None
) -> str:
    project = escape(clip(schedule.project_name or f"project {schedule.project_gid}", 80))
    channel = f"<#{schedule.channel}>" if schedule.channel[:1] in "CG" else escape(schedule.channel)
    when = f"{escape(schedule.at)} {escape(schedule.tz)}, {days_label(schedule.days)}"
    line = f"*{project}* → {channel} · {when}"
    detail = f"Next: {slack_date(next_run)}"
    detail += f" · last: {slack_date(last_posted)}" if last_posted else " · not posted yet"
    if schedule.source == "env":
        detail += " · _from the STANDUP_* settings_"
    return f"{line}\n{detail}"


# -- the load chart's refusal ----------------------------------------------------------------


def chart_refused_text(what: str = "weekly load chart", when: str = "the next alerts") -> str:
    """Said in the channel when a chart (the load chart, the burn-up) could not be shared there."""
    return (
        f":bar_chart: The {what} could not be shared here: Slack lets only members "
        f"share files, and @{APP_NAME} can't join this channel by itself. Invite it "
        f"(`/invite @{APP_NAME}`) to get the chart with {when}."
    )


_KIND_LABEL = {"digest": "Stand-up digest", "overload": "Overload alert", "chart": "Load chart"}


def delivery_problem_blocks(problems: Sequence[Any]) -> list[dict[str, Any]]:
    """Approvers' Home section: posts Slack refused for good, and the fix for each."""
    if not problems:
        return []
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "block_id": "delivery_problems",
            "text": {
                "type": "mrkdwn",
                "text": "*:no_entry_sign: Posts Slack refused*\nThese are not retried until "
                "the next scheduled run; fix the cause and they go through.",
            },
        }
    ]
    for n, problem in enumerate(problems[:10]):
        what = _KIND_LABEL.get(problem.kind, problem.kind)
        project = escape(clip(problem.project_name or problem.project_gid or "", 80))
        channel = problem.channel
        channel = f"<#{channel}>" if channel[:1] in "CG" else escape(channel)
        times = f" ({problem.count} times)" if problem.count > 1 else ""
        refusal = (
            post_refusal_text("Teams", problem.error)
            if problem.channel.startswith("teams:")
            else slack_refusal_text(problem.error, here=False)
        )
        fix = refusal.replace(" Nothing was changed.", "")
        text = (
            f"{what}{f' · *{project}*' if project else ''} → {channel}: "
            f"`{escape(problem.error)}`{times}, last {escape(problem.last_at[:16])} UTC.\n{fix}"
        )
        blocks.append(
            {
                "type": "section",
                "block_id": f"delivery_problem_{n}",
                "text": {"type": "mrkdwn", "text": clip(text, 2900)},
            }
        )
    return blocks


def saved_notice(schedule: DigestSchedule) -> str:
    project = escape(clip(schedule.project_name or schedule.project_gid, 80))
    return (
        f":white_check_mark: Saved: *{project}* → <#{schedule.channel}> at {escape(schedule.at)} "
        f"{escape(schedule.tz)}, {days_label(schedule.days)}."
    )


def home_view(
    *,
    schedules: Sequence[Any],  # ScheduleLine-like: .schedule, .next_run, .last_posted
    can_edit: bool,
    approvers: frozenset[str] = frozenset(),
    notice: str | None = None,
    extra_sections: Sequence[Sequence[Mapping[str, Any]]] = (),
    problems: Sequence[Any] = (),  # DeliveryProblemRow-like, shown to approvers
) -> dict[str, Any]:
    """The Home tab: notice, refused posts (approvers), digest schedules, other sections."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain("Asana Copilot")}]
    if notice:
        blocks.append(
            {
                "type": "section",
                "block_id": "home_notice",
                "text": {"type": "mrkdwn", "text": clip(notice, 2900)},
            }
        )
    if can_edit and problems:
        blocks += delivery_problem_blocks(problems)
    blocks.append(
        {
            "type": "section",
            "block_id": "digest_heading",
            "text": {
                "type": "mrkdwn",
                "text": "*:sunrise: Morning stand-up digests*\nOne digest per project, on "
                "working days at the channel's local time. A restart never posts a second one; "
                "one missed while the app was down is posted within two hours, never later.",
            },
        }
    )
    if not schedules:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "No digest is scheduled yet."}],
            }
        )
    for n, line in enumerate(schedules[:SHOWN_SCHEDULES]):
        schedule: DigestSchedule = line.schedule
        section: dict[str, Any] = {
            "type": "section",
            "block_id": f"digest_schedule_{n}",
            "text": {
                "type": "mrkdwn",
                "text": schedule_line(schedule, line.next_run, line.last_posted),
            },
        }
        if can_edit:
            section["accessory"] = _button("Edit", SCHEDULE_EDIT, schedule.id)
        blocks.append(section)
        if can_edit and schedule.source == "home":
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"digest_schedule_actions_{n}",
                    "elements": [_button("Remove", SCHEDULE_REMOVE, schedule.id, "danger")],
                }
            )
    if len(schedules) > SHOWN_SCHEDULES:
        more = len(schedules) - SHOWN_SCHEDULES
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {more} more."}]}
        )
    if can_edit:
        blocks.append(
            {
                "type": "actions",
                "block_id": "digest_schedule_add",
                "elements": [_button("Add a digest schedule", SCHEDULE_ADD, style="primary")],
            }
        )
    else:
        who = ", ".join(mention(a) for a in sorted(approvers)) or "the team's approvers"
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"Only approvers ({who}) can change schedules."}
                ],
            }
        )
    for extra in extra_sections:
        if len(blocks) + 1 + len(extra) > MAX_HOME_BLOCKS:
            break
        blocks.append({"type": "divider"})
        blocks.extend(dict(b) for b in extra)
    return {"type": "home", "blocks": blocks}


def schedule_modal(
    schedule: DigestSchedule | None, *, default_tz: str, default_at: str = "09:30"
) -> dict[str, Any]:
    """The form that adds a schedule (or changes `schedule`)."""
    days = schedule.days if schedule else "mon,tue,wed,thu,fri"
    chosen = {WEEKDAYS[d] for d in parse_days(days)}
    options = [{"text": _plain(DAY_LABELS[d]), "value": d} for d in WEEKDAYS]
    channel: dict[str, Any] = {
        "type": "conversations_select",
        "action_id": "channel",
        "placeholder": _plain("Pick a channel"),
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if schedule:
        channel["initial_conversation"] = schedule.channel
    project: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "project",
        "placeholder": _plain("Project name or gid"),
    }
    if schedule:
        project["initial_value"] = schedule.project_gid
    return {
        "type": "modal",
        "callback_id": SCHEDULE_VIEW,
        "private_metadata": schedule.id if schedule else "",
        "title": _plain("Stand-up digest"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": "channel",
                "label": _plain("Channel"),
                "element": channel,
            },
            {
                "type": "input",
                "block_id": "project",
                "label": _plain("Asana project"),
                "element": project,
            },
            {
                "type": "input",
                "block_id": "time",
                "label": _plain("Time"),
                "element": {
                    "type": "timepicker",
                    "action_id": "time",
                    "initial_time": schedule.at if schedule else default_at,
                },
            },
            {
                "type": "input",
                "block_id": "tz",
                "label": _plain("Time zone (IANA)"),
                "hint": _plain(
                    "Like Europe/Berlin or America/New_York; daylight saving is followed."
                ),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "tz",
                    "initial_value": schedule.tz if schedule else default_tz,
                },
            },
            {
                "type": "input",
                "block_id": "days",
                "label": _plain("Days"),
                "element": {
                    "type": "checkboxes",
                    "action_id": "days",
                    "options": options,
                    "initial_options": [o for o in options if o["value"] in chosen],
                },
            },
        ],
    }


def schedule_form_values(view: Mapping[str, Any]) -> dict[str, Any]:
    """What the submitted schedule form holds, as plain values (missing ones empty)."""
    values = (view.get("state") or {}).get("values") or {}

    def element(block: str, action: str) -> Mapping[str, Any]:
        return (values.get(block) or {}).get(action) or {}

    days = element("days", "days").get("selected_options") or []
    return {
        "channel": str(
            element("channel", "channel").get("selected_conversation")
            or element("channel", "channel").get("selected_channel")
            or ""
        ),
        "project": str(element("project", "project").get("value") or "").strip(),
        "at": str(element("time", "time").get("selected_time") or ""),
        "tz": str(element("tz", "tz").get("value") or "").strip(),
        "days": tuple(str(o.get("value", "")) for o in days),
        "replaces": str(view.get("private_metadata") or ""),
    }
