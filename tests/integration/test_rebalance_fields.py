"""Rebalancing with the fields Asana really has: a multi-select Skills field and tasks due at a
time of day. The real gateway (official client) reads and writes the sandbox over loopback; the
check, the SQLite store and the approval engine are the product's own; Slack is a small sink.

Calendar: TODAY is Wed 4 Mar 2026; the forecast weeks start Mon 2, 9, 16 and 23 Mar. New York
moves to daylight-saving time on Sun 8 Mar 2026 (UTC-5 before, UTC-4 after).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.gateways.asana import AsanaGateway
from bot.sandbox.asana_server import AsanaSandbox, AsanaStore
from bot.settings import Secret
from bot.storage.store import Store
from bot.usecases.approvals import ApprovalEngine
from bot.usecases.overload import OverloadChecker, work_items
from tests.chat import slack_chat

TODAY = date(2026, 3, 4)
TOKEN = "sandbox-asana-token"
CHANNEL = "C0TEAM"
LEAD = "U0LEAD"


class SlackSink:
    """Where alerts go; Slack itself is not under test here."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    def post(self, channel: str, *, text: str, blocks: list[dict[str, Any]]) -> str:
        self.posts.append({"channel": channel, "text": text, "blocks": blocks})
        return f"1700000000.{len(self.posts):06d}"

    def join(self, channel: str) -> None:
        pass  # the channel is public and open to the bot

    def upload_png(self, channel: str, *, filename: str, title: str, content: bytes) -> str:
        return "F1"

    def user_id_by_email(self, email: str) -> str | None:
        return None


class Team:
    def __init__(self, store: AsanaStore) -> None:
        self.store = store
        self.ana = store.add_user("Ana Lima", "ana@example.com")
        self.ben = store.add_user("Ben Ortiz", "ben@example.com")
        self.cat = store.add_user("Cat Ng", "cat@example.com")
        workspace = store.add_workspace("Acme")
        self.project = store.add_project(workspace, "Release", owner_gid=self.ana)
        self.hours = store.add_custom_field(workspace, "Estimated Hours", "number", precision=1)
        self.skills = store.add_custom_field(
            workspace, "Skills", "multi_enum", enum_options=["Backend", "Mobile", "Frontend"]
        )
        store.attach_field(self.project, self.hours)
        store.attach_field(self.project, self.skills)

    def task(
        self, name: str, who: str | None, hours: float, skills: list[str], **dates: Any
    ) -> str:
        return self.store.add_task(
            self.project,
            name,
            assignee=who,
            custom_fields={self.hours: hours, self.skills: skills},
            **dates,
        )


@pytest.fixture
def team() -> Iterator[tuple[AsanaSandbox, Team]]:
    store = AsanaStore(now=lambda: datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    store.time_zone = "America/New_York"  # the token user's zone: due_on of a due time
    with AsanaSandbox(store) as sandbox:
        yield sandbox, Team(store)


@pytest.fixture
def gateway(team) -> Iterator[AsanaGateway]:
    gw = AsanaGateway(base_url=team[0].base_url, token=Secret(TOKEN))
    yield gw
    gw.close()


def checker(gateway: AsanaGateway, store: Store) -> tuple[OverloadChecker, ApprovalEngine]:
    engine = ApprovalEngine(store, gateway, approvers=frozenset({LEAD}))
    check = OverloadChecker(
        asana=gateway,
        chat=slack_chat(SlackSink(), store, engine),
        store=store,
        engine=engine,
        today=lambda: TODAY,
        default_project=None,
        time_zone="America/New_York",
        may_post=lambda channel, project: True,  # access rules are not what these tests cover
    )
    return check, engine


def test_a_multi_select_skills_field_is_read_and_limits_who_takes_a_task(
    team, gateway, tmp_path
) -> None:
    sandbox, t = team
    week = {"start_on": "2026-03-09", "due_on": "2026-03-13"}
    # Ana: 60 h next week (limit 48 h). Ben knows Mobile (and Backend); Cat only Backend and is
    # the one with the most room, so without skills Cat would be handed the Mobile task.
    polish = t.task("Tablet polish", t.ana, 20, ["Frontend", "Mobile"], **week)
    t.task("Submit build", t.ana, 24, ["Mobile"], **week)
    t.task("Crash fix", t.ana, 16, ["Mobile"], **week)
    t.task("Sync API", t.ben, 20, ["Mobile", "Backend"], **week)
    t.task("Billing", t.cat, 4, ["Backend"], **week)

    project = gateway.project(t.project)
    read = {task.gid: task for task in gateway.open_tasks(project)}
    assert read[polish].field_value("Skills") == ("Frontend", "Mobile")
    [item] = [i for i in work_items(read.values(), hours_per_point=4, with_skills=True)
              if i.id == polish]  # fmt: skip
    assert item.skills == {"frontend", "mobile"}

    check, engine = checker(gateway, Store(str(tmp_path / "copilot.db")))
    [alert] = check.check(t.project, channel=CHANNEL).alerts
    assert [(m.kind, m.to_person) for m in alert.rebalance.moves] == [("reassign", t.ben)]

    result = engine.decide(alert.proposal_id, user=LEAD, channel=CHANNEL, decision="approve")
    assert len(result.written) == 1 and not result.skipped and not result.failed
    moved = alert.rebalance.moves[0].item_id
    assert sandbox.store.tasks[moved]["assignee"] == t.ben
    assert moved == polish
    assert sandbox.store.field_value(moved, "Skills") == ["Frontend", "Mobile"]  # untouched


def test_a_rescheduled_task_keeps_its_due_time_across_a_clock_change(
    team, gateway, tmp_path
) -> None:
    sandbox, t = team
    # Ana: 60 h due Fri 6 Mar (limit 48 h). "Wire payments" is due at 17:00 New York time
    # (22:00 UTC before the clock change); "Audit" cannot move: "Launch" starts on Mon 9 Mar.
    payments = t.task(
        "Wire payments", t.ana, 30, ["Backend"], start_on="2026-03-02",
        due_at="2026-03-06T22:00:00.000Z",
    )  # fmt: skip
    audit = t.task("Audit", t.ana, 30, ["Backend"], start_on="2026-03-02", due_on="2026-03-06")
    launch = t.task("Launch", None, 8, [], start_on="2026-03-09", due_on="2026-03-13")
    sandbox.store.add_dependency(launch, audit)

    project = gateway.project(t.project)
    read = {task.gid: task for task in gateway.open_tasks(project)}
    assert read[payments].due_on == date(2026, 3, 6)
    assert read[payments].due_at == datetime(2026, 3, 6, 22, 0, tzinfo=UTC)

    check, engine = checker(gateway, Store(str(tmp_path / "copilot.db")))
    [alert] = check.check(t.project, channel=CHANNEL).alerts
    [move] = alert.rebalance.moves
    assert (move.item_id, move.kind, move.new_due_on) == (payments, "reschedule", date(2026, 3, 13))

    result = engine.decide(alert.proposal_id, user=LEAD, channel=CHANNEL, decision="approve")
    assert len(result.written) == 1 and not result.skipped and not result.failed
    after = sandbox.store.task(payments)
    # Still 17:00 in New York, now on daylight time (UTC-4): 21:00 UTC.
    assert after["due_at"] == "2026-03-13T21:00:00.000Z"
    assert after["due_on"] == "2026-03-13" and after["start_on"] == "2026-03-09"
    [sent] = [
        action["data"]
        for r in sandbox.requests
        if r.method == "POST" and r.path == "/batch" and r.body
        for action in r.body["data"]["actions"]
        if action["method"] == "put"
    ]
    assert sent == {"due_at": "2026-03-13T21:00:00.000Z", "start_on": "2026-03-09"}

    # Approving again finds Asana already holding the values: nothing is written twice.
    again = engine.apply(alert.proposal_id)
    assert not again.failed and sandbox.store.applied_updates.count(payments) == 1


def test_sandbox_takes_due_on_or_due_at_never_both(team) -> None:
    sandbox, t = team
    gid = t.task("Dated", t.ana, 4, [], due_on="2026-03-06")
    api = sandbox.api

    both = {"due_on": "2026-03-07", "due_at": "2026-03-07T15:00:00Z"}
    answer = api.handle("PUT", f"/tasks/{gid}", {}, {"data": both})
    assert answer.status == 400
    assert answer.body["errors"][0]["message"] == "You may only provide one of due_on or due_at!"

    timed = api.handle("PUT", f"/tasks/{gid}", {}, {"data": {"due_at": "2026-03-07T03:30:00Z"}})
    assert timed.status == 200
    # 03:30 UTC is still the evening before in New York: due_on is the user's local date.
    assert (timed.body["data"]["due_at"], timed.body["data"]["due_on"]) == (
        "2026-03-07T03:30:00.000Z",
        "2026-03-06",
    )
    dated = api.handle("PUT", f"/tasks/{gid}", {}, {"data": {"due_on": "2026-03-10"}})
    assert (dated.body["data"]["due_at"], dated.body["data"]["due_on"]) == (None, "2026-03-10")

    alone = api.handle("PUT", f"/tasks/{gid}", {}, {"data": {"start_on": "2026-03-09"}})
    assert alone.status == 400 and "due_on or due_at" in alone.body["errors"][0]["message"]
    bad = api.handle("PUT", f"/tasks/{gid}", {}, {"data": {"due_at": "2026-03-07"}})
    assert bad.status == 400 and "due_at" in bad.body["errors"][0]["message"]


def test_sandbox_multi_enum_values_follow_the_spec(team) -> None:
    sandbox, t = team
    gid = t.task("Both", t.ana, 4, ["Backend", "Mobile"], due_on="2026-03-06")
    backend, mobile, frontend = sandbox.store.custom_fields[t.skills]["enum_options"]
    api = sandbox.api
    spec = "custom_fields.name,custom_fields.multi_enum_values.name,custom_fields.display_value"
    read = api.handle("GET", f"/tasks/{gid}", {"opt_fields": spec}, None)
    skills = next(cf for cf in read.body["data"]["custom_fields"] if cf["name"] == "Skills")
    assert [o["name"] for o in skills["multi_enum_values"]] == ["Backend", "Mobile"]
    assert skills["display_value"] == "Backend, Mobile"

    sent = {"custom_fields": {t.skills: [frontend]}}
    assert api.handle("PUT", f"/tasks/{gid}", {}, {"data": sent}).status == 200
    assert sandbox.store.field_value(gid, "Skills") == ["Frontend"]
    for value in (backend, ["1"]):
        refused = api.handle(
            "PUT", f"/tasks/{gid}", {}, {"data": {"custom_fields": {t.skills: value}}}
        )
        assert refused.status == 400
    disabled = api.handle("PUT", f"/enum_options/{mobile}", {}, {"data": {"enabled": False}})
    assert disabled.status == 200
    stale = api.handle(
        "PUT", f"/tasks/{gid}", {}, {"data": {"custom_fields": {t.skills: [mobile]}}}
    )
    assert stale.status == 400 and "not a valid enum option" in stale.body["errors"][0]["message"]
