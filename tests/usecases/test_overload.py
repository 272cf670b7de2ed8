"""The capacity check with hand-written fakes for Asana and Slack, a real SQLite store and engine.

Calendar: TODAY is Wed 4 Mar 2026; the forecast weeks start Mon 2, 9, 16 and 23 Mar. Next week
(W1) runs Mon 9 – Fri 13 Mar.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from bot.domain.forecast import Overload
from bot.domain.models import Person, Task, TaskLink
from bot.errors import UpstreamError, UserFacingError
from bot.gateways.asana import FieldInfo, Project
from bot.gateways.slack import SlackRefused
from bot.storage.store import OverloadAlertRow, Store
from bot.usecases.approvals import ApprovalEngine
from bot.usecases.overload import (
    OverloadChecker,
    alert_reason,
    apply_moves,
    latest_due_dates,
    parse_skills,
    proposal_items,
    work_items,
)
from tests.chat import slack_chat

TODAY = date(2026, 3, 4)
W1 = date(2026, 3, 9)
FRI1 = date(2026, 3, 13)
CHANNEL = "C0TEAM"

ANA = Person("101", "Ana <Lima>", "ana@example.com")
BEN = Person("102", "Ben Ortiz", "ben@example.com")
CAT = Person("103", "Cat Ng", None)


def project(*, skills: bool = True) -> Project:
    fields = {"Estimated Hours": FieldInfo("9001", "Estimated Hours", "number")}
    if skills:
        fields["Skills"] = FieldInfo("9002", "Skills", "text")
    return Project("500", "Release", "1", "https://app.asana.com/0/500", fields)


def task(
    gid: str,
    who: Person | None,
    hours: float | None = None,
    *,
    start: date | None = W1,
    due: date | None = FRI1,
    points: float | None = None,
    skill: str | None = None,
    dependents: tuple[TaskLink, ...] = (),
) -> Task:
    values: list[tuple[str, float | str | None]] = [("Estimated Hours", hours)]
    if skill is not None:
        values.append(("Skills", skill))
    return Task(
        gid=gid,
        name=f"Task {gid}",
        permalink=f"https://app.asana.com/0/500/{gid}",
        assignee=who,
        start_on=start,
        due_on=due,
        estimated_hours=hours,
        story_points=points,
        dependents=dependents,
        custom_values=tuple(values),
    )


class FakeAsana:
    """The task source: a project and its open tasks, counting reads."""

    def __init__(self, tasks: list[Task], proj: Project | None = None) -> None:
        self.tasks = {t.gid: t for t in tasks}
        self.proj = proj or project()
        self.reads = 0

    def find_project(self, ref: str) -> Project:
        if ref not in (self.proj.gid, self.proj.name):
            raise UserFacingError(f"no project {ref}")
        return self.proj

    def project(self, gid: str) -> Project:
        return self.proj

    def open_tasks(self, proj: Project) -> list[Task]:
        self.reads += 1
        return [t for t in self.tasks.values() if not t.completed]


class FakeSlack:
    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users = users or {}
        self.posts: list[dict] = []
        self.uploads: list[dict] = []
        self.lookups: list[str] = []
        self.joins: list[str] = []
        self.fail_posts = 0
        self.lost_answers = 0  # posts that reach the channel but whose answer is lost
        self.fail_lookups = False

    def post(self, channel: str, *, text: str, blocks: list[dict]) -> str:
        if self.fail_posts:
            self.fail_posts -= 1
            raise SlackRefused("chat.postMessage failed: ratelimited", status=429)
        self.posts.append({"channel": channel, "text": text, "blocks": blocks})
        if self.lost_answers:
            self.lost_answers -= 1
            raise UpstreamError("Slack", "chat.postMessage failed: ConnectionResetError")
        return f"1700000000.{len(self.posts):06d}"

    def join(self, channel: str) -> None:
        self.joins.append(channel)

    def upload_png(self, channel: str, *, filename: str, title: str, content: bytes) -> str:
        self.uploads.append({"channel": channel, "filename": filename, "content": content})
        return f"F{len(self.uploads)}"

    def user_id_by_email(self, email: str) -> str | None:
        self.lookups.append(email)
        if self.fail_lookups:
            raise UpstreamError("Slack", "users.lookupByEmail failed: fatal_error")
        return self.users.get(email)


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(str(tmp_path / "copilot.db"))


def checker(
    asana: FakeAsana,
    slack: FakeSlack,
    store: Store,
    *,
    approvers: frozenset[str] = frozenset({"U0LEAD", "U0ANY", "U0X"}),
    linked: frozenset[tuple[str, str]] = frozenset({(CHANNEL, "500")}),
) -> OverloadChecker:
    engine = ApprovalEngine(store, asana, approvers=approvers)  # type: ignore[arg-type]
    return OverloadChecker(
        asana=asana,
        chat=slack_chat(slack, store, engine),
        store=store,
        engine=engine,
        today=lambda: TODAY,
        default_project="500",
        may_post=lambda channel, project: (channel, project) in linked,
    )


def crunch() -> list[Task]:
    """Ana holds 60 h next week (limit 48 h); Ben 12 h, Cat 30 h."""
    return [
        task("1", ANA, 24, skill="mobile"),
        task("2", ANA, 20, skill="frontend"),
        task("3", ANA, 16, start=None, due=W1 + timedelta(days=2), skill="mobile"),
        task("4", BEN, 12, skill="frontend"),
        task("5", CAT, 30, skill="backend"),
    ]


# -- mapping ----------------------------------------------------------------------------------


def test_work_items_take_estimate_then_points_and_skip_unassigned() -> None:
    tasks = [
        task("1", ANA, 6, skill="Backend, Data"),
        task("2", ANA, None, points=3),
        task("3", None, 8),
        task("4", BEN, None),
    ]
    items = {i.id: i for i in work_items(tasks, hours_per_point=5, with_skills=True)}
    assert set(items) == {"1", "2", "4"}
    assert items["1"].hours == 6 and items["1"].skills == {"backend", "data"}
    assert items["2"].hours == 15
    assert items["4"].hours is None
    without = work_items(tasks, hours_per_point=5, with_skills=False)
    assert all(i.skills == frozenset() for i in without)


def test_parse_skills() -> None:
    assert parse_skills(" iOS ;android/ Data\n") == {"ios", "android", "data"}
    assert parse_skills(None) == frozenset() and parse_skills(3.0) == frozenset()


def test_latest_due_is_the_earliest_start_or_due_of_open_dependents() -> None:
    later = task("9", BEN, 4, start=date(2026, 3, 20), due=date(2026, 3, 27))
    tasks = {
        "1": task(
            "1",
            ANA,
            8,
            dependents=(
                TaskLink("9", "Task 9", False, date(2026, 3, 27)),  # read in full: start 20 Mar
                TaskLink("77", "elsewhere", False, date(2026, 3, 18)),  # only the link's due
                TaskLink("78", "done", True, date(2026, 3, 10)),  # completed: no limit
            ),
        ),
        "2": task("2", ANA, 8, dependents=(TaskLink("79", "undated", False, None),)),
        "9": later,
    }
    assert latest_due_dates(tasks) == {"1": date(2026, 3, 18)}


def test_proposal_items_change_only_the_moved_fields_and_guard_them_and_the_estimate() -> None:
    tasks = {t.gid: t for t in crunch()}
    from bot.domain.forecast import Move

    moves = [
        Move("2", "reassign", "101", "102", None, None, 20.0),
        Move("1", "reschedule", "101", None, FRI1 + timedelta(7), W1 + timedelta(7), 24.0),
        Move("3", "reschedule", "101", None, date(2026, 3, 18), None, 16.0),
    ]
    items = proposal_items(moves, tasks)
    assert items[0] == (
        "2",
        "Task 2",
        {"assignee": "102"},
        {
            "assignee": "101",
            "due_on": "2026-03-13",
            "due_at": None,
            "start_on": "2026-03-09",
            "Estimated Hours": 20,
        },
    )
    assert items[1][2] == {"due_on": "2026-03-20", "start_on": "2026-03-16"}
    assert items[2][2] == {"due_on": "2026-03-18"}
    assert {k: v for k, v in items[2][3].items() if k != "Estimated Hours"} == {
        "assignee": "101",
        "due_on": "2026-03-11",
        "due_at": None,
        "start_on": None,
    }
    moved = apply_moves(work_items(tasks.values(), hours_per_point=4, with_skills=False), moves)
    by_id = {i.id: i for i in moved}
    assert by_id["2"].assignee == "102" and by_id["1"].due_on == date(2026, 3, 20)


# -- the alert rule ---------------------------------------------------------------------------


def row(*, active: bool = True, tasks=("1", "2"), load: float = 60.0) -> OverloadAlertRow:
    return OverloadAlertRow(
        "500", "101", "2026-03-09", 1, active, frozenset(tasks), load, 40.0, "new",
        None, None, None, None,
    )  # fmt: skip


def over(load: float, causes: tuple[tuple[str, float], ...]) -> Overload:
    return Overload("101", W1, load, 40.0, load / 40, causes)


def test_alert_reason_new_returned_grown_or_quiet() -> None:
    same = over(60, (("1", 30), ("2", 30)))
    assert alert_reason(None, same) == "new"
    assert alert_reason(row(active=False), same) == "returned"
    assert alert_reason(row(), same) is None
    assert alert_reason(row(), over(50, (("1", 30), ("2", 20)))) is None  # shrank
    assert alert_reason(row(), over(63.9, (("1", 33.9), ("2", 30)))) is None  # < 4 h more
    assert alert_reason(row(), over(64, (("1", 34), ("2", 30)))) == "grown"
    # Same total, but 30 h now come from a task the last alert did not name.
    assert alert_reason(row(), over(60, (("1", 30), ("3", 30)))) == "grown"
    # A new small task (under the 4 h step) is not growth on its own.
    assert alert_reason(row(), over(60, (("1", 28), ("2", 30), ("3", 2)))) is None


# -- the check --------------------------------------------------------------------------------


def test_one_alert_with_a_fix_one_read_one_chart(store) -> None:
    asana, slack = FakeAsana(crunch()), FakeSlack({"ana@example.com": "U0ANA"})
    report = checker(asana, slack, store).check(None, channel=CHANNEL)

    assert asana.reads == 1
    assert [(o.person, o.week_start) for o in report.overloads] == [("101", W1)]
    [alert] = report.alerts
    assert alert.reason == "new" and alert.slack_user == "U0ANA"
    # Fewest changes: one. Ben (frontend) takes the 20 h frontend task: 40 h left, Ben 32 h.
    [move] = alert.rebalance.moves
    assert (move.item_id, move.kind, move.to_person) == ("2", "reassign", "102")
    assert alert.load_after == pytest.approx(40)
    [post] = slack.posts
    raw = str(post["blocks"])
    assert "<@U0ANA>" in raw and "<Lima>" not in post["text"]
    assert "proposal_approve" in raw and "Task 2" in raw
    [upload] = slack.uploads
    assert upload["content"].startswith(b"\x89PNG\r\n\x1a\n") and report.chart_file_id == "F1"
    assert store.latest_chart("500")[0] == "F1"
    proposal = store.proposal(alert.proposal_id)
    assert proposal.kind == "overload" and proposal.message_ts == alert.message_ts
    [item] = store.items(alert.proposal_id)
    assert item.changes == {"assignee": "102"}
    assert item.guard == {
        "assignee": "101",
        "due_on": "2026-03-13",
        "due_at": None,
        "start_on": "2026-03-09",
        "Estimated Hours": 20,
    }


def test_a_second_check_posts_nothing_and_no_chart(store) -> None:
    asana, slack = FakeAsana(crunch()), FakeSlack()
    check = checker(asana, slack, store)
    check.check(None, channel=CHANNEL)
    again = check.check(None, channel=CHANNEL)
    assert again.alerts == () and len(again.already_alerted) == 1
    assert len(slack.posts) == 1 and len(slack.uploads) == 1


def test_a_grown_overload_is_alerted_again_a_slightly_bigger_one_is_not(store) -> None:
    asana, slack = FakeAsana(crunch()), FakeSlack()
    check = checker(asana, slack, store)
    check.check(None, channel=CHANNEL)
    asana.tasks["6"] = task("6", ANA, 3, skill="mobile")  # +3 h: under the 4 h step
    assert check.check(None, channel=CHANNEL).alerts == ()
    asana.tasks["7"] = task("7", ANA, 5, skill="mobile")  # +8 h since the alert
    [alert] = check.check(None, channel=CHANNEL).alerts
    assert alert.reason == "grown" and alert.overload.load == pytest.approx(68)
    assert "grown since the last alert" in str(slack.posts[-1]["blocks"])
    assert check.check(None, channel=CHANNEL).alerts == ()


def test_an_overload_that_went_away_and_came_back_is_alerted_again(store) -> None:
    asana, slack = FakeAsana(crunch()), FakeSlack()
    check = checker(asana, slack, store)
    check.check(None, channel=CHANNEL)
    gone = asana.tasks.pop("1")
    report = check.check(None, channel=CHANNEL)
    assert report.overloads == () and report.cleared == 1
    asana.tasks["1"] = gone
    [alert] = check.check(None, channel=CHANNEL).alerts
    assert alert.reason == "returned"
    assert "cleared and is back" in str(slack.posts[-1]["blocks"])


def test_a_failed_post_is_retried_by_the_next_check(store) -> None:
    asana, slack = FakeAsana(crunch()), FakeSlack()
    check = checker(asana, slack, store)
    slack.fail_posts = 1
    report = check.check(None, channel=CHANNEL)
    assert report.alerts == () and len(report.failed) == 1 and slack.uploads == []
    assert store.overload_alert("500", "101", "2026-03-09") is None  # the claim was released
    assert len(store.proposals_with_status("withdrawn")) == 1  # nobody saw it: not left open
    assert store.proposals_with_status("open") == []
    [alert] = check.check(None, channel=CHANNEL).alerts
    assert alert.reason == "new"


def test_an_alert_whose_answer_was_lost_keeps_its_claim_and_is_not_posted_twice(store) -> None:
    asana, slack = FakeAsana(crunch()), FakeSlack()
    check = checker(asana, slack, store)
    slack.lost_answers = 1
    report = check.check(None, channel=CHANNEL)
    assert report.alerts == () and len(report.failed) == 1 and len(slack.posts) == 1
    kept = store.overload_alert("500", "101", "2026-03-09")
    assert kept is not None and kept.proposal_id  # the claim stays, naming its proposal
    assert store.proposal(kept.proposal_id).status == "open"  # its buttons may be in Slack
    again = check.check(None, channel=CHANNEL)
    assert again.alerts == () and len(slack.posts) == 1  # not posted a second time


def test_two_racing_checks_claim_an_overload_once(store) -> None:
    claims = [
        store.claim_overload_alert(
            project_gid="500",
            person_gid="101",
            week_start="2026-03-09",
            expected_version=None,
            task_gids=["1"],
            load=60,
            capacity=40,
            reason="new",
        )
        for _ in range(2)
    ]
    assert claims[0] is not None and claims[1] is None
    first = claims[0]
    kwargs = dict(
        project_gid="500", person_gid="101", week_start="2026-03-09", task_gids=["1", "2"],
        load=70, capacity=40, reason="grown",
    )  # fmt: skip
    assert store.claim_overload_alert(expected_version=first.version, **kwargs) is not None
    assert store.claim_overload_alert(expected_version=first.version, **kwargs) is None


def test_slack_ids_are_cached_including_misses_but_not_failures(store) -> None:
    asana = FakeAsana(crunch())
    slack = FakeSlack({"ana@example.com": "U0ANA"})
    check = checker(asana, slack, store)
    assert check.chat_user(ANA, CHANNEL) == "U0ANA"
    assert check.chat_user(ANA, CHANNEL) == "U0ANA"
    assert check.chat_user(BEN, CHANNEL) is None and check.chat_user(BEN, CHANNEL) is None
    assert check.chat_user(CAT, CHANNEL) is None  # no email: nothing to look up
    assert slack.lookups == ["ana@example.com", "ben@example.com"]
    other = FakeSlack()
    other.fail_lookups = True
    flaky = checker(asana, other, store)
    dan = Person("104", "Dan", "dan@example.com")
    assert flaky.chat_user(dan, CHANNEL) is None and flaky.chat_user(dan, CHANNEL) is None
    assert other.lookups == ["dan@example.com", "dan@example.com"]


def test_unmatched_person_is_named_escaped_not_mentioned(store) -> None:
    asana, slack = FakeAsana(crunch()), FakeSlack()
    checker(asana, slack, store).check(None, channel=CHANNEL)
    raw = str(slack.posts[0]["blocks"])
    assert "*Ana &lt;Lima&gt;*" in raw and "<@" not in raw


def test_proposals_of_one_run_never_overload_the_same_teammate(store) -> None:
    # Ana and Dee are both at 60 h next week; Ben (frontend) can absorb one 20 h task only.
    dee = Person("104", "Dee", None)
    tasks = [
        *crunch(),
        task("11", dee, 24, skill="mobile"),
        task("12", dee, 20, skill="frontend"),
        task("13", dee, 16, skill="mobile"),
    ]
    report = checker(FakeAsana(tasks), FakeSlack(), store).check(None, channel=CHANNEL)
    assert len(report.alerts) == 2
    to_ben = [
        m
        for a in report.alerts
        for m in a.rebalance.moves
        if m.kind == "reassign" and m.to_person == "102"
    ]
    assert len(to_ben) == 1
    second = report.alerts[1]
    assert all(m.kind == "reschedule" for m in second.rebalance.moves)


def test_skills_limit_who_can_take_a_task_only_when_the_project_has_the_field(store) -> None:
    # Every task of Ana's is "mobile"; nobody else holds mobile work.
    tasks = [replace(t, custom_values=(("Skills", "mobile"),)) if t.gid == "2" else t
             for t in crunch()]  # fmt: skip
    with_field = FakeAsana(tasks, project(skills=True))
    [alert] = checker(with_field, FakeSlack(), store).check(None, channel=CHANNEL).alerts
    assert {m.kind for m in alert.rebalance.moves} == {"reschedule"}

    without = FakeAsana(tasks, replace(project(skills=False), gid="501"))
    without.proj = replace(without.proj, gid="501")
    check = checker(without, FakeSlack(), store, linked=frozenset({(CHANNEL, "501")}))
    [alert] = check.check("501", channel=CHANNEL).alerts
    [move] = alert.rebalance.moves
    assert move.kind == "reassign" and move.to_person in ("102", "103")


def test_dependents_stop_a_due_date_from_moving_past_them(store) -> None:
    # Only rescheduling can help (nobody else in the project); task 1 is blocked from moving
    # by a dependent starting Mon 16 Mar, so task 2 (no dependents) is moved instead.
    tasks = [
        task("1", ANA, 24, dependents=(TaskLink("9", "next", False, date(2026, 3, 20)),)),
        task("2", ANA, 30),
        task("9", None, 8, start=date(2026, 3, 16), due=date(2026, 3, 20)),
    ]
    [alert] = checker(FakeAsana(tasks), FakeSlack(), store).check(None, channel=CHANNEL).alerts
    [move] = alert.rebalance.moves
    assert (move.item_id, move.kind, move.new_due_on) == ("2", "reschedule", date(2026, 3, 20))


def test_no_fix_posts_the_alert_without_buttons(store) -> None:
    tasks = [task("1", ANA, 60, dependents=(TaskLink("9", "next", False, FRI1),))]
    slack = FakeSlack()
    [alert] = checker(FakeAsana(tasks), slack, store).check(None, channel=CHANNEL).alerts
    assert alert.rebalance.moves == () and not alert.rebalance.resolved
    raw = str(slack.posts[0]["blocks"])
    assert "No fix found" in raw and "proposal_approve" not in raw


# -- capacity settings ------------------------------------------------------------------------


def test_a_persons_weekly_hours_change_the_forecast_limit(store) -> None:
    asana, slack = FakeAsana(crunch()), FakeSlack()
    check = checker(asana, slack, store, approvers=frozenset({"U0LEAD"}))
    # Ben down to 10 h a week: his 12 h already sit at his limit (1.2 x 10 h) ...
    change = check.set_weekly_hours("102", 10, person_name="Ben Ortiz", by="U0LEAD")
    assert (change.previous, change.hours) == (None, 10)
    assert check.weekly_hours("102") == (10, True)
    [alert] = check.check(None, channel=CHANNEL).alerts
    # ... and cannot take Ana's task any more: the fix moves a task to a later week instead.
    assert all(m.kind == "reschedule" for m in alert.rebalance.moves)
    back = check.set_weekly_hours("102", None, person_name="Ben Ortiz", by="U0LEAD")
    assert back.previous == 10 and check.weekly_hours("102") == (40.0, False)
    audit = [r["action"] for r in store.audit_rows()]
    assert "capacity_set" in audit and "capacity_reset" in audit


def test_capacity_zero_means_away_and_any_load_is_an_overload(store) -> None:
    check = checker(FakeAsana(crunch()), FakeSlack(), store)
    check.set_weekly_hours("103", 0, person_name="Cat Ng", by="U0ANY")
    report = check.check(None, channel=CHANNEL)
    assert ("103", W1) in {(o.person, o.week_start) for o in report.overloads}


def test_only_approvers_change_capacity_and_only_to_sane_hours(store) -> None:
    check = checker(FakeAsana(crunch()), FakeSlack(), store, approvers=frozenset({"U0LEAD"}))
    with pytest.raises(UserFacingError, match="approvers"):
        check.set_weekly_hours("102", 20, person_name="Ben", by="U0INTERN")
    for bad in (-1, 169, float("nan")):
        with pytest.raises(UserFacingError, match="between 0 and 168"):
            check.set_weekly_hours("102", bad, person_name="Ben", by="U0LEAD")
    with pytest.raises(UserFacingError, match="person"):
        check.set_weekly_hours("", 20, person_name="", by="U0LEAD")
    assert store.weekly_hours_overrides() == {}


def test_overview_rows_per_person_with_overrides_and_the_latest_chart(store) -> None:
    tasks = [*crunch(), task("8", CAT, 6, start=None, due=None)]
    check = checker(FakeAsana(tasks), FakeSlack(), store)
    check.set_weekly_hours("102", 32, person_name="Ben Ortiz", by="U0X")
    check.check(None, channel=CHANNEL)
    overview = check.overview(None)
    rows = {r.person_gid: r for r in overview.rows}
    assert [r.name for r in overview.rows] == ["Ana <Lima>", "Ben Ortiz", "Cat Ng"]
    assert rows["101"].loads[1] == pytest.approx(60) and rows["101"].overloaded[1]
    assert rows["102"].weekly_hours == 32 and rows["102"].overridden
    assert rows["103"].unscheduled == 6
    assert overview.chart_file_id == "F1"
    view = overview.as_view()
    assert view["weeks"][1] == "2026-03-09"


def test_unknown_project_and_missing_channel_are_user_errors(store) -> None:
    check = checker(FakeAsana(crunch()), FakeSlack(), store)
    with pytest.raises(UserFacingError, match="no project"):
        check.check("nope", channel=CHANNEL)
    with pytest.raises(UserFacingError, match="channel"):
        check.check(None, channel="")
    plain = OverloadChecker(
        asana=FakeAsana(crunch()),
        chat=slack_chat(FakeSlack(), store),
        store=store,
        engine=ApprovalEngine(store, FakeAsana([]), approvers=frozenset()),  # type: ignore[arg-type]
        today=lambda: TODAY,
        default_project=None,
        may_post=lambda channel, project: True,
    )
    with pytest.raises(UserFacingError, match="Which project"):
        plain.check(None, channel=CHANNEL)


def test_completed_tasks_are_left_out(store) -> None:
    tasks = [replace(t, completed=True) if t.gid == "1" else t for t in crunch()]
    report = checker(FakeAsana(tasks), FakeSlack(), store).check(None, channel=CHANNEL)
    assert report.overloads == ()  # 36 h without task 1


def test_remaining_effort_is_the_estimate_less_time_logged() -> None:
    from bot.domain.models import Person, Task
    from bot.usecases.overload import remaining_hours

    def task(**kw) -> Task:
        return Task(gid="1", name="t", assignee=Person("101", "Ana"), **kw)

    assert remaining_hours(task(estimated_hours=20, actual_minutes=600), 4) == 10
    assert remaining_hours(task(story_points=2, actual_minutes=120), 4) == 6
    assert remaining_hours(task(estimated_hours=2, actual_minutes=600), 4) == 0
    assert remaining_hours(task(estimated_hours=8), 4) == 8
    assert remaining_hours(task(), 4) is None
