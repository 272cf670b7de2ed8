"""The real Teams SDK against the stand-in over loopback: a signed message in, a reply out."""

from __future__ import annotations

from bot.sandbox.teams_standin import TEAM_ID


def test_a_signed_message_is_answered_through_the_connector(served) -> None:
    teams, url = served
    result = teams.message(url, "hello", user="29:1ana", conversation=TEAM_ID)
    assert result.status == 200, result.body
    assert teams.wait_for(lambda: bool(teams.messages_in(TEAM_ID)))
    (reply,) = teams.messages_in(TEAM_ID)
    assert "echo:" in reply["text"] and "hello" in reply["text"]
    assert teams.tokens_issued == 1
    post = teams.calls_to("POST", "/activities")[0]
    assert post.status == 201
