"""Block Kit for triage cards and /estimate proposals: pure functions over the use case's views.

Everything from Asana or the model is escaped. A triage card details its first few tasks, each
with an assignee menu (static_select: the pick is kept with the proposal and written only on
Approve); a burst lists the rest in one line each, so 50 tasks stay one message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.render.text import clip, escape, mention
from bot.render.triage import candidate_label, criteria_source, estimate_line, points
from bot.surfaces.slack.blocks.common import (
    MAX_BLOCKS,
    actions_blocks,
    context,
    link,
    pack_lines,
    proposal_actions,
    proposal_head,
    section,
)

ASSIGNEE = "triage_assignee"  # action_id of the assignee menus
DETAILED = 4  # tasks shown in full (with a menu); the rest of a burst one line each
SHOWN_ESTIMATES = 30
NOBODY = "none"


def _evidence_lines(estimate: Mapping[str, Any] | None) -> list[str]:
    if not estimate or not estimate["evidence"]:
        return []
    return [
        f"   ◦ {link(e['permalink'], clip(e['name'], 80))} — {points(e['points'])} pts "
        f"(similarity {e['similarity']:.2f})"
        for e in estimate["evidence"]
    ]


def _detail(row: Mapping[str, Any], criteria_by: str) -> str:
    lines = [
        f"*{link(row['permalink'], clip(row['name'], 150))}* — AI Priority *{row['score']:g}* · "
        f"{round(row['confidence'] * 100)}% confident · suggested sprint *{row['sprint']}*",
        f"_{escape(clip(row['rationale'], 280))}_",
    ]
    estimate = row.get("estimate")
    if row.get("story_points") is not None:
        lines.append(
            f"*Story Points:* {points(row['story_points'])} set by a person, kept "
            f"(estimate: {escape(estimate_line(estimate))})"
        )
    else:
        lines.append(f"*Story Points:* {escape(estimate_line(estimate))}")
    lines += _evidence_lines(estimate)
    by = criteria_source(criteria_by)
    lines.append(f"*Acceptance criteria*, {by}:")
    lines += [f"• {escape(clip(c, 200))}" for c in row["criteria"]]
    if row["duplicates"]:
        lines.append("*Possible duplicates:*")
        lines += [
            f"• {link(d['permalink'], clip(d['name'], 100))} (similarity {d['similarity']:.2f})"
            for d in row["duplicates"]
        ]
    else:
        lines.append("*Possible duplicates:* none among the open tasks")
    return "\n".join(lines)


def _menu(row: Mapping[str, Any], proposal_id: str, horizon: int) -> dict[str, Any] | None:
    candidates: Sequence[Mapping[str, Any]] = row["candidates"]
    if not candidates:
        return None
    options = [
        {
            "text": {
                "type": "plain_text",
                "text": clip(candidate_label(c), 75),
            },
            "value": f"{row['gid']}:{c['gid']}",
        }
        for c in candidates
    ]
    options.append(
        {"text": {"type": "plain_text", "text": "Nobody"}, "value": f"{row['gid']}:{NOBODY}"}
    )
    skills = ", ".join(row["skills"]) or "any skill"
    return {
        "type": "actions",
        "block_id": f"triage:{proposal_id}:{row['gid']}",
        "elements": [
            {
                "type": "static_select",
                "action_id": ASSIGNEE,
                "placeholder": {
                    "type": "plain_text",
                    "text": clip(f"Assign to… ({skills}; next {horizon} weeks)", 150),
                },
                "options": options,
            }
        ],
    }


def _finish(
    blocks: list[dict[str, Any]],
    lines: Sequence[str],
    proposal_id: str,
    decision: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """`lines` in as many sections as still fit (one block kept for the buttons), then those."""
    budget = MAX_BLOCKS - len(blocks) - 1
    blocks.extend(section(t) for t in pack_lines(lines)[:budget])
    blocks += actions_blocks(proposal_actions(proposal_id, decision, has_more=False), block_id=None)
    return blocks


def triage_blocks(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    decision: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """A triage card (one task, or a burst); with `decision`, the same after Approve/Reject."""
    rows: Sequence[Mapping[str, Any]] = view["rows"]
    project = view["project"]
    count = f"{len(rows)} new task{'s' if len(rows) != 1 else ''}"
    blocks = proposal_head(f"Triage · {count} · {project['name']}", decision)
    scoring = f"model {escape(view['model'])}" if view.get("model") else "rules score (no model)"
    blocks.append(
        context(
            f"Proposed by the copilot when the task{'s were' if len(rows) != 1 else ' was'} "
            f"created · {scoring} · estimates from {view['history']} finished tasks · "
            "Approve writes the AI fields, Story Points where empty, the assignee picked below, "
            "and a comment on each task."
        )
    )
    if view.get("missing_fields"):
        blocks.append(
            context(
                "Missing fields: "
                + ", ".join(escape(f) for f in view["missing_fields"])
                + f" (run `copilot setup --project {escape(project['gid'])}`)."
            )
        )
    for row in rows[:DETAILED]:
        blocks.append({"type": "divider"})
        blocks.append(section(_detail(row, row.get("criteria_by", view["criteria_by"]))))
        menu = _menu(row, proposal_id, view["horizon_weeks"]) if decision is None else None
        if menu is not None:
            blocks.append(menu)
    rest = rows[DETAILED:]
    lines: list[str] = []
    if rest:
        blocks.append({"type": "divider"})
        lines = [f"*And {len(rest)} more* (Approve covers them too; no assignee is written):"]
        lines += [
            f"• {link(r['permalink'], clip(r['name'], 100))} — *{r['score']:g}* · {r['sprint']}"
            f" · {escape(estimate_line(r.get('estimate')).split(' (')[0])}"
            for r in rest
        ]
    return _finish(blocks, lines, proposal_id, decision)


def estimate_blocks(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    decision: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """/estimate: each open task without an estimate, its proposed Story Points and evidence."""
    rows: Sequence[Mapping[str, Any]] = view["rows"]
    project = view["project"]
    blocks = proposal_head(f"Story point estimates · {project['name']}", decision)
    blocks.append(
        context(
            f"{len(rows)} of {view['open']} open tasks have no estimate · learned from "
            f"{view['history']} finished tasks · proposed by {mention(proposed_by)} · Approve "
            "writes Story Points where still empty (a person's estimate is never overwritten)."
        )
    )
    blocks.append({"type": "divider"})
    lines = []
    for r in rows[:SHOWN_ESTIMATES]:
        lines.append(
            f"• {link(r['permalink'], clip(r['name'], 120))} — "
            f"*{escape(estimate_line(r['estimate']))}*"
        )
        lines += _evidence_lines(r["estimate"])
    if len(rows) > SHOWN_ESTIMATES:
        lines.append(f"…and {len(rows) - SHOWN_ESTIMATES} more (Approve covers them too).")
    return _finish(blocks, lines, proposal_id, decision)
