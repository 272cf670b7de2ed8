"""The demo's triage part (issue 13): a task created in Asana is triaged, approved; /estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.demo import Sandbox

NEW_TASK = "Add CSV export to the billing reports"
NEW_NOTES = (
    "Finance needs the monthly billing report as a spreadsheet.\n"
    "- Columns match the PDF report\n"
    "- Works for 10,000 rows\n"
)


def triage_demo(box: Sandbox, say: Any) -> bool:
    """A person creates a task; the card appears; the lead picks an assignee and approves it.
    Then /estimate fills the tasks /plan-sprint left out as needing an estimate."""
    from bot.demo import CHANNEL, LEAD, proposal_id_of

    store, seed = box.asana.store, box.seed
    box.link(seed.project_gid, CHANNEL)
    author = next(g for g in seed.user_gids.values() if g != store.me)
    say(f"== {store.users[author]['name']} creates “{NEW_TASK}” in {seed.project_name} ==")
    gid = store.add_task(seed.project_gid, NEW_TASK, notes=NEW_NOTES, by=author)
    before = len(box.channel_messages())
    # What an Asana webhook delivery does (issue 13 §1): tell the triage service.
    box.services.triage.tasks_created(seed.project_gid, [gid])
    box.services.triage.settle()
    if len(box.channel_messages()) == before:
        say("  no triage card arrived")
        return False
    card = box.channel_messages()[-1]
    say()
    say("== The triage card, as the channel sees it ==")
    say(box.slack.render(card))
    say()
    proposal_id = proposal_id_of(card)
    view = box.services.store.proposal(proposal_id).view  # type: ignore[union-attr]
    [row] = view["rows"]
    if row["candidates"]:
        chosen = row["candidates"][0]
        say(f"== {LEAD} picks {chosen['name']} in the menu, then presses Approve ==")
        box.slack.choose_option(
            box.app_url,
            channel_id=CHANNEL,
            message_ts=card["ts"],
            block_id=f"triage:{proposal_id}:{gid}",
            value=f"{gid}:{chosen['gid']}",
            user_id=LEAD,
        )
        box.services.jobs.drain()
    box.click(card["ts"], "proposal_approve")
    say("\n".join(box.slack.render(box.channel_messages()[-1]).splitlines()[:2]))
    task = store.tasks[gid]
    assignee = store.users[task["assignee"]]["name"] if task["assignee"] else "nobody"
    say(
        f"  Asana: AI Priority Score {store.field_value(gid, 'AI Priority Score')}, Story Points "
        f"{store.field_value(gid, 'Story Points')}, assignee {assignee}, "
        f"{len(store.stories[gid])} comment"
    )
    say()

    say(f"== {LEAD} types /estimate in #{CHANNEL} ==")
    _, message = box.command("/estimate")
    if message is None:
        say("  no estimate proposal arrived")
        return False
    say(box.slack.render(message))
    say()
    rows = box.services.store.proposal(proposal_id_of(message)).view["rows"]  # type: ignore[union-attr]
    say(f"== {LEAD} presses Approve ==")
    box.click(message["ts"], "proposal_approve")
    filled = [r for r in rows if store.field_value(r["gid"], "Story Points") is not None]
    say(f"  {len(filled)} of {len(rows)} tasks that needed an estimate now have Story Points.")
    say()
    return True
