"""The Teams gateway through the real SDK against the stand-in: posts, updates, retries."""

from __future__ import annotations

import pytest

from bot.errors import UpstreamError
from bot.sandbox.teams_standin import TEAM_ID, TeamsStandIn
from bot.surfaces.teams.cards import card, text
from bot.surfaces.teams.gateway import Mention, TeamsGateway
from bot.surfaces.teams.sdk import TeamsRuntime


def gateway(runtime: TeamsRuntime, waits: list[float]) -> TeamsGateway:
    return TeamsGateway(runtime, sleep=waits.append)


def test_a_card_is_posted_then_updated_in_place(teams: TeamsStandIn, runtime: TeamsRuntime) -> None:
    teams_gw = gateway(runtime, [])
    activity_id = teams_gw.post(TEAM_ID, service_url=teams.service_url, card=card([text("v1")]))
    teams_gw.update(TEAM_ID, activity_id, service_url=teams.service_url, card=card([text("v2")]))
    (message,) = teams.messages_in(TEAM_ID)
    assert message["id"] == activity_id
    assert message["attachments"][0]["content"]["body"][0]["text"] == "v2"
    assert [c.method for c in teams.calls] == ["POST", "PUT"]


def test_a_mention_notifies_the_person(teams: TeamsStandIn, runtime: TeamsRuntime) -> None:
    gateway(runtime, []).post(
        TEAM_ID,
        service_url=teams.service_url,
        text="<at>Ana Lima</at> is on it",
        mentions=[Mention("29:1ana", "Ana Lima")],
    )
    (message,) = teams.messages_in(TEAM_ID)
    assert message["entities"] == [
        {
            "type": "mention",
            "mentioned": {"id": "29:1ana", "name": "Ana Lima"},
            "text": "<at>Ana Lima</at>",
        }
    ]


@pytest.mark.parametrize("status", [429, 412, 502, 504])
def test_transient_answers_are_retried_honouring_retry_after(
    teams: TeamsStandIn, runtime: TeamsRuntime, status: int
) -> None:
    waits: list[float] = []
    teams.faults.add(status, count=2, retry_after=7)
    gateway(runtime, waits).post(TEAM_ID, service_url=teams.service_url, text="hello")
    assert len(teams.messages_in(TEAM_ID)) == 1
    assert waits == ([7.0, 7.0] if status == 429 else [0.5, 1.0])


def test_retries_are_bounded(teams: TeamsStandIn, runtime: TeamsRuntime) -> None:
    teams.faults.add(502, count=10)
    with pytest.raises(UpstreamError, match="BadGateway") as failure:
        gateway(runtime, []).post(TEAM_ID, service_url=teams.service_url, text="hello")
    assert failure.value.status == 502
    assert len(teams.calls) == 4 and teams.history == []


def test_message_writes_blocked_is_permanent(teams: TeamsStandIn, runtime: TeamsRuntime) -> None:
    waits: list[float] = []
    teams.faults.add(403)
    with pytest.raises(UpstreamError, match="MessageWritesBlocked"):
        gateway(runtime, waits).post(TEAM_ID, service_url=teams.service_url, text="hello")
    assert waits == [] and len(teams.calls) == 1


def test_members_carry_email_and_role(teams: TeamsStandIn, runtime: TeamsRuntime) -> None:
    teams_gw = gateway(runtime, [])
    gus = teams_gw.member(TEAM_ID, "29:1gus", service_url=teams.service_url)
    assert gus is not None and gus.role == "guest" and gus.email == "gus@partner.example"
    assert teams_gw.member(TEAM_ID, "29:1nobody", service_url=teams.service_url) is None
    emails = {m.email for m in teams_gw.members(TEAM_ID, service_url=teams.service_url)}
    assert "ana@example.com" in emails


def test_a_personal_chat_is_opened_for_private_answers(
    teams: TeamsStandIn, runtime: TeamsRuntime
) -> None:
    teams_gw = gateway(runtime, [])
    chat = teams_gw.personal_chat(
        "29:1ben", tenant_id=teams.tenant_id, service_url=teams.service_url
    )
    teams_gw.post(chat, service_url=teams.service_url, text="only for you")
    assert chat == "a:personal-1ben"
    assert [m["text"] for m in teams.messages_in(chat)] == ["only for you"]
