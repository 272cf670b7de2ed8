"""Adaptive Cards for triage and /estimate, from the same views as Slack's blocks.

Each detailed task of a triage card has an Input.ChoiceSet (id `assignee:<task gid>`); Teams
submits the inputs' values with the Approve Action.Execute, and only a pick made there is
written. Everything from Asana or the model is escaped for Adaptive Card markdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.render.triage import candidate_label, criteria_source, estimate_line, points
from bot.surfaces.teams.cards import (
    Names,
    card,
    clip,
    fit,
    link,
    md,
    proposal_actions,
    proposal_head,
    subtle,
    text,
)

DETAILED = 4
SHOWN_ESTIMATES = 30
NOBODY = "none"


def _evidence(estimate: Mapping[str, Any] | None) -> list[str]:
    if not estimate or not estimate["evidence"]:
        return []
    return [
        f"- {link(e['permalink'], clip(e['name'], 80))}: {points(e['points'])} pts "
        f"(similarity {e['similarity']:.2f})"
        for e in estimate["evidence"]
    ]


def _detail(row: Mapping[str, Any], criteria_by: str) -> list[dict[str, Any]]:
    estimate = row.get("estimate")
    lines = [
        f"**{link(row['permalink'], clip(row['name'], 150))}**: AI Priority **{row['score']:g}**, "
        f"{round(row['confidence'] * 100)}% confident, suggested sprint **{row['sprint']}**",
        f"_{md(clip(row['rationale'], 280))}_",
    ]
    if row.get("story_points") is not None:
        lines.append(
            f"**Story Points:** {points(row['story_points'])} set by a person, kept "
            f"(estimate: {md(estimate_line(estimate))})"
        )
    else:
        lines.append(f"**Story Points:** {md(estimate_line(estimate))}")
    lines += _evidence(estimate)
    by = criteria_source(criteria_by)
    lines.append(f"**Acceptance criteria**, {by}:")
    lines += [f"- {md(clip(c, 200))}" for c in row["criteria"]]
    if row["duplicates"]:
        lines.append("**Possible duplicates:**")
        lines += [
            f"- {link(d['permalink'], clip(d['name'], 100))} (similarity {d['similarity']:.2f})"
            for d in row["duplicates"]
        ]
    else:
        lines.append("**Possible duplicates:** none among the open tasks")
    return [text("\n\n".join(lines), separator=True)]


def _menu(row: Mapping[str, Any], horizon: int) -> dict[str, Any] | None:
    candidates: Sequence[Mapping[str, Any]] = row["candidates"]
    if not candidates:
        return None
    skills = ", ".join(row["skills"]) or "any skill"
    return {
        "type": "Input.ChoiceSet",
        "id": f"assignee:{row['gid']}",
        "style": "compact",
        "label": clip(f"Assign to ({skills}; next {horizon} weeks)", 150),
        "placeholder": "Nobody unless picked",
        "choices": [
            {
                "title": clip(candidate_label(c), 75),
                "value": c["gid"],
            }
            for c in candidates
        ]
        + [{"title": "Nobody", "value": NOBODY}],
    }


def triage_card(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    names: Names,
    decision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    rows: Sequence[Mapping[str, Any]] = view["rows"]
    count = f"{len(rows)} new task{'s' if len(rows) != 1 else ''}"
    scoring = f"model {md(view['model'])}" if view.get("model") else "rules score (no model)"

    def build(shown: int) -> dict[str, Any]:
        body = proposal_head(f"Triage · {count} · {view['project']['name']}", decision, names)
        body.append(
            subtle(
                f"Proposed by the copilot when created · {scoring} · estimates from "
                f"{view['history']} finished tasks · Approve writes the AI fields, Story Points "
                "where empty, the assignee picked below, and a comment on each task."
            )
        )
        for row in rows[:shown]:
            body += _detail(row, row.get("criteria_by", view["criteria_by"]))
            menu = _menu(row, view["horizon_weeks"]) if decision is None else None
            if menu is not None:
                body.append(menu)
        rest = rows[shown:]
        if rest:
            lines = [f"**And {len(rest)} more** (Approve covers them too; no assignee is written):"]
            lines += [
                f"- {link(r['permalink'], clip(r['name'], 100))}: **{r['score']:g}**, "
                f"{r['sprint']}, {md(estimate_line(r.get('estimate')).split(' (')[0])}"
                for r in rest
            ]
            body.append(text("\n".join(lines), separator=True))
        return card(body, proposal_actions(proposal_id, decision, page_from=None))

    return fit(build, min(DETAILED, len(rows)))


def estimate_card(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    names: Names,
    decision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    rows: Sequence[Mapping[str, Any]] = view["rows"]

    def build(shown: int) -> dict[str, Any]:
        body = proposal_head(f"Story point estimates · {view['project']['name']}", decision, names)
        body.append(
            subtle(
                f"{len(rows)} of {view['open']} open tasks have no estimate · learned from "
                f"{view['history']} finished tasks · proposed by {md(names(proposed_by))} · "
                "Approve writes Story Points where still empty."
            )
        )
        lines: list[str] = []
        for r in rows[:shown]:
            lines.append(
                f"- {link(r['permalink'], clip(r['name'], 120))}: "
                f"**{md(estimate_line(r['estimate']))}**"
            )
            lines += ["  " + e for e in _evidence(r["estimate"])]
        if len(rows) > shown:
            lines.append(f"…and {len(rows) - shown} more (Approve covers them too).")
        body.append(text("\n".join(lines), separator=True))
        return card(body, proposal_actions(proposal_id, decision, page_from=None))

    return fit(build, min(SHOWN_ESTIMATES, len(rows)))
