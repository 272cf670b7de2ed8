"""The chat port over a test's Slack double, as build_services wires it over the real gateway."""

from typing import Any

from bot.surfaces.router import ChatSurfaces
from bot.surfaces.slack.surface import SlackSurface


def slack_chat(slack: Any, store: Any, engine: Any = None) -> ChatSurfaces:
    """`engine` only where proposals are posted (it links them to their message)."""
    return ChatSurfaces(SlackSurface(slack, store, engine))
