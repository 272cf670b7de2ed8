"""The Block Kit message of any proposal, by its kind (every flow shares the approval engine).

Its own module so that blocks.py, which the per-kind builders build on, imports none of them:
no import circle between blocks and sprint/overload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.surfaces.slack.blocks.common import priority_blocks
from bot.surfaces.slack.blocks.overload import overload_blocks
from bot.surfaces.slack.blocks.retro import retro_blocks
from bot.surfaces.slack.blocks.sprint import sprint_blocks
from bot.surfaces.slack.triage_blocks import estimate_blocks, triage_blocks


def proposal_blocks(
    view: Mapping[str, Any],
    proposal_id: str,
    *,
    proposed_by: str,
    decision: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The message of a proposal; with `decision`, the same message after Approve/Reject."""
    kind = view.get("kind")
    if kind == "prioritize":
        return priority_blocks(view, proposal_id, proposed_by=proposed_by, decision=decision)
    if kind == "overload":
        return overload_blocks(view, proposal_id, proposed_by=proposed_by, decision=decision)
    if kind == "plan_sprint":
        return sprint_blocks(view, proposal_id, proposed_by=proposed_by, decision=decision)
    if kind == "retro":
        return retro_blocks(view, proposal_id, proposed_by=proposed_by, decision=decision)
    if kind == "triage":
        return triage_blocks(view, proposal_id, proposed_by=proposed_by, decision=decision)
    if kind == "estimate":
        return estimate_blocks(view, proposal_id, proposed_by=proposed_by, decision=decision)
    raise ValueError(f"no message builder for proposals of kind {kind!r}")
