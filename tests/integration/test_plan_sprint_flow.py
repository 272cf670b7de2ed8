"""/plan-sprint end to end: real Bolt app, real clients, sandbox on loopback."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta

import pytest

from bot.demo import CHANNEL, LEAD, Sandbox, running_sandbox
from bot.sandbox.asana_server import parse_timestamp
from bot.sandbox.slack_standin import pings
from tests.clock import FrozenNow, every_now

from .conftest import (
    backend_env,
    batch_kinds,
    both_backends_every_now,
    click,
    current,
    last_ephemeral,
    proposal_id,
    put_actions,
)

INTERN = "U0INTERN"


@pytest.fixture
def sbox(frozen_now: FrozenNow, request: pytest.FixtureRequest):
    env = {"COPILOT_APPROVERS": LEAD} | frozen_now.env | backend_env(request)
    with running_sandbox(tasks=60, use_model=False, lease_seconds=1.0, env=env) as sandbox:
        sandbox.setup_fields()
        yield sandbox


def plan(box: Sandbox, text: str = "") -> dict:
    """Type /plan-sprint and wait for the proposal message; return it."""
    before = len(box.channel_messages())
    result = box.slack.slash_command(
        box.app_url, "/plan-sprint", text, user_id=LEAD, channel_id=CHANNEL
    )
    assert result.status == 200 and "Planning the sprint" in result.body
    assert box.slack.wait_for(lambda: len(box.channel_messages()) > before, timeout=30), (
        last_ephemeral(box)
    )
    box.services.jobs.drain()
    return copy.deepcopy(box.channel_messages()[-1])


def view_of(box: Sandbox, message: dict) -> dict:
    return box.services.store.proposal(proposal_id(message)).view


def open_tasks(box: Sandbox, project: str | None = None) -> dict[str, dict]:
    project = project or box.seed.project_gid
    return {
        gid: t
        for gid, t in box.asana.store.tasks.items()
        if not t["completed"] and any(m["project"] == project for m in t["memberships"])
    }


def option_creations(box: Sandbox) -> int:
    return sum(
        1 for r in box.asana.requests if r.method == "POST" and r.path.endswith("/enum_options")
    )


def sprint_options(box: Sandbox, name: str) -> list[str]:
    store = box.asana.store
    field = store.custom_fields[box.seed.field_gids["Sprint"]]
    return [g for g in field["enum_options"] if store.enum_options[g]["name"] == name]


def seeded_velocity(box: Sandbox, sprint_days: int) -> list[float]:
    """Story points completed in each of the last three sprints before now, from the sandbox.

    The seed spreads 30 completed tasks over the 42 days before its "now" (the closest to a
    sprint boundary lies 11 minutes inside the window), so the seconds a test takes move none.
    """
    now = datetime.now(UTC)
    points = box.seed.field_gids["Story Points"]
    totals = [0.0, 0.0, 0.0]
    for t in box.asana.store.tasks.values():
        if not t["completed"] or not any(
            m["project"] == box.seed.project_gid for m in t["memberships"]
        ):
            continue
        age = now - parse_timestamp(t["completed_at"])
        sprint = int(age / timedelta(days=sprint_days))
        if sprint < 3:
            totals[sprint] += t["custom_values"].get(points, 0)
    return totals


@every_now
def test_proposal_fits_capacity_keeps_dependencies_and_explains_the_rest(sbox):
    box = sbox
    box.asana.reset_requests()
    message = plan(box)
    # One project read and one task stream (open + completed in the velocity window).
    assert box.asana.count("GET") <= math.ceil(60 / 100) + 2
    assert box.asana.count() == box.asana.count("GET")  # proposing writes nothing

    view = view_of(box, message)
    tasks = open_tasks(box)
    selected = {r["gid"] for r in view["selected"]}
    left = {r["gid"]: r for r in view["left_out"]}
    assert selected and selected.isdisjoint(left) and selected | left.keys() == tasks.keys()

    # Never a broken dependency: each selected task's open dependencies are selected too.
    for gid in selected:
        for dep in tasks[gid]["dependencies"]:
            assert box.asana.store.tasks[dep]["completed"] or dep in selected
    # Never over capacity, for the team and for each person.
    cap = view["capacity"]
    assert cap["source"] == "velocity" and cap["team"] == round(sum(cap["sprints"]) / 3, 1)
    assert cap["sprints"] == seeded_velocity(box, cap["sprint_days"])
    assert sum(r["effort"] for r in view["selected"]) <= cap["team"] + 1e-9
    for person in view["people"]:
        mine = [r["effort"] for r in view["selected"] if r["assignee"] == person["name"]]
        assert sum(mine) == pytest.approx(person["used"]) and person["used"] <= person["capacity"]
    # A task without an estimate is never dropped silently.
    unestimated = {
        gid
        for gid, t in tasks.items()
        if box.seed.field_gids["Story Points"] not in t["custom_values"]
        and box.seed.field_gids["Estimated Hours"] not in t["custom_values"]
    }
    assert unestimated and {g for g, r in left.items() if r["reason"] == "needs estimate"} == (
        unestimated
    )
    assert any(r["reason"] == "blocked" and r["blocker"] for r in left.values())

    text = box.slack.render(message)
    assert "Sprint plan · Sprint 25 · Platform Backlog" in text
    assert "the team's velocity, the mean of" in text and "Per person" in text
    assert "Needs estimate" in text and "blocked by" in text
    assert "[Approve] [Reject]" in text
    assert len(message["blocks"]) <= 50
    for ping in pings(message):  # the hostile task name pings nobody
        assert ping == f"<@{LEAD}>" or ping.startswith("<https://app.asana.com/"), ping


@both_backends_every_now("sbox")
def test_approve_sets_sprint_and_next_on_exactly_the_selected_tasks_once(sbox):
    box = sbox
    message = plan(box)
    view = view_of(box, message)
    selected = [r["gid"] for r in view["selected"]]
    store = box.asana.store
    before = {gid: store.field_value(gid, "Sprint") for gid in open_tasks(box)}

    click(box, message, "proposal_approve", user=INTERN)  # not an approver
    assert put_actions(box) == {} and "Only the team's approvers" in last_ephemeral(box)

    box.asana.reset_requests()
    click(box, message, "proposal_approve")
    assert put_actions(box) == dict.fromkeys(selected, 1)
    # Each batch of 10 is read right before it is written; no whole-project read.
    assert batch_kinds(box) == ["get", "put"] * math.ceil(len(selected) / 10)
    assert option_creations(box) == 1 and len(sprint_options(box, "Sprint 25")) == 1
    # The Sprint field is read before adding the option and once after (a racing process).
    assert box.asana.count("GET", "/custom_fields/") == 2
    assert box.asana.count("GET") - 2 <= math.ceil(60 / 100) + 2
    for gid, was in before.items():
        if gid in selected:
            assert store.field_value(gid, "Sprint") == "Sprint 25"
            assert store.field_value(gid, "AI Suggested Sprint") == "Next"
        else:
            assert store.field_value(gid, "Sprint") == was

    updated = box.slack.render(current(box, message))
    assert f"{len(selected)} tasks written to Asana" in updated and "[Approve]" not in updated
    audit = box.services.store.audit_rows(proposal_id(message))
    assert sum(r["action"] == "written" for r in audit) == len(selected)
    assert any(r["action"] == "approve" and r["actor"] == LEAD for r in audit)
    assert any(r["action"] == "refused" and r["actor"] == INTERN for r in audit)

    # Planning the same sprint again reuses its option: no second "Sprint 25".
    again = plan(box, "sprint 25")
    assert view_of(box, again)["sprint"] == {"name": "Sprint 25", "new": False, "typed": True}
    box.asana.reset_requests()
    click(box, again, "proposal_approve")
    assert option_creations(box) == 0 and len(sprint_options(box, "Sprint 25")) == 1


def test_reject_writes_nothing(sbox):
    box = sbox
    message = plan(box)
    box.asana.reset_requests()
    click(box, message, "proposal_reject")
    assert put_actions(box) == {} and box.asana.count("POST") == 0
    updated = box.slack.render(current(box, message))
    assert "Rejected" in updated and "Nothing was written" in updated
    assert box.services.store.proposal(proposal_id(message)).status == "rejected"


def test_tasks_changed_after_the_proposal_are_skipped_as_conflicts(sbox):
    box = sbox
    message = plan(box)
    selected = [r["gid"] for r in view_of(box, message)["selected"]]
    reestimated, moved, finished, judged = selected[:4]
    store = box.asana.store
    store.set_custom_field(reestimated, box.seed.field_gids["Story Points"], 21)
    store.set_custom_field(moved, box.seed.field_gids["Sprint"], "Sprint 23")
    store.tasks[finished]["completed"] = True
    store.tasks[finished]["completed_at"] = store.timestamp()
    # A person files a task under a later sprint by hand: /plan-sprint must not say "Next".
    ai_sprint = box.services.asana.project(box.seed.project_gid).fields["AI Suggested Sprint"]
    theirs = "Future" if store.field_value(judged, "AI Suggested Sprint") != "Future" else "Backlog"
    store.set_custom_field(judged, ai_sprint.gid, theirs)

    click(box, message, "proposal_approve")
    written = put_actions(box)
    assert set(written) == set(selected[4:])
    assert store.field_value(reestimated, "Sprint") != "Sprint 25"
    assert store.field_value(moved, "Sprint") == "Sprint 23"
    assert store.field_value(judged, "AI Suggested Sprint") == theirs
    updated = box.slack.render(current(box, message))
    assert "Skipped (4)" in updated
    assert "Story Points changed since the proposal" in updated
    assert "Sprint changed since the proposal" in updated
    assert "AI Suggested Sprint changed since the proposal" in updated
    assert "completed since the proposal" in updated  # read by gid: Asana still has it


def test_wrong_syntax_gets_the_usage_line_and_nothing_else(sbox):
    box = sbox
    box.asana.reset_requests()
    for text in ('"Platform Backlog Sprint 25', "Sprint 25 -5", "help"):
        result = box.slack.slash_command(
            box.app_url, "/plan-sprint", text, user_id=LEAD, channel_id=CHANNEL
        )
        assert result.status == 200
        assert "Usage: `/plan-sprint [project] [sprint name] [capacity]`" in result.body
        assert '"response_type": "ephemeral"' in result.body
    box.services.jobs.drain()
    assert box.asana.count() == 0 and box.channel_messages() == []
    assert box.services.store.proposals_with_status("open") == []


def test_unknown_project_or_a_project_without_a_sprint_field_is_explained(sbox):
    box = sbox

    def answer(text: str) -> str:
        box.slack.slash_command(box.app_url, "/plan-sprint", text, user_id=LEAD, channel_id=CHANNEL)
        box.services.jobs.drain()
        return last_ephemeral(box)

    assert "No Asana project is named “No Such Project”" in answer('"No Such Project" Sprint 9')
    assert "No Asana project is named “999999999”" in answer("999999999 30")
    bare = box.asana.store.add_project(box.seed.workspace_gid, "Bare")
    box.link(bare)
    box.asana.store.add_task(bare, "Something")
    assert "has no “Sprint” field" in answer(f"{bare} Sprint 1")
    assert box.channel_messages() == []


def test_project_name_sprint_name_and_capacity_in_hours(sbox):
    box = sbox
    message = plan(box, "“platform backlog” Hardening week 80h")
    view = view_of(box, message)
    assert view["project"]["gid"] == box.seed.project_gid
    assert view["sprint"] == {"name": "Hardening week", "new": True, "typed": True}
    assert view["capacity"]["source"] == "argument" and view["capacity"]["team"] == 20
    assert view["capacity"]["used"] <= 20
    assert "the 80 h you gave (at 4 h per point)" in box.slack.render(message)


def test_a_project_without_history_or_ai_fields_plans_on_weekly_hours_and_says_so():
    with running_sandbox(tasks=12, use_model=False) as box:  # no `copilot setup`
        message = plan(box, box.seed.other_project_gid)
        view = view_of(box, message)
        assert view["capacity"]["source"] == "people"
        assert {p["source"] for p in view["people"]} == {"weekly hours"}
        # 40 h a week over a 14-day sprint, at 4 h per point.
        assert {p["capacity"] for p in view["people"]} == {20.0}
        text = box.slack.render(message)
        assert "no estimated work was completed" in text
        assert "lacks AI Suggested Sprint" in text and "copilot setup" in text
        assert sum(r["effort"] for r in view["selected"]) <= view["capacity"]["team"]


def test_a_write_that_landed_on_an_option_of_another_case_is_recorded_written(sbox):
    box = sbox
    message = plan(box)
    assert view_of(box, message)["sprint"]["name"] == "Sprint 25"
    selected = [r["gid"] for r in view_of(box, message)["selected"]]
    # Meanwhile a person adds the sprint by hand, in lower case: Approve resolves to it.
    box.asana.store.add_enum_option(box.seed.field_gids["Sprint"], "sprint 25")
    # The first write batch runs but its answer is lost: the re-read must recognise it.
    box.asana.faults.add(
        "drop_after", method="POST", path_contains="/batch", actions="put", times=1
    )

    click(box, message, "proposal_approve")

    items = {i.task_gid: i for i in box.services.store.items(proposal_id(message))}
    assert {items[g].status for g in selected} == {"written"}, {items[g].reason for g in selected}
    assert option_creations(box) == 0
    assert {box.asana.store.field_value(g, "Sprint") for g in selected} == {"sprint 25"}
    assert put_actions(box)[selected[0]] == 1  # verified by the re-read, not resent


def test_asana_down_while_adding_the_sprint_option_leaves_a_retry_not_a_stuck_approval(sbox):
    box = sbox
    message = plan(box)
    selected = [r["gid"] for r in view_of(box, message)["selected"]]
    sprint = box.seed.field_gids["Sprint"]
    box.asana.faults.add("503", method="POST", path_contains=f"/custom_fields/{sprint}/", times=1)

    click(box, message, "proposal_approve")

    pid = proposal_id(message)
    assert box.services.store.proposal(pid).status == "partial"
    assert {i.status for i in box.services.store.items(pid)} == {"failed"}
    assert put_actions(box) == {}
    updated = box.slack.render(current(box, message))
    assert "[Retry failed writes]" in updated
    assert "Nothing was changed" not in last_ephemeral(box)

    click(box, current(box, message), "proposal_retry")  # Asana answers again
    assert box.services.store.proposal(pid).status == "applied"
    assert put_actions(box) == dict.fromkeys(selected, 1)
    assert len(sprint_options(box, "Sprint 25")) == 1
