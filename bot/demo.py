"""`copilot demo`: the real app, over real HTTP, against the sandbox; no credentials needed.

Starts the Asana sandbox (a seeded team backlog), the Slack stand-in and the OpenAI-compatible
stand-in on loopback, serves the real Bolt app, then drives it the way a team lead would:
/prioritize, read the proposal, press Approve, and shows Asana before and after.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.app import create_app
from bot.gateways.asana import AI_FIELDS, AsanaGateway
from bot.sandbox.asana_seed import SeedInfo, seed_team
from bot.sandbox.asana_server import AsanaSandbox, AsanaStore
from bot.sandbox.openai_standin import OpenAIStandIn
from bot.sandbox.slack_standin import SlackStandIn, render_message
from bot.server import HttpServer
from bot.services import Services, build_services
from bot.settings import Settings

LEAD = "U0LEAD"
CHANNEL = "C0TEAM"


@dataclass
class Sandbox:
    """Everything a demo, test or bench needs: the three stand-ins and the app serving HTTP."""

    asana: AsanaSandbox
    slack: SlackStandIn
    openai: OpenAIStandIn | None
    seed: SeedInfo
    settings: Settings
    services: Services
    server: HttpServer

    @property
    def app_url(self) -> str:
        return self.server.url

    def setup_fields(self) -> None:
        assert self.settings.asana_access_token is not None
        gateway = AsanaGateway(base_url=self.asana.base_url, token=self.settings.asana_access_token)
        try:
            gateway.ensure_output_fields(gateway.project(self.seed.project_gid))
        finally:
            gateway.close()

    def channel_messages(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        return self.slack.channel_messages(channel)


def sandbox_env(
    asana: AsanaSandbox,
    slack: SlackStandIn,
    openai: OpenAIStandIn | None,
    seed: SeedInfo,
    db_path: str,
    signing_secret: str,
    **extra: str,
) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": slack.api_url,
        "ASANA_ACCESS_TOKEN": asana.token,
        "ASANA_BASE_URL": asana.base_url,
        "ASANA_PROJECT": seed.project_gid,
        "COPILOT_DB": db_path,
    }
    if openai is not None:
        env["OPENAI_API_KEY"] = openai.api_key
        env["OPENAI_BASE_URL"] = openai.base_url
        env["COPILOT_MODEL"] = openai.model
    env.update(extra)
    return env


@contextmanager
def running_sandbox(
    *,
    tasks: int = 60,
    use_model: bool = True,
    db_path: str | None = None,
    env: dict[str, str] | None = None,
    rate_limit_per_minute: int | None = None,
    lease_seconds: float = 30.0,
    store: AsanaStore | None = None,
    seed: SeedInfo | None = None,
    asana: Any = None,
) -> Iterator[Sandbox]:
    """Start the stand-ins and the app on loopback; stop everything on exit.

    `asana` may be an Asana sandbox already running elsewhere (e.g. in another process, so a
    benchmark measures the app and not the sandbox); it needs `base_url` and `token`.
    """
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="copilot-")))
        signing_secret = secrets.token_hex(16)
        today = datetime.now(UTC).date()
        if store is None and seed is None:
            store = AsanaStore()
            seed = seed_team(store, tasks=tasks, today=today)
        assert seed is not None
        if asana is None:
            asana = stack.enter_context(
                AsanaSandbox(store, rate_limit_per_minute=rate_limit_per_minute)
            )
        slack = stack.enter_context(SlackStandIn(signing_secret=signing_secret))
        openai = stack.enter_context(OpenAIStandIn()) if use_model else None
        settings = Settings.from_env(
            sandbox_env(
                asana,
                slack,
                openai,
                seed,
                db_path or str(workdir / "copilot.db"),
                signing_secret,
                **(env or {}),
            )
        )
        services = build_services(settings, lease_seconds=lease_seconds)
        stack.callback(services.close)
        app = create_app(settings, services)
        server = HttpServer(app, host="127.0.0.1", port=0).start()
        stack.callback(server.stop)
        yield Sandbox(asana, slack, openai, seed, settings, services, server)


def run_demo(*, tasks: int = 60, use_model: bool = True, out: TextIO = sys.stdout) -> int:
    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    with running_sandbox(tasks=tasks, use_model=use_model) as box:
        say("== Sandbox ==")
        say(
            f"Asana sandbox   {box.asana.base_url}  ({tasks} open tasks, "
            f"project {box.seed.project_name})"
        )
        say(f"Slack stand-in  {box.slack.api_url}")
        if box.openai:
            say(f"Model stand-in  {box.openai.base_url}  (model {box.openai.model})")
        say(f"Copilot app     {box.app_url}")
        say()
        say("== copilot setup: create and attach the AI fields ==")
        box.setup_fields()
        say("  " + ", ".join(AI_FIELDS))
        say()

        say(f"== {LEAD} types /prioritize in #{CHANNEL} ==")
        answer = box.slack.slash_command(
            box.app_url, "/prioritize", "", user_id=LEAD, channel_id=CHANNEL
        )
        say(f"  ack: HTTP {answer.status} in {answer.elapsed_ms:.0f} ms")
        if not box.slack.wait_for(lambda: bool(box.channel_messages()), timeout=60):
            say("  no proposal arrived: " + _last_ephemeral(box))
            return 1
        message = box.channel_messages()[-1]
        say()
        say("== The proposal, as the channel sees it ==")
        say(box.slack.render(message))
        say()
        proposal_id = _proposal_id(message)
        view = box.services.store.proposal(proposal_id).view  # type: ignore[union-attr]
        gids = [row["gid"] for row in view["rows"]]
        say("== Asana before (the proposal's top 8) ==")
        say(_field_table(box, gids[:8]))
        say()

        say(f"== {LEAD} presses Approve ==")
        box.slack.click_button(
            box.app_url,
            channel_id=CHANNEL,
            message_ts=message["ts"],
            action_id="proposal_approve",
            user_id=LEAD,
        )
        box.slack.wait_for(
            lambda: "Approved" in render_message(box.channel_messages()[-1]), timeout=60
        )
        box.services.jobs.drain()
        updated = box.channel_messages()[-1]
        say("\n".join(box.slack.render(updated).splitlines()[:6]))
        say()
        say("== Asana after ==")
        say(_field_table(box, gids[:8]))
        written = sum(
            1 for g in gids if box.asana.store.field_value(g, "AI Priority Score") is not None
        )
        say(f"  {written} of {len(gids)} open tasks now carry an AI Priority Score.")
        say()
        say("== Requests made ==")
        say(
            f"  Asana: {box.asana.count()} HTTP requests "
            f"({box.asana.count('POST', '/batch')} batch writes)"
        )
        if box.openai:
            say(f"  Model: {len(box.openai.requests)} requests")
    return 0


def _field_table(box: Sandbox, gids: list[str]) -> str:
    store = box.asana.store
    lines = [f"  {'task':44} {'score':>6} {'conf':>5}  {'sprint':8} rationale"]
    for gid in gids:
        name = store.task(gid)["name"]
        score = store.field_value(gid, "AI Priority Score")
        confidence = store.field_value(gid, "AI Confidence")
        sprint = store.field_value(gid, "AI Suggested Sprint")
        rationale = store.field_value(gid, "AI Rationale") or ""
        lines.append(
            f"  {name[:44]:44} {_show(score):>6} "
            f"{(f'{confidence * 100:.0f}%' if confidence is not None else '—'):>5}  "
            f"{(sprint or '—'):8} {rationale[:60]}"
        )
    return "\n".join(lines)


def _proposal_id(message: dict[str, Any]) -> str:
    for block in message.get("blocks", []):
        for element in block.get("elements", []):
            if element.get("action_id") == "proposal_approve":
                return str(element["value"])
    raise LookupError("the message carries no Approve button")


def _show(value: Any) -> str:
    return "—" if value is None else f"{value:g}"


def _last_ephemeral(box: Sandbox) -> str:
    posts = box.slack.ephemerals
    return posts[-1].get("text", "") if posts else "(nothing)"
