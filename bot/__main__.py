"""`copilot` / `python -m bot`: serve, setup, demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Sequence

from bot.errors import ConfigError, CopilotError

log = logging.getLogger("bot")


class RedactSecrets(logging.Filter):
    """Last line of defence: no secret value reaches a log line, whatever formatted it."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = message
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, "****")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


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
    from bot.presenters import resume_and_report
    from bot.server import HttpServer
    from bot.services import build_services
    from bot.settings import Settings

    settings = Settings.from_env(
        os.environ, require=("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ASANA_ACCESS_TOKEN")
    )
    configure_logging(settings.secrets())
    services = build_services(settings)
    app = create_app(settings, services)
    threading.Thread(target=resume_and_report, args=(services,), daemon=True).start()
    if settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        log.info("serving in Socket Mode")
        SocketModeHandler(app, settings.slack_app_token.value).start()
        return 0
    server = HttpServer(app, host=args.host, port=settings.port)
    log.info(
        "serving HTTP on %s:%s, Slack requests at POST /slack/events", args.host, settings.port
    )
    server.serve_forever()
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="copilot", description="AI copilot for Asana + Slack teams"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="run the Slack app (Socket Mode with SLACK_APP_TOKEN, else HTTP)"
    )
    serve.add_argument("--host", default="0.0.0.0")
    serve.set_defaults(func=cmd_serve)
    setup = sub.add_parser("setup", help="create and attach the AI custom fields to a project")
    setup.add_argument("--project", help="project gid or name (default ASANA_PROJECT)")
    setup.set_defaults(func=cmd_setup)
    demo = sub.add_parser("demo", help="run the whole flow against the built-in sandbox")
    demo.add_argument("--tasks", type=int, default=60)
    demo.add_argument("--no-model", action="store_true", help="rules score only")
    demo.set_defaults(func=cmd_demo)
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
