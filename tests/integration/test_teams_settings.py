"""Settings in Teams' personal chat (issue 12): digest schedules, linked projects and weekly hours,
the Slack Home tab's settings, through cards with inputs and Action.Execute, on the same use cases
and access rules; the real SDK behind the JWT check, against the Teams stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.demo import TEAMS_CHANNEL, TEAMS_LEAD
from bot.sandbox.teams_standin import card_problems

BEN = "29:1ben"  # a member, not an approver
PLANNING = "19:platform-planning@thread.tacv2"


def card_of(message: dict) -> dict:
    return message["attachments"][0]["content"]


def shown(message: dict) -> str:
    return json.dumps(card_of(message), ensure_ascii=False)


def inputs(message: dict) -> dict[str, dict]:
    found: dict[str, dict] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input.") and "id" in node:
                found[node["id"]] = node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card_of(message))
    return found


def open_settings(box, user: str = TEAMS_LEAD) -> tuple[str, dict]:
    """The copilot knows the team (someone wrote there); `user` types `settings` in the
    personal chat; the chat and the settings card it got."""
    box.teams_say("help", expect_proposal=False)
    chat = box.teams.personal_chat(user)
    result = box.teams.message(box.app_url_teams, "settings", user=user, conversation=chat)
    assert result.status == 200
    box.services.jobs.drain()
    assert box.teams.wait_for(lambda: bool(box.teams.messages_in(chat)))
    card = box.teams.messages_in(chat)[-1]
    assert "Copilot settings" in shown(card)
    return chat, card


def click(box, chat: str, card: dict, verb: str, data: dict, user: str = TEAMS_LEAD):
    answer = box.teams.invoke(
        box.app_url_teams, user=user, conversation=chat, reply_to=card["id"], verb=verb, data=data
    )
    box.services.jobs.drain()
    return answer, box.teams.activities[(chat, card["id"])]


def test_an_approver_gets_the_settings_card_with_every_channel_of_the_team(box) -> None:
    _, card = open_settings(box)
    assert card_problems(card_of(card)) == []
    channels = {c["value"]: c["title"] for c in inputs(card)["schedule_channel"]["choices"]}
    assert channels == {
        f"teams:{TEAMS_CHANNEL}": "Platform › General",
        f"teams:{PLANNING}": "Platform › Planning",  # nobody wrote there yet
    }
    assert {"schedule_project", "schedule_time", "schedule_days", "link_channel"} <= set(
        inputs(card)
    )
    assert inputs(card)["hours_reset"]["type"] == "Input.Toggle"
    assert "Projects linked to channels" in shown(card)


def test_an_approver_schedules_a_digest_in_a_teams_channel(box) -> None:
    chat, card = open_settings(box)
    form = {
        "schedule_channel": f"teams:{PLANNING}",
        "schedule_project": box.seed.project_gid,
        "schedule_time": "08:45",
        "schedule_tz": "Europe/Berlin",
        "schedule_days": "mon,wed,fri",
    }
    answer, updated = click(box, chat, card, "settings.schedule.save", form)
    assert answer.status == 200
    assert answer.json()["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Saving the schedule" in json.dumps(answer.json()["value"])  # at once, Asana later
    assert "✅ Saved" in shown(updated) and "Platform › Planning" in shown(updated)
    schedule = box.services.digests.schedule(f"teams:{PLANNING}:{box.seed.project_gid}")
    assert schedule is not None
    assert (schedule.at, schedule.tz, schedule.days) == ("08:45", "Europe/Berlin", "mon,wed,fri")
    assert box.services.access.may_use(f"teams:{PLANNING}", box.seed.project_gid)
    # Scheduled posts there find the connector: the channel was remembered with its team.
    assert box.services.store.teams_conversation(PLANNING) is not None


def test_a_bad_form_shows_its_errors_and_saves_nothing(box) -> None:
    chat, card = open_settings(box)
    form = {
        "schedule_channel": f"teams:{PLANNING}",
        "schedule_project": box.seed.project_gid,
        "schedule_time": "25:99",
        "schedule_tz": "Mars/Olympus",
        "schedule_days": "",
    }
    _, updated = click(box, chat, card, "settings.schedule.save", form)
    assert "Pick a time like 09:30" in shown(updated)
    assert "IANA time zone" in shown(updated) and "Pick at least one day" in shown(updated)
    assert inputs(updated)["schedule_tz"]["value"] == "Mars/Olympus"  # kept for fixing
    assert box.services.store.digest_schedules() == []


def test_a_channel_the_form_did_not_offer_is_refused(box) -> None:
    chat, card = open_settings(box)
    form = {
        "schedule_channel": "teams:19:not-a-channel-of-ours@thread.tacv2",
        "schedule_project": box.seed.project_gid,
        "schedule_time": "09:30",
        "schedule_tz": "UTC",
        "schedule_days": "mon",
    }
    _, updated = click(box, chat, card, "settings.schedule.save", form)
    assert "Pick a channel" in shown(updated)
    assert box.services.store.digest_schedules() == []
    _, updated = click(
        box,
        chat,
        card,
        "settings.link.add",
        {"link_channel": "C0SLACKCHAN", "link_project": box.seed.project_gid},
    )
    assert "Pick a channel" in shown(updated)
    assert box.services.store.channel_links() == []


def test_an_approver_links_a_project_to_a_teams_channel_and_unlinks_it(box) -> None:
    chat, card = open_settings(box)
    gid = box.seed.other_project_gid
    _, updated = click(
        box,
        chat,
        card,
        "settings.link.add",
        {"link_channel": f"teams:{PLANNING}", "link_project": gid},
    )
    assert "✅ Linked" in shown(updated)
    assert (f"teams:{PLANNING}", gid) in {
        (r.channel, r.project_gid) for r in box.services.store.channel_links()
    }
    _, updated = click(
        box, chat, updated, "settings.link.remove", {"channel": f"teams:{PLANNING}", "gid": gid}
    )
    assert "Project unlinked" in shown(updated)
    assert box.services.store.channel_links() == []


def test_an_approver_sets_and_resets_weekly_hours(box) -> None:
    chat, card = open_settings(box)
    people = inputs(card)["hours_person"]["choices"]
    assert people
    person = people[0]["value"]
    _, updated = click(
        box, chat, card, "settings.hours.save", {"hours_person": person, "hours_value": "24"}
    )
    assert "now has 24 h a week" in shown(updated)
    assert box.services.store.weekly_hours_overrides()[person] == 24.0
    _, updated = click(
        box,
        chat,
        updated,
        "settings.hours.save",
        {"hours_person": person, "hours_reset": "true"},
    )
    assert "back to the default" in shown(updated)
    assert person not in box.services.store.weekly_hours_overrides()


@pytest.mark.parametrize(
    ("verb", "data"),
    [
        ("settings.schedule.save", {"schedule_channel": f"teams:{PLANNING}", "schedule_time": "9"}),
        ("settings.link.add", {"link_channel": f"teams:{PLANNING}", "link_project": "1"}),
        ("settings.link.remove", {"channel": f"teams:{TEAMS_CHANNEL}", "gid": "1"}),
        ("settings.hours.save", {"hours_person": "1", "hours_value": "1"}),
        ("settings.schedule.remove", {"schedule": "x:1"}),
    ],
)
def test_a_non_approver_sees_no_forms_and_cannot_change_anything(box, verb, data) -> None:
    chat, card = open_settings(box, user=BEN)
    assert "schedule_channel" not in inputs(card) and "link_channel" not in inputs(card)
    assert "Projects linked to channels" not in shown(card)  # links are for approvers only
    before = box.services.store.audit_rows()
    answer, unchanged = click(box, chat, card, verb, data, user=BEN)
    assert answer.json()["type"] == "application/vnd.microsoft.activity.message"
    assert "Only the team's approvers" in answer.json()["value"]
    assert unchanged == card
    assert box.services.store.digest_schedules() == []
    assert box.services.store.channel_links() == []
    assert box.services.store.weekly_hours_overrides() == {}
    assert box.services.store.audit_rows() == before


def test_settings_clicks_outside_the_personal_chat_are_sent_there(box) -> None:
    box.teams_say("help", expect_proposal=False)
    answer = box.teams.invoke(
        box.app_url_teams,
        user=TEAMS_LEAD,
        conversation=TEAMS_CHANNEL,
        reply_to="1",
        verb="settings.link.add",
        data={"link_channel": f"teams:{TEAMS_CHANNEL}", "link_project": "1"},
    )
    assert "personal chat" in answer.json()["value"]
    assert box.services.store.channel_links() == []


def test_settings_typed_in_a_channel_arrive_in_the_personal_chat(box) -> None:
    box.teams_say("settings", expect_proposal=False)
    chat = "a:personal-1ana"
    assert box.teams.wait_for(lambda: bool(box.teams.messages_in(chat)))
    assert "Copilot settings" in shown(box.teams.messages_in(chat)[-1])


def test_help_names_the_settings(box) -> None:
    box.teams_say("help", expect_proposal=False)
    assert "**settings**" in json.dumps(
        box.teams.messages_in(TEAMS_CHANNEL)[-1], ensure_ascii=False
    )
