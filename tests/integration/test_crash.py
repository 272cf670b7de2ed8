"""SIGKILL in the middle of an Approve: the next start finishes it, writing nothing twice."""

import signal

from bot.demo import CHANNEL, LEAD
from bot.sandbox.cluster import free_port
from bot.storage.store import Store

from .conftest import proposal_id, put_actions
from .processes import reaped, serve, wait


def test_sigkill_during_approve_then_restart_finishes_without_duplicates(rules_box, tmp_path):
    box = rules_box
    db_path = str(tmp_path / "crash.db")
    port = free_port()
    url = f"http://127.0.0.1:{port}/slack/events"
    with reaped(serve(box, db_path, port)) as first:
        box.slack.slash_command(url, "/prioritize", "", user_id=LEAD, channel_id=CHANNEL)
        assert wait(lambda: len(box.channel_messages()) == 1)
        message = box.channel_messages()[0]
        pid = proposal_id(message)
        # Each batch is applied at once but answered 0.4 s later: a kill lands mid-approval.
        box.asana.faults.add("latency", method="POST", path_contains="/batch", times=-1, delay=0.4)
        box.slack.click_button(
            url,
            channel_id=CHANNEL,
            message_ts=message["ts"],
            action_id="proposal_approve",
            user_id=LEAD,
        )
        assert wait(lambda: box.asana.count("POST", "/batch") >= 3)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    box.asana.faults.clear()
    written_before_restart = len(put_actions(box))
    assert 0 < written_before_restart < 60
    store = Store(db_path)
    assert store.proposal(pid).status == "approving"

    second = serve(box, db_path, port)
    try:
        assert wait(lambda: store.proposal(pid).status == "applied", timeout=60)
        assert wait(
            lambda: (
                "Finished after a restart"
                in box.slack.render(box.slack.messages[(CHANNEL, message["ts"])])
            )
        )
    finally:
        second.terminate()
        second.wait(timeout=10)
    counts = put_actions(box)
    assert len(counts) == 60 and set(counts.values()) == {1}
    audit = store.audit_rows(pid)
    assert sum(r["action"] in ("written", "already") for r in audit) == 60
    assert any(r["action"] == "resume" for r in audit)
