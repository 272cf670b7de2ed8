"""The demo's triage part (issue 13): a task a person creates in Asana reaches the app through
Asana's webhook, is triaged and approved; then /estimate."""

from __future__ import annotations

import json
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
    hooks = box.services.webhooks
    # What `copilot serve` does when COPILOT_PUBLIC_URL is set: one Asana webhook per linked
    # project, aimed at this app (the handshake happens inside the creation request).
    hooks.public_url = hooks.public_url or box.server.base_url
    say(f"== copilot serve, with COPILOT_PUBLIC_URL={hooks.public_url}: Asana webhooks ==")
    for outcome in hooks.ensure_all():
        name = store.projects[outcome.project_gid]["name"]
        say(f"  {name}: webhook {outcome.webhook_gid} {outcome.action}")
    say()
    author = next(g for g in seed.user_gids.values() if g != store.me)
    say(f"== {store.users[author]['name']} creates “{NEW_TASK}” in {seed.project_name} ==")
    before = len(box.channel_messages())
    gid = _create_as(box, author, seed.project_gid)
    hub = box.asana.webhooks
    if not box.slack.wait_for(lambda: _delivered(hub.deliveries, gid), 60):
        say("  Asana delivered no event")
        return False
    target = f"/asana/events/{seed.project_gid}"
    for _, status, body in hub.deliveries:
        if _delivered([("", status, body)], gid):
            say(f"  Asana POSTs the signed event to {target}: HTTP {status}")
    # The app answered at once and works after the answer; a burst (an import) is gathered
    # into one card. Hand it over now rather than wait for the burst's quiet second.
    box.services.jobs.drain()
    hooks.flush()
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


def _create_as(box: Sandbox, user_gid: str, project_gid: str) -> str:
    """The task a person creates in Asana: the official client with their own token."""
    import asana

    config = asana.Configuration()
    config.host = box.asana.base_url
    config.access_token = box.asana.token_for(user_gid)
    data = {"name": NEW_TASK, "notes": NEW_NOTES, "projects": [project_gid]}
    task = asana.TasksApi(asana.ApiClient(config)).create_task({"data": data}, {})
    return str(task["gid"])


def _delivered(deliveries: list[tuple[str, int, bytes]], task_gid: str) -> bool:
    """Whether a delivery answered 200 carried the task's event."""
    return any(
        status == 200 and task_gid in (e["resource"]["gid"] for e in json.loads(body)["events"])
        for _, status, body in list(deliveries)
    )
