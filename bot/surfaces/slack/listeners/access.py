"""Access (issue 10): the global middleware that refuses outsiders and guests before any
listener runs, and the Home tab section where approvers link projects to channels."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltResponse

from bot.domain.access import Requester, requester_of
from bot.render.notes import denial_text
from bot.services import Services
from bot.surfaces.slack.blocks.access import (
    LINK_ADD,
    LINK_REMOVE,
    LINK_VIEW,
    link_form_values,
    link_modal,
    linked_notice,
    links_home_blocks,
    refused_home,
    refused_modal,
)
from bot.surfaces.slack.listeners.home import publish_home

log = logging.getLogger(__name__)

INTERACTIVE = ("block_actions", "view_submission", "block_suggestion", "view_closed")


def register(app: App, services: Services) -> None:
    """Register the middleware first (it must run before every listener), then the Home parts."""
    app.middleware(who_may_ask(services))
    services.home_sections.append(lambda user: links_section(services, user))

    @app.action(LINK_ADD)
    def handle_action_link_add(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = body["user"]["id"]
        if not services.access.is_approver(user):
            publish_home(services, user, "Only the team's approvers can link projects.")
            return
        services.slack.open_modal(body["trigger_id"], link_modal())

    @app.view(LINK_VIEW)
    def handle_view_link(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        channel, project = link_form_values(view)
        errors = {}
        if not services.access.is_approver(user):
            errors["channel"] = "Only the team's approvers can link projects."
        elif not channel:
            errors["channel"] = "Pick a channel."
        if not project.strip():
            errors["project"] = "Give the Asana project's name or gid."
        if errors:
            ack(response_action="errors", errors=errors)
            return

        def work() -> None:
            link = services.access.link(user, channel, project)
            publish_home(services, user, linked_notice(link.channel, link.name))

        # Resolving the project reads Asana: after the ack, so the modal closes at once.
        services.jobs.submit(work, reply=_home_notice(services, user))
        ack()

    @app.action(LINK_REMOVE)
    def handle_action_link_remove(ack: Ack, body: dict[str, Any], action: dict) -> None:
        user = body["user"]["id"]
        channel, _, gid = str(action.get("value", "")).partition(":")

        def work() -> None:
            removed = services.access.unlink(user, channel, gid)
            publish_home(services, user, "Project unlinked." if removed else "Already unlinked.")

        services.jobs.submit(work, reply=_home_notice(services, user))
        ack()


def links_section(services: Services, user: str) -> list[dict[str, Any]]:
    access = services.access
    can_edit = access.is_approver(user)
    # Links name confidential projects and their channels: read them for approvers only.
    links = [
        {"channel": link.channel, "gid": link.gid, "name": link.name, "source": link.source}
        for link in (access.links() if can_edit else ())
    ]
    return links_home_blocks(
        links,
        everywhere=sorted(access.everywhere) if can_edit else [],
        can_edit=can_edit,
        approvers=sorted(access.approver_ids),
        admins_approve=access.admins_approve,
    )


def who_may_ask(services: Services) -> Callable[..., BoltResponse | None]:
    """The global middleware: other teams, other orgs, external people and guests get a private
    refusal (HTTP 200, so Slack shows it) and nothing else happens."""

    def refuse_outsiders(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        requester = _requester(body)
        if requester is None:
            next()  # nothing to check (url_verification, malformed): later layers answer
            return None
        why = services.access.refusal(requester)
        if why is None:
            next()
            return None
        log.info("refused a request (%s): %s", why.value, _kind(body))
        text = denial_text(why)
        if "command" in body:
            return BoltResponse(
                status=200,
                body=json.dumps({"response_type": "ephemeral", "text": text}),
                headers={"content-type": "application/json;charset=utf-8"},
            )
        if body.get("type") == "view_submission":
            return BoltResponse(
                status=200,
                body=json.dumps({"response_action": "update", "view": refused_modal(text)}),
                headers={"content-type": "application/json;charset=utf-8"},
            )
        url = body.get("response_url")
        if isinstance(url, str) and url:
            services.jobs.submit(lambda: services.slack.respond(url, text=text), reply=_quiet)
        elif body.get("type") in ("block_actions", "event_callback"):
            # A Home tab click or opening: only that person's Home tab says why.
            user = requester.user_id
            services.jobs.submit(
                lambda: services.slack.publish_home(user, refused_home(text)), reply=_quiet
            )
        return BoltResponse(status=200, body="")

    return refuse_outsiders


def _requester(body: dict[str, Any]) -> Requester | None:
    if "command" in body or body.get("type") in INTERACTIVE:
        return requester_of(body)
    event = body.get("event")
    if body.get("type") == "event_callback" and isinstance(event, dict):
        if event.get("type") == "app_home_opened" and isinstance(event.get("user"), str):
            return Requester(
                user_id=event["user"],
                team_id=body.get("team_id") if isinstance(body.get("team_id"), str) else None,
                enterprise_id=body.get("enterprise_id") or None,
            )
    return None


def _kind(body: dict[str, Any]) -> str:
    return str(body.get("command") or body.get("type") or "request")[:40]


def _quiet(text: str) -> None:
    log.warning("could not tell a refused person why: %s", text[:80])


def _home_notice(services: Services, user: str) -> Callable[[str], None]:
    def reply(text: str) -> None:
        publish_home(services, user, f":warning: {text}")

    return reply
