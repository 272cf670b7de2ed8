"""Posting a retrospective on the surface of its channel, and the morning-after job.

The job runs every morning in the team's zone (STANDUP_TZ): for each digest schedule's channel
and project, each sprint that ended since the last morning gets its retrospective, once. The
posted ledger (kind "retro", slot = the sprint's name) is claimed before anything is read, as
the digests' is, so a second instance or a restart posts nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.errors import CopilotError
from bot.usecases.approvals import new_owner
from bot.usecases.retro import RetroReport

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

JOB_ID = "retro:morning-after"
JOB_AT = "09:00"
LEDGER_KIND = "retro"
CATCH_UP_DAYS = 3  # a sprint ending on Friday is looked back on by Monday's run at the latest
STALE_CLAIM = timedelta(minutes=15)


def post_retro(services: Services, report: RetroReport, channel: str, *, by: str) -> str:
    """Post the retrospective where `channel` lives (Slack, or `teams:`); the message id."""
    if channel.startswith("teams:"):
        if services.teams is None:
            raise CopilotError(f"{channel} is a Teams channel, but Teams is not configured")
        return services.teams.post_proposal(channel, report.view, report.id, proposed_by=by)
    from bot.presenters import post_proposal
    from bot.render.blocks import fallback_text
    from bot.surfaces.slack.retro import retro_blocks

    return post_proposal(
        services,
        report.id,
        channel,
        text=fallback_text(report.view),
        blocks=retro_blocks(report.view, report.id, proposed_by=by),
    )


def morning_after(services: Services, *, owner: str | None = None) -> list[str]:
    """Post each retrospective due this morning, once across instances; the sprints posted."""
    owner = owner or new_owner()
    store, retros = services.store, services.retros
    today = retros.today()
    posted: list[str] = []
    for schedule in services.digests.schedules():
        try:
            project = services.asana.project(schedule.project_gid)
            due = [
                w
                for w in retros.finished(project)
                if today - timedelta(days=CATCH_UP_DAYS) <= w.end < today
            ]
        except CopilotError as exc:
            log.error("retrospectives of %s not checked: %s", schedule.project_gid, exc)
            continue
        for window in due:
            key = {
                "kind": LEDGER_KIND,
                "channel": schedule.channel,
                "project_gid": project.gid,
                "slot": window.name,
            }
            if not store.claim_slot(
                **key, owner=owner, scheduled_for=None, stale_after=STALE_CLAIM
            ):
                continue
            try:
                report = retros.report(
                    project, window.name, channel=schedule.channel, user="copilot"
                )
            except BaseException:
                store.release_slot(**key, owner=owner)
                raise
            if not store.begin_posting(**key, owner=owner):
                continue
            ts = post_retro(services, report, schedule.channel, by="copilot")
            store.slot_posted(**key, message_ts=ts)
            posted.append(window.name)
    return posted


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
