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


def test_approved_sprints_carry_each_proposals_written_tasks(database_target):
    store = Store(database_target, clock=lambda: T0)
    try:
        plans = {"a": ("p", "Sprint 7", "2026-11-02"), "b": ("p", "Sprint 8", "2026-11-16")}
        plans |= {"c": ("q", "Sprint 8", "2026-11-16"), "d": ("p", "Sprint 9", None)}
        for pid, (project, sprint, decided) in plans.items():
            store.create_proposal(
                proposal_id=pid,
                kind="plan_sprint",
                project_gid=project,
                project_name=project,
                channel="C1",
                created_by="U1",
                prompt_version=None,
                model=None,
                inputs={},
                model_output={},
                view={"sprint": {"name": sprint}},
                items=[(f"{pid}{n}", "task", {}, {}) for n in range(3)],
            )
            with store.write() as conn:
                conn.execute(
                    "update proposals set status = ?, decided_at = ? where id = ?",
                    ["applied" if decided else "approving", decided, pid],
                )
                for n, status in enumerate(["written", "failed", "already"]):
                    conn.execute(
                        "update proposal_items set status = ? where proposal_id = ? "
                        "and task_gid = ?",
                        [status, pid, f"{pid}{n}"],
                    )
        rows = store.approved_sprints("p")
        assert [(r.proposal_id, r.sprint, r.task_gids) for r in rows] == [
            ("a", "Sprint 7", ("a0", "a2")),
            ("b", "Sprint 8", ("b0", "b2")),
        ]
        # Only the sprints and their dates: no task gids.
        bare = store.approved_sprints("p", with_tasks=False)
        assert [(r.proposal_id, r.approved_at, r.task_gids) for r in bare] == [
            (r.proposal_id, r.approved_at, ()) for r in rows
        ]
        assert [r.task_gids for r in store.approved_sprints("q")] == [("c0", "c2")]
    finally:
        store.close()
