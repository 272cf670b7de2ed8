"""The digest use case with hand-written fakes: the summary check, the comment cache, failures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from bot.domain.models import Person, Task
from bot.errors import ModelOutputError, UpstreamError
from bot.gateways.asana import Comment, Project
from bot.services import utc_now
from bot.settings import Settings
from bot.storage.store import Store
from bot.usecases.digest import DigestService
from tests.chat import slack_chat
from tests.clock import every_now

NOW = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)  # a Friday
TODAY = NOW.date()
CHANNEL = "C0TEAM"
ANA = Person("7", "Ana Lopez", "ana@example.com")


def task(gid: str, name: str, **kw) -> Task:
    kw.setdefault("modified_at", NOW - timedelta(days=10))
    return Task(gid=gid, name=name, permalink=f"https://app.asana.com/0/42/{gid}", **kw)


class FakeAsana:
    def __init__(self, tasks: list[Task]) -> None:
        self.tasks = {t.gid: t for t in tasks}
        self.comments: dict[str, str] = {}
        self.comment_reads: list[list[str]] = []
        self.fail_comments = False

    def find_project(self, ref: str) -> Project:
        return Project("42", "Platform", "1", "https://app.asana.com/0/42/list", {})

    def tasks_open_or_completed_since(self, project: Project, since: datetime) -> list[Task]:
        return list(self.tasks.values())

    def latest_comments(self, task_gids):
        if self.fail_comments:
            raise UpstreamError("Asana", "batch request failed (503)")
        self.comment_reads.append(sorted(task_gids))
        return {
            g: Comment(g, self.comments[g], NOW, "Ana") if g in self.comments else None
            for g in task_gids
        }

    def touch(self, gid: str, at: datetime, comment: str | None = None) -> None:
        old = self.tasks[gid]
        self.tasks[gid] = Task(**{**old.__dict__, "modified_at": at})
        if comment is not None:
            self.comments[gid] = comment


class FakeSlack:
    def __init__(self) -> None:
        self.lookups: list[str] = []

    def post_once(self, channel: str, *, text: str, blocks: list) -> str:
        return "1.0"

    def user_id_by_email(self, email: str) -> str | None:
        self.lookups.append(email)
        return "U0ANA" if email == ANA.email else None


class FakeModel:
    model = "fake-1"

    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.calls: list[list[dict]] = []

    def summarize(self, messages):
        self.calls.append(messages)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer, None


def service(tmp_path, asana: FakeAsana, model: FakeModel | None = None, clock=lambda: NOW):
    settings = Settings(db_path=str(tmp_path / "c.db"), asana_project="42", standup_tz="UTC")
    store = Store(settings.db_path, clock=clock)
    slack = FakeSlack()
    digests = DigestService(
        asana=asana,
        chat=slack_chat(slack, store),
        store=store,
        llm=model,
        settings=settings,
        clock=clock,
        may_post=lambda channel, project: project == "42",
    )
    digests.slack = slack  # type: ignore[attr-defined]  # the double, for the tests to read
    return digests


def backlog() -> FakeAsana:
    return FakeAsana(
        [
            task("1", "Fix checkout crash", tags=("blocked",), assignee=ANA),
            task("2", "Upgrade Postgres", due_on=TODAY - timedelta(days=2)),
            task("3", "Quiet backlog item", due_on=TODAY + timedelta(days=40)),
        ]
    )


# -- the summary -------------------------------------------------------------------------------


def test_a_summary_that_sticks_to_the_facts_is_used(tmp_path):
    model = FakeModel("“Fix checkout crash” is blocked; “Upgrade Postgres” is two days late.")
    digest = service(tmp_path, backlog(), model).build("42", CHANNEL)
    assert digest.summary_source == "model" and digest.summary.startswith("“Fix checkout")
    prompt = model.calls[0][1]["content"]
    assert "<facts_json>" in prompt and "Quiet backlog item" not in prompt


@pytest.mark.parametrize(
    "answer",
    [
        "Fix checkout crash is blocked. Start the Quiet backlog item today.",  # not in the facts
        "“Rewrite the billing engine” is the priority.",  # invented
        "One. Two. Three. Four. Five.",  # too long
    ],
)
def test_a_summary_naming_anything_else_falls_back_to_rules(tmp_path, answer):
    digest = service(tmp_path, backlog(), FakeModel(answer)).build("42", CHANNEL)
    assert digest.summary is None and digest.summary_source == "rules"
    assert digest.summary_note


def test_a_failed_model_call_falls_back_to_rules(tmp_path):
    model = FakeModel(ModelOutputError("the model timed out"))
    digest = service(tmp_path, backlog(), model).build("42", CHANNEL)
    assert (digest.summary_source, digest.summary_note) == ("rules", "the model timed out")


def test_a_quiet_day_asks_the_model_nothing(tmp_path):
    model = FakeModel("anything")
    quiet = FakeAsana([task("3", "Quiet backlog item", due_on=TODAY + timedelta(days=40))])
    digest = service(tmp_path, quiet, model).build("42", CHANNEL)
    assert digest.facts.quiet and model.calls == [] and digest.summary_source is None


# -- comments: read once per change, remembered in between -------------------------------------


def test_a_blocking_comment_is_read_once_and_remembered_until_the_task_changes(tmp_path):
    clock = {"now": NOW}
    asana = FakeAsana([task("5", "Ship the swag", due_on=TODAY + timedelta(days=30))])
    asana.touch("5", NOW - timedelta(hours=2), "Blocked by customs until Monday")
    digests = service(tmp_path, asana, clock=lambda: clock["now"])

    first = digests.build("42", CHANNEL)
    assert [i.gid for i in first.facts.blocked] == ["5"]
    assert asana.comment_reads == [["5"]]
    digests._store.record_digest(CHANNEL, "42", at=NOW, message_ts="1.0")

    clock["now"] = NOW + timedelta(days=1)
    second = digests.build("42", CHANNEL)  # unchanged: not read again, still blocked
    assert [i.gid for i in second.facts.blocked] == ["5"]
    assert asana.comment_reads == [["5"]]
    digests._store.record_digest(CHANNEL, "42", at=clock["now"], message_ts="2.0")

    asana.touch("5", clock["now"] + timedelta(hours=1), "Unblocked: customs released it")
    clock["now"] += timedelta(days=1)
    third = digests.build("42", CHANNEL)
    assert third.facts.blocked == () and asana.comment_reads[-1] == ["5"]


def test_comments_that_cannot_be_read_are_reported_not_hidden(tmp_path):
    asana = FakeAsana([task("5", "Ship the swag", modified_at=NOW - timedelta(hours=1))])
    asana.fail_comments = True
    digest = service(tmp_path, asana).build("42", CHANNEL)
    assert digest.comments_unread == 1


def test_slack_ids_are_looked_up_once_per_email(tmp_path):
    digests = service(tmp_path, backlog())
    first = digests.build("42", CHANNEL)
    digests.build("42", CHANNEL)
    assert first.mentions == {"7": "U0ANA"}
    assert digests.slack.lookups == [ANA.email]


def test_the_first_digest_covers_the_previous_working_day(tmp_path):
    monday = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)
    digest = service(tmp_path, backlog(), clock=lambda: monday).build("42", CHANNEL)
    assert digest.first and digest.facts.since == datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
    assert digest.facts.today == date(2026, 3, 9)


def test_comments_already_read_since_the_tasks_last_change_are_not_read_again(tmp_path):
    # Two channels follow the same project: the second digest reuses what the first one read.
    asana = FakeAsana([task("5", "Ship the swag"), task("6", "Print badges")])
    asana.touch("5", NOW - timedelta(hours=2), "Blocked by customs until Monday")
    asana.touch("6", NOW - timedelta(hours=3))
    digests = service(tmp_path, asana)
    first = digests.build("42", CHANNEL)
    second = digests.build("42", "C0OTHER")
    assert asana.comment_reads == [["5", "6"]]
    assert [i.gid for i in first.facts.blocked] == [i.gid for i in second.facts.blocked] == ["5"]


# -- at every frozen now: the window, the day, the overdue and the cache --------------------------


def previous_weekday(day: date) -> date:
    """Independently of the code: the last Monday-to-Friday date before `day`."""
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def on_the_clock(tmp_path, asana: FakeAsana, tz: str) -> DigestService:
    """The service on the process's (frozen, ticking) clock, as in production."""
    settings = Settings(db_path=str(tmp_path / "c.db"), asana_project="42", standup_tz=tz)
    store = Store(settings.db_path, clock=utc_now)
    return DigestService(
        asana=asana,
        chat=slack_chat(FakeSlack(), store),
        store=store,
        llm=None,
        settings=settings,
        clock=utc_now,
        may_post=lambda channel, project: project == "42",
    )


@every_now
def test_the_first_digest_covers_the_previous_working_day_at_every_now(tmp_path, frozen_now):
    now, today, zone = utc_now(), frozen_now.today, ZoneInfo(frozen_now.tz)
    asana = FakeAsana(
        [
            task(
                "1", "Fix checkout crash", tags=("blocked",), modified_at=now - timedelta(days=30)
            ),
            task("2", "Upgrade Postgres", due_on=today - timedelta(days=1)),
            task("3", "Due today", due_on=today),
            task("4", "Quiet backlog item", due_on=today + timedelta(days=40)),
        ]
    )
    digest = on_the_clock(tmp_path, asana, frozen_now.tz).build("42", CHANNEL)
    facts = digest.facts
    local = facts.now.astimezone(zone)
    expected_since = datetime.combine(previous_weekday(today), local.time(), tzinfo=zone)
    assert digest.first and facts.today == today == local.date()
    assert facts.since.astimezone(UTC) == expected_since.astimezone(UTC)
    assert [i.gid for i in facts.blocked] == ["1"]
    assert [i.gid for i in facts.overdue] == ["2"]  # due today is not late yet


@every_now
def test_a_comment_is_read_once_per_change_across_days_at_every_now(tmp_path, frozen_now):
    with time_machine.travel(frozen_now.instant, tick=False) as traveller:
        now = utc_now()
        asana = FakeAsana(
            [task("5", "Ship the swag", due_on=frozen_now.today + timedelta(days=30))]
        )
        asana.touch("5", now - timedelta(hours=2), "Blocked by customs until Monday")
        digests = on_the_clock(tmp_path, asana, frozen_now.tz)
        assert [i.gid for i in digests.build("42", CHANNEL).facts.blocked] == ["5"]
        digests._store.record_digest(CHANNEL, "42", at=utc_now(), message_ts="1.0")

        traveller.shift(timedelta(days=1))  # the next day, whatever day and offset it is
        assert [i.gid for i in digests.build("42", CHANNEL).facts.blocked] == ["5"]
        assert asana.comment_reads == [["5"]]
        digests._store.record_digest(CHANNEL, "42", at=utc_now(), message_ts="2.0")

        asana.touch("5", utc_now() + timedelta(hours=1), "Unblocked: customs released it")
        traveller.shift(timedelta(days=1))
        assert digests.build("42", CHANNEL).facts.blocked == ()
        assert asana.comment_reads == [["5"], ["5"]]
