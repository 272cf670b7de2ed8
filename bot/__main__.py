"""`copilot` / `python -m bot`: serve, setup, demo, overload, digest, webhooks."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError, CopilotError

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("bot")


class RedactSecrets(logging.Filter):
    """Last line of defence: no secret value reaches a log line, whatever formatted it."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # A traceback quotes the exception's text (a URL with a token, a failed request):
        # format it here, redacted, so no formatter prints the raw one.
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "****")
        return text


def configure_logging(secrets: Sequence[str], level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.presenters import keep_finishing_abandoned, start_up
    from bot.scheduler import ScheduledJob
    from bot.server import HttpServer
    from bot.services import build_services
    from bot.settings import Settings
    from bot.usecases.overload import run_overload_check
    from bot.usecases.retention import RETENTION_AT, RETENTION_JOB_ID, prune_old_data
    from bot.usecases.retro import JOB_AT as RETRO_JOB_AT
    from bot.usecases.retro import JOB_ID as RETRO_JOB_ID

    settings = Settings.from_env(os.environ)
    check_surfaces(settings)  # first: which surfaces to serve is the first thing to set up
    settings = Settings.from_env(os.environ, require=("ASANA_ACCESS_TOKEN",))
    socket_mode = settings.slack_enabled and (
        args.mode == "socket" or (args.mode is None and settings.slack_app_token is not None)
    )
    if args.mode == "socket" and settings.slack_app_token is None:
        raise ConfigError("SLACK_APP_TOKEN is not set (required for --socket-mode)")
    configure_logging(settings.secrets())
    services = build_services(settings)
    app = create_app(settings, services) if settings.slack_enabled else None
    threading.Thread(target=start_up, args=(services,), daemon=True).start()
    if services.store.shared:
        # Other instances may die mid-approval: pick up what they leave, every few seconds.
        threading.Thread(
            target=keep_finishing_abandoned,
            args=(services, threading.Event()),
            name="copilot-abandoned",
            daemon=True,
        ).start()
    if settings.asana_project and settings.standup_channel:
        # The overload check runs weekdays at 08:00 in the team's time zone (issue 5).
        services.scheduled_jobs.append(
            ScheduledJob(
                f"overload:{settings.asana_project}",
                partial(
                    run_overload_check,
                    services,
                    project_ref=settings.asana_project,
                    channel=settings.standup_channel,
                ),
                at="08:00",
                tz=settings.standup_tz,
                days="mon-fri",
            )
        )
    # Every morning: the retrospective of each sprint that just ended (issue 14), once.
    services.scheduled_jobs.append(
        ScheduledJob(
            RETRO_JOB_ID,
            services.retros.morning_after,
            at=RETRO_JOB_AT,
            tz=settings.standup_tz,
            days="mon-sun",
        )
    )
    # Every working day: the nudges of the projects an approver turned them on for (issue 14).
    services.scheduled_jobs.append(services.nudges.scheduled_job())
    # Every day: proposals and caches older than COPILOT_RETENTION_DAYS are pruned.
    services.scheduled_jobs.append(
        ScheduledJob(
            RETENTION_JOB_ID,
            partial(
                prune_old_data,
                services.store,
                clock=services.clock,
                retention_days=settings.retention_days,
            ),
            at=RETENTION_AT,
            tz=settings.standup_tz,
            days="mon-sun",
        )
    )
    if settings.public_url:
        # Asana webhooks (issue 13): the catch-up read of what deliveries missed, and a check
        # that each webhook is still active (re-created, and approvers told, when it is not).
        services.scheduled_jobs.append(
            ScheduledJob(
                "asana-webhooks-reconcile",
                services.webhooks.reconcile,
                every=timedelta(minutes=settings.reconcile_minutes),
            )
        )
    scheduler = services.start_scheduler()  # the stand-up digests (and any scheduled_jobs)
    log.info("scheduler started: %d job(s)", len(scheduler.scheduler.get_jobs()))
    http_slack = None if socket_mode else app
    server = HttpServer(
        http_slack,
        signing_secret=settings.slack_signing_secret.value
        if settings.slack_signing_secret
        else None,
        seen_before=services.replay_guard(),
        teams=services.teams,
        asana_webhooks=services.webhooks,
        host=args.host,
        port=settings.port,
    )
    served = [
        *(["Slack at POST /slack/events"] if http_slack is not None else []),
        *(["Teams at POST /api/messages"] if services.teams is not None else []),
        "Asana webhooks at POST /asana/events/{project}",
    ]
    if settings.public_url:
        # The port is bound already: the handshake Asana sends while each creation request is
        # open waits in the listen queue until the server runs.
        threading.Thread(
            target=ensure_webhooks, args=(services,), name="copilot-webhooks", daemon=True
        ).start()
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        assert app is not None and settings.slack_app_token is not None
        if services.teams is not None or settings.public_url:
            server.start()
            log.info("serving HTTP on %s:%s: %s", args.host, settings.port, ", ".join(served))
        log.info("serving Slack in Socket Mode")
        SocketModeHandler(app, settings.slack_app_token.value).start()
        return 0
    log.info("serving HTTP on %s:%s: %s", args.host, settings.port, ", ".join(served))
    server.serve_forever()
    return 0


def ensure_webhooks(services: Any) -> None:
    """One webhook per linked project (list first, reuse, create what is missing)."""
    for outcome in services.webhooks.ensure_all():
        if outcome.action == "failed":
            log.warning("Asana webhook of project %s: %s", outcome.project_gid, outcome.detail)
        else:
            log.info(
                "Asana webhook of project %s: %s (%s)",
                outcome.project_gid,
                outcome.action,
                outcome.webhook_gid,
            )


def cmd_webhooks(args: argparse.Namespace) -> int:
    from bot.services import build_services
    from bot.settings import Settings

    settings = Settings.from_env(os.environ, require=("ASANA_ACCESS_TOKEN",))
    configure_logging(settings.secrets(), "WARNING")
    if settings.public_url is None:
        raise ConfigError(
            "COPILOT_PUBLIC_URL is not set: the public https base URL of `copilot serve`, where "
            "Asana sends events (/asana/events/{project})"
        )
    services = build_services(settings)
    try:
        gids = [args.project] if args.project else services.webhooks.linked_projects()
        if not gids:
            print("No linked project: link one to a channel first (Home tab, ASANA_PROJECT).")
            return 0
        failed = False
        for gid in gids:
            if args.delete:
                outcome = services.webhooks.remove(gid)
            else:
                [outcome] = services.webhooks.ensure_all([gid])
            failed = failed or outcome.action == "failed"
            what = outcome.detail if outcome.action == "failed" else outcome.webhook_gid or ""
            print(f"project {gid}: {outcome.action} {what}".rstrip())
        print("Webhooks the token has on these projects:")
        for gid, hooks in services.webhooks.listing(gids):
            for hook in hooks:
                state = "active" if hook.active else "INACTIVE"
                print(f"  project {gid}: webhook {hook.gid} {state} -> {hook.target}")
            if not hooks:
                print(f"  project {gid}: none")
    finally:
        services.close()
    return 1 if failed else 0


def check_surface_of(channel: str, settings: Settings) -> None:
    """A channel is Slack's, or Teams' when written `teams:<conversation id>`: that surface must
    be configured."""
    if channel.startswith("teams:"):
        if settings.teams is None:
            raise ConfigError(
                f"{channel} is a Teams channel: set TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and "
                "TEAMS_TENANT_ID"
            )
    elif settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set (required for this command)")


def check_surfaces(settings: Settings) -> None:
    """At least one chat surface, each configured whole: Slack needs its token and secret."""
    if settings.slack_bot_token is not None and settings.slack_signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set (Slack needs it with SLACK_BOT_TOKEN)")
    if settings.slack_signing_secret is not None and settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set (Slack needs it with SLACK_SIGNING_SECRET)")
    if not settings.slack_enabled and settings.teams is None:
        raise ConfigError(
            "no chat surface is configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET for "
            "Slack, or TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID for Teams"
        )


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.settings import Settings
    from bot.storage.db import open_database, redact_url
    from bot.storage.schema import migrations

    settings = Settings.from_env(os.environ)
    configure_logging(settings.secrets(), "WARNING")
    target = settings.database_target
    database = open_database(target)
    try:
        applied = migrations.apply(database)
        current = migrations.applied(database)
    finally:
        database.close()
    where = redact_url(target) if settings.database_url else f"SQLite {target}"
    if applied:
        print(f"Migrated {where}: applied {', '.join(applied)}")
    else:
        print(f"{where} is up to date")
    print(f"  schema version {current[-1] if current else 'none'} ({len(current)} migrations)")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    from bot.gateways.asana import AsanaGateway
    from bot.settings import Settings

    settings = Settings.from_env(os.environ, require=("ASANA_ACCESS_TOKEN",))
    configure_logging(settings.secrets(), "WARNING")
    ref = args.project or settings.asana_project
    if not ref:
        raise ConfigError("ASANA_PROJECT is not set and no --project was given")
    assert settings.asana_access_token is not None
    gateway = AsanaGateway(base_url=settings.asana_base_url, token=settings.asana_access_token)
    try:
        project = gateway.find_project(ref)
        report = gateway.ensure_output_fields(project)
    finally:
        gateway.close()
    print(f"Project {project.name} ({project.gid}):")
    for name in report.created:
        print(f"  created and attached  {name}")
    for name in report.attached:
        if name not in report.created:
            print(f"  attached              {name}")
    for name in report.already:
        print(f"  already there         {name}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return run_demo(tasks=args.tasks, use_model=not args.no_model)


def cmd_overload(args: argparse.Namespace) -> int:
    from bot.services import build_services
    from bot.settings import Settings
    from bot.usecases.overload import run_overload_check

    settings = Settings.from_env(os.environ, require=("ASANA_ACCESS_TOKEN",))
    configure_logging(settings.secrets(), "WARNING")
    channel = args.channel or settings.standup_channel
    if not channel:
        raise ConfigError("STANDUP_CHANNEL is not set and no --channel was given")
    check_surface_of(channel, settings)
    services = build_services(settings)
    try:
        report = run_overload_check(services, project_ref=args.project, channel=channel)
    finally:
        services.close()
    weeks = ", ".join(f"{w:%d %b}" for w in report.weeks)
    print(f"Project {report.project.name} ({report.project.gid}), weeks of {weeks}:")
    print(
        f"  {len(report.overloads)} overloaded person-weeks, {len(report.alerts)} alerted now, "
        f"{len(report.already_alerted)} already alerted, {report.cleared} cleared since"
    )
    for alert in report.alerts:
        o = alert.overload
        fix = f"{len(alert.rebalance.moves)} change(s)" if alert.rebalance.moves else "no fix"
        print(
            f"  {alert.person_name}: week of {o.week_start:%d %b} {o.load:.0f} h of "
            f"{o.capacity:.0f} h ({alert.reason}; {fix})"
        )
    for overload, error in report.failed:
        print(f"  not posted ({overload.week_start:%d %b}): {error}", file=sys.stderr)
    if report.chart_error:
        print(f"  chart not uploaded: {report.chart_error}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_digest(args: argparse.Namespace) -> int:
    from bot.services import build_services
    from bot.settings import Settings
    from bot.surfaces.slack.blocks.digest import digest_text

    settings = Settings.from_env(os.environ, require=("ASANA_ACCESS_TOKEN",))
    configure_logging(settings.secrets(), "WARNING")
    channel = args.channel or settings.standup_channel
    if not channel:
        raise ConfigError("STANDUP_CHANNEL is not set and no --channel was given")
    if not (args.project or settings.asana_project):
        raise ConfigError("ASANA_PROJECT is not set and no --project was given")
    check_surface_of(channel, settings)
    services = build_services(settings)
    try:
        result = services.digests.post_now(args.project or "", channel)
    finally:
        services.close()
    assert result.digest is not None
    print(f"Posted to {channel} (ts {result.message_ts}): {digest_text(result.digest)}")
    return 0


def cmd_teams_package(args: argparse.Namespace) -> int:
    from bot.settings import Settings
    from bot.surfaces.teams.package import build_package

    settings = Settings.from_env(os.environ)
    if settings.teams is None:
        raise ConfigError("TEAMS_CLIENT_ID is not set (the package names the bot by it)")
    package = build_package(client_id=settings.teams.client_id, domain=args.domain)
    with open(args.out, "wb") as out:
        out.write(package)
    print(f"Wrote {args.out}: upload it in Teams (Apps → Manage your apps → Upload an app).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="copilot", description="AI copilot for Asana teams in Slack and Microsoft Teams"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the configured surfaces on one $PORT: Slack (Socket Mode with SLACK_APP_TOKEN, "
        "else HTTP at /slack/events) and/or Teams (HTTP at /api/messages)",
    )
    serve.add_argument("--host", default="0.0.0.0")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument(
        "--http",
        dest="mode",
        action="store_const",
        const="http",
        help="serve HTTP on $PORT even when SLACK_APP_TOKEN is set (a platform's web process)",
    )
    mode.add_argument(
        "--socket-mode",
        dest="mode",
        action="store_const",
        const="socket",
        help="connect to Slack in Socket Mode (needs SLACK_APP_TOKEN; a worker process)",
    )
    serve.set_defaults(func=cmd_serve, mode=None)
    migrate = sub.add_parser(
        "migrate", help="bring the database schema up to date (DATABASE_URL, else COPILOT_DB)"
    )
    migrate.set_defaults(func=cmd_migrate)
    setup = sub.add_parser("setup", help="create and attach the AI custom fields to a project")
    setup.add_argument("--project", help="project gid or name (default ASANA_PROJECT)")
    setup.set_defaults(func=cmd_setup)
    demo = sub.add_parser("demo", help="run the whole flow against the built-in sandbox")
    demo.add_argument("--tasks", type=int, default=60)
    demo.add_argument("--no-model", action="store_true", help="rules score only")
    demo.set_defaults(func=cmd_demo)
    overload = sub.add_parser(
        "overload", help="check capacity now: alert overloads with a proposed fix and a chart"
    )
    overload.add_argument("--project", help="project gid or name (default ASANA_PROJECT)")
    overload.add_argument("--channel", help="channel id (default STANDUP_CHANNEL)")
    overload.set_defaults(func=cmd_overload)
    webhooks = sub.add_parser(
        "webhooks",
        help="make sure each linked project has one Asana webhook (or --delete them); list them",
    )
    webhooks.add_argument("--project", help="one project gid (default: every linked project)")
    webhooks.add_argument("--delete", action="store_true", help="delete the copilot's webhooks")
    webhooks.set_defaults(func=cmd_webhooks)
    digest = sub.add_parser("digest", help="post the stand-up digest of a project now")
    digest.add_argument("--project", help="project gid or name (default ASANA_PROJECT)")
    digest.add_argument("--channel", help="channel id (default STANDUP_CHANNEL)")
    digest.set_defaults(func=cmd_digest)
    package = sub.add_parser(
        "teams-package", help="build the Teams app package (manifest.json and icons, zipped)"
    )
    package.add_argument(
        "--domain", required=True, help="the host serving /api/messages, e.g. copilot.example.com"
    )
    package.add_argument("--out", default="copilot-teams.zip", help="default copilot-teams.zip")
    package.set_defaults(func=cmd_teams_package)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"copilot: configuration error: {exc}", file=sys.stderr)
        return 2
    except CopilotError as exc:
        print(f"copilot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
