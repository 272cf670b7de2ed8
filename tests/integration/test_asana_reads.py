"""Dependencies, people and projects read as Asana really returns them (issue 9 §2, §3, §6).

Asana answers a task's dependencies and dependents with their gid only: the copilot resolves them
against the tasks it read and reads the others by gid through /batch. These tests arrange such
dependencies in the sandbox and follow them through the digest, /plan-sprint and /prioritize.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.demo import CHANNEL, Sandbox, proposal_id_of, running_sandbox
from bot.errors import UpstreamError
from bot.gateways.asana import AsanaGateway, retry_policy
from bot.sandbox.asana_seed import seed_team
from bot.sandbox.asana_server import AsanaSandbox, AsanaStore, format_timestamp
from bot.settings import Secret

from .conftest import batches

TASK_LINK = re.compile(r"<https://app\.asana\.com/0/\d+/(\d+)\|")


@pytest.fixture
def box():
    env = {"STANDUP_CHANNEL": CHANNEL}
    with running_sandbox(tasks=60, use_model=False, env=env, lease_seconds=1.0) as sandbox:
        sandbox.setup_fields()
        yield sandbox


def done_long_ago(box: Sandbox, name: str) -> str:
    """A task of the backlog completed 90 days ago (outside every read's window), due before."""
    today = box.services.today()
    done = datetime.combine(today, datetime.min.time(), tzinfo=UTC) - timedelta(days=90)
    return box.asana.store.add_task(
        box.seed.project_gid,
        name,
        completed=True,
        completed_at=done,
        due_on=today - timedelta(days=100),
        created_at=done - timedelta(days=20),
        modified_at=done,
    )


def add_task(box: Sandbox, name: str, *, points: float = 1, **fields: float) -> str:
    seed = box.seed
    values = {seed.field_gids["Story Points"]: points, seed.field_gids["Business Value"]: 5}
    values.update({seed.field_gids[k.replace("_", " ").title()]: v for k, v in fields.items()})
    return box.asana.store.add_task(seed.project_gid, name, custom_fields=values)


def digest_sections(box: Sandbox) -> dict[str, str]:
    """The posted digest's sections by key (blocked, overdue, at_risk, ...): their text."""
    result = box.services.digests.post_now(box.seed.project_gid, CHANNEL)
    message = copy.deepcopy(box.slack.messages[(CHANNEL, result.message_ts)])
    sections: dict[str, str] = {}
    for block in message["blocks"]:
        match = re.match(r"digest_([a-z_]+?)_\d+$", block.get("block_id", ""))
        if match:
            sections[match.group(1)] = sections.get(match.group(1), "") + block["text"]["text"]
    return sections


def test_a_completed_dependency_neither_blocks_nor_risks_a_task_in_the_digest(box) -> None:
    today = box.services.today()
    old = done_long_ago(box, "Retire the v1 API")
    task = box.asana.store.add_task(box.seed.project_gid, "Remove v1 clients", due_on=today)
    box.asana.store.add_dependency(task, old)
    sections = digest_sections(box)
    everything = "".join(sections.values())
    assert task in TASK_LINK.findall(everything)  # it is in the digest (on nobody's plate)...
    for key in ("blocked", "at_risk"):  # ...but waits on nothing: its dependency is done
        assert task not in TASK_LINK.findall(sections.get(key, "")), sections.get(key)
    assert "waits on “”" not in everything and "waiting on “”" not in everything


def test_a_dependency_in_another_project_is_named_in_the_digest(box) -> None:
    today = box.services.today()
    store = box.asana.store
    other = store.add_task(
        box.seed.other_project_gid, "Ship the 5.0 SDK to partners", due_on=today - timedelta(3)
    )
    task = store.add_task(
        box.seed.project_gid, "Adopt the 5.0 SDK", due_on=today + timedelta(days=20)
    )
    store.add_dependency(task, other)
    blocked = digest_sections(box).get("blocked", "")
    line = next(line for line in blocked.splitlines() if task in line)
    assert "waits on “Ship the 5.0 SDK to partners” (still open" in line


def test_a_task_whose_only_dependency_is_done_can_be_planned(box) -> None:
    old = done_long_ago(box, "Pick the queue vendor")
    task = add_task(box, "Wire the queue client", points=1, manual_override=100)
    box.asana.store.add_dependency(task, old)
    _, message = box.command("/plan-sprint")
    assert message is not None
    view = box.services.store.proposal(proposal_id_of(message)).view
    assert task in [row["gid"] for row in view["selected"]]


def test_a_done_dependency_costs_no_score(box) -> None:
    old = done_long_ago(box, "Choose the metrics backend")
    free = add_task(box, "Export metrics (twin without dependency)", points=2)
    waits = add_task(box, "Export metrics (twin with a done dependency)", points=2)
    box.asana.store.add_dependency(waits, old)
    _, message = box.command("/prioritize")
    assert message is not None
    rows = {r["gid"]: r for r in box.services.store.proposal(proposal_id_of(message)).view["rows"]}
    assert rows[waits]["rules_score"] == rows[free]["rules_score"]
    assert "blocked" not in rows[waits]["rationale"].lower()


def test_unknown_dependencies_are_read_once_by_gid_ten_a_batch(box) -> None:
    store = box.asana.store
    olds = [done_long_ago(box, f"Old prerequisite {i}") for i in range(12)]
    for i, old in enumerate(olds):  # 12 new outside links on top of the seed's
        store.add_dependency(add_task(box, f"Follow-up {i}"), old)
    project = box.seed.project_gid
    open_ = [
        g
        for g, t in store.tasks.items()
        if not t["completed"] and any(m["project"] == project for m in t["memberships"])
    ]
    linked = {
        d for g in open_ for d in (*store.tasks[g]["dependencies"], *store.tasks[g]["dependents"])
    }
    outside = linked - set(open_)
    box.asana.reset_requests()
    _, message = box.command("/prioritize")
    assert message is not None
    assert batches(box, "get") == -(-len(outside) // 10)
    read = [
        a["relative_path"].rsplit("/", 1)[-1]
        for r in box.asana.requests
        if r.path == "/batch"
        for a in r.body["data"]["actions"]
    ]
    assert sorted(read) == sorted(outside)  # each once, and only those


def test_emails_come_from_one_users_read_per_workspace(box) -> None:
    """The digest @-mentions by Asana email, read once with GET /users, not per task."""
    box.asana.reset_requests()
    result = box.services.digests.post_now(box.seed.project_gid, CHANNEL)
    assert result.digest is not None
    mentioned = [i.assignee for i in result.digest.facts.items() if i.assignee is not None]
    assert mentioned and all(p.email for p in mentioned)  # emails filled from GET /users
    _, message = box.command("/prioritize")  # the same people: no second read
    assert message is not None
    users = [r for r in box.asana.requests if r.path == "/users"]
    assert len(users) == 1
    assert users[0].query["workspace"] == box.seed.workspace_gid
    assert set(users[0].query["opt_fields"].split(",")) == {"name", "email"}
    for request in box.asana.requests:  # no task read asks for assignee.email
        fields = request.query.get("opt_fields", "").split(",")
        assert request.path == "/users" or not any(f.endswith("email") for f in fields)


@pytest.fixture
def asana():
    store = AsanaStore()
    seed = seed_team(store, tasks=10, today=datetime.now(UTC).date())
    with AsanaSandbox(store) as sandbox:
        gateway = AsanaGateway(
            base_url=sandbox.base_url,
            token=Secret(sandbox.token),
            retry=retry_policy(total=0),
            timeout=(2.0, 0.3),
        )
        try:
            yield sandbox, seed, gateway
        finally:
            gateway.close()


def test_project_names_are_found_through_typeahead_among_up_to_100(asana) -> None:
    sandbox, seed, gateway = asana
    later = format_timestamp(datetime.now(UTC) + timedelta(days=1))
    for i in range(30):  # more recent namesakes than typeahead's default page of 20
        gid = sandbox.store.add_project(seed.workspace_gid, f"{seed.project_name} archive {i}")
        sandbox.store.projects[gid]["modified_at"] = later
    sandbox.reset_requests()
    # Case and spacing do not matter; the seed's project is older than all its namesakes.
    project = gateway.find_project(f"  {seed.project_name.upper().replace(' ', '   ')} ")
    assert project.gid == seed.project_gid
    typeahead = [r for r in sandbox.requests if r.path.endswith("/typeahead")]
    assert [r.query["resource_type"] for r in typeahead] == ["project"]
    assert typeahead[0].query["count"] == "100" and "limit" not in typeahead[0].query
    assert sandbox.count("GET", "/projects") == 1  # the project itself; never a listing
    assert [r.path for r in sandbox.requests if r.path == "/projects"] == []


@pytest.mark.parametrize("path", ["/workspaces", "/typeahead"])
def test_every_call_has_a_timeout(asana, path: str) -> None:
    sandbox, seed, gateway = asana
    # Slower than the gateway's 0.3 s read timeout: without one the call would just wait.
    sandbox.faults.add("latency", method="GET", path_contains=path, delay=1.5, times=1)
    with pytest.raises(UpstreamError):
        gateway.find_project(seed.project_name)
