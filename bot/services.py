"""The one place concrete gateways, store, clock and use cases are wired together."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from bot.domain.access import ApproverRule
from bot.errors import ConfigError, CopilotError
from bot.gateways.asana import AsanaGateway
from bot.gateways.llm import LlmGateway
from bot.gateways.slack import SlackGateway, web_client
from bot.jobs import JobQueue
from bot.settings import Secret, Settings
from bot.storage.store import Store
from bot.surfaces.router import ChatSurfaces
from bot.surfaces.slack.surface import SlackSurface
from bot.usecases.access import AccessPolicy
from bot.usecases.approvals import LEASE_SECONDS, ApprovalEngine
from bot.usecases.digest import DigestService, ScheduleBook
from bot.usecases.forecast import DeliveryForecaster
from bot.usecases.instances import CommandLedger, Liveness
from bot.usecases.nudges import NudgeService
from bot.usecases.prioritize import Prioritizer
from bot.usecases.retro import KIND as RETRO_KIND
from bot.usecases.retro import Retrospectives, RetroWriter
from bot.usecases.sprint import SprintPlanner
from bot.usecases.triage import TriageService
from bot.usecases.webhooks import AsanaWebhooks

if TYPE_CHECKING:
    from bot.scheduler import DigestScheduler, ScheduledJob
    from bot.surfaces.teams.surface import TeamsSurface

# A Home tab section another feature adds: the user id in, Block Kit blocks out.
HomeSection = Callable[[str], Sequence[Mapping[str, Any]]]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    store: Store
    asana: AsanaGateway
    llm: LlmGateway | None
    slack_client: WebClient
    slack: SlackGateway
    engine: ApprovalEngine
    prioritizer: Prioritizer
    jobs: JobQueue
    clock: Callable[[], datetime]
    access: AccessPolicy = None  # type: ignore[assignment]  # set by build_services
    digests: DigestService = None  # type: ignore[assignment]  # set by build_services
    schedules: ScheduleBook = None  # type: ignore[assignment]  # set by build_services
    planner: SprintPlanner = None  # type: ignore[assignment]  # set by build_services
    retros: Retrospectives = None  # type: ignore[assignment]  # set by build_services
    triage: TriageService = None  # type: ignore[assignment]  # set by build_services
    teams: TeamsSurface | None = None  # set by build_services when TEAMS_* are set
    # The chat port the use cases post through: Slack, or Teams for `teams:` channels.
    chat: ChatSurfaces = None  # type: ignore[assignment]  # set by build_services
    scheduler: DigestScheduler | None = None  # started by `copilot serve` only
    liveness: Liveness = None  # type: ignore[assignment]  # set by build_services
    commands: CommandLedger = None  # type: ignore[assignment]  # set by build_services
    webhooks: AsanaWebhooks = None  # type: ignore[assignment]  # set by build_services
    forecaster: DeliveryForecaster = None  # type: ignore[assignment]  # set by build_services
    nudges: NudgeService = None  # type: ignore[assignment]  # set by build_services
    # Hooks for other features: daily jobs for the one scheduler (see bot.scheduler.ScheduledJob),
    # and sections appended to the Home tab. Add to them before start_scheduler() / serving.
    scheduled_jobs: list[ScheduledJob] = field(default_factory=list)
    home_sections: list[HomeSection] = field(default_factory=list)

    def today(self) -> date:
        return self.clock().astimezone(ZoneInfo(self.settings.standup_tz)).date()

    def start_scheduler(self) -> DigestScheduler:
        """Start the process's one scheduler: digests, plus `scheduled_jobs`."""
        from bot.scheduler import DigestScheduler

        if self.scheduler is None:
            self.scheduler = DigestScheduler(
                digests=self.digests,
                store=self.store,
                clock=self.clock,
                extra_jobs=self.scheduled_jobs,
            )
            self.schedules.on_change.append(self.scheduler.sync)
            self.scheduler.start()
        return self.scheduler

    def replay_guard(self) -> Callable[[str], bool]:
        """`seen_before` for the HTTP guard: shared by every instance when the database is."""
        from bot.http_guard import ReplayCache, SharedReplayCache

        if self.store.shared:
            return SharedReplayCache(self.store).seen_before
        return ReplayCache().seen_before  # one process per SQLite file: memory is enough

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
        self.webhooks.close()  # first: its last burst would hand tasks to triage
        if self.triage is not None:
            self.triage.close()
        self.jobs.shutdown()
        if self.teams is not None:
            self.teams.close()
        self.asana.close()
        if self.llm is not None:
            self.llm.close()
        if self.store.shared:
            self.liveness.stop()
        self.store.close()


def project_name(asana: AsanaGateway, gid: str) -> str:
    """A project's name for a message; its gid when Asana cannot say."""
    try:
        return asana.project(gid).name
    except CopilotError:
        return gid


def linked_names(access: AccessPolicy) -> dict[str, str]:
    """gid → name of every project linked somewhere or everywhere ("" when no link names it)."""
    names = dict.fromkeys(access.everywhere, "")
    for link in access.links():
        names[link.gid] = names.get(link.gid) or link.name
    return names


def build_services(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    lease_seconds: float = LEASE_SECONDS,
) -> Services:
    if settings.asana_access_token is None:
        raise ConfigError("ASANA_ACCESS_TOKEN is not set")
    if settings.slack_bot_token is None and settings.teams is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set (and Teams is not configured either)")
    # DATABASE_URL (PostgreSQL) or COPILOT_DB (SQLite); the schema is brought up to date here.
    store = Store(settings.database_target, clock=clock, pool_size=settings.db_pool_size)
    liveness = Liveness(store)
    if store.shared:  # other instances must be able to tell this one is alive
        liveness.start()
    asana = AsanaGateway(
        base_url=settings.asana_base_url,
        token=settings.asana_access_token,
        # Instances sharing a database create a missing Sprint option once between them.
        option_lock=store.named_lock if store.shared else None,
    )
    llm = (
        LlmGateway(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            model=settings.model,
        )
        if settings.openai_api_key is not None
        else None
    )
    # Without Slack (Teams only) the client has no token: a Slack call would fail, none is made.
    client = web_client(settings.slack_bot_token or Secret(""), settings.slack_api_url)
    slack = SlackGateway(client)
    access = AccessPolicy(
        directory=slack,
        store=store,
        asana=asana,
        approvers=ApproverRule(settings.approvers, settings.approve_admins),
        default_project=settings.asana_project,
        default_channel=settings.standup_channel,
        everywhere=settings.projects,
        teams_approvers=settings.teams.approvers if settings.teams else frozenset(),
    )
    engine = ApprovalEngine(
        store,
        asana,
        approvers=access,
        lease_seconds=lease_seconds,
        proposal_ttl_days=settings.proposal_ttl_days,
        clock=clock,
        holder_dead=liveness.holder_dead,
    )
    services = Services(
        settings=settings,
        store=store,
        asana=asana,
        llm=llm,
        slack_client=client,
        slack=slack,
        engine=engine,
        prioritizer=None,  # type: ignore[arg-type]  # set below: it needs services.today
        jobs=JobQueue(deadline_seconds=settings.command_deadline_seconds),
        clock=clock,
        liveness=liveness,
        access=access,
    )
    services.chat = ChatSurfaces(SlackSurface(slack, store, engine))
    services.commands = CommandLedger(store, liveness, services.chat)
    services.digests = DigestService(
        asana=asana,
        chat=services.chat,
        store=store,
        llm=llm,
        settings=settings,
        clock=clock,
        holder_dead=liveness.holder_dead,
        may_post=access.may_use,
    )
    services.schedules = ScheduleBook(
        digests=services.digests,
        store=store,
        asana=asana,
        settings=settings,
        clock=clock,
        access=access,
    )
    services.prioritizer = Prioritizer(
        asana=asana,
        engine=engine,
        store=store,
        judge=llm,
        projects=access,
        today=services.today,
        hours_per_point=settings.hours_per_point,
    )
    services.planner = SprintPlanner(
        asana=asana,
        engine=engine,
        projects=access,
        clock=clock,
        today=services.today,
        sprint_days=settings.sprint_days,
        weekly_hours=settings.weekly_hours,
        hours_per_point=settings.hours_per_point,
    )
    services.retros = Retrospectives(
        asana=asana,
        engine=engine,
        store=store,
        projects=access,
        llm=llm,
        clock=clock,
        zone=settings.standup_tz,
        sprint_days=settings.sprint_days,
        retro_project=settings.retro_project,
        retro_project_name=lambda gid: project_name(asana, gid),
        known_projects=lambda: linked_names(access),
        default_project=settings.asana_project,
        chat=services.chat,
        schedules=services.digests.schedules,
        holder_dead=liveness.holder_dead,
    )
    # Approving a retrospective creates its action items and comment (find before create).
    engine.register_creator(RETRO_KIND, RetroWriter(asana))
    services.triage = TriageService(
        asana=asana,
        engine=engine,
        store=store,
        prioritizer=services.prioritizer,
        channels=access,
        jobs=services.jobs,
        clock=clock,
        today=services.today,
        default_project=settings.asana_project,
        default_channel=settings.standup_channel,
        weekly_hours=settings.weekly_hours,
        hours_per_point=settings.hours_per_point,
        llm=llm,
        chat=services.chat,
    )
    services.webhooks = AsanaWebhooks(
        asana=asana,
        store=store,
        projects=lambda: linked_projects(access, settings),
        sink=TriageSink(services),
        submit=lambda work: services.jobs.events.submit(work, reply=_log_event_failure),
        clock=clock,
        public_url=settings.public_url,
        lock=store.named_lock if store.shared else None,
    )
    services.forecaster = DeliveryForecaster(
        asana=asana,
        projects=access,
        anchors=store,
        clock=clock,
        tz=settings.standup_tz,
        sprint_days=settings.sprint_days,
    )
    services.digests.forecast_line = services.forecaster.digest_line
    services.nudges = NudgeService(
        asana=asana,
        store=store,
        slack=slack,
        access=access,
        chat=services.chat,
        clock=clock,
        tz=settings.standup_tz,
        days=settings.standup_days,
        stale_days=settings.stale_days,
        slack_enabled=settings.slack_enabled,
        teams_enabled=settings.teams is not None,
    )
    if settings.teams is not None:
        from bot.surfaces.teams.surface import TeamsSurface  # the SDK loads only when used

        services.teams = TeamsSurface(settings.teams, services)
        services.chat.teams = services.teams
    return services


def linked_projects(access: AccessPolicy, settings: Settings) -> set[str]:
    """Every project some channel may use: the ones Asana webhooks are kept for."""
    gids = {link.gid for link in access.links()} | set(access.everywhere)
    if settings.asana_project:
        gids.add(settings.asana_project)
    return gids


class TriageSink:
    """New tasks from Asana's webhooks go to `services.triage` (issue 13 §2), looked up when they
    arrive, so the order the services are built in does not matter."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def tasks_created(self, project_gid: str, task_gids: Sequence[str]) -> None:
        triage = getattr(self._services, "triage", None)
        if triage is None:
            logging.getLogger(__name__).info(
                "%d new task(s) in project %s: no triage configured", len(task_gids), project_gid
            )
            return
        triage.tasks_created(project_gid, task_gids)


def _log_event_failure(message: str) -> None:
    # Nobody to tell about one delivery's failure: the reconcile read picks its tasks up.
    logging.getLogger(__name__).warning("an Asana delivery failed: %s", message)
