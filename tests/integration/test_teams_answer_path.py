"""What keeps Teams' Approve answer fast (issue 12, bench/teams.py): the answer path reads, it
does not write. Every activity carries the conversation's serviceUrl and the sender's name;
writing them on each click made clicks queue for the database's write lock behind running
approvals. They are written when new or changed (the serviceUrl is still refreshed from every
activity that brings a new one), and names on cards come from memory."""

from __future__ import annotations

from bot.demo import TEAMS_CHANNEL, TEAMS_LEAD


def test_an_unchanged_connector_and_name_are_not_written_again(box) -> None:
    teams, store = box.services.teams, box.services.store
    activity = box.teams.activity("message", user=TEAMS_LEAD, conversation=TEAMS_CHANNEL)
    teams.sender(activity)
    before = store.round_trips
    sender = teams.sender(activity)
    assert store.round_trips == before  # nothing read or written
    assert teams.name(sender.user) == "Ana Lima" and store.round_trips == before


def test_a_new_service_url_is_written_at_once(box) -> None:
    teams, store = box.services.teams, box.services.store
    activity = box.teams.activity("message", user=TEAMS_LEAD, conversation=TEAMS_CHANNEL)
    teams.sender(activity)
    moved = activity | {"serviceUrl": "https://smba.trafficmanager.net/emea/"}
    teams.sender(moved)
    where = store.teams_conversation(TEAMS_CHANNEL)
    assert where is not None and where.service_url == "https://smba.trafficmanager.net/emea/"
    teams.sender(activity)  # and back
    where = store.teams_conversation(TEAMS_CHANNEL)
    assert where is not None and where.service_url == box.teams.service_url


def test_a_renamed_person_is_written_and_shown(box) -> None:
    teams, store = box.services.teams, box.services.store
    activity = box.teams.activity("message", user=TEAMS_LEAD, conversation=TEAMS_CHANNEL)
    sender = teams.sender(activity)
    renamed = activity | {"from": activity["from"] | {"name": "Ana Lima-Sousa"}}
    teams.sender(renamed)
    person = store.teams_person(sender.aad_object_id)
    assert person is not None and person.name == "Ana Lima-Sousa"
    assert teams.name(sender.user) == "Ana Lima-Sousa"
