"""Block Kit for the stand-up digest: pure functions from a StandupDigest to a Slack message.

Everything from Asana or the model is escaped; each item links to its task and @-mentions its
assignee when they have a Slack account. The message always fits Block Kit (50 blocks, 3,000
characters a text): past that it is cut, ending with how many items were left out and a link to
the project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.digest import Item, PersonLine, Reason, ReasonKind, StandupDigest
from bot.domain.models import Person
from bot.render.text import clip, escape, mention
from bot.surfaces.slack.blocks.common import MAX_BLOCKS, header, link, slack_date

SECTION_TEXT = 2900  # below Slack's 3,000, so a line never straddles the limit
NAME_MAX = 120
COMMENT_MAX = 120
PERSON_FINISHED = 3
PERSON_TODAY = 4

SECTIONS = (
    ("blocked", ":no_entry:", "Blocked"),
    ("overdue", ":alarm_clock:", "Overdue"),
    ("at_risk", ":warning:", "At risk"),
    ("done", ":white_check_mark:", "Done since the last digest"),
    ("in_progress", ":arrows_counterclockwise:", "In progress (changed since the last digest)"),
)


def day(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _quote(name: str, limit: int = 60) -> str:
    return f"“{escape(clip(name, limit))}”"


def who(person: Person | None, mentions: Mapping[str, str]) -> str:
    """An @-mention when the assignee is a Slack user we found by email, else their name."""
    if person is None:
        return "_unassigned_"
    user_id = mentions.get(person.gid)
    return mention(user_id) if user_id else f"_{escape(clip(person.name, 60))}_"


def reason_text(reason: Reason, today: date) -> str:
    kind = reason.kind
    if kind is ReasonKind.DEPENDENCY_OVERDUE:
        due = f", due {day(reason.on)}" if reason.on else ""
        return f"waits on {_quote(reason.task_name or '')} (still open{due})"
    if kind is ReasonKind.STATUS_BLOCKED:
        return "Status: Blocked"
    if kind is ReasonKind.TAGGED_BLOCKED:
        return "tagged _blocked_"
    if kind is ReasonKind.COMMENT_BLOCKED:
        return f"latest comment: “{escape(clip(reason.text or '', COMMENT_MAX))}”"
    if kind is ReasonKind.OVERDUE:
        if reason.on is None:
            return "overdue"
        late = (today - reason.on).days
        return f"due {day(reason.on)} ({_plural(late, 'day')} late)"
    if kind is ReasonKind.DUE_SOON_OPEN_DEPENDENCIES:
        others = reason.count - 1
        more = f" and {others} more" if others > 0 else ""
        due = day(reason.on) if reason.on else "soon"
        return f"due {due}, still waiting on {_quote(reason.task_name or '')}{more}"
    if kind is ReasonKind.PUSHED_BY_DEPENDENCY:
        chain = "".join(f" ← {_quote(name, 40)}" for name in reason.chain[:3])
        when = day(reason.on) if reason.on else "later"
        return f"waits on {_quote(reason.task_name or '')}{chain}, not done before {when}"
    return kind.value


def item_line(item: Item, digest: StandupDigest, *, due: bool = False) -> str:
    parts = [
        f"• {link(item.permalink, clip(item.name, NAME_MAX))}",
        who(item.assignee, digest.mentions),
    ]
    reasons = [reason_text(r, digest.facts.today) for r in item.reasons]
    if due and item.due_on and not reasons:
        reasons.append(f"due {day(item.due_on)}")
    line = " · ".join(parts)
    return f"{line} — {'; '.join(reasons)}" if reasons else line


def _names(items: Sequence[Item], limit: int) -> str:
    shown = ", ".join(link(i.permalink, clip(i.name, 60)) for i in items[:limit])
    more = len(items) - limit
    return f"{shown} +{more} more" if more > 0 else shown


def person_line(line: PersonLine, digest: StandupDigest) -> str:
    parts = []
    if line.finished:
        parts.append(f"finished {_names(line.finished, PERSON_FINISHED)}")
    if line.today:
        parts.append(f"today {_names(line.today, PERSON_TODAY)}")
    return f"• {who(line.person, digest.mentions)}: {' · '.join(parts)}"


def rules_summary(digest: StandupDigest) -> str:
    """Two or three sentences written from the facts by rules (no model)."""
    f = digest.facts
    since = f.since.astimezone(ZoneInfo(digest.tz))
    start = "Since the last digest" if not digest.first else f"Since {since:%a %H:%M}"
    sentences = [
        f"{start}, {_plural(len(f.done), 'task')} got done and {len(f.in_progress)} more moved."
    ]
    if f.blocked:
        sentences.append(
            f"{_plural(len(f.blocked), 'task')} {'is' if len(f.blocked) == 1 else 'are'} "
            f"blocked, first {_quote(f.blocked[0].name)}."
        )
    else:
        sentences.append("Nothing is blocked.")
    if f.overdue or f.at_risk:
        sentences.append(f"{len(f.overdue)} overdue and {len(f.at_risk)} at risk.")
    else:
        sentences.append("Nothing is late or at risk.")
    return " ".join(sentences)


def _section(text: str, block_id: str) -> dict[str, Any]:
    return {"type": "section", "block_id": block_id, "text": {"type": "mrkdwn", "text": text}}


def _context(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
    if block_id:
        block["block_id"] = block_id
    return block


def _pack(title: str, lines: Sequence[str], key: str) -> list[tuple[dict[str, Any], int]]:
    """Section blocks holding `lines` under `title`, each under the text limit: (block, lines)."""
    out: list[tuple[dict[str, Any], int]] = []
    text, count = title, 0
    for line in lines:
        line = clip(line, SECTION_TEXT - len(title) - 1) if len(line) > SECTION_TEXT // 2 else line
        if len(text) + 1 + len(line) > SECTION_TEXT:
            out.append((_section(text, f"digest_{key}_{len(out)}"), count))
            text, count = "", 0
        text = f"{text}\n{line}" if text else line
        count += 1
    if text:
        out.append((_section(text, f"digest_{key}_{len(out)}"), count))
    return out


def digest_blocks(digest: StandupDigest) -> list[dict[str, Any]]:
    f = digest.facts
    project = link(digest.project_url, digest.project_name or digest.project_gid)
    forecast = (
        [_context(f":crystal_ball: {escape(digest.forecast_line)}", "digest_forecast")]
        if digest.forecast_line
        else []
    )
    if f.quiet:
        # A quiet day says so in one line (and the Friday forecast in another).
        return [
            _section(
                f":sunny: Quiet day in {project}: nothing finished, moved, blocked, late or at "
                f"risk since {slack_date(f.since)}.",
                "digest_quiet",
            ),
            *forecast,
        ]
    head: list[dict[str, Any]] = [
        header(f"Stand-up · {digest.project_name or digest.project_gid}"),
        _context(
            f"{day(f.today)} · changes since {slack_date(f.since)} · {f.open_count} open tasks "
            f"in {project}",
            "digest_context",
        ),
    ]
    head += forecast
    if digest.summary:
        head.append(_section(escape(digest.summary), "digest_summary"))
    elif digest.summary_source == "rules":
        head.append(_section(escape(rules_summary(digest)), "digest_summary"))
        head.append(
            _context("_Summary written by rules: the model's did not stick to these facts._")
        )
    if digest.comments_unread:
        head.append(
            _context(
                f":warning: The comments of {_plural(digest.comments_unread, 'changed task')} "
                "could not be read: a blocker mentioned only in a comment may be missing.",
                "digest_unread",
            )
        )
    head.append({"type": "divider"})

    body: list[tuple[dict[str, Any], int]] = []
    for key, icon, title in SECTIONS:
        items: Sequence[Item] = getattr(f, key)
        if not items:
            continue
        lines = [item_line(i, digest, due=key == "in_progress") for i in items]
        body += _pack(f"{icon} *{title} ({len(items)})*", lines, key)
    if f.people:
        lines = [person_line(line, digest) for line in f.people]
        body += _pack(":busts_in_silhouette: *Who is on what*", lines, "people")

    room = MAX_BLOCKS - len(head)
    if len(body) <= room:
        return head + [block for block, _ in body]
    kept = body[: room - 1]
    left_out = sum(n for _, n in body[room - 1 :])
    cut = _context(
        f":scissors: Cut to fit Slack: {_plural(left_out, 'more line')} not shown. "
        f"See everything in {project}.",
        "digest_cut",
    )
    return head + [block for block, _ in kept] + [cut]


def digest_text(digest: StandupDigest) -> str:
    """The notification text (no markup from Asana survives)."""
    f = digest.facts
    name = escape(clip(digest.project_name or digest.project_gid, 100))
    if f.quiet:
        return f"Quiet day in {name}: nothing finished, moved, blocked, late or at risk."
    return (
        f"Stand-up for {name}: {len(f.blocked)} blocked, {len(f.overdue)} overdue, "
        f"{len(f.at_risk)} at risk, {len(f.done)} done"
    )
