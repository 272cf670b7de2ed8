"""Teams handlers: thin adapters from the SDK's activities to the shared use cases and job queue.

They run on the SDK's event loop, so each hands its work to a thread at once (`asyncio.to_thread`):
the store, the engine and the gateway block. A message is answered as soon as its work is queued;
a card action is answered at once with the card the clicker sees, and the decision and the writes
run after it (the message is then updated in place for everyone).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from bot.jobs import SingleFlight
from bot.surfaces.teams import cards
from bot.surfaces.teams.commands import (
    ESTIMATE,
    FORECAST,
    HELP,
    NUDGES,
    PLAN_SPRINT,
    PRIORITIZE,
    RETRO,
    SETTINGS,
    SPRINT_START,
    parse,
    strip_mentions,
)
from bot.surfaces.teams.forecast_cards import teams_forecast, teams_nudges
from bot.surfaces.teams.sdk import App

if TYPE_CHECKING:
    from bot.services import Services
    from bot.surfaces.teams.surface import TeamsSurface

log = logging.getLogger(__name__)


def _wire(activity: Any) -> dict[str, Any]:
    """The activity as Teams sent it (camelCase keys), whatever model the SDK parsed it into."""
    return activity.model_dump(by_alias=True, exclude_none=True, mode="json")


def register(app: App, services: Services, teams: TeamsSurface) -> None:
    flights = SingleFlight()  # one prioritize per project at a time, shared with nothing else

    @app.on_conversation_update
    async def handle_teams_install(ctx: Any) -> None:
        await asyncio.to_thread(teams.installed, _wire(ctx.activity))

    @app.on_installation_update
    async def handle_teams_installation_update(ctx: Any) -> None:
        await asyncio.to_thread(teams.install_update, _wire(ctx.activity))

    @app.on_message
    async def handle_teams_message(ctx: Any) -> None:
        await asyncio.to_thread(handle_message, services, teams, flights, _wire(ctx.activity))

    @app.on_card_action_execute
    async def handle_teams_card_action(ctx: Any) -> dict[str, Any]:
        return await asyncio.to_thread(teams.card_action, _wire(ctx.activity))


def handle_message(
    services: Services, teams: TeamsSurface, flights: SingleFlight, activity: dict[str, Any]
) -> None:
    """Parse a message into a command and queue it; refusals and help are answered here."""
    sender = teams.sender(activity)
    text = strip_mentions(
        str(activity.get("text") or ""),
        activity.get("entities") or [],
        str((activity.get("recipient") or {}).get("id") or ""),
    )
    command = parse(text)
    refusal = teams.refusal(sender)
    if refusal is not None:
        teams.tell(sender, refusal)
        return
    if command.name == PRIORITIZE:
        teams.prioritize(sender, command.text, flights)
    elif command.name == PLAN_SPRINT:
        teams.plan_sprint(sender, command.text)
    elif command.name == SPRINT_START:
        teams.sprint_start(sender, command.text)
    elif command.name == RETRO:
        teams.retro(sender, command.text)
    elif command.name == SETTINGS:
        teams.settings.open(sender)
    elif command.name == ESTIMATE:
        teams.estimate(sender, command.text)
    elif command.name == FORECAST:
        teams_forecast(services, teams, sender, command.text)
    elif command.name == NUDGES:
        teams_nudges(services, teams, sender, command.text)
    elif command.name == HELP:
        teams.answer(sender, cards.help_card())
    else:
        shown = cards.md(cards.clip(command.text, 60))
        teams.answer(sender, cards.help_card(f"I don't know “{shown}”. Here is what I can do:"))
