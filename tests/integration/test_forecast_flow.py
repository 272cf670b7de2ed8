"""/forecast end to end (issue 14 §2): the real Bolt app, the real Asana and Slack clients, the
Teams stand-in, the sandbox on loopback.

The seed has three finished sprints (Sprint 21–23, ten completed tasks each, 1–8 points) and the
current one (Sprint 24). The tests mark some open, estimated tasks Next and Future (what an
approved /prioritize does), then ask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.demo import CHANNEL, LEAD, TEAMS_CHANNEL, TEAMS_LEAD, Sandbox, running_sandbox
from bot.domain.delivery_inputs import ScopeKind
from bot.sandbox.asana_server import format_timestamp
from bot.sandbox.slack_standin import SlackChannel
from bot.surfaces.slack.blocks.digest import digest_blocks
from bot.surfaces.teams.cards import digest_card
from bot.surfaces.teams.forecast_cards import CHART_NOTE
from tests.clock import BERLIN, FrozenNow, local

from .conftest import backend_env, last_ephemeral

NEXT = 8  # open, estimated tasks marked Next
FUTURE = 6  # and Future


def mark_next_and_future(box: Sandbox) -> tuple[list[str], list[str]]:
    """Set AI Suggested Sprint on the first estimated, top-level open tasks; (next, future)."""
    store = box.asana.store
    field = store.find_field(box.seed.workspace_gid, "AI Suggested Sprint")
    points = box.seed.field_gids["Story Points"]
    assert field is not None
    candidates = [
        t["gid"]
        for t in store.tasks.values()
        if box.seed.project_gid in store.task_projects(t["gid"])
        and not t.get("completed")
        and not t.get("parent")
        and t["custom_values"].get(points) is not None
    ]
    nexts, futures = candidates[:NEXT], candidates[NEXT : NEXT + FUTURE]
    for gid in nexts:
        store.set_custom_field(gid, field, "Next")
    for gid in futures:
        store.set_custom_field(gid, field, "Future")
    return nexts, futures


@pytest.fixture
def fbox(frozen_now: FrozenNow, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    env = frozen_now.env | backend_env(request)
    with running_sandbox(tasks=30, use_model=False, lease_seconds=1.0, env=env) as box:
        box.setup_fields()
        yield box


def text_of(message: dict) -> str:
    """The message's blocks as JSON, without the block ids Slack fills in."""
    blocks = [{k: v for k, v in b.items() if k != "block_id"} for b in message["blocks"]]
    return json.dumps(blocks, ensure_ascii=False)


def forecast(box: Sandbox, text: str = "", **kw: str) -> dict | None:
    answer, message = box.command("/forecast", text, **kw)
    assert answer.status == 200
    return message


def refused(box: Sandbox, text: str = "", **kw: str) -> dict | None:
    """A /forecast expected to post nothing: waits for its queued work, not for a message."""
    answer, message = box.command("/forecast", text, expect_message=False, **kw)
    assert answer.status == 200
    return message


def test_where_the_bot_cannot_join_the_channel_is_told_the_burn_up_was_not_shared(
    fbox: Sandbox,
) -> None:
    mark_next_and_future(fbox)
    fbox.slack.scopes = fbox.slack.scopes - {"channels:join"}
    fbox.slack.add_conversation(SlackChannel(CHANNEL, bot_member=False))
    assert forecast(fbox) is not None, last_ephemeral(fbox)
    said = [fbox.slack.render(m) for m in fbox.slack.channel_messages(CHANNEL)]
    assert fbox.slack.file_shares == []
    assert any(
        "The burn-up chart could not be shared" in text and "the next forecast" in text
        for text in said
    ), said


def test_forecast_posts_p50_and_p85_for_next_and_future_with_assumptions_and_a_chart(
    fbox: Sandbox,
) -> None:
    mark_next_and_future(fbox)
    message = forecast(fbox)
    assert message is not None, last_ephemeral(fbox)
    body = text_of(message)
    assert "Delivery forecast · " + fbox.seed.project_name in body
    assert f"*Scope: Next + Future* ({NEXT + FUTURE} open tasks" in body
    assert "*P50 " in body and "*P85 " in body
    # What it rests on: the three seeded sprints by name, the runs, the scope growth measured
    # (the seeded tasks were created during those sprints).
    assert "10,000 simulated runs" in body
    assert "; scope grew by a mean of " in body and " over the last 3 sprints; simulated" in body
    assert "most recent first" in body
    assert "(no /plan-sprint approved yet)" in body
    # The current sprint's other open work (Sprint 24) counts first, and says so.
    assert "Sprint 24" in body and "counts first" in body
    # The burn-up chart went to the channel as a PNG, after the app joined it.
    shares = [c for c in fbox.slack.calls_to("files.completeUploadExternal") if c.ok]
    assert len(shares) == 1 and shares[0].args["channel_id"] == CHANNEL
    (record,) = fbox.slack.files.values()
    assert record["content"][:8] == b"\x89PNG\r\n\x1a\n"

    # Same inputs, same answer: the runs are seeded.
    again = forecast(fbox)
    assert again is not None
    assert text_of(again) == body


def created_on(box: Sandbox, gids: Iterable[str], day: date, tz: str) -> None:
    """Date the tasks' creation (Asana's read-only created_at) to noon of `day` in `tz`."""
    store = box.asana.store
    stamp = format_timestamp(datetime.combine(day, time(12), ZoneInfo(tz)))
    with store.lock:
        for gid in gids:
            store.tasks[gid]["created_at"] = stamp


def p85_sprint(body: str) -> int:
    found = re.search(r"\*P85 [^*]*\* \(sprint (\d+)\)", body)
    assert found is not None, body
    return int(found.group(1))


def test_scope_growth_is_measured_from_tasks_created_in_past_sprints_and_simulated(
    fbox: Sandbox, frozen_now: FrozenNow
) -> None:
    nexts, futures = mark_next_and_future(fbox)
    scope = nexts + futures
    # No scope task was created in the history window (six sprints of 14 days back from today):
    # none seen, nothing simulated.
    long_ago = frozen_now.today - timedelta(days=7 * 14 + 30)
    created_on(fbox, scope, long_ago, frozen_now.tz)
    still = forecast(fbox)
    assert still is not None, last_ephemeral(fbox)
    body = text_of(still)
    assert "; no scope growth seen in the last 3 sprints" in body
    before = p85_sprint(body)

    # The same scope, but half of it was created in the sprint before this one (which starts
    # today, no sprint being approved) and half in the one before: the scope grew then.
    store = fbox.asana.store
    points = fbox.seed.field_gids["Story Points"]
    half = len(scope) // 2
    created_on(fbox, scope[:half], frozen_now.today - timedelta(days=3), frozen_now.tz)
    created_on(fbox, scope[half:], frozen_now.today - timedelta(days=17), frozen_now.tz)
    total = sum(float(store.tasks[gid]["custom_values"][points]) for gid in scope)
    grown = forecast(fbox)
    assert grown is not None, last_ephemeral(fbox)
    body = text_of(grown)
    mean = total / 3
    shown = f"{mean:g}" if mean == int(mean) else f"{mean:.1f}"
    assert f"; scope grew by a mean of {shown} points a sprint over the last 3 sprints; " in body
    assert "simulated" in body
    assert p85_sprint(body) > before
    # Seeded: asking again gives the same answer.
    again = forecast(fbox)
    assert again is not None and text_of(again) == body


def test_scopes_next_all_and_a_milestone_with_its_subtasks(fbox: Sandbox) -> None:
    mark_next_and_future(fbox)
    nxt = forecast(fbox, "next")
    assert nxt is not None and f"*Scope: Next* ({NEXT} open tasks" in text_of(nxt)

    everything = forecast(fbox, "all")
    assert everything is not None
    body = text_of(everything)
    assert "*Scope: Everything open* (" in body
    assert "The current sprint's open work is part of this scope." in body

    milestone = forecast(fbox, "platform launch readiness")
    assert milestone is not None
    body = text_of(milestone)
    # The milestone itself and its two subtasks, linked to the milestone in Asana.
    assert "Platform launch readiness (milestone)" in body and "(3 open tasks" in body

    # A quoted project first, then the scope.
    quoted = forecast(fbox, f'"{fbox.seed.project_name}" next')
    assert quoted is not None and f"*Scope: Next* ({NEXT} open tasks" in text_of(quoted)


def test_an_unknown_milestone_or_no_suggested_tasks_is_refused_with_nothing_posted(
    fbox: Sandbox,
) -> None:
    before = len(fbox.channel_messages())
    assert refused(fbox) is None  # nothing suggested for Next or Future yet
    assert "approve a /prioritize ranking first, or forecast `all`" in last_ephemeral(fbox)
    mark_next_and_future(fbox)
    assert refused(fbox, "no such milestone") is None
    assert "No task is named “no such milestone”" in last_ephemeral(fbox)
    answer, message = fbox.command("/forecast", '"unclosed', expect_message=False)
    assert message is None and "Usage: `/forecast [project] [scope]`" in answer.json()["text"]
    assert len(fbox.channel_messages()) == before
    assert not fbox.slack.calls_to("files.completeUploadExternal")


def test_an_unknown_or_unlinked_project_is_refused_the_same_way_with_nothing_posted(
    fbox: Sandbox,
) -> None:
    mark_next_and_future(fbox)
    store = fbox.asana.store
    secret = store.add_project(fbox.seed.workspace_gid, "Legal Hold")  # exists, not linked
    before = len(fbox.channel_messages())
    assert refused(fbox, secret) is None
    unlinked = last_ephemeral(fbox)
    assert refused(fbox, "9999999999999999") is None
    unknown = last_ephemeral(fbox)
    assert "among the projects of this channel" in unlinked
    assert unlinked.replace(secret, "X") == unknown.replace("9999999999999999", "X")
    assert refused(fbox, '"Legal Hold" next') is None
    assert "among the projects of this channel" in last_ephemeral(fbox)
    assert len(fbox.channel_messages()) == before
    assert not fbox.slack.calls_to("files.completeUploadExternal")


def test_forecast_in_teams_posts_a_card_with_the_dates_and_the_chart(fbox: Sandbox) -> None:
    mark_next_and_future(fbox)
    before = len(fbox.teams.messages_in(TEAMS_CHANNEL))
    answer = fbox.teams.message(
        fbox.app_url_teams, "forecast next", user=TEAMS_LEAD, conversation=TEAMS_CHANNEL
    )
    assert answer.status in (200, 202)
    assert fbox.teams.wait_for(lambda: len(fbox.teams.messages_in(TEAMS_CHANNEL)) > before, 60)
    fbox.services.jobs.drain(timeout=60)
    card = json.dumps(fbox.teams.messages_in(TEAMS_CHANNEL)[-1], ensure_ascii=False)
    assert "Delivery forecast" in card and "**P50 " in card and "**P85 " in card
    assert "Scope: Next" in card and CHART_NOTE not in card
    (image,) = [
        b
        for b in fbox.teams.messages_in(TEAMS_CHANNEL)[-1]["attachments"][0]["content"]["body"]
        if b["type"] == "Image"
    ]
    assert image["url"].startswith("data:image/png;base64,iVBORw0KGgo")  # a PNG, inline


FRIDAY_LATE_BERLIN = FrozenNow("friday-23-30-berlin", local("2027-01-08T23:30", BERLIN), BERLIN)
SATURDAY_EARLY_BERLIN = FrozenNow(
    "saturday-00-30-berlin-still-friday-in-utc", local("2027-01-09T00:30", BERLIN), BERLIN
)
THURSDAY_NY = FrozenNow(
    "thursday-19-30-new-york-friday-in-utc",
    local("2026-12-31T19:30", "America/New_York"),
    "America/New_York",
)


@pytest.mark.parametrize(
    ("frozen_now", "friday"),
    [(FRIDAY_LATE_BERLIN, True), (SATURDAY_EARLY_BERLIN, False), (THURSDAY_NY, False)],
    indirect=["frozen_now"],
    ids=["friday-berlin", "saturday-berlin", "thursday-new-york"],
)
def test_the_digest_carries_the_forecast_line_on_the_teams_fridays_only(
    fbox: Sandbox, frozen_now: FrozenNow, friday: bool
) -> None:
    mark_next_and_future(fbox)
    digest = fbox.services.digests.build(fbox.seed.project_gid, CHANNEL)
    assert (frozen_now.today.weekday() == 4) is friday
    if not friday:
        assert digest.forecast_line is None
        return
    line = digest.forecast_line
    assert line is not None and line.startswith("Next + Future: P50 ")
    assert ", P85 " in line
    # The same line as /forecast's, in the Slack digest and in the Teams card.
    result = fbox.services.forecaster.for_project(
        fbox.services.asana.project(fbox.seed.project_gid), ScopeKind.NEXT_FUTURE
    )
    assert line == result.view["line"]
    assert line in json.dumps(digest_blocks(digest), ensure_ascii=False)
    assert line in json.dumps(digest_card(digest, {}), ensure_ascii=False)
    day = date.fromisoformat(result.view["p50"])
    assert f"{day:%a} {day.day} {day:%b}" in line


def test_after_an_approved_sprint_plan_sprints_count_from_its_approval(fbox: Sandbox) -> None:
    mark_next_and_future(fbox)
    _, plan = fbox.command("/plan-sprint")
    assert plan is not None, last_ephemeral(fbox)
    assert fbox.click(plan["ts"], "proposal_approve").status == 200
    message = forecast(fbox, "next")
    assert message is not None, last_ephemeral(fbox)
    today = fbox.services.today()
    body = text_of(message)
    assert (
        "Sprints of 14 days from the latest sprint start (an approved /plan-sprint or a start an "
        f"approver set; this one started {today:%a} {today.day} {today:%b})"
    ) in body
    # The plan put its tasks in the new sprint (and Next): that sprint is the current one now.
    sprint = fbox.services.store.proposal(plan_id(plan)).view["sprint"]["name"]
    assert sprint in body or "no open work outside this scope" in body


def plan_id(message: dict) -> str:
    from bot.demo import proposal_id_of

    return proposal_id_of(message)


def test_a_channel_with_no_linked_project_is_refused_with_nothing_posted(
    frozen_now: FrozenNow,
) -> None:
    env = frozen_now.env | {"COPILOT_PROJECTS": ""}
    with running_sandbox(tasks=12, use_model=False, env=env) as box:
        box.setup_fields()
        mark_next_and_future(box)
        for text in ("", "all", box.seed.project_gid):
            assert refused(box, text) is None
        assert "No project is linked to this channel yet" in box.slack.ephemerals[0]["text"]
        assert "among the projects of this channel" in last_ephemeral(box)
        assert box.channel_messages() == []
        assert not box.slack.calls_to("files.completeUploadExternal")
        # Linked by an approver, the same command answers.
        box.link(box.seed.project_gid)
        assert forecast(box, "all") is not None


def test_a_sprint_start_an_approver_set_moves_the_calendar(fbox: Sandbox) -> None:
    mark_next_and_future(fbox)
    today = fbox.services.today()
    start = today - timedelta(days=3)
    fbox.services.store.set_sprint_start(fbox.seed.project_gid, "Sprint 24", start, by=LEAD)
    message = forecast(fbox, "next")
    assert message is not None, last_ephemeral(fbox)
    body = text_of(message)
    assert f"this one started {start:%a} {start.day} {start:%b})" in body
    assert "the current sprint counts for the" in body  # part of it is gone already
