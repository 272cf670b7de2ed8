"""Settings in the personal chat: Slack's Home tab for Teams, on the same use cases.

`settings` (typed in the personal chat, or from the command menu) posts the settings card there;
its buttons are Action.Execute. A click is answered at once (a refusal, or "working…"), and the
change itself (which may read Asana) runs on the job queue and then redraws the card in place.
The channels offered are every channel of the teams the copilot is installed in, so an approver
can schedule a digest or link a project to a channel nobody has written in yet.
"""

from __future__ import annotations

import html
import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.errors import UpstreamError, UserFacingError
from bot.jobs import message_for
from bot.render.text import clip
from bot.surfaces.teams import cards, settings_cards
from bot.surfaces.teams.settings_cards import SettingsView, settings_card, working_card
from bot.usecases.access import TEAMS
from bot.usecases.digest import ScheduleForm
from bot.usecases.overload import cached_capacity_view, set_weekly_hours

if TYPE_CHECKING:
    from bot.services import Services
    from bot.surfaces.teams.surface import Sender, TeamsSurface

log = logging.getLogger(__name__)

CARD_RESPONSE = "application/vnd.microsoft.card.adaptive"
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
CHANNELS_TTL_S = 60.0
NOT_HERE = "Settings live in our personal chat: write **settings** to me there."
ONLY_APPROVERS = "Only the team's approvers can change settings. Nothing was changed."
WORKING = {
    settings_cards.SCHEDULE_SAVE: "Saving the schedule",
    settings_cards.SCHEDULE_REMOVE: "Removing the schedule",
    settings_cards.LINK_ADD: "Linking the project",
    settings_cards.LINK_REMOVE: "Unlinking the project",
    settings_cards.HOURS_SAVE: "Saving the weekly hours",
}


class PersonalSettings:
    def __init__(self, services: Services, teams: TeamsSurface) -> None:
        self._services = services
        self._teams = teams
        self._lock = threading.Lock()
        self._channels: tuple[float, list[tuple[str, str]]] | None = None

    # -- the card -----------------------------------------------------------------------------

    def channels(self) -> list[tuple[str, str]]:
        """(`teams:<channel id>`, "Team › Channel") for every channel of every team the copilot
        is installed in, read from Teams at most once a minute. Each is remembered with its
        team, so posts there find their connector and an uninstall stops them."""
        now = time.monotonic()
        with self._lock:
            if self._channels is not None and now - self._channels[0] < CHANNELS_TTL_S:
                return self._channels[1]
        store = self._services.store
        found: list[tuple[str, str]] = []
        for team in store.teams_installed_teams():
            try:
                team_name, channels = self._teams.gateway.team_channels(
                    team.team_id, service_url=team.service_url
                )
            except UpstreamError as exc:
                log.warning("could not list a team's channels: %s", exc)
                continue
            for channel_id, name in channels:
                store.remember_teams_conversation(
                    channel_id,
                    service_url=team.service_url,
                    tenant_id=team.tenant_id or "",
                    kind="channel",
                    team_id=team.team_id,
                )
                found.append((TEAMS + channel_id, f"{team_name} › {name}"))
        with self._lock:
            self._channels = (now, found)
        return found

    def channel_name(self, channel: str) -> str:
        labels = dict(self._channels[1]) if self._channels else {}
        if channel in labels:
            return labels[channel]
        if channel.startswith(TEAMS):
            return "a Teams conversation"
        return f"Slack channel {channel}"

    def view(self, user: str, *, notice: str = "", form: Mapping[str, Any] | None = None) -> dict:
        """The settings card for `user`, as they may see it (may read Asana: off the request)."""
        services = self._services
        home = services.schedules.home(user)
        access = services.access
        can_edit = home.can_edit
        people: list[Mapping[str, Any]] = []
        default_hours: float | None = None
        hint = ""
        try:
            overview = cached_capacity_view(services)
            people, default_hours = overview["rows"], float(overview["default_hours"])
        except (UserFacingError, UpstreamError) as exc:
            hint = message_for(exc)
        links = [
            {"channel": link.channel, "gid": link.gid, "name": link.name, "source": link.source}
            for link in (access.links() if can_edit else ())
        ]
        view = SettingsView(
            can_edit=can_edit,
            default_tz=services.settings.standup_tz,
            schedules=home.schedules,
            channels=self.channels() if can_edit else (),
            links=links,
            everywhere=sorted(access.everywhere) if can_edit else (),
            people=people,
            default_hours=default_hours,
            capacity_hint=hint,
            problems=home.problems,
            notice=notice,
            form=dict(form or {}),
        )
        return settings_card(view, self.channel_name)

    # -- the command and the clicks -----------------------------------------------------------

    def open(self, sender: Sender) -> None:
        """`settings`: the card, in the person's personal chat (from anywhere)."""

        def work() -> None:
            card = self.view(sender.user)
            if sender.kind == "personal":
                self._teams.answer(sender, card)
                return
            chat = self._teams.gateway.personal_chat(
                sender.member_id, tenant_id=sender.tenant_id, service_url=sender.service_url
            )
            self._teams.gateway.post(chat, service_url=sender.service_url, card=card)

        self._services.jobs.submit(work, reply=self._teams.private_reply(sender))

    def act(self, sender: Sender, activity: Mapping[str, Any], verb: str, data: Mapping) -> dict:
        """Answer a settings click at once; the change runs after, then the card is redrawn."""
        if sender.kind != "personal":
            return _message(NOT_HERE)
        if verb in settings_cards.CHANGES and not self._services.access.is_approver(sender.user):
            return _message(ONLY_APPROVERS)  # nothing reaches a use case: nothing can change
        card_id = str(activity.get("replyToId") or "")

        def redraw(notice: str, form: Mapping[str, Any] | None = None) -> None:
            card = self.view(sender.user, notice=notice, form=form)
            if card_id:
                self._teams.gateway.update(
                    sender.conversation, card_id, service_url=sender.service_url, card=card
                )
            else:
                self._teams.answer(sender, card)

        def work() -> None:
            notice, form = self._change(sender.user, verb, data)
            redraw(notice, form)

        def failed(text: str) -> None:
            try:
                redraw(f"⚠️ {cards.md(_plain(text))}", _form_of(data))
            except Exception as exc:  # the card cannot be redrawn: say it privately instead
                log.warning("could not redraw the settings card: %s", type(exc).__name__)
                self._teams.private_reply(sender)(text)

        self._services.jobs.submit(work, reply=failed)
        return _card(working_card(WORKING.get(verb, "Loading your settings")))

    def _change(
        self, user: str, verb: str, data: Mapping[str, Any]
    ) -> tuple[str, Mapping[str, Any] | None]:
        """Do what the click asks; (notice, form values to show again)."""
        services = self._services
        form = _form_of(data)
        if verb == settings_cards.SCHEDULE_EDIT:
            schedule = services.digests.schedule(str(data.get("schedule") or ""))
            if schedule is None:
                return "That schedule no longer exists.", None
            return "", {
                "replaces": schedule.id,
                "schedule_channel": schedule.channel,
                "schedule_project": schedule.project_name or schedule.project_gid,
                "schedule_time": schedule.at,
                "schedule_tz": schedule.tz,
                "schedule_days": schedule.days,
            }
        if verb == settings_cards.SCHEDULE_SAVE:
            channel = str(data.get("schedule_channel") or "")
            entered = ScheduleForm(
                channel=channel if self._offered(channel) else "",
                project=str(data.get("schedule_project") or ""),
                at=str(data.get("schedule_time") or ""),
                tz=str(data.get("schedule_tz") or ""),
                days=tuple(d for d in str(data.get("schedule_days") or "").split(",") if d),
                replaces=str(data.get("replaces") or ""),
            )
            errors = services.schedules.check(user, entered)
            if errors:
                return "⚠️ Please fix the form.", {**form, "errors": errors}
            saved = services.schedules.save(user, entered)
            project = cards.md(clip(saved.project_name or saved.project_gid, 80))
            where = cards.md(self.channel_name(saved.channel))
            return (
                f"✅ Saved: **{project}** → {where} at {cards.md(saved.at)} {cards.md(saved.tz)}, "
                f"{settings_cards.days_label(saved.days)}.",
                None,
            )
        if verb == settings_cards.SCHEDULE_REMOVE:
            removed = services.schedules.remove(user, str(data.get("schedule") or ""))
            return ("✅ Schedule removed." if removed else "Already removed."), None
        if verb == settings_cards.LINK_ADD:
            channel = str(data.get("link_channel") or "")
            if not self._offered(channel):
                errors = {"link_channel": "Pick a channel."}
                return "⚠️ Please fix the form.", {**form, "errors": errors}
            link = services.access.link(user, channel, str(data.get("link_project") or ""))
            project = cards.md(clip(link.name, 80))
            return f"✅ Linked **{project}** to {cards.md(self.channel_name(link.channel))}.", None
        if verb == settings_cards.LINK_REMOVE:
            removed = services.access.unlink(
                user, str(data.get("channel") or ""), str(data.get("gid") or "")
            )
            return ("✅ Project unlinked." if removed else "Already unlinked."), None
        if verb == settings_cards.HOURS_SAVE:
            return self._hours(user, data, form)
        return "", None  # OPEN: just the card again

    def _hours(
        self, user: str, data: Mapping[str, Any], form: Mapping[str, Any]
    ) -> tuple[str, Mapping[str, Any] | None]:
        gid = str(data.get("hours_person") or "")
        reset = str(data.get("hours_reset") or "false") == "true"
        raw = data.get("hours_value")
        hours: float | None = None
        if not reset:
            try:
                hours = float(raw) if raw not in (None, "") else math.nan
            except (TypeError, ValueError):
                hours = math.nan
            if math.isnan(hours):
                problem = "Type the weekly hours (0 when the person is away), or tick the reset."
                return "⚠️ Please fix the form.", {**form, "errors": {"hours": problem}}
        people = {
            str(r["person_gid"]): str(r["name"])
            for r in cached_capacity_view(self._services)["rows"]
        }
        if gid not in people:
            return "⚠️ Please fix the form.", {**form, "errors": {"hours": "Pick a person first."}}
        change = set_weekly_hours(self._services, gid, hours, person_name=people[gid], by=user)
        name = cards.md(clip(change.name, 60))
        if change.hours is None:
            return f"✅ **{name}** is back to the default {change.default_hours:g} h a week.", None
        return f"✅ **{name}** now has {change.hours:g} h a week.", None

    def _offered(self, channel: str) -> bool:
        """Only a channel the form offered (a forged value names no channel)."""
        return any(value == channel for value, _ in self.channels())


def _form_of(data: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "replaces",
        "schedule_channel",
        "schedule_project",
        "schedule_time",
        "schedule_tz",
        "schedule_days",
        "link_channel",
        "link_project",
        "hours_person",
    )
    return {k: str(data[k]) for k in keys if isinstance(data.get(k), str | int | float)}


def _plain(text: str) -> str:
    """A job's message (the shared note markup, escaped) as plain words for a card."""
    return html.unescape(text)


def _card(card: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "type": CARD_RESPONSE, "value": dict(card)}


def _message(text: str) -> dict[str, Any]:
    return {"statusCode": 200, "type": MESSAGE_RESPONSE, "value": text}
