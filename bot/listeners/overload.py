"""Capacity settings on the Home tab: Save / Reset a person's weekly hours (issue 5).

The Home tab itself belongs to the Home listener; after a change this module calls the
`refresh_home(user)` it was given, so the new figures show at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.errors import UserFacingError
from bot.render.blocks import notice_blocks
from bot.render.overload import (
    CAPACITY_RESET,
    CAPACITY_SAVE,
    capacity_form_values,
    capacity_notice,
)
from bot.services import Services
from bot.usecases.overload import set_weekly_hours

RefreshHome = Callable[[str], None]


def register(app: App, services: Services, *, refresh_home: RefreshHome | None = None) -> None:
    @app.action(CAPACITY_SAVE)
    def handle_action_capacity_save(ack: Ack, body: dict[str, Any]) -> None:
        _change(services, body, reset=False, refresh_home=refresh_home)
        ack()

    @app.action(CAPACITY_RESET)
    def handle_action_capacity_reset(ack: Ack, body: dict[str, Any]) -> None:
        _change(services, body, reset=True, refresh_home=refresh_home)
        ack()


def _change(
    services: Services, body: dict[str, Any], *, reset: bool, refresh_home: RefreshHome | None
) -> None:
    """Enqueue the change (the caller acks right after, so the work is queued first)."""
    user = body["user"]["id"]
    state = (body.get("view") or {}).get("state") or {}
    gid, name, hours, problem = capacity_form_values(state, need_hours=not reset)

    def work() -> None:
        if problem:
            raise UserFacingError(problem)
        change = set_weekly_hours(
            services, gid, None if reset else hours, person_name=name, by=user
        )
        text = capacity_notice(change.as_view())
        services.slack.post(user, text=text, blocks=notice_blocks(text))
        if refresh_home is not None:
            refresh_home(user)

    def reply(text: str) -> None:  # the Home tab has no channel: answer in the app's DM
        services.slack.post(user, text=text, blocks=notice_blocks(text))

    services.jobs.submit(work, reply=reply)
