"""Nudges in Slack: the Home tab section and its switches, and the nudge's own button.

An approver turns nudges on or off per project on the Home tab; anyone turns their own off (or
on again) there or from the nudge itself. The nudges are sent by bot/usecases/nudges.py through
the chat port (SlackSurface.post_direct: the person's DM with the app).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.services import Services
from bot.surfaces.slack.blocks.nudges import NUDGE_PROJECT, NUDGE_SELF, nudges_home_blocks
from bot.surfaces.slack.listeners.home import publish_home
from bot.surfaces.slack.surface import private_reply

log = logging.getLogger(__name__)

MAX_PROJECTS = 20


def _projects(services: Services) -> list[tuple[str, str, bool]]:
    """(gid, name, on) of every project a channel may use, and every project switched before."""
    stored = {r.project_gid: r for r in services.nudges.projects()}
    names: dict[str, str] = {}
    for linked in services.access.links():
        names.setdefault(linked.gid, linked.name)
    for gid in sorted(services.access.everywhere):
        names.setdefault(gid, services.store.digest_project_name(gid) or "")
    for gid, row in stored.items():
        if row.project_name:
            names[gid] = row.project_name
        else:
            names.setdefault(gid, "")
    rows = [
        (gid, name or f"project {gid}", bool(stored.get(gid) and stored[gid].enabled))
        for gid, name in names.items()
    ]
    return sorted(rows, key=lambda r: (r[1].casefold(), r[0]))[:MAX_PROJECTS]


def nudges_section(services: Services):
    def section(user: str) -> list[dict[str, Any]]:
        from bot.usecases.nudges import NUDGE_AT

        return nudges_home_blocks(
            _projects(services),
            can_edit=services.access.is_approver(user),
            opted_out=services.nudges.opted_out(user),
            at=NUDGE_AT,
            tz=services.settings.standup_tz,
            stale_days=services.settings.stale_days,
        )

    return section


def register(app: App, services: Services) -> None:
    services.home_sections.append(nudges_section(services))

    @app.action(NUDGE_PROJECT)
    def handle_action_nudges_project(ack: Ack, body: dict[str, Any], action: dict) -> None:
        user = body["user"]["id"]
        verb, _, gid = str(action.get("value", "")).partition(":")

        def work() -> None:
            names = {g: n for g, n, _ in _projects(services)}
            if gid not in names:
                publish_home(services, user, ":warning: That project is not listed any more.")
                return
            name = services.asana.project(gid).name  # the name as Asana has it now
            services.nudges.set_project_gid(user, gid, name, on=verb == "on")
            publish_home(
                services, user, f"Nudges turned {'on' if verb == 'on' else 'off'} for {name}."
            )

        services.jobs.submit(
            work, reply=lambda text: publish_home(services, user, f":warning: {text}")
        )
        ack()

    @app.action(NUDGE_SELF)
    def handle_action_nudges_self(ack: Ack, body: dict[str, Any], action: dict) -> None:
        user = body["user"]["id"]
        off = action.get("value") == "off"
        from_home = (body.get("container") or {}).get("type") == "view"
        reply = private_reply(services, body)

        def work() -> None:
            services.nudges.opt_out(user, off=off)
            note = (
                "Your nudges are off. Turn them on again on the app's Home tab."
                if off
                else "Your nudges are on again."
            )
            if from_home:
                publish_home(services, user, note)
            else:
                reply(note)

        services.jobs.submit(work, reply=reply)
        ack()
