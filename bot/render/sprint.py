"""Words of a sprint proposal that both surfaces say alike (each adds its own markup)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def capacity_reason(view: Mapping[str, Any]) -> str:
    """Why the sprint's capacity is what it is: the number given, the velocity, or the sum."""
    cap, unit = view["capacity"], view["unit"]
    days = cap["sprint_days"]
    if cap["source"] == "argument":
        given = cap["argument"]
        why = f"the {given['value']:g} {given['unit']} you gave"
        if given["unit"] != unit:
            why += f" (at {view['hours_per_point']:g} h per point)"
        return why
    if cap["source"] == "velocity":
        sprints = cap["sprints"]
        shown = ", ".join(f"{s:g}" for s in sprints[:-1]) + f" and {sprints[-1]:g}"
        return (
            f"the team's velocity, the mean of {shown} {unit} completed in the last "
            f"{len(sprints)} sprints of {days} days (newest first)"
        )
    return (
        f"no estimated work was completed in the last three {days}-day sprints, so the sum "
        "of everyone's capacity below"
    )
