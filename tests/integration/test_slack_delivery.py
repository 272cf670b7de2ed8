"""Slack as it really behaves (issue 9 §4): channels the bot is not in, the Home tab's forms."""

from __future__ import annotations

import pytest

from bot.demo import LEAD
from bot.sandbox.slack_standin import SlackChannel

PRIVATE = "G0PRIVATE"


@pytest.mark.parametrize("command", ["/prioritize", "/plan-sprint"])
def test_a_command_in_a_private_channel_without_the_bot_says_invite_and_leaves_nothing_open(
    box, command
):
    box.slack.add_conversation(SlackChannel(PRIVATE, kind="private", bot_member=False))
    answer, message = box.command(command, user=LEAD, channel=PRIVATE)
    assert answer.status == 200 and message is None
    said = [p.get("text", "") for p in box.slack.response_posts if p.get("user") == LEAD]
    assert any("invite @Asana Copilot" in text for text in said), said
    assert not any("try again in a minute" in text for text in said)
    store = box.services.store
    assert store.proposals_with_status("open") == []
    withdrawn = store.proposals_with_status("withdrawn")
    assert len(withdrawn) == 1 and withdrawn[0].channel == PRIVATE
    assert any(r["action"] == "withdrawn" for r in store.audit_rows(withdrawn[0].id))

    # Once invited, the same command works.
    box.slack.invite_bot(PRIVATE)
    _, message = box.command(command, user=LEAD, channel=PRIVATE)
    assert message is not None
    assert len(store.proposals_with_status("open")) == 1
