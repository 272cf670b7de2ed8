"""The retrospectives aggregate (issue 14), on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import date

from bot.storage.store import Store
from tests.storage.moments import T0


def test_blocked_days_are_kept_once_per_task_day_and_blocker(database_target):
    first, second = (
        Store(database_target, clock=lambda: T0),
        Store(database_target, clock=lambda: T0),
    )
    try:
        day = date(2026, 11, 23)
        blocked = [("1", "tagged blocked"), ("1", "Status set to Blocked"), ("2", "tagged blocked")]
        assert first.record_blocked_days("p", day, blocked) == 3
        # The same digest again, from another instance: nothing new.
        assert second.record_blocked_days("p", day, [*blocked, ("1", "tagged blocked")]) == 0
        second.record_blocked_days("p", date(2026, 11, 24), [("1", "tagged blocked")])
        second.record_blocked_days("other", day, [("9", "tagged blocked")])
        rows = first.blocked_days("p", day, date(2026, 11, 24))
        assert [(r.task_gid, r.day, r.blocker) for r in rows] == [
            ("1", day, "Status set to Blocked"),
            ("1", day, "tagged blocked"),
            ("2", day, "tagged blocked"),
            ("1", date(2026, 11, 24), "tagged blocked"),
        ]
        assert first.blocked_days("p", date(2026, 11, 24), date(2026, 11, 30))[0].task_gid == "1"
    finally:
        first.close()
        second.close()


def test_a_sprint_start_is_set_replaced_and_audited(database_target):
    store = Store(database_target, clock=lambda: T0)
    try:
        store.set_sprint_start("p", "Sprint 7", date(2026, 11, 2), by="U1")
        store.set_sprint_start("p", "Sprint 7", date(2026, 11, 3), by="U2")
        assert store.sprint_starts("p") == {"Sprint 7": date(2026, 11, 3)}
        assert store.sprint_starts("q") == {}
        audit = [r for r in store.audit_rows() if r["action"] == "sprint_start_set"]
        assert [r["actor"] for r in audit] == ["U1", "U2"]
    finally:
        store.close()
