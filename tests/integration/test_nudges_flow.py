"""Nudges end to end (issue 14 §3): the Home tab switch, the daily run, the DM, the opt-outs.

The real Bolt app and Slack client against the Slack stand-in (conversations.open,
chat.postMessage in the DM), the Teams stand-in for a Teams-only person, the sandbox Asana.
Frozen on Wednesday 10 June 2026 (UTC): Friday 12 June is two working days ahead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.demo import LEAD, TEAMS_CHANNEL, TEAMS_LEAD, Sandbox, add_slack_user_for, running_sandbox
from bot.surfaces.slack.blocks.nudges import NUDGE_PROJECT, NUDGE_SELF
from bot.usecases.nudges import NudgeService
from tests.clock import FrozenNow

from .conftest import backend_env, both_backends

PEOPLE = {  # the seeded Asana people, as Slack members
    "priya.raman@acme.example": ("U0PRIYA", "Priya Raman"),
    "marcus.chen@acme.example": ("U0MARCUS", "Marcus Chen"),
    "sofia.alvarez@acme.example": ("U0SOFIA", "Sofia Alvarez"),
    "daniel.okafor@acme.example": ("U0DANIEL", "Daniel Okafor"),
    "hannah.kim@acme.example": ("U0HANNAH", "Hannah Kim"),
}  # Luca Rossi has no Slack account


@pytest.fixture
def nbox(frozen_now: FrozenNow, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    env = frozen_now.env | backend_env(request)
    with running_sandbox(tasks=12, use_model=False, lease_seconds=1.0, env=env) as box:
        for email, (user_id, name) in PEOPLE.items():
            add_slack_user_for(box, email, user_id, name)
        yield box


def arrange_at_risk(box: Sandbox) -> dict[str, str]:
    """Three at-risk tasks for Marcus and one for Sofia, one safe task for each; by name."""
    store = box.asana.store
    users = box.seed.user_gids
    project = box.seed.project_gid
    today = box.services.today()
    recent = datetime.now(UTC) - timedelta(hours=2)
    # Every seeded open task is touched now and undated, so only these are at risk.
    for task in store.tasks.values():
        if not task.get("completed"):
            task.update(due_on=None, due_at=None, modified_at=recent.isoformat())
    marcus, sofia = users["marcus.chen@acme.example"], users["sofia.alvarez@acme.example"]
    gids = {
        "late": store.add_task(
            project,
            "Late report",
            assignee=marcus,
            due_on=today - timedelta(days=2),
            modified_at=recent,
        ),
        "blocker": store.add_task(project, "API contract", assignee=sofia, modified_at=recent),
        "soon": store.add_task(
            project,
            "Ship the client",
            assignee=marcus,
            due_on=today + timedelta(days=2),
            modified_at=recent,
        ),
        "stale": store.add_task(
            project,
            "Forgotten spike",
            assignee=sofia,
            modified_at=datetime.now(UTC) - timedelta(days=10),
        ),
        "fine": store.add_task(
            project,
            "Fine task",
            assignee=marcus,
            due_on=today + timedelta(days=9),
            modified_at=recent,
        ),
    }
    store.add_dependency(gids["soon"], gids["blocker"])
    return gids


def dms(box: Sandbox, user_id: str) -> list[dict]:
    return box.channel_messages("D" + user_id[1:])


def open_home(box: Sandbox, user: str) -> None:
    before = len(box.slack.calls_to("views.publish"))
    box.slack.open_home(box.app_url, user_id=user)
    assert box.slack.wait_for(lambda: len(box.slack.calls_to("views.publish")) > before, 30)


def home_click(box: Sandbox, user: str, action: str, value: str) -> None:
    open_home(box, user)
    result = box.slack.click_home_button(box.app_url, user_id=user, action_id=action, value=value)
    assert result.status == 200
    box.services.jobs.drain(timeout=30)


def nudges_section(box: Sandbox, user: str) -> str:
    """The Nudges section of the person's Home tab, as JSON."""
    blocks = box.slack.home_views[user]["blocks"]
    start = next(
        i for i, b in enumerate(blocks) if b["type"] == "header" and b["text"]["text"] == "Nudges"
    )
    return json.dumps(blocks[start:], ensure_ascii=False)


def home_text(box: Sandbox, user: str) -> str:
    return json.dumps(box.slack.home_views[user], ensure_ascii=False)


def test_nudges_are_off_by_default_and_only_an_approver_turns_them_on(nbox: Sandbox) -> None:
    arrange_at_risk(nbox)
    assert nbox.services.nudges.run().sent == ()  # off by default: nothing read, nothing sent
    assert not nbox.slack.calls_to("conversations.open")

    gid = nbox.seed.project_gid
    with pytest.raises(LookupError):  # a member sees the state, not the switch
        home_click(nbox, "U0BOSS", NUDGE_PROJECT, f"on:{gid}")
    member = nudges_section(nbox, "U0BOSS")
    assert "Only the team's approvers can turn nudges on or off" in member
    assert nbox.seed.project_name not in member and gid not in member  # no project list
    assert not nbox.services.store.nudges_enabled(gid)

    home_click(nbox, LEAD, NUDGE_PROJECT, f"on:{gid}")
    assert nbox.services.store.nudges_enabled(gid)
    assert f"Nudges turned on for {nbox.seed.project_name}" in home_text(nbox, LEAD)
    audit = [r["action"] for r in nbox.services.store.audit_rows() if r["actor"] == LEAD]
    assert "nudges_on" in audit


def test_each_owner_at_risk_gets_one_dm_a_day_listing_their_tasks_with_links(
    nbox: Sandbox,
) -> None:
    gids = arrange_at_risk(nbox)
    nbox.services.store.set_nudges(nbox.seed.project_gid, "Platform", enabled=True, by=LEAD)
    run = nbox.services.nudges.run()
    assert sorted(name for name, _, _ in run.sent) == ["Marcus Chen", "Sofia Alvarez"]
    (marcus,) = dms(nbox, "U0MARCUS")
    text = json.dumps(marcus["blocks"], ensure_ascii=False)
    assert "2 of your tasks are at risk today" in text
    assert f"/{gids['late']}|Late report>" in text and "overdue" in text
    assert "still waits on “API contract”" in text
    assert "Fine task" not in text
    (sofia,) = dms(nbox, "U0SOFIA")
    assert "Forgotten spike" in json.dumps(sofia["blocks"]) and "untouched since" in json.dumps(
        sofia["blocks"]
    )
    assert "API contract" not in json.dumps(sofia["blocks"])  # not at risk itself
    # A second run the same day sends nothing more.
    assert nbox.services.nudges.run().sent == ()
    assert len(dms(nbox, "U0MARCUS")) == 1 and len(dms(nbox, "U0SOFIA")) == 1


@both_backends("nbox")
def test_two_instances_send_one_nudge_a_person_a_day(nbox: Sandbox) -> None:
    arrange_at_risk(nbox)
    services = nbox.services
    services.store.set_nudges(nbox.seed.project_gid, "Platform", enabled=True, by=LEAD)
    base = services.nudges
    others = [
        NudgeService(
            asana=base.asana,
            store=base.store,
            slack=base.slack,
            access=base.access,
            chat=services.chat,
            clock=base.clock,
            tz=base.tz,
        )
        for _ in range(2)
    ]
    start = threading.Barrier(len(others))

    def run(service: NudgeService) -> None:
        start.wait()
        service.run()

    threads = [threading.Thread(target=run, args=(s,)) for s in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(dms(nbox, "U0MARCUS")) == 1 and len(dms(nbox, "U0SOFIA")) == 1
    assert {r["status"] for r in services.store.nudge_ledger_rows()} == {"sent"}


def test_a_person_who_turned_nudges_off_gets_none(nbox: Sandbox) -> None:
    arrange_at_risk(nbox)
    nbox.services.store.set_nudges(nbox.seed.project_gid, "Platform", enabled=True, by=LEAD)
    # Sofia turns hers off on the Home tab; Marcus from the button in his first nudge.
    home_click(nbox, "U0SOFIA", NUDGE_SELF, "off")
    assert "*Your nudges:* off" in home_text(nbox, "U0SOFIA")
    nbox.services.nudges.run()
    assert dms(nbox, "U0SOFIA") == []
    (nudge,) = dms(nbox, "U0MARCUS")
    result = nbox.slack.click_button(
        nbox.app_url,
        channel_id="D0MARCUS",
        message_ts=nudge["ts"],
        action_id=NUDGE_SELF,
        user_id="U0MARCUS",
    )
    assert result.status == 200
    nbox.services.jobs.drain(timeout=30)
    assert nbox.services.store.nudge_opted_out("U0MARCUS")
    # The next working day: still at risk, nobody nudged.
    later = nbox.services.clock() + timedelta(days=1)
    assert nbox.services.nudges.run(now=later).sent == ()
    assert len(dms(nbox, "U0MARCUS")) == 1
    # Sofia turns hers on again: she is nudged that day.
    home_click(nbox, "U0SOFIA", NUDGE_SELF, "on")
    assert [name for name, _, _ in nbox.services.nudges.run(now=later).sent] == ["Sofia Alvarez"]


def test_a_teams_only_owner_is_nudged_in_their_personal_chat_and_can_turn_it_off(
    nbox: Sandbox,
) -> None:
    """Ana Lima has no Slack account; the copilot has met her in Teams (her Asana email)."""
    store = nbox.asana.store
    ana = nbox.teams.users[TEAMS_LEAD]
    ana_gid = store.add_user(ana.name, ana.email)
    today = nbox.services.today()
    store.add_task(
        nbox.seed.project_gid,
        "Renew the certificate",
        assignee=ana_gid,
        due_on=today - timedelta(days=1),
    )
    nbox.services.store.set_nudges(nbox.seed.project_gid, "Platform", enabled=True, by=LEAD)
    # She writes to the copilot once (the copilot learns her member id and email).
    nbox.teams.message(nbox.app_url_teams, "help", user=TEAMS_LEAD, conversation=TEAMS_CHANNEL)
    nbox.services.jobs.drain(timeout=30)
    nbox.services.store.remember_teams_person(
        ana.aad_object_id, member_id=ana.id, name=ana.name, email=ana.email
    )
    run = nbox.services.nudges.run()
    assert ("Ana Lima", "teams:" + ana.aad_object_id, 1) in run.sent
    chat = nbox.teams.personal_chat(TEAMS_LEAD)
    assert nbox.teams.wait_for(lambda: bool(nbox.teams.messages_in(chat)), 10)
    card = json.dumps(nbox.teams.messages_in(chat)[-1], ensure_ascii=False)
    assert "Renew the certificate" in card and "nudges off" in card

    nbox.teams.message(nbox.app_url_teams, "nudges off", user=TEAMS_LEAD, conversation=chat)
    nbox.services.jobs.drain(timeout=30)
    assert nbox.services.store.nudge_opted_out("teams:" + ana.aad_object_id)
    later = nbox.services.clock() + timedelta(days=1)
    assert all(name != "Ana Lima" for name, _, _ in nbox.services.nudges.run(now=later).sent)


def test_the_daily_run_skips_the_teams_days_off(nbox: Sandbox) -> None:
    arrange_at_risk(nbox)
    nbox.services.store.set_nudges(nbox.seed.project_gid, "Platform", enabled=True, by=LEAD)
    saturday = datetime(2026, 6, 13, 9, 0, tzinfo=UTC)
    assert date(2026, 6, 13).weekday() == 5
    assert nbox.services.nudges.run(now=saturday).sent == ()
    assert not nbox.slack.calls_to("conversations.open")


def test_in_teams_an_approver_switches_a_project_and_others_may_not(nbox: Sandbox) -> None:
    gid, name = nbox.seed.project_gid, nbox.seed.project_name

    def say(text: str, user: str) -> str:
        chat = nbox.teams.personal_chat(user)
        before = len(nbox.teams.messages_in(chat))
        nbox.teams.message(nbox.app_url_teams, text, user=user, conversation=TEAMS_CHANNEL)
        nbox.services.jobs.drain(timeout=30)
        assert nbox.teams.wait_for(lambda: len(nbox.teams.messages_in(chat)) > before, 10)
        return json.dumps(nbox.teams.messages_in(chat)[-1], ensure_ascii=False)

    assert "Only the team's approvers" in say(f'nudges on for "{name}"', "29:1ben")
    assert not nbox.services.store.nudges_enabled(gid)
    assert f"Nudges turned on for {name}" in say(f'nudges on for "{name}"', TEAMS_LEAD)
    assert nbox.services.store.nudges_enabled(gid)
    assert "No Asana project is named" in say("nudges off for Nowhere", TEAMS_LEAD)
    assert nbox.services.store.nudges_enabled(gid)
