"""SIGKILL between a triage's field write and its comment: the restart comments once."""

import signal

from bot.demo import CHANNEL, LEAD
from bot.render.triage import comment_marker
from bot.sandbox.cluster import free_port
from bot.services import build_services
from bot.settings import Settings
from bot.storage.store import Store

from .conftest import proposal_id, put_actions
from .processes import reaped, sandbox_env, serve, wait


def test_sigkill_after_the_fields_and_the_comment_landed_comments_once(rules_box, tmp_path):
    box = rules_box
    db_path = str(tmp_path / "crash.db")
    store = box.asana.store
    author = next(g for g in box.seed.user_gids.values() if g != store.me)
    gid = store.add_task(box.seed.project_gid, "Add CSV export to the billing reports", by=author)
    # The card, proposed by an instance on the crash database (as a webhook would make it).
    env = sandbox_env(box, STANDUP_CHANNEL=CHANNEL, COPILOT_APPROVERS=LEAD, COPILOT_DB=db_path)
    services = build_services(Settings.from_env(env))
    try:
        services.triage.triage(box.seed.project_gid, [gid])
    finally:
        services.close()
    [message] = box.channel_messages()
    pid = proposal_id(message)

    port = free_port()
    url = f"http://127.0.0.1:{port}/slack/events"
    with reaped(serve(box, db_path, port)) as first:
        # The comment is applied at once but answered 5 s later: the kill lands in between.
        box.asana.faults.add("latency", method="POST", path_contains="/stories", delay=5.0)
        box.slack.click_button(
            url,
            channel_id=CHANNEL,
            message_ts=message["ts"],
            action_id="proposal_approve",
            user_id=LEAD,
        )
        assert wait(lambda: len(store.stories[gid]) == 1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    box.asana.faults.clear()
    crash = Store(db_path)
    assert crash.proposal(pid).status == "approving"
    assert store.field_value(gid, "AI Priority Score") is not None

    second = serve(box, db_path, port)
    try:
        assert wait(lambda: crash.proposal(pid).status == "applied", timeout=60)
    finally:
        second.terminate()
        second.wait(timeout=10)
    [story] = store.stories[gid]
    assert comment_marker(pid) in story["text"]
    assert crash.triage_comment(pid, gid) == story["gid"]
    assert put_actions(box) == {gid: 1}
    posts = [r for r in box.asana.requests if r.method == "POST" and r.path.endswith("/stories")]
    assert len(posts) == 1
