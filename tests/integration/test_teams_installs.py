"""Teams installs and uninstalls (installationUpdate, issue 12), as Bot Framework sends them: the
real SDK app behind the JWT check, the Teams stand-in, the same store and scheduler as Slack."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.demo import TEAMS_CHANNEL, TEAMS_LEAD
from bot.errors import PostBlocked
from bot.storage.store import DigestScheduleRow

PLANNING = "19:platform-planning@thread.tacv2"


def texts(box, conversation: str) -> list[str]:
    return [
        json.dumps(m.get("attachments"), ensure_ascii=False)
        for m in box.teams.messages_in(conversation)
    ]


def welcomes(box, conversation: str) -> int:
    return sum("Hi! I rank Asana backlogs" in t for t in texts(box, conversation))


def test_an_install_stores_the_reference_and_welcomes_once(box) -> None:
    """Teams sends a conversationUpdate and an installationUpdate "add" for one install."""
    result = box.teams.install(box.app_url_teams, user=TEAMS_LEAD, conversation=PLANNING)
    assert result.status == 200
    box.services.jobs.drain()
    assert box.teams.wait_for(lambda: welcomes(box, PLANNING) >= 1)
    assert welcomes(box, PLANNING) == 1
    where = box.services.store.teams_conversation(PLANNING)
    assert where is not None and where.service_url == box.teams.service_url
    assert box.services.store.teams_install_state(TEAMS_CHANNEL) == "installed"


@pytest.mark.parametrize("action", ["add-upgrade", "remove-upgrade", "upgrade"])
def test_an_upgrade_in_place_changes_nothing(box, action) -> None:
    """Teams' "-upgrade" actions are not in the SDK's model: answered 200 in front of it."""
    box.teams.install(box.app_url_teams, user=TEAMS_LEAD, conversation=PLANNING)
    box.services.jobs.drain()
    result = box.teams.installation_update(
        box.app_url_teams, action, user=TEAMS_LEAD, conversation=PLANNING
    )
    assert result.status == 200
    box.services.jobs.drain()
    assert welcomes(box, PLANNING) == 1
    assert box.services.store.teams_conversation(PLANNING) is not None
    assert box.services.store.teams_install_state(TEAMS_CHANNEL) == "installed"


def scheduled_digest(box, channel: str):
    box.services.store.save_digest_schedule(
        DigestScheduleRow(
            channel=channel,
            project_gid=box.seed.project_gid,
            project_name="Platform Backlog",
            at="09:30",
            tz="UTC",
            days="mon,tue,wed,thu,fri,sat,sun",
        ),
        by="teams:" + box.teams.users[TEAMS_LEAD].aad_object_id,
    )
    schedule = box.services.digests.schedule(f"{channel}:{box.seed.project_gid}")
    assert schedule is not None
    return schedule


def test_a_removal_drops_the_reference_and_stops_scheduled_posts_with_a_record(box) -> None:
    channel = "teams:" + TEAMS_CHANNEL
    box.teams.install(box.app_url_teams, user=TEAMS_LEAD, conversation=TEAMS_CHANNEL)
    box.teams_say("help", expect_proposal=False, conversation=PLANNING)  # a second channel
    schedule = scheduled_digest(box, "teams:" + PLANNING)
    posts_before = len(box.teams.history)

    result = box.teams.uninstall(box.app_url_teams, user=TEAMS_LEAD, conversation=TEAMS_CHANNEL)
    assert result.status == 200
    store = box.services.store
    # The team's conversations lose their references; both are marked removed.
    assert store.teams_conversation(TEAMS_CHANNEL) is None
    assert store.teams_conversation(PLANNING) is None
    assert store.teams_install_state(PLANNING) == "removed"
    # Approvers see why the digest will stop, before it is due.
    problems = [(p.kind, p.channel, p.error) for p in store.delivery_problems()]
    assert ("digest", "teams:" + PLANNING, "app_removed") in problems

    slot = datetime.now(UTC)
    with pytest.raises(PostBlocked, match="removed"):
        box.services.digests.post_scheduled(schedule, slot)
    with pytest.raises(PostBlocked):
        box.services.digests.post_now(box.seed.project_gid, channel)
    assert len(box.teams.history) == posts_before  # nothing was posted
    status = store.slot_status(
        kind="digest",
        channel=schedule.channel,
        project_gid=schedule.project_gid,
        slot=slot.date().isoformat(),
    )
    assert status == "refused"  # kept: not retried until a person acts

    # Added again: a welcome, and posts go through again.
    box.teams.install(box.app_url_teams, user=TEAMS_LEAD, conversation=TEAMS_CHANNEL)
    box.services.jobs.drain()
    assert store.teams_install_state(PLANNING) == "installed"
    assert box.services.digests.post_now(box.seed.project_gid, channel).status == "posted"


def test_the_home_tab_tells_slack_approvers_why_a_teams_digest_stopped(box) -> None:
    from bot.surfaces.slack.blocks.home import delivery_problem_blocks

    box.teams.install(box.app_url_teams, user=TEAMS_LEAD, conversation=TEAMS_CHANNEL)
    scheduled_digest(box, "teams:" + TEAMS_CHANNEL)
    box.teams.uninstall(box.app_url_teams, user=TEAMS_LEAD, conversation=TEAMS_CHANNEL)
    shown = json.dumps(delivery_problem_blocks(box.services.store.delivery_problems()))
    assert "The copilot was removed from that Teams team or chat" in shown
    assert "reinstall" not in shown  # not Slack's fix
