"""Nudges: who gets one today and about which tasks (issue 14 §3).

Calendar (2027): Wed 10 Mar is today; Fri 12 Mar is two working days ahead; Mon 15 three.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.models import Person, Task, TaskLink
from bot.domain.nudges import NudgeReason, nudges

NOW = datetime(2027, 3, 10, 8, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")
WORKDAYS = frozenset(range(5))
ANA = Person("1", "Ana")
BO = Person("2", "Bo")
OPEN_DEP = TaskLink("d1", "API contract", completed=False)
DONE_DEP = TaskLink("d2", "Schema", completed=True)
FRESH = datetime(2027, 3, 9, 12, tzinfo=UTC)


def t(gid: str, who: Person | None = ANA, **kw: object) -> Task:
    kw.setdefault("modified_at", FRESH)
    return Task(gid=gid, name=f"Task {gid}", assignee=who, **kw)  # type: ignore[arg-type]


def run(tasks: list[Task], **kw: object):
    args: dict[str, object] = {"now": NOW, "zone": ZONE, "workdays": WORKDAYS, "stale_days": 5}
    args.update(kw)
    return nudges(tasks, **args)  # type: ignore[arg-type]


def test_overdue_due_soon_with_an_open_dependency_and_stale() -> None:
    tasks = [
        t("late", due_on=date(2027, 3, 9)),
        t("soon", due_on=date(2027, 3, 12), dependencies=(DONE_DEP, OPEN_DEP)),
        t("soon-free", due_on=date(2027, 3, 12), dependencies=(DONE_DEP,)),  # not at risk
        t("later", due_on=date(2027, 3, 15), dependencies=(OPEN_DEP,)),  # three working days
        # Last touched Wed 3 Mar: five working days ago → stale; Thu 4 Mar: four → not.
        t("stale", modified_at=datetime(2027, 3, 3, 10, tzinfo=UTC)),
        t("recent", modified_at=datetime(2027, 3, 4, 10, tzinfo=UTC)),
        t("done", due_on=date(2027, 3, 1), completed=True),
        t("nobody's", who=None, due_on=date(2027, 3, 1)),
    ]
    (nudge,) = run(tasks)
    assert nudge.person == ANA
    got = {i.gid: i for i in nudge.items}
    assert [i.gid for i in nudge.items] == ["late", "soon", "stale"]  # by due date, undated last
    assert got["late"].reasons == (NudgeReason.OVERDUE,)
    assert got["soon"].reasons == (NudgeReason.DUE_SOON_OPEN_DEPENDENCY,)
    assert got["soon"].open_dependency == OPEN_DEP
    assert got["stale"].reasons == (NudgeReason.STALE,)
    assert got["stale"].untouched_since == date(2027, 3, 3)


def test_a_task_can_be_at_risk_for_several_reasons() -> None:
    old = datetime(2027, 2, 1, tzinfo=UTC)
    (nudge,) = run([t("x", due_on=date(2027, 3, 1), modified_at=old)])
    assert nudge.items[0].reasons == (NudgeReason.OVERDUE, NudgeReason.STALE)


def test_one_nudge_a_day_and_opt_outs() -> None:
    tasks = [t("a", due_on=date(2027, 3, 1)), t("b", who=BO, due_on=date(2027, 3, 1))]
    assert [n.person.name for n in run(tasks)] == ["Ana", "Bo"]
    assert [n.person.name for n in run(tasks, opted_out={"1"})] == ["Bo"]
    today_sent = {"2": date(2027, 3, 10)}
    assert [n.person.name for n in run(tasks, last_sent=today_sent)] == ["Ana"]
    yesterday = {"2": date(2027, 3, 9)}
    assert [n.person.name for n in run(tasks, last_sent=yesterday)] == ["Ana", "Bo"]


def test_today_is_the_teams_local_day() -> None:
    # 23:30 UTC on Tue 9 Mar is already Wed 10 Mar in Berlin: a task due on the 9th is overdue.
    late_evening = datetime(2027, 3, 9, 23, 30, tzinfo=UTC)
    task = t("x", due_on=date(2027, 3, 9))
    assert run([task], now=late_evening)
    assert run([task], now=late_evening, zone=ZoneInfo("UTC")) == []


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        run([], now=datetime(2027, 3, 10, 8))
