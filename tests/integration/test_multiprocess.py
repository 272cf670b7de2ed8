"""Three `copilot serve` processes on one PostgreSQL database (issue 11 §3).

Each test starts three real instances (child processes, clocks moved to this test's frozen
clock) against the stand-ins of this process, all sharing a fresh schema of the test server.
Only the database can make them agree: nothing in memory is shared.
"""

import copy
import re
import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.sandbox.cluster import CHANNEL, LEAD, Cluster, running_cluster
from bot.storage.db import open_database
from bot.storage.schema import migrations
from bot.storage.store import Store
from tests.clock import clocked_command

from .conftest import proposal_id, put_actions

pytestmark = pytest.mark.slow


def wait(predicate, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def cluster(pg_url):
    with running_cluster(database=pg_url, instances=3, tasks=40, argv=clocked_command) as c:
        yield c


def propose_on(cluster: Cluster, index: int) -> dict:
    before = len(cluster.channel_messages())
    assert cluster.command(index, "/prioritize").status == 200
    assert wait(lambda: len(cluster.channel_messages()) > before), cluster.outputs()
    # A copy: the stand-in updates its own message in place when an instance edits it.
    return copy.deepcopy(cluster.channel_messages()[-1])


def rendered(cluster: Cluster, message: dict) -> str:
    return cluster.slack.render(cluster.slack.messages[(CHANNEL, message["ts"])])


def open_tasks(cluster: Cluster) -> int:
    project = cluster.seed.project_gid
    return sum(
        1
        for t in cluster.asana.store.tasks.values()
        if not t["completed"] and any(m["project"] == project for m in t["memberships"])
    )


def test_three_instances_started_at_once_build_one_schema(cluster, pg_url):
    database = open_database(pg_url)
    try:
        with database.connect() as conn:
            rows = conn.query("select name from schema_migrations order by version")
    finally:
        database.close()
    assert [r["name"] for r in rows] == migrations.names  # each recorded once, none failed
    assert all(i.alive() for i in cluster.instances)


def test_a_proposal_made_on_one_instance_is_approved_on_another(cluster, pg_url):
    message = propose_on(cluster, 0)
    assert cluster.click(2, message["ts"], "proposal_approve").status == 200
    assert wait(lambda: "Approved" in rendered(cluster, message)), cluster.outputs()
    counts = put_actions(cluster)
    assert len(counts) == open_tasks(cluster) and set(counts.values()) == {1}
    store = Store(pg_url)
    try:
        assert store.proposal(proposal_id(message)).status == "applied"
    finally:
        store.close()


def test_thirty_clicks_over_three_instances_write_each_task_once_and_none_after_restart(
    cluster,
):
    message = propose_on(cluster, 1)
    # Thirty people press Approve on screens that still show the buttons, three at a time.
    statuses: list[int] = []

    def press(i: int) -> None:
        result = cluster.click(i % 3, message["ts"], "proposal_approve", as_seen=message)
        statuses.append(result.status)

    threads = [threading.Thread(target=press, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 30
    assert wait(lambda: "Approved" in rendered(cluster, message)), cluster.outputs()
    counts = put_actions(cluster)
    assert len(counts) == open_tasks(cluster) and set(counts.values()) == {1}

    cluster.restart_all()
    batches_before = cluster.asana.count("POST", "/batch")
    answers_before = len(cluster.slack.response_posts)
    for i in range(3):
        assert cluster.click(i, message["ts"], "proposal_approve", as_seen=message).status == 200
    # Each click is answered privately (already approved, by whom) once its work has run.
    assert wait(lambda: len(cluster.slack.response_posts) >= answers_before + 3)
    late = [p["text"] for p in cluster.slack.response_posts[answers_before:]]
    assert all("already" in text.lower() for text in late), late
    assert cluster.asana.count("POST", "/batch") == batches_before
    assert put_actions(cluster) == counts


@pytest.fixture
def digest_cluster(pg_url, frozen_now):
    # The schedule's slot passed three minutes ago: each instance's start-up catch-up fires it.
    local = frozen_now.instant.astimezone(ZoneInfo(frozen_now.tz)) - timedelta(minutes=3)
    env = {
        "STANDUP_CHANNEL": CHANNEL,
        "STANDUP_TIME": f"{local:%H:%M}",
        "STANDUP_TZ": frozen_now.tz,
        "STANDUP_DAYS": "mon-sun",
    }
    with running_cluster(
        database=pg_url, instances=3, tasks=20, argv=clocked_command, env=env, start=False
    ) as c:
        yield c


def test_the_scheduled_digest_fired_by_the_instances_is_posted_once(digest_cluster, pg_url):
    cluster = digest_cluster
    cluster.start_all()
    assert wait(
        lambda: any("Stand-up" in cluster.slack.render(m) for m in cluster.channel_messages())
    ), cluster.outputs()
    # Every instance checks at start for a slot missed within the grace window; one that
    # finds it unposted fires it (the others already see it posted). Wait until each has
    # started its scheduler and each one that fired has logged its outcome.
    outcome = re.compile(rf"digest {CHANNEL}:\d+ for \S+: (posted|already|taken over)")

    def settled() -> bool:
        return all(
            "scheduler started" in i.output()
            and ("missed while down" not in i.output() or outcome.search(i.output()))
            for i in cluster.instances
        )

    assert wait(settled), cluster.outputs()
    fired = [outcome.search(i.output()) for i in cluster.instances]
    outcomes = sorted(m.group(1) for m in fired if m)
    assert outcomes.count("posted") == 1, cluster.outputs()  # the others: "already", or none
    posts = [m for m in cluster.channel_messages() if "Stand-up" in cluster.slack.render(m)]
    assert len(posts) == 1
    store = Store(pg_url)
    try:
        with store.connect() as conn:
            ledger = conn.query("select status, owner from posted_ledger")
    finally:
        store.close()
    assert [r["status"] for r in ledger] == ["posted"]


def test_sigkill_of_the_approval_holder_another_instance_finishes_it(cluster, pg_url):
    message = propose_on(cluster, 0)
    # Each write batch is applied at once but answered 0.4 s later: the kill lands mid-approval.
    cluster.asana.faults.add("latency", method="POST", path_contains="/batch", times=-1, delay=0.4)
    assert cluster.click(1, message["ts"], "proposal_approve").status == 200
    assert wait(lambda: len(put_actions(cluster)) >= 10)
    cluster.kill(1)
    cluster.asana.faults.clear()
    written_at_kill = len(put_actions(cluster))
    assert 0 < written_at_kill < open_tasks(cluster)
    # Nobody restarts instance 1: one of the two others sees its holder is dead and finishes.
    assert wait(lambda: "Approved" in rendered(cluster, message), timeout=90), cluster.outputs()
    counts = put_actions(cluster)
    assert len(counts) == open_tasks(cluster) and set(counts.values()) == {1}
    store = Store(pg_url)
    try:
        proposal = store.proposal(proposal_id(message))
        assert proposal.status == "applied"
        audit = store.audit_rows(proposal.id)
    finally:
        store.close()
    assert sum(r["action"] in ("written", "already") for r in audit) == len(counts)
    assert [r["action"] for r in audit].count("resume") == 1


def test_a_signed_request_replayed_to_another_instance_is_refused(cluster):
    body = (
        "token=x&team_id=T0SANDBOX&channel_id=C0TEAM&user_id=U0LEAD&command=%2Fprioritize"
        "&text=&response_url=" + cluster.slack.new_response_url(channel=CHANNEL, user=LEAD)
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **cluster.slack.sign(body)}
    first = cluster.slack.post_raw(cluster.instances[0].url, body, headers)
    assert first.status == 200
    for other in (1, 2):
        replay = cluster.slack.post_raw(cluster.instances[other].url, body, headers)
        assert replay.status == 401 and "replayed" in replay.body


def test_a_command_cut_short_by_a_dead_instance_is_told_at_the_next_start(cluster):
    # The model stand-in is absent: make Asana so slow the command is still running at the kill.
    cluster.asana.faults.add("latency", method="GET", path_contains="/tasks", times=-1, delay=5)
    before = len(cluster.slack.response_posts)
    reads_before = len(cluster.asana.requests)
    assert cluster.command(0, "/prioritize", "Platform Backlog").status == 200
    # Kill it once its read of the tasks has reached Asana (and is held there).
    assert wait(
        lambda: any(
            r.method == "GET" and "/tasks" in r.path for r in cluster.asana.requests[reads_before:]
        )
    ), cluster.outputs()
    cluster.kill(0)
    cluster.asana.faults.clear()
    cluster.start(0)  # the next start of any instance tells the person
    assert wait(
        lambda: any(
            "interrupted" in p.get("text", "") for p in cluster.slack.response_posts[before:]
        ),
        timeout=60,
    ), cluster.outputs()
    told = [p for p in cluster.slack.response_posts[before:] if "interrupted" in p["text"]]
    assert len(told) == 1 and "/prioritize Platform Backlog" in told[0]["text"]
