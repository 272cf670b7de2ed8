"""create_app: the Bolt app with every listener registered; no globals, no import-time work."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk.errors import SlackApiError

from bot.errors import ConfigError, UserFacingError
from bot.gateways.slack import error_code
from bot.jobs import message_for
from bot.services import Services
from bot.settings import Settings
from bot.surfaces.slack import triage
from bot.surfaces.slack.listeners import (
    access,
    actions,
    commands,
    fallbacks,
    forecast,
    home,
    nudges,
    overload,
    retro,
    sprint,
    webhooks,
)

log = logging.getLogger(__name__)


def create_app(settings: Settings, services: Services) -> App:
    if settings.slack_signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set")
    try:
        app = App(
            client=services.slack_client,  # carries the bot token; Bolt reads no environment
            signing_secret=settings.slack_signing_secret.value,
            # Listeners only ack and enqueue, so a wider pool keeps acks fast under bursts.
            listener_executor=ThreadPoolExecutor(max_workers=48, thread_name_prefix="bolt"),
            raise_error_for_unhandled_request=False,
        )
    except SlackApiError as exc:
        raise ConfigError(f"SLACK_BOT_TOKEN was refused by Slack ({error_code(exc)})") from None

    access.register(app, services)  # first: its middleware runs before every listener
    commands.register(app, services)
    actions.register(app, services)
    # The Home tab shows the capacity section too (cached); a Save / Reset shows its result there.
    services.home_sections.append(overload.capacity_section(services))
    overload.register(
        app, services, refresh_home=lambda user, notice: home.publish_home(services, user, notice)
    )
    sprint.register(app, services)
    retro.register(app, services)
    triage.register(app, services)  # issue 13: /estimate and the triage card's assignee menu
    webhooks.register(app, services)  # issue 13: approvers see re-created Asana webhooks
    forecast.register(app, services)
    nudges.register(app, services)  # its Home tab section too
    home.register(app, services)
    fallbacks.register(app)  # last: answers whatever no listener above handled

    @app.error
    def handle_errors(error: Exception, body: dict[str, Any], respond: Any) -> BoltResponse | None:
        text = message_for(error)
        if not isinstance(error, UserFacingError):
            log.warning("listener error: %s", type(error).__name__)
        try:
            if respond is not None and body.get("response_url"):
                respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception:
            log.warning("could not answer a failed request")
        return None

    return app
