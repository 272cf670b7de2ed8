"""Reading a Teams message: the bot's mention removed, the command and its text as in Slack."""

from __future__ import annotations

import pytest

from bot.surfaces.teams.commands import (
    ESTIMATE,
    HELP,
    PLAN_SPRINT,
    PRIORITIZE,
    UNKNOWN,
    parse,
    strip_mentions,
)

BOT = "28:c0c0c0c0-0000-4000-8000-00000000b07a"
BOT_MENTION = {
    "type": "mention",
    "text": "<at>Copilot</at>",
    "mentioned": {"id": BOT, "name": "Copilot"},
}


def test_the_bots_mention_goes_and_other_mentions_stay_as_names() -> None:
    other = {"type": "mention", "text": "<at>Ana Lima</at>", "mentioned": {"id": "29:1ana"}}
    text = "<at>Copilot</at> prioritize&nbsp;<at>Ana Lima</at>'s &amp; Platform"
    assert strip_mentions(text, [BOT_MENTION, other], BOT) == "prioritize Ana Lima's & Platform"


def test_a_mention_of_someone_named_like_the_bot_is_not_the_bot() -> None:
    impostor = {"type": "mention", "text": "<at>Copilot</at>", "mentioned": {"id": "29:1fake"}}
    assert strip_mentions("<at>Copilot</at> help", [impostor], BOT) == "Copilot help"


@pytest.mark.parametrize(
    ("text", "name", "rest"),
    [
        ("prioritize", PRIORITIZE, ""),
        ("Prioritize Platform Backlog", PRIORITIZE, "Platform Backlog"),
        ("prioritize 1209876543210008", PRIORITIZE, "1209876543210008"),
        ("plan sprint", PLAN_SPRINT, ""),
        (
            'plan sprint "Platform Backlog" Sprint 25 30 pts',
            PLAN_SPRINT,
            '"Platform Backlog" Sprint 25 30 pts',
        ),
        ("Plan Sprint 40", PLAN_SPRINT, "40"),
        ("/plan-sprint Sprint 25", PLAN_SPRINT, "Sprint 25"),
        ("estimate", ESTIMATE, ""),
        ("Estimate Platform Backlog", ESTIMATE, "Platform Backlog"),
        ("/estimate 1209876543210008", ESTIMATE, "1209876543210008"),
        ("help", HELP, ""),
        ("", HELP, ""),
        ("plan a party", UNKNOWN, "plan a party"),
        ("deploy", UNKNOWN, "deploy"),
    ],
)
def test_commands_read_like_the_slack_ones(text: str, name: str, rest: str) -> None:
    command = parse(text)
    assert (command.name, command.text) == (name, rest)
