"""The stand-up digest end to end: real clients and the real Bolt app against the sandbox."""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.__main__ import main
from bot.demo import CHANNEL, running_sandbox, sandbox_env
from bot.domain.digest import days_spec, parse_days
from bot.sandbox.asana_server import format_timestamp
from bot.sandbox.slack_standin import SlackUser, pings
from bot.services import build_services
from bot.surfaces.slack.blocks.home import SCHEDULE_ADD, SCHEDULE_EDIT, SCHEDULE_REMOVE
from tests.clock import FrozenNow, every_now

from .conftest import (
    backend_env,
    both_backends,
    both_backends_every_now,
    click,
    outside_links,
    prioritize,
)

APPROVER = "U0ALICE"
OTHER = "U0BOB"
TASK_LINK = re.compile(r"<https://app\.asana\.com/0/(\d+)/(\d+)\|")
ENV = {"STANDUP_CHANNEL": CHANNEL, "COPILOT_APPROVERS": APPROVER}


@pytest.fixture
def box(frozen_now: FrozenNow, request: pytest.FixtureRequest):
    with running_sandbox(tasks=60, env=ENV | frozen_now.env | backend_env(request)) as sandbox:
        yield sandbox


@pytest.fixture
def rules_box(frozen_now: FrozenNow, request: pytest.FixtureRequest):
    env = ENV | frozen_now.env | backend_env(request)
    with running_sandbox(tasks=60, use_model=False, env=env, lease_seconds=1.0) as sandbox:
        sandbox.setup_fields()
        yield sandbox


def post_digest(box, project: str = "") -> tuple[dict, object]:
    result = box.services.digests.post_now(project, CHANNEL)
    message = copy.deepcopy(box.slack.messages[(CHANNEL, result.message_ts)])
    return message, result


def section_gids(message: dict, key: str) -> list[str]:
    """Task gids linked in one section of the digest (blocked, overdue, at_risk, ...)."""
    gids: list[str] = []
    for block in message["blocks"]:
        if block.get("block_id", "").startswith(f"digest_{key}_"):
            gids += [gid for _, gid in TASK_LINK.findall(block["text"]["text"])]
    return gids


def linked_tasks(message: dict) -> set[str]:
    """Every task linked anywhere in the message (the project's own link left out)."""
    return {gid for project, gid in TASK_LINK.findall(json.dumps(message)) if gid != project}


def project_tasks(box, project: str | None = None) -> dict[str, dict]:
    project = project or box.seed.project_gid
    return {
        gid: t
        for gid, t in box.asana.store.tasks.items()
        if any(m["project"] == project for m in t["memberships"])
    }


def expected_blocked_and_overdue(box, project: str | None = None) -> tuple[set[str], set[str]]:
    """Computed from the sandbox's own records, independently of the digest code."""
    store = box.asana.store
    today = box.services.today().isoformat()
    blocked, overdue = set(), set()
    for gid, t in project_tasks(box, project).items():
        if t["completed"]:
            continue
        if t["due_on"] and t["due_on"] < today:
            overdue.add(gid)
        tags = {store.tags[g]["name"].casefold() for g in t["tags"]}
        deps = [store.tasks[d] for d in t["dependencies"]]
        latest = (store.stories[gid][-1]["text"] if store.stories[gid] else "").casefold()
        if (
            "blocked" in tags
            or store.field_value(gid, "Status") == "Blocked"
            or any(not d["completed"] and d["due_on"] and d["due_on"] < today for d in deps)
            or ("blocked" in latest and "unblocked" not in latest)
        ):
            blocked.add(gid)
    return blocked, overdue


# -- what it says ---------------------------------------------------------------------------------


@every_now
def test_a_seeded_projects_digest_names_every_blocked_and_overdue_task_and_nothing_else(box):
    store = box.asana.store
    blocked, overdue = expected_blocked_and_overdue(box)
    # A person writes that a task nothing else marks as blocked is blocked.
    quiet = next(
        gid
        for gid, t in project_tasks(box).items()
        if not t["completed"] and gid not in blocked | overdue and not t["dependencies"]
    )
    store.add_story(quiet, "Blocked: waiting for legal to sign off the contract.")
    blocked.add(quiet)
    assert len(blocked) >= 4 and len(overdue) >= 3  # the seed has both kinds, and both rules

    message, result = post_digest(box)

    # The window starts in the team's zone; the fallback text of Slack's date token says UTC.
    since = result.digest.facts.since
    token = f"<!date^{int(since.timestamp())}^{{date_short_pretty}} at {{time}}|"
    assert f"{token}{since.astimezone(UTC):%Y-%m-%d %H:%M} UTC>" in json.dumps(message)
    named_blocked, named_overdue = (
        section_gids(message, "blocked"),
        section_gids(message, "overdue"),
    )
    assert sorted(named_blocked) == sorted(blocked)  # each exactly once, and no other
    assert sorted(named_overdue) == sorted(overdue - blocked)  # blocked ones say "late" there
    for key in ("at_risk", "in_progress", "done"):
        assert not set(section_gids(message, key)) & (blocked | overdue)
    assert linked_tasks(message) <= set(project_tasks(box))  # every link is a real task


@every_now
def test_a_small_project_digest_names_its_blocked_and_overdue_tasks_and_nothing_else(box):
    store, seed = box.asana.store, box.seed
    project = store.add_project(seed.workspace_gid, "Launch Week")
    box.link(project)
    store.attach_field(project, seed.field_gids["Status"])
    users = seed.user_gids
    today = box.services.today()
    old = datetime.now(UTC) - timedelta(days=10)

    def add(name: str, **kw) -> str:
        return store.add_task(project, name, created_at=old, modified_at=old, **kw)

    tagged = add("Sign the venue contract", tags=["blocked"], due_on=today + timedelta(days=20))
    status = add("Print badges", custom_fields={seed.field_gids["Status"]: "Blocked"})
    late = add(
        "Book the caterer",
        due_on=today - timedelta(days=3),
        assignee=users["marcus.chen@acme.example"],
    )
    waits = add("Plan the menu", due_on=today + timedelta(days=20))
    store.add_dependency(waits, late)
    said = add("Ship the swag", due_on=today + timedelta(days=25))
    store.add_story(said, "Blocked by customs, nothing moves until Monday.")
    for n in range(5):  # planned, untouched, far off: nothing to say about them
        add(
            f"Background task {n}",
            due_on=today + timedelta(days=20 + n),
            start_on=today + timedelta(days=10),
            assignee=users["priya.raman@acme.example"],
        )
    store.add_task(project, "Old done thing", completed=True, completed_at=old, modified_at=old)

    message, result = post_digest(box, project)

    assert set(section_gids(message, "blocked")) == {tagged, status, waits, said}
    assert section_gids(message, "overdue") == [late]
    assert linked_tasks(message) == {tagged, status, waits, said, late}
    assert expected_blocked_and_overdue(box, project) == ({tagged, status, waits, said}, {late})
    assert result.digest.summary_source == "model"  # the model named only these, so it stays


def test_a_quiet_day_says_so_in_one_line(rules_box):
    store, seed = rules_box.asana.store, rules_box.seed
    project = store.add_project(seed.workspace_gid, "Calm Project")
    rules_box.link(project)
    old = datetime.now(UTC) - timedelta(days=10)
    for n in range(3):
        store.add_task(
            project,
            f"Someday {n}",
            due_on=rules_box.services.today() + timedelta(days=30),
            created_at=old,
            modified_at=old,
        )
    message, _ = post_digest(rules_box, project)
    assert len(message["blocks"]) == 1
    line = rules_box.slack.render(message)
    assert "\n" not in line and line.startswith(":sunny: Quiet day in Calm Project")


def test_each_item_links_its_task_and_mentions_slack_users_found_by_email(box):
    box.slack.users["U0PRIYA"] = SlackUser("U0PRIYA", "priya", "priya.raman@acme.example")
    box.slack.users["U0MARCUS"] = SlackUser("U0MARCUS", "marcus", "Marcus.Chen@acme.example")
    message, result = post_digest(box)
    facts = result.digest.facts
    people = {i.assignee.email for i in facts.items() if i.assignee}
    text = json.dumps(message)
    assert "<@U0PRIYA>" in text and "<@U0MARCUS>" in text
    # Nothing from Asana pings anyone: only our mentions and links to Asana.
    for ping in pings(message):
        assert ping in ("<@U0PRIYA>", "<@U0MARCUS>") or ping.startswith("<https://app.asana.com/")
    assert "&lt;!channel&gt;" in text  # the seeded "Fix <!channel> notification spam"
    lookups = len(box.slack.calls_to("users.lookupByEmail"))
    assert lookups == len(people)  # once per person, whether or not they are on Slack
    post_digest(box)
    assert len(box.slack.calls_to("users.lookupByEmail")) == lookups  # cached in SQLite


# -- what it costs --------------------------------------------------------------------------------


@every_now
def test_one_digest_reads_tasks_once_and_comments_of_changed_tasks_only(box):
    store, project = box.asana.store, box.seed.project_gid
    box.asana.reset_requests()
    _, first = post_digest(box)
    since = format_timestamp(first.digest.facts.since)
    tasks = project_tasks(box)
    open_ = {g for g, t in tasks.items() if not t["completed"]}
    done = {g for g, t in tasks.items() if t["completed"] and t["completed_at"] >= since}
    changed = {g for g in open_ if tasks[g]["modified_at"] >= since}
    assert 10 < len(changed) < len(open_)

    requests = box.asana.requests
    pages = math.ceil((len(open_) + len(done)) / 100)
    outside = outside_links(box, sorted(open_ | done))  # done long ago, or in other projects
    gets = [r.path for r in requests if r.method == "GET"]
    # The project, its tasks in one paginated read, and the people once (for their emails).
    assert sorted(gets) == sorted(
        [f"/projects/{project}", "/users"] + [f"/projects/{project}/tasks"] * pages
    )
    read = next(r for r in requests if r.path == f"/projects/{project}/tasks")
    assert read.query["completed_since"] == since
    assert "dependencies" in read.query["opt_fields"].split(",")  # one read, dependencies in it
    batches = [r for r in requests if r.method == "POST"]
    assert all(r.path == "/batch" for r in batches)
    actions = [a["relative_path"] for b in batches for a in b.body["data"]["actions"]]
    commented = [path for path in actions if path.endswith("/stories")]
    assert sorted(commented) == sorted(f"/tasks/{g}/stories" for g in changed)
    linked = [path for path in actions if not path.endswith("/stories")]
    assert sorted(linked) == sorted(f"/tasks/{g}" for g in outside)
    assert len(batches) == math.ceil(len(changed) / 10) + math.ceil(len(outside) / 10)
    assert len(requests) == 2 + pages + len(batches)

    # Right after: nothing changed, so no comment is read again (nor the people).
    box.asana.reset_requests()
    post_digest(box)
    again = [
        a["relative_path"] for r in box.asana.requests if r.body for a in r.body["data"]["actions"]
    ]
    assert not [path for path in again if path.endswith("/stories")]
    assert box.asana.count("GET") == 1 + pages

    # A person comments on one task and finishes another: only that one task's comments.
    blocked, overdue = expected_blocked_and_overdue(box)
    plain = sorted(g for g in open_ - blocked - overdue if not tasks[g]["dependencies"])
    commented_on, finished = plain[:2]
    store.add_story(commented_on, "PR is up for review.")
    with store.lock:
        now = store.timestamp()
        store.tasks[finished].update(completed=True, completed_at=now, modified_at=now)
    box.asana.reset_requests()
    message, _ = post_digest(box)
    actions = [a for r in box.asana.requests if r.body for a in r.body["data"]["actions"]]
    stories = [a["relative_path"] for a in actions if a["relative_path"].endswith("/stories")]
    assert stories == [f"/tasks/{commented_on}/stories"]
    assert section_gids(message, "done") == [finished]
    assert commented_on in section_gids(message, "in_progress")


def test_the_copilots_own_writes_are_not_progress_but_later_edits_are(rules_box):
    message = prioritize(rules_box, user=APPROVER)
    click(rules_box, message, "proposal_approve", user=APPROVER)  # writes all 60 tasks
    first, _ = post_digest(rules_box)
    written = set(project_tasks(rules_box)) - {
        g for g, t in project_tasks(rules_box).items() if t["completed"]
    }
    assert not set(section_gids(first, "in_progress")) & written
    edited = sorted(written)[0]
    store = rules_box.asana.store
    with store.lock:
        store.tasks[edited]["modified_at"] = format_timestamp(
            datetime.now(UTC) + timedelta(seconds=30)
        )
    rules_box.services.store.record_digest(
        CHANNEL,
        rules_box.seed.project_gid,
        at=datetime.now(UTC) - timedelta(hours=1),
        message_ts="x",
    )
    again, _ = post_digest(rules_box)
    blocked, overdue = expected_blocked_and_overdue(rules_box)
    if edited not in blocked | overdue:
        assert edited in section_gids(again, "in_progress")


# -- the summary ----------------------------------------------------------------------------------


def test_the_model_summary_sits_on_top_and_names_only_facts(box):
    message, result = post_digest(box)
    assert result.digest.summary_source == "model"
    summary = next(b for b in message["blocks"] if b.get("block_id") == "digest_summary")
    assert summary["text"]["text"].startswith("The team focused on")
    request = box.openai.requests[-1]
    prompt = request["messages"][1]["content"]
    assert "<facts_json>" in prompt and request["response_format"]["type"] == "json_schema"
    named = set(result.digest.facts.named_tasks().values())
    quoted = re.findall(r"focused on (.*)\.$", result.digest.summary)[0]
    for name in re.split(r", | and ", quoted):
        assert any(name in n for n in named), name


def test_an_unusable_model_answer_gives_a_rules_summary(box):
    box.openai.faults.add("garbage")
    message, result = post_digest(box)
    assert result.digest.summary_source == "rules"
    text = box.slack.render(message)
    assert "got done" in text and "Summary written by rules" in text


def test_without_a_model_the_digest_is_complete_without_prose(rules_box):
    message, result = post_digest(rules_box)
    assert result.digest.summary is None and result.digest.summary_source is None
    assert not any(b.get("block_id") == "digest_summary" for b in message["blocks"])
    assert section_gids(message, "blocked")


# -- posting once ---------------------------------------------------------------------------------


@both_backends_every_now()
def test_two_processes_posting_the_same_slot_post_one_digest(box):
    second = build_services(box.settings)  # another process on the same database
    try:
        schedule = box.services.digests.schedule(f"{CHANNEL}:{box.seed.project_gid}")
        assert schedule is not None and schedule.source == "env"
        slot = schedule.latest_slot(datetime.now(UTC)) or datetime.now(UTC)
        before = len(box.channel_messages())
        results = [s.digests.post_scheduled(schedule, slot) for s in (box.services, second)]
        assert sorted(r.status for r in results) == ["already", "posted"]
        assert len(box.channel_messages()) == before + 1
    finally:
        second.close()


def test_copilot_digest_posts_one_now(box, monkeypatch, capsys):
    env = sandbox_env(
        box.asana,
        box.slack,
        None,
        box.seed,
        box.settings.db_path,
        box.settings.slack_signing_secret.value,
        STANDUP_CHANNEL=CHANNEL,
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    before = len(box.channel_messages())
    assert main(["digest"]) == 0
    assert len(box.channel_messages()) == before + 1
    assert f"Posted to {CHANNEL}" in capsys.readouterr().out
    assert main(["digest", "--project", box.seed.other_project_gid, "--channel", CHANNEL]) == 0
    assert "Mobile App" in box.slack.render(box.channel_messages()[-1])


# -- the Home tab ---------------------------------------------------------------------------------


def home(box, user: str) -> dict:
    assert box.slack.open_home(box.app_url, user_id=user).status == 200
    box.slack.wait_for(lambda: user in box.slack.home_views, timeout=10)
    return box.slack.home_views[user]


def modal(box, metadata: str = "") -> dict:
    """The schedule form the app opened (views.open runs right after the click's ack)."""

    def found() -> dict | None:
        views = [
            v
            for v in list(box.slack.views.values())
            if v["callback_id"] == "digest_schedule" and v["private_metadata"] == metadata
        ]
        return views[-1] if views else None

    assert box.slack.wait_for(lambda: found() is not None, timeout=10)
    return found()


def form_values(channel: str, project: str, at: str, tz: str, days: list[str]) -> dict:
    return {
        "channel": {"channel": {"type": "conversations_select", "selected_conversation": channel}},
        "project": {"project": {"type": "plain_text_input", "value": project}},
        "time": {"time": {"type": "timepicker", "selected_time": at}},
        "tz": {"tz": {"type": "plain_text_input", "value": tz}},
        "days": {
            "days": {
                "type": "checkboxes",
                "selected_options": [
                    {"value": d, "text": {"type": "plain_text", "text": d}} for d in days
                ],
            }
        },
    }


@both_backends()
def test_an_approver_adds_changes_and_removes_a_schedule_from_the_home_tab(box):
    view = home(box, APPROVER)
    text = box.slack.render(view)
    assert "Morning stand-up digests" in text and "from the STANDUP_* settings" in text
    assert "[Add a digest schedule]" in text

    assert (
        box.slack.click_home_button(box.app_url, user_id=APPROVER, action_id=SCHEDULE_ADD).status
        == 200
    )
    form = modal(box)
    bad = box.slack.submit_view(
        box.app_url,
        user_id=APPROVER,
        view=form,
        values=form_values(CHANNEL, "Mobile App", "08:45", "Mars/Olympus", []),
    )
    assert bad.json()["response_action"] == "errors"
    assert set(bad.json()["errors"]) == {"tz", "days"}

    good = box.slack.submit_view(
        box.app_url,
        user_id=APPROVER,
        view=form,
        values=form_values(CHANNEL, "Mobile App", "08:45", "Europe/Berlin", ["mon", "wed"]),
    )
    assert good.status == 200 and good.body.strip() == ""
    box.services.jobs.drain()
    rows = box.services.store.digest_schedules()
    assert [(r.project_gid, r.at, r.tz, r.days) for r in rows] == [
        (box.seed.other_project_gid, "08:45", "Europe/Berlin", days_spec(parse_days("mon,wed")))
    ]
    text = box.slack.render(box.slack.home_views[APPROVER])
    assert "Saved: *Mobile App*" in text and "08:45 Europe/Berlin, Mon, Wed" in text
    audit = [r for r in box.services.store.audit_rows() if r["action"] == "digest_schedule_saved"]
    assert audit[0]["actor"] == APPROVER

    schedule_id = f"{CHANNEL}:{box.seed.other_project_gid}"
    box.slack.click_home_button(
        box.app_url, user_id=APPROVER, action_id=SCHEDULE_EDIT, value=schedule_id
    )
    edit = modal(box, schedule_id)
    initial = edit["blocks"][1]["element"]["initial_value"]
    assert initial == box.seed.other_project_gid
    box.slack.click_home_button(
        box.app_url, user_id=APPROVER, action_id=SCHEDULE_REMOVE, value=schedule_id
    )
    box.services.jobs.drain()
    assert box.services.store.digest_schedules() == []
    assert "Schedule removed." in box.slack.render(box.slack.home_views[APPROVER])


def test_only_approvers_can_change_schedules(box):
    text = box.slack.render(home(box, OTHER))
    assert "[Add a digest schedule]" not in text and "[Edit]" not in text
    assert "Only approvers (@alice) can change schedules." in text
    # A form submitted anyway (an old modal, a forged payload) is refused.
    from bot.surfaces.slack.blocks.home import schedule_modal

    answer = box.slack.submit_view(
        box.app_url,
        user_id=OTHER,
        view=schedule_modal(None, default_tz="UTC"),
        values=form_values(CHANNEL, "Mobile App", "08:45", "UTC", ["mon"]),
    )
    assert answer.json()["response_action"] == "errors"
    box.services.jobs.drain()
    assert box.services.store.digest_schedules() == []
