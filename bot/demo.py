"""`copilot demo`: the real app, over real HTTP, against the sandbox; no credentials needed.

Starts the Asana sandbox (a seeded team backlog), the Slack stand-in and the OpenAI-compatible
stand-in on loopback, serves the real Bolt app, then drives it the way a team lead would:
/prioritize, read the proposal, press Approve, and shows Asana before and after.
"""

from __future__ import annotations

import copy
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.app import create_app
from bot.gateways.asana import AI_FIELDS, AsanaGateway
from bot.sandbox.asana_seed import SeedInfo, seed_team
from bot.sandbox.asana_server import AsanaSandbox, AsanaStore
from bot.sandbox.openai_standin import OpenAIStandIn
from bot.sandbox.slack_standin import DEFAULT_USERS, HttpResult, SlackStandIn, SlackUser
from bot.sandbox.teams_standin import TEAM_ID, TeamsStandIn, render_card
from bot.sandbox.teams_standin import HttpResult as TeamsResult
from bot.server import HttpServer
from bot.services import Services, build_services
from bot.settings import Settings
from bot.usecases.approvals import LEASE_SECONDS

LEAD = "U0LEAD"
TEAMS_LEAD = "29:1ana"  # Ana Lima in the Teams stand-in: the approver there
TEAMS_CHANNEL = TEAM_ID  # the Platform team's General channel
CHANNEL = "C0TEAM"
GUEST = "U0GUEST"  # a multi-channel guest (is_restricted)
SINGLE_GUEST = "U0SINGLE"  # a single-channel guest (is_ultra_restricted)
ADMIN = "U0ADMIN"  # a workspace admin
PARTNER = "U0PARTNER"  # a Slack Connect member from another company
PARTNER_TEAM = "T0PARTNER"
# The sandbox workspace: the team lead (the one approver), members who are not approvers, an
# admin, two guests and an external person from a shared channel.
SANDBOX_USERS: tuple[SlackUser, ...] = (
    *DEFAULT_USERS,
    SlackUser(LEAD, "lead", None, "Lee Lead"),
    SlackUser("U0BOSS", "boss", None, "Bo Boss"),
    SlackUser("U0INTERN", "intern", None, "Ian Intern"),
    SlackUser(ADMIN, "admin", None, "Ada Admin", is_admin=True),
    SlackUser(GUEST, "guest", None, "Gus Guest", is_restricted=True),
    SlackUser(SINGLE_GUEST, "single", None, "Sam Single", is_ultra_restricted=True),
    SlackUser(PARTNER, "partner", None, "Pat Partner", team_id=PARTNER_TEAM),
)


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
    teams: TeamsStandIn

    @property
    def app_url(self) -> str:
        return self.server.url

    @property
    def app_url_teams(self) -> str:
        return self.server.teams_url

    def setup_fields(self) -> None:
        assert self.settings.asana_access_token is not None
        gateway = AsanaGateway(base_url=self.asana.base_url, token=self.settings.asana_access_token)
        try:
            gateway.ensure_output_fields(gateway.project(self.seed.project_gid))
        finally:
            gateway.close()

    def link(self, project_gid: str, channel: str = CHANNEL, *, by: str = LEAD) -> None:
        """Link a project to a channel (what an approver does on the Home tab), as set-up."""
        name = self.services.asana.project(project_gid).name
        self.services.store.link_project(channel, project_gid, name, by=by)

    def channel_messages(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        return self.slack.channel_messages(channel)

    def command(
        self,
        name: str,
        text: str = "",
        *,
        user: str = LEAD,
        channel: str = CHANNEL,
        expect_message: bool = True,
    ) -> tuple[HttpResult, dict[str, Any] | None]:
        """Type a slash command; return the ack and the message it posted (None if none came).

        With `expect_message=False` it waits only for the work the command queued (queued before
        the ack), not up to a minute for a message that should not come; one that does is still
        returned.
        """
        before = len(self.channel_messages(channel))
        answer = self.slack.slash_command(
            self.app_url, name, text, user_id=user, channel_id=channel
        )

        def posted() -> bool:
            return len(self.channel_messages(channel)) > before

        if expect_message:
            self.slack.wait_for(posted, 60)
        self.services.jobs.drain(timeout=120)
        # A copy: the stand-in updates its own message in place when the app edits it.
        return answer, copy.deepcopy(self.channel_messages(channel)[-1]) if posted() else None

    def click(
        self, message_ts: str, action_id: str, *, user: str = LEAD, channel: str = CHANNEL
    ) -> HttpResult:
        """Press a button of a posted message and wait for the work it queued."""
        result = self.slack.click_button(
            self.app_url,
            channel_id=channel,
            message_ts=message_ts,
            action_id=action_id,
            user_id=user,
        )
        self.services.jobs.drain(timeout=120)
        return result

    def teams_say(
        self,
        text: str,
        *,
        user: str = TEAMS_LEAD,
        conversation: str = TEAMS_CHANNEL,
        expect_proposal: bool = True,
    ) -> tuple[TeamsResult, dict[str, Any] | None]:
        """Write to the copilot in Teams; return the answer and the proposal card it posted."""

        def proposals() -> list[dict[str, Any]]:
            return [m for m in self.teams.messages_in(conversation) if _proposal_id(m)]

        before = len(proposals())
        answer = self.teams.message(self.app_url_teams, text, user=user, conversation=conversation)
        arrived = expect_proposal and self.teams.wait_for(lambda: len(proposals()) > before, 60)
        self.services.jobs.drain(timeout=120)
        # A copy: the stand-in updates its own message in place when the app edits it.
        return answer, copy.deepcopy(proposals()[-1]) if arrived else None

    def teams_click(
        self,
        message: dict[str, Any],
        verb: str,
        *,
        user: str = TEAMS_LEAD,
        conversation: str = TEAMS_CHANNEL,
        data: dict[str, Any] | None = None,
    ) -> TeamsResult:
        """Press an Action.Execute button of a posted card and wait for the work it queued."""
        result = self.teams.invoke(
            self.app_url_teams,
            user=user,
            conversation=conversation,
            reply_to=message["id"],
            verb=verb,
            data={"proposal": _proposal_id(message)} | (data or {}),
        )
        self.services.jobs.drain(timeout=120)
        return result


def _proposal_id(message: dict[str, Any]) -> str | None:
    """The proposal a Teams card carries (its buttons' data), None for other messages."""
    for attachment in message.get("attachments") or []:
        for action in (attachment.get("content") or {}).get("actions") or []:
            proposal = (action.get("data") or {}).get("proposal")
            if proposal:
                return str(proposal)
    return None


def sandbox_env(
    asana: AsanaSandbox,
    slack: SlackStandIn,
    openai: OpenAIStandIn | None,
    seed: SeedInfo,
    db_path: str,
    signing_secret: str,
    teams: TeamsStandIn | None = None,
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
        # Access (issue 10): the lead decides; every channel may use the seeded projects.
        "COPILOT_APPROVERS": LEAD,
        "COPILOT_PROJECTS": f"{seed.project_gid},{seed.other_project_gid}",
    }
    if seed.retro_project_gid:  # retrospectives' action items go to "Process Improvement"
        env["COPILOT_RETRO_PROJECT"] = seed.retro_project_gid
    if teams is not None:
        # Teams (issue 12): the lead is Ana Lima there, an approver named by her email.
        env.update(teams.environ())
        env["TEAMS_APPROVERS"] = teams.users[TEAMS_LEAD].email
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
    lease_seconds: float = LEASE_SECONDS,
    store: AsanaStore | None = None,
    seed: SeedInfo | None = None,
    asana: Any = None,
    webhooks: bool = False,
) -> Iterator[Sandbox]:
    """Start the stand-ins and the app on loopback; stop everything on exit.

    `webhooks` creates the Asana webhooks of the linked projects, targeting the app's server.
    `asana` may be an Asana sandbox already running elsewhere (e.g. in another process, so a
    benchmark measures the app and not the sandbox); it needs `base_url` and `token`.
    The seed is built around the clock's now (frozen in tests, real for `copilot demo`): its
    timestamps lie before it, its due dates count from the team's date in STANDUP_TZ, as the
    app reads it.
    """
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="copilot-")))
        signing_secret = secrets.token_hex(16)
        if store is None and seed is None:
            store = AsanaStore()
            now = datetime.now(UTC)
            today = now.astimezone(_team_zone(env or {})).date()
            seed = seed_team(store, tasks=tasks, today=today, now=now)
        assert seed is not None
        if asana is None:
            asana = stack.enter_context(
                AsanaSandbox(store, rate_limit_per_minute=rate_limit_per_minute)
            )
        slack = stack.enter_context(
            SlackStandIn(signing_secret=signing_secret, users=SANDBOX_USERS)
        )
        openai = stack.enter_context(OpenAIStandIn()) if use_model else None
        teams = stack.enter_context(TeamsStandIn())
        settings = Settings.from_env(
            sandbox_env(
                asana,
                slack,
                openai,
                seed,
                db_path or str(workdir / "copilot.db"),
                signing_secret,
                teams,
                **(env or {}),
            )
        )
        services = build_services(settings, lease_seconds=lease_seconds)
        stack.callback(services.close)
        app = create_app(settings, services)
        server = HttpServer(
            app,
            signing_secret=signing_secret,
            seen_before=services.replay_guard(),
            teams=services.teams,
            asana_webhooks=services.webhooks,
            host="127.0.0.1",
            port=0,
        ).start()
        stack.callback(server.stop)
        if webhooks:
            # Asana webhooks on each linked project, delivered to this server (issue 13).
            services.webhooks.public_url = services.webhooks.public_url or server.base_url
            services.webhooks.ensure_all()
        yield Sandbox(asana, slack, openai, seed, settings, services, server, teams)


def _team_zone(env: dict[str, str]) -> ZoneInfo:
    """STANDUP_TZ from `env`, or UTC (a bad zone is left for Settings to report)."""
    try:
        return ZoneInfo(env.get("STANDUP_TZ") or "UTC")
    except (ValueError, ZoneInfoNotFoundError):
        return ZoneInfo("UTC")


def run_demo(*, tasks: int = 60, use_model: bool = True, out: TextIO = sys.stdout) -> int:
    from bot.surfaces.retro_demo import retro_demo

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    from bot.surfaces.slack.listeners.forecast import forecast_demo

    with running_sandbox(tasks=tasks, use_model=use_model) as box:
        say("== Sandbox ==")
        say(
            f"Asana sandbox   {box.asana.base_url}  ({tasks} open tasks, "
            f"project {box.seed.project_name})"
        )
        say(f"Slack stand-in  {box.slack.api_url}")
        say(f"Teams stand-in  {box.teams.service_url}")
        if box.openai:
            say(f"Model stand-in  {box.openai.base_url}  (model {box.openai.model})")
        say(f"Copilot app     {box.app_url}  and  {box.app_url_teams}")
        say()
        say("== copilot setup: create and attach the AI fields ==")
        box.setup_fields()
        say("  " + ", ".join(AI_FIELDS))
        say()

        say(f"== {LEAD} types /prioritize in #{CHANNEL} ==")
        answer, message = box.command("/prioritize")
        say(f"  ack: HTTP {answer.status} in {answer.elapsed_ms:.0f} ms")
        if message is None:
            say("  no proposal arrived: " + _last_ephemeral(box))
            return 1
        say()
        say("== The proposal, as the channel sees it ==")
        say(box.slack.render(message))
        say()
        proposal_id = proposal_id_of(message)
        view = box.services.store.proposal(proposal_id).view  # type: ignore[union-attr]
        gids = [row["gid"] for row in view["rows"]]
        say("== Asana before (the proposal's top 8) ==")
        say(_field_table(box, gids[:8]))
        say()

        say(f"== {LEAD} presses Approve ==")
        box.click(message["ts"], "proposal_approve")
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
        say()
        if not retro_demo(box, say):  # before /plan-sprint moves the seed's carried-over tasks
            return 1
        if not _sprint_demo(box, say):
            return 1
        if not forecast_demo(box, say):
            return 1
        if not _overload_demo(box, say):
            return 1
        say()
        if not _digest_demo(box, say):
            return 1
        say()
        if not _teams_demo(box, say):
            return 1
        from bot.demo_triage import triage_demo  # issue 13; it imports this module

        if not triage_demo(box, say):
            return 1
    return 0


# -- issue 12: the same copilot in Microsoft Teams ---------------------------------------------


def _teams_demo(box: Sandbox, say: Any) -> bool:
    lead = box.teams.users[TEAMS_LEAD].name
    box.asana.reset_requests()
    say(f"== {lead} writes “@Copilot prioritize” in the Platform team's General channel ==")
    answer, message = box.teams_say("prioritize")
    say(f"  answer: HTTP {answer.status} in {answer.elapsed_ms:.0f} ms")
    if message is None:
        say("  no proposal card arrived")
        return False
    say()
    say("== The proposal card, as the channel sees it (first lines) ==")
    say("\n".join(render_card(message).splitlines()[:8]))
    say("…")
    say(render_card(message).splitlines()[-1])
    say()
    say(f"== {lead} presses Approve ==")
    box.asana.reset_requests()
    click = box.teams_click(message, "approve")
    first = {"attachments": [{"content": click.json().get("value", {})}]}
    say(f"  answered at once (HTTP {click.status} in {click.elapsed_ms:.0f} ms), for {lead}:")
    say("  " + render_card(first).splitlines()[1])
    updated = box.teams.activities[(TEAMS_CHANNEL, message["id"])]
    say("  then the card, updated in place for everyone:")
    say("  " + render_card(updated).splitlines()[1])
    say(
        f"  Asana: {box.asana.count('GET')} reads and {box.asana.count('POST', '/batch')} "
        "batch requests for the approval."
    )
    return True


# -- issue 3: plan the next sprint and commit it -----------------------------------------------


def _sprint_demo(box: Sandbox, say: Any) -> bool:
    box.asana.reset_requests()
    say(f"== {LEAD} types /plan-sprint in #{CHANNEL} ==")
    answer, message = box.command("/plan-sprint")
    say(f"  ack: HTTP {answer.status} in {answer.elapsed_ms:.0f} ms")
    if message is None:
        say("  no sprint proposal arrived: " + _last_ephemeral(box))
        return False
    reads = box.asana.count("GET")
    say()
    say("== The sprint proposal, as the channel sees it ==")
    say(box.slack.render(message))
    say()
    view = box.services.store.proposal(proposal_id_of(message)).view  # type: ignore[union-attr]
    sprint = view["sprint"]["name"]
    box.asana.reset_requests()
    say(f"== {LEAD} presses Approve ==")
    box.click(message["ts"], "proposal_approve")
    updated = box.slack.messages[(CHANNEL, message["ts"])]
    say("\n".join(box.slack.render(updated).splitlines()[:2]))
    say()
    say("== Asana after ==")
    store = box.asana.store
    in_sprint = [
        gid
        for gid in store.tasks
        if store.field_value(gid, "Sprint") == sprint
        and store.field_value(gid, "AI Suggested Sprint") == "Next"
    ]
    say(
        f"  {len(in_sprint)} tasks now have Sprint = {sprint} and AI Suggested Sprint = Next "
        f"({len(view['selected'])} selected)."
    )
    say(
        f"  Asana requests: {reads} reads to propose; {box.asana.count('GET')} reads, "
        f"{box.asana.count('POST', '/custom_fields')} new Sprint option and "
        f"{box.asana.count('POST', '/batch')} batch writes to approve."
    )
    say()
    return True


# -- issue 5: a capacity overload, its alert and its approval ----------------------------------

CRUNCH_PROJECT = "Mobile Release 5.0"
HANNAH_SLACK_ID = "U0HANNAH"


@dataclass(frozen=True)
class Crunch:
    """A deterministic overload: Hannah Kim's next week holds 60 h (150 % of 40 h)."""

    project_gid: str
    week_start: date
    hannah: str
    sofia: str
    marcus: str
    submit: str  # 24 h over next week, no dependents: may move a week later
    tablet: str  # 20 h over next week, frontend: Sofia may take it
    crash: str  # 16 h due next Wednesday, blocks `submit`: cannot move later
    notes_page: str  # Sofia's 12 h next week


def arrange_overload(store: AsanaStore, seed: SeedInfo, today: date) -> Crunch:
    """Add a small release project where Hannah is over capacity next week (whatever today is)."""
    users = seed.user_gids
    hannah = users["hannah.kim@acme.example"]
    sofia = users["sofia.alvarez@acme.example"]
    marcus = users["marcus.chen@acme.example"]
    project = store.add_project(seed.workspace_gid, CRUNCH_PROJECT, owner_gid=hannah)
    for name in ("Estimated Hours", "Story Points", "Skills"):
        store.attach_field(project, seed.field_gids[name])
    monday = today + timedelta(days=7 - today.weekday())
    friday = monday + timedelta(days=4)

    def task(name: str, who: str, hours: float, skill: str, start: date | None, due: date) -> str:
        return store.add_task(
            project,
            name,
            assignee=who,
            start_on=start,
            due_on=due,
            custom_fields={
                seed.field_gids["Estimated Hours"]: hours,
                seed.field_gids["Skills"]: skill,
            },
        )

    submit = task("Submit 5.0 to the App Store", hannah, 24, "mobile", monday, friday)
    tablet = task("Tablet layout polish", hannah, 20, "frontend", monday, friday)
    crash = task("Fix crash on rotate", hannah, 16, "mobile", None, monday + timedelta(days=2))
    notes_page = task("Release notes page", sofia, 12, "frontend", monday, friday)
    task("Feature flags for 5.0", marcus, 30, "backend", monday, friday)
    store.add_dependency(submit, crash)  # the submission waits for the crash fix
    return Crunch(project, monday, hannah, sofia, marcus, submit, tablet, crash, notes_page)


def add_slack_user_for(box: Sandbox, email: str, user_id: str, name: str) -> None:
    """Give the Slack stand-in a member with this email (so the alert can @-mention them)."""
    box.slack.users[user_id] = SlackUser(user_id, name.split()[0].lower(), email, name)


def _overload_demo(box: Sandbox, say: Any) -> bool:
    from bot.usecases.overload import run_overload_check

    today = box.services.today()
    crunch = arrange_overload(box.asana.store, box.seed, today)
    box.link(crunch.project_gid)  # the lead links the crunch project to the team's channel
    add_slack_user_for(box, "hannah.kim@acme.example", HANNAH_SLACK_ID, "Hannah Kim")
    say(f"== Capacity: Hannah takes on the {CRUNCH_PROJECT} crunch next week ==")
    say(f"== copilot overload --project {crunch.project_gid} --channel {CHANNEL} ==")
    report = run_overload_check(box.services, project_ref=crunch.project_gid, channel=CHANNEL)
    say(
        f"  {len(report.overloads)} overload(s) in the next {len(report.weeks)} weeks, "
        f"{len(report.alerts)} alert(s) posted, chart {report.chart_file_id or 'not uploaded'}"
    )
    if not report.alerts:
        say("  no alert was posted")
        return False
    alert = report.alerts[0]
    message = box.slack.messages[(CHANNEL, alert.message_ts)]
    say()
    say("== The alert, as the channel sees it ==")
    say(box.slack.render(message))
    share = box.slack.file_shares[-1] if box.slack.file_shares else None
    if share:
        size = len(box.slack.files[share["file_id"]]["content"] or b"")
        say(f"[file: {share['title']} ({share['name']}, {size} bytes PNG)]")
    say()
    say(f"== {LEAD} presses Approve ==")
    box.click(alert.message_ts, "proposal_approve")
    updated = box.slack.messages[(CHANNEL, alert.message_ts)]
    say("\n".join(box.slack.render(updated).splitlines()[:2]))
    say()
    say("== Asana after ==")
    names = {gid: u["name"] for gid, u in box.asana.store.users.items()}
    for gid in (crunch.submit, crunch.tablet, crunch.crash, crunch.notes_page):
        t = box.asana.store.task(gid)
        say(
            f"  {t['name'][:32]:32} {names.get(t['assignee'], '—'):14} "
            f"{t['start_on'] or '':10} → {t['due_on']}"
        )
    again = run_overload_check(box.services, project_ref=crunch.project_gid, channel=CHANNEL)
    say()
    say(f"== A second check: {len(again.overloads)} overload(s), {len(again.alerts)} posted ==")
    return True


# -- issue 4: the morning stand-up digest ----------------------------------------------------------

PRIYA_SLACK_ID = "U0PRIYA"


def _digest_demo(box: Sandbox, say: Any) -> bool:
    from bot.domain.digest import DigestSchedule, days_spec, parse_days

    store, project = box.asana.store, box.seed.project_gid
    add_slack_user_for(box, "priya.raman@acme.example", PRIYA_SLACK_ID, "Priya Raman")
    # Overnight, a person reports a blocker in a comment and another finishes a task.
    open_gids = sorted(
        (
            gid
            for gid, t in store.tasks.items()
            if not t["completed"] and any(m["project"] == project for m in t["memberships"])
        ),
        key=lambda gid: (bool(store.tasks[gid]["dependencies"] or store.tasks[gid]["tags"]), gid),
    )
    store.add_story(open_gids[0], "Blocked: the staging database is down since last night.")
    with store.lock:
        now = store.timestamp()
        store.tasks[open_gids[1]].update(completed=True, completed_at=now, modified_at=now)
    say(f"== The morning stand-up: copilot digest --channel {CHANNEL} ==")
    box.asana.reset_requests()
    before = len(box.openai.requests) if box.openai else 0
    lookups = len(box.slack.calls_to("users.lookupByEmail"))
    result = box.services.digests.post_now(project, CHANNEL)
    if result.digest is None or result.message_ts is None:
        say("  no digest was posted")
        return False
    facts = result.digest.facts
    say(
        f"  {facts.open_count} open tasks read in {box.asana.count('GET')} GETs; latest comments "
        f"of the tasks changed since {facts.since:%a %H:%M} UTC in "
        f"{box.asana.count('POST', '/batch')} /batch reads; "
        f"{len(box.slack.calls_to('users.lookupByEmail')) - lookups} Slack lookups by email; "
        f"{(len(box.openai.requests) - before) if box.openai else 0} model call(s)"
    )
    say()
    say("== The digest, as the channel sees it ==")
    say(box.slack.render(box.slack.messages[(CHANNEL, result.message_ts)]))
    say()
    now = datetime.now(UTC)
    schedule = DigestSchedule(  # as if STANDUP_TIME were this very minute
        channel=CHANNEL,
        project_gid=project,
        project_name=box.seed.project_name,
        at=f"{now:%H:%M}",
        tz="UTC",
        days=days_spec(parse_days("mon-sun")),
        source="env",
    )
    slot = schedule.latest_slot(now)
    assert slot is not None
    first = box.services.digests.post_scheduled(schedule, slot)
    again = box.services.digests.post_scheduled(schedule, slot)  # a restart, or a 2nd process
    say(
        f"== The scheduled job for {schedule.at} UTC fires twice (a restart): the ledger in "
        f"SQLite says {first.status}, then {again.status}; one more digest in #{CHANNEL} =="
    )
    return first.status == "posted" and again.status == "already"


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


def proposal_id_of(message: dict[str, Any]) -> str:
    """The proposal a message's Approve button decides."""
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
