"""Capacity on the Home tab (issue 5): the section, and Save / Reset of a person's weekly hours.

`number_input` exists only in modals, so the Home tab's buttons open a modal; its submission
changes the hours and the result is shown on the Home tab itself (the app's DM is hidden by the
manifest). The Home tab belongs to the Home listener: this module calls the
`refresh_home(user, notice)` it was given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App

from bot.errors import UpstreamError, UserFacingError
from bot.jobs import message_for
from bot.services import Services
from bot.surfaces.slack.blocks.overload import (
    CAPACITY_RESET,
    CAPACITY_SAVE,
    CAPACITY_VIEW,
    capacity_form_values,
    capacity_hint_blocks,
    capacity_home_blocks,
    capacity_modal,
    capacity_modal_errors,
    capacity_notice,
)
from bot.usecases.overload import cached_capacity_view, set_weekly_hours

log = logging.getLogger(__name__)

RefreshHome = Callable[[str, str | None], None]
PEOPLE_MAX_AGE = timedelta(days=7)


def capacity_section(services: Services) -> Callable[[str], Sequence[Mapping[str, Any]]]:
    """The Home tab's capacity section: the cached overview, or a hint saying why there is none."""

    def section(user: str) -> Sequence[Mapping[str, Any]]:
        try:
            return capacity_home_blocks(cached_capacity_view(services))
        except (UserFacingError, UpstreamError) as exc:  # no project set, Asana down: a hint
            return capacity_hint_blocks(message_for(exc))

    return section


def register(app: App, services: Services, *, refresh_home: RefreshHome | None = None) -> None:
    def notify(user: str, text: str) -> None:
        if refresh_home is not None:
            refresh_home(user, text)

    @app.action(CAPACITY_SAVE)
    def handle_action_capacity_save(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _open_modal(services, body, reset=False, notify=notify)

    @app.action(CAPACITY_RESET)
    def handle_action_capacity_reset(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _open_modal(services, body, reset=True, notify=notify)

    @app.view(CAPACITY_VIEW)
    def handle_view_capacity(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        reset = view.get("private_metadata") == "reset"
        gid, name, hours, problem = capacity_form_values(
            view.get("state") or {}, need_hours=not reset
        )
        if problem:
            ack(response_action="errors", errors=capacity_modal_errors(problem))
            return

        def work() -> None:
            change = set_weekly_hours(
                services, gid, None if reset else hours, person_name=name, by=user
            )
            notify(user, f":white_check_mark: {capacity_notice(change.as_view())}")

        services.jobs.submit(work, reply=lambda text: notify(user, f":warning: {text}"))
        ack()


def _open_modal(
    services: Services, body: dict[str, Any], *, reset: bool, notify: Callable[[str, str], None]
) -> None:
    user = body["user"]["id"]
    if not services.engine.can_approve(user):
        notify(user, ":warning: Only the team's approvers can change capacity settings.")
        return
    try:  # the modal only needs the people: any cached overview will do (trigger_id lasts 3 s)
        overview = cached_capacity_view(services, max_age=PEOPLE_MAX_AGE)
    except (UserFacingError, UpstreamError) as exc:
        notify(user, f":warning: {message_for(exc)}")
        return
    services.slack.open_modal(
        body["trigger_id"],
        capacity_modal(overview["rows"], default_hours=overview["default_hours"], reset=reset),
    )
