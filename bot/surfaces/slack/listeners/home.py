"""App Home: the digest schedules (approvers change them through a form) and other sections."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.services import Services
from bot.surfaces.slack.blocks.home import (
    SCHEDULE_ADD,
    SCHEDULE_EDIT,
    SCHEDULE_REMOVE,
    SCHEDULE_VIEW,
    home_view,
    saved_notice,
    schedule_form_values,
    schedule_modal,
)
from bot.usecases.digest import ScheduleForm

log = logging.getLogger(__name__)


def publish_home(services: Services, user: str, notice: str | None = None) -> None:
    """Render and publish `user`'s Home tab (schedules, then every extra section)."""
    data = services.schedules.home(user)
    extra = []
    for section in services.home_sections:
        try:
            extra.append(section(user))
        except Exception:  # one feature's broken section must not blank the whole Home tab
            log.exception("a Home section failed to build")
    services.slack.publish_home(
        user,
        home_view(
            schedules=data.schedules,
            can_edit=data.can_edit,
            approvers=data.approvers,
            notice=notice,
            extra_sections=extra,
            problems=data.problems,
        ),
    )


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def handle_event_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            publish_home(services, event["user"])

    @app.action(SCHEDULE_ADD)
    def handle_action_schedule_add(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _open_form(services, body, schedule_id=None)

    @app.action(SCHEDULE_EDIT)
    def handle_action_schedule_edit(ack: Ack, body: dict[str, Any], action: dict) -> None:
        ack()
        _open_form(services, body, schedule_id=str(action.get("value", "")))

    @app.action(SCHEDULE_REMOVE)
    def handle_action_schedule_remove(ack: Ack, body: dict[str, Any], action: dict) -> None:
        user = body["user"]["id"]
        schedule_id = str(action.get("value", ""))

        def work() -> None:
            removed = services.schedules.remove(user, schedule_id)
            publish_home(services, user, "Schedule removed." if removed else "Already removed.")

        services.jobs.submit(work, reply=_home_notice(services, user))
        ack()

    @app.view(SCHEDULE_VIEW)
    def handle_view_schedule(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        form = ScheduleForm(**schedule_form_values(view))
        errors = services.schedules.check(user, form)
        if errors:
            ack(response_action="errors", errors=errors)
            return

        def work() -> None:
            saved = services.schedules.save(user, form)
            publish_home(services, user, saved_notice(saved))

        # Resolving the project reads Asana: after the ack, so the modal closes at once.
        services.jobs.submit(work, reply=_home_notice(services, user))
        ack()


def _open_form(services: Services, body: dict[str, Any], *, schedule_id: str | None) -> None:
    user = body["user"]["id"]
    if not services.schedules.can_edit(user):
        publish_home(services, user, "Only the team's approvers can change digest schedules.")
        return
    schedule = services.digests.schedule(schedule_id) if schedule_id else None
    services.slack.open_modal(
        body["trigger_id"],
        schedule_modal(schedule, default_tz=services.settings.standup_tz),
    )


def _home_notice(services: Services, user: str):
    def reply(text: str) -> None:
        publish_home(services, user, f":warning: {text}")

    return reply
