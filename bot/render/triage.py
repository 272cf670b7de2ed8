"""Words shared by both surfaces for triage and /estimate, and the comment posted on a task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.gateways.asana import FIELD_STORY_POINTS


def comment_marker(proposal_id: str) -> str:
    """Put in every triage comment, so a comment that landed is found before posting again."""
    return f"[copilot triage {proposal_id}]"


def points(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def estimate_line(estimate: Mapping[str, Any] | None) -> str:
    """“3 pts (range 2–5, 80 %; held 84 % of past tasks)” in plain words; when the model moved
    it, “5 pts (similar tasks: 3; adjusted by the model within 2–5, …)”."""
    if estimate is None:
        return "no estimate: the project has no finished task with Story Points yet"
    span = f"{points(estimate['low'])}–{points(estimate['high'])}"
    if estimate.get("adjusted_by_model"):
        text = f"{points(estimate['points'])} pts (similar tasks: "
        text += f"{points(estimate['similar_points'])}; adjusted by the model within {span}, "
    else:
        text = f"{points(estimate['points'])} pts (range {span}, "
    text += f"meant to hold {round(estimate['coverage'] * 100)} %"
    measured = estimate.get("measured_coverage")
    if measured is not None:
        text += f"; held {round(measured * 100)} % of the project's recent tasks"
    text += ")"
    if estimate.get("basis") == "project median" and not estimate.get("adjusted_by_model"):
        text += ", the project's median"
    return text


def criteria_source(criteria_by: str) -> str:
    """Who drafted a task's acceptance criteria, as the cards say it."""
    if criteria_by == "model":
        return "drafted by the model"
    return "drafted by rules, no model configured"


def candidate_label(candidate: Mapping[str, Any]) -> str:
    """An assignee menu's choice: the person and their free hours (plain text, unescaped)."""
    return (
        f"{candidate['name']} · {candidate['free_hours']:g} h free of "
        f"{candidate['capacity_hours']:g} h"
    )


def comment_text(row: Mapping[str, Any], proposal_id: str, written: Mapping[str, Any]) -> str:
    """The comment an approved triage leaves on its task: what was written, and why."""
    lines = [
        f"Triaged by the copilot: AI Priority Score {row['score']:g} "
        f"({round(row['confidence'] * 100)} % confident), suggested sprint {row['sprint']}.",
        f"Why: {row['rationale']}",
    ]
    estimate = row.get("estimate")
    if estimate is not None:
        if FIELD_STORY_POINTS in written:
            lines.append(f"Story Points: {estimate_line(estimate)}.")
        else:
            lines.append(
                f"Story Points kept as set by a person; the copilot's estimate was "
                f"{estimate_line(estimate)}."
            )
        if estimate["evidence"]:
            lines.append("Most similar finished tasks:")
            lines += [
                f"- {e['name']}: {points(e['points'])} pts ({e['permalink'] or e['gid']})"
                for e in estimate["evidence"]
            ]
    if row.get("criteria"):
        lines.append("Acceptance criteria (draft):")
        lines += [f"- {c}" for c in row["criteria"]]
    if row.get("duplicates"):
        lines.append("Possible duplicates:")
        lines += [
            f"- {d['name']} ({d['permalink'] or d['gid']}), similarity {d['similarity']:.2f}"
            for d in row["duplicates"]
        ]
    lines.append(comment_marker(proposal_id))
    return "\n".join(lines)
