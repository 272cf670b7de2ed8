"""Block Kit primitives and the /prioritize proposal: pure functions from views to messages.

Everything that came from Asana or the model is escaped here, so a task named `<!channel>` pings
nobody; messages stay inside Block Kit's limits (50 blocks, 3,000 characters a text) whatever the
backlog size.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.render.text import clip, escape, mention

MAX_BLOCKS = 50
MAX_TEXT = 3000
TOP_TASKS = 20
PAGE_SIZE = 40
NAME_MAX = 150

APPROVE = "proposal_approve"
REJECT = "proposal_reject"
RETRY = "proposal_retry"
PAGE = "proposal_page"

_SAFE_URL = re.compile(r"^https?://[^\s<>|]+$")


def link(url: str | None, label: str) -> str:
    """A link to a URL we trust the shape of; otherwise just the escaped label."""
    shown = escape(label)
    if url and _SAFE_URL.match(url):
        return f"<{url}|{shown}>"
    return shown


def slack_date(moment: datetime) -> str:
    """Shown in each reader's own time zone, with a UTC fallback."""
    epoch = int(moment.timestamp())
    # The moment may be local to a team's zone (a digest's window): the fallback says UTC.
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{fallback}>"


def header(text: str) -> dict[str, Any]:
    """A header block (plain text, at most 150 characters)."""
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, 150)}}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip_text(text)}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip_text(text)}]}


def clip_text(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def pack_lines(lines: Sequence[str], limit: int = MAX_TEXT) -> list[str]:
    """Join lines into as few texts as fit `limit` characters each, never splitting a line."""
    texts: list[str] = []
    current = ""
    for line in lines:
        line = clip_text(line)
        if current and len(current) + 1 + len(line) > limit:
            texts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        texts.append(current)
    return texts


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        block["style"] = style
    return block


def _task_line(row: Mapping[str, Any], *, long: bool) -> str:
    name = link(row.get("permalink"), clip(row["name"], NAME_MAX))
    confidence = f"{round(row['confidence'] * 100)}% confident"
    head = f"*{row['rank']}.* {name} — *{row['score']:g}* · {confidence} · {row['sprint']}"
    if not long:
        return head
    who = escape(row.get("assignee")) or "unassigned"
    source = row["source"]
    tail = f"{escape(clip(row['rationale'], 280))}\n_{who} · {source}"
    if row.get("note"):
        tail += f" ({escape(clip(row['note'], 120))})"
    return f"{head}\n{tail}_"


def priority_blocks(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    decision: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The /prioritize proposal; with `decision`, the same message after Approve/Reject."""
    project = view["project"]
    rows: Sequence[Mapping[str, Any]] = view["rows"]
    blocks = proposal_head(f"AI priorities · {project['name']}", decision)
    by_source = view["counts"]["by_source"]
    parts = [f"{len(rows)} open tasks ranked", f"proposed by {mention(proposed_by)}"]
    if view.get("model"):
        parts.append(f"model {escape(view['model'])}")
    parts.extend(f"{n} by {escape(src)}" for src, n in sorted(by_source.items()))
    blocks.append(context(" · ".join(parts)))
    warnings = []
    if view.get("missing_fields"):
        names = ", ".join(view["missing_fields"])
        warnings.append(
            f":warning: The project lacks {escape(names)}: run `copilot setup --project "
            f"{escape(project['gid'])}` before approving."
        )
    if view.get("refused"):
        count = view.get("fallbacks")
        who = (
            f"{count} task{'s' if count != 1 else ''} use{'s' if count == 1 else ''}"
            if count
            else "those tasks use"
        )
        warnings.append(
            f":warning: Some model answers were refused, {who} the rules score: "
            + escape("; ".join(view["refused"])[:500])
        )
    if view.get("reasked"):
        asked = "; ".join(f"{n} because {why}" for why, n in view["reasked"].items())
        warnings.append(f"Asked the model again with the task alone: {escape(asked)[:500]}.")
    if warnings:
        blocks.append(section("\n".join(warnings)))
    blocks.append({"type": "divider"})
    for row in rows[:TOP_TASKS]:
        blocks.append(section(_task_line(row, long=True)))
    more = len(rows) - TOP_TASKS
    if more > 0:
        blocks.append(
            context(
                f"…and {more} more in this proposal (it covers all {len(rows)} open tasks). "
                "Press *Show all* to page through them; once approved, sort the project by "
                "*AI Priority Score* in Asana."
            )
        )
    blocks += actions_blocks(proposal_actions(proposal_id, decision, has_more=more > 0))
    assert len(blocks) <= MAX_BLOCKS
    return blocks


def proposal_head(title: str, decision: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A proposal's header; after a click, who decided and what happened, right under it."""
    blocks: list[dict[str, Any]] = [header(title)]
    if decision is not None:
        blocks.append(section(decision_text(decision)))
    return blocks


def actions_blocks(
    elements: list[dict[str, Any]], *, block_id: str | None = "proposal_actions"
) -> list[dict[str, Any]]:
    """The buttons' actions block, or nothing when there is no button left to press."""
    if not elements:
        return []
    block: dict[str, Any] = {"type": "actions", "elements": elements}
    if block_id is not None:
        block["block_id"] = block_id
    return [block]


def proposal_actions(
    proposal_id: str, decision: Mapping[str, Any] | None, *, has_more: bool
) -> list[dict[str, Any]]:
    elements = []
    if decision is None:
        elements += [
            button("Approve", APPROVE, proposal_id, "primary"),
            button("Reject", REJECT, proposal_id, "danger"),
        ]
    elif decision.get("status") == "partial":
        elements.append(button("Retry failed writes", RETRY, proposal_id, "primary"))
    if has_more:
        elements.append(button("Show all", PAGE, f"{proposal_id}:{TOP_TASKS}"))
    return elements


def decision_text(decision: Mapping[str, Any]) -> str:
    """Who decided, when, and what happened to every task that was not written."""
    status = decision["status"]
    who = mention(decision.get("by"))
    when = slack_date(decision["at"]) if decision.get("at") else ""
    if status == "rejected":
        return f":x: *Rejected* by {who} {when}. Nothing was written to Asana."
    written = decision.get("written", 0)
    skipped: Sequence[Mapping[str, str]] = decision.get("skipped", [])
    failed: Sequence[Mapping[str, str]] = decision.get("failed", [])
    icon, label = (
        (":white_check_mark:", "Approved")
        if status == "applied"
        else (
            ":warning:",
            "Approved, partly applied",
        )
    )
    lines = [
        f"{icon} *{label}* by {who} {when}: "
        f"{written} task{'s' if written != 1 else ''} written to Asana."
    ]
    if decision.get("resumed"):
        lines.append("_Finished after a restart: no write was repeated._")
    for title, entries in (("Skipped", skipped), ("Not written yet", failed)):
        if entries:
            shown = "\n".join(
                f"• {escape(clip(e['label'], 80))}: {escape(clip(e['reason'], 160))}"
                for e in entries[:8]
            )
            extra = f"\n…and {len(entries) - 8} more" if len(entries) > 8 else ""
            lines.append(f"*{title} ({len(entries)}):*\n{shown}{extra}")
    if failed:
        lines.append("Press *Retry failed writes* to try those again.")
    return "\n".join(lines)


def page_blocks(view: Mapping[str, Any], proposal_id: str, offset: int) -> list[dict[str, Any]]:
    """One page of the full ranking, shown only to the person who asked."""
    rows: Sequence[Mapping[str, Any]] = view["rows"]
    page = rows[offset : offset + PAGE_SIZE]
    end = offset + len(page)
    blocks: list[dict[str, Any]] = [
        context(f"{escape(view['project']['name'])}: ranks {offset + 1}–{end} of {len(rows)}")
    ]
    for start in range(0, len(page), 10):
        lines = [_task_line(r, long=False) for r in page[start : start + 10]]
        blocks.append(section("\n".join(lines)))
    if end < len(rows):
        blocks.append(
            {
                "type": "actions",
                "elements": [button(f"Next {PAGE_SIZE}", PAGE, f"{proposal_id}:{end}")],
            }
        )
    return blocks


def fallback_text(view: Mapping[str, Any]) -> str:
    """The notification text (no markup from Asana survives)."""
    if view.get("fallback"):
        return clip(escape(str(view["fallback"])), 300)
    return clip(
        f"AI priorities for {escape(view['project']['name'])}: {len(view['rows'])} tasks ranked",
        300,
    )


def notice_blocks(text: str) -> list[dict[str, Any]]:
    return [section(text)]
