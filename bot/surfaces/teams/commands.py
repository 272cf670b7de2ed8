"""What a Teams message asks for: the bot's @mention removed, then a command and its text."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PRIORITIZE = "prioritize"
PLAN_SPRINT = "plan sprint"
RETRO = "retro"
SPRINT_START = "sprint start"
ESTIMATE = "estimate"
HELP = "help"
SETTINGS = "settings"
FORECAST = "forecast"
NUDGES = "nudges"
UNKNOWN = "unknown"

_AT = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Command:
    name: str  # PRIORITIZE | PLAN_SPRINT | SETTINGS | ESTIMATE | HELP | UNKNOWN
    name: str  # PRIORITIZE | PLAN_SPRINT | SETTINGS | FORECAST | NUDGES | HELP | UNKNOWN
    text: str  # what follows the command, as the Slack command would receive it


def strip_mentions(text: str, entities: Sequence[Mapping[str, Any]], bot_id: str) -> str:
    """The message without the bot's @mention (other people's names stay as plain names)."""
    bot_tags = {
        str(e.get("text"))
        for e in entities
        if e.get("type") == "mention" and (e.get("mentioned") or {}).get("id") == bot_id
    }
    for tag in bot_tags:
        text = text.replace(tag, " ")
    text = _AT.sub(lambda m: m.group(1), text)  # someone else's mention: keep the name
    text = _TAGS.sub(" ", text)  # Teams may send a little HTML (a pasted line, <p>)
    return " ".join(html.unescape(text).replace("\u00a0", " ").split())


def parse(text: str) -> Command:
    """The command a (mention-free) message names; the same syntax as the Slack commands."""
    words = text.split(" ", 2)
    first = words[0].casefold().lstrip("/") if words and words[0] else ""
    if first in ("", "help", "?"):
        return Command(HELP, "")
    if first in ("settings", "setting") and len(words) == 1:
        return Command(SETTINGS, "")
    if first == "prioritize":
        return Command(PRIORITIZE, text[len(words[0]) :].strip())
    if first == "estimate":
        return Command(ESTIMATE, text[len(words[0]) :].strip())
    if first == "plan-sprint":
        return Command(PLAN_SPRINT, text[len(words[0]) :].strip())
    if first == "sprint" and len(words) > 1 and words[1].casefold() == "start":
        return Command(SPRINT_START, words[2].strip() if len(words) > 2 else "")
    if first in ("retro", "retrospective"):
        return Command(RETRO, text[len(words[0]) :].strip())
    if first in (FORECAST, NUDGES):
        return Command(first, text[len(words[0]) :].strip())
    if first == "plan" and len(words) > 1 and words[1].casefold() == "sprint":
        return Command(PLAN_SPRINT, words[2].strip() if len(words) > 2 else "")
    return Command(UNKNOWN, text)
