"""`copilot demo`'s retrospective (issue 14): /retro in the sandbox, then Approve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def retro_demo(box: Any, say: Callable[[str], None]) -> bool:
    """`copilot demo`: /retro on the seed's last finished sprint, then Approve (issue 14)."""
    from bot.demo import CHANNEL, LEAD, proposal_id_of

    box.asana.reset_requests()
    say(f"== {LEAD} types /retro in #{CHANNEL} ==")
    answer, message = box.command("/retro")
    say(f"  ack: HTTP {answer.status} in {answer.elapsed_ms:.0f} ms")
    if message is None:
        say("  no retrospective arrived")
        return False
    reads = box.asana.count()
    say()
    say("== The retrospective, as the channel sees it ==")
    say(box.slack.render(message))
    say()
    view = box.services.store.proposal(proposal_id_of(message)).view
    box.asana.reset_requests()
    say(f"== {LEAD} presses Approve ==")
    box.click(message["ts"], "proposal_approve")
    store = box.asana.store
    target = box.seed.retro_project_gid
    made = [
        t for t in store.tasks.values() if any(m["project"] == target for m in t["memberships"])
    ]
    say(
        f"  {len(made)} tasks in “{store.projects[target]['name']}”: "
        + "; ".join(f"“{t['name']}”" for t in made)
    )
    say(
        f"  Asana requests: {reads} to look back; {box.asana.count('POST', '/tasks')} creations "
        f"({len(view['actions'])} action items, the retrospective task and its comment) to approve."
    )
    say()
    return True
