"""The Store's guarantees, each on SQLite and on a real PostgreSQL server (parametrized).

Two Store objects on one database stand for two processes: each has its own connections
(and on PostgreSQL its own pool), so only the database can make one of them win.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from bot.storage.store import DigestScheduleRow, PendingCommandRow, Store
from tests.storage.moments import T0


def propose(store: Store, pid: str = "p1", gids: tuple[str, ...] = ("1", "2", "3")) -> None:
    store.create_proposal(
        proposal_id=pid,
        kind="prioritize",
        project_gid="100",
        project_name="Platform",
        channel="C1",
        created_by="U1",
        prompt_version="v1",
        model="m",
        inputs={"a": 1},
        model_output=None,
        view={"rows": []},
        items=[(g, f"task {g}", {"score": 1}, {"modified_at": "x"}) for g in gids],
    )


def test_a_proposal_round_trips_with_its_items_and_audit(stores):
    store, other = stores
    propose(store)
    other.set_message("p1", "C1", "111.222")
    proposal = other.proposal("p1")
    assert proposal is not None and proposal.message_ts == "111.222"
    assert proposal.inputs == {"a": 1} and proposal.view == {"rows": []} and proposal.result is None
    assert [i.task_gid for i in store.items("p1")] == ["1", "2", "3"]
    assert store.items("p1")[0].changes == {"score": 1}
    assert [r["action"] for r in store.audit_rows("p1")] == ["proposed"]
    assert store.proposal("nope") is None


def test_of_two_instances_deciding_at_once_one_wins(stores):
    store, other = stores
    propose(store)
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda i: (store if i % 2 else other).claim_decision(
                    "p1", user=f"U{i}", decision="approve"
                ),
                range(16),
            )
        )
    assert results.count(True) == 1
    assert store.proposal("p1").status == "approving"
    assert [r["action"] for r in store.audit_rows("p1")].count("approve") == 1


def test_the_lease_has_one_holder_until_it_expires(stores, clock):
    store, other = stores
    propose(store)
    store.claim_decision("p1", user="U1", decision="approve")
    with ThreadPoolExecutor(6) as pool:
        won = list(
            pool.map(
                lambda i: (store if i % 2 else other).take_lease("p1", owner=f"w{i}", seconds=30),
                range(12),
            )
        )
    assert won.count(True) == 1
    holder = store.lease_owner("p1")
    assert other.take_lease("p1", owner="late", seconds=30) is False
    assert other.take_lease("p1", owner=holder, seconds=30) is True  # the holder renews
    clock.now += timedelta(seconds=31)
    assert other.take_lease("p1", owner="late", seconds=30) is True  # expired: taken over
    store.release_lease("p1", owner="late")
    assert store.lease_owner("p1") is None


def test_item_outcomes_and_finish(stores):
    store, other = stores
    propose(store)
    store.claim_decision("p1", user="U1", decision="approve")
    assert store.take_lease("p1", owner="w", seconds=30)
    outcomes = [("1", "written", "", {}), ("2", "failed", "500", {})]
    # Only the lease holder records outcomes and finishes: another instance changes nothing.
    assert other.mark_items("p1", outcomes, actor="x", owner="x") is False
    assert other.finish("p1", status="applied", result={}, owner="x") is False
    assert {i.status for i in store.items("p1")} == {"pending"}
    assert other.mark_items("p1", outcomes, actor="w", owner="w") is True
    assert other.finish("p1", status="partial", result={"written": 1}, owner="w") is True
    assert store.proposal("p1").status == "partial"
    assert {i.task_gid: i.status for i in store.items("p1")} == {
        "1": "written",
        "2": "failed",
        "3": "pending",
    }
    assert store.reopen_for_retry("p1", user="U2") is True
    assert other.reopen_for_retry("p1", user="U3") is False
    assert {i.task_gid: i.status for i in store.items("p1")}["2"] == "pending"
    assert store.copilot_writes_since(T0 - timedelta(minutes=1)) == {"1": T0}


def test_one_digest_slot_is_claimed_once_across_instances(stores, clock):
    store, other = stores
    key = {"kind": "digest", "channel": "C1", "project_gid": "100", "slot": "2026-11-23"}

    def claim(i: int) -> bool:
        return (store if i % 2 else other).claim_slot(
            **key, owner=f"o{i}", scheduled_for=T0, stale_after=timedelta(minutes=15)
        )

    with ThreadPoolExecutor(6) as pool:
        won = list(pool.map(claim, range(12)))
    assert won.count(True) == 1
    owner = f"o{won.index(True)}"
    assert other.begin_posting(**key, owner="intruder") is False
    assert store.begin_posting(**key, owner=owner) is True
    clock.now += timedelta(hours=1)
    # posting never goes stale: the post may have reached Slack
    assert (
        other.claim_slot(**key, owner="late", scheduled_for=T0, stale_after=timedelta(minutes=15))
        is False
    )
    store.slot_posted(**key, message_ts="1.2")
    assert other.slot_status(**key) == "posted"


def test_a_stale_claim_is_taken_over_once(stores, clock):
    store, other = stores
    key = {"kind": "digest", "channel": "C1", "project_gid": "100", "slot": "s"}
    assert store.claim_slot(**key, owner="dead", scheduled_for=None, stale_after=timedelta(1))
    clock.now += timedelta(days=2)
    with ThreadPoolExecutor(4) as pool:
        won = list(
            pool.map(
                lambda i: (store if i % 2 else other).claim_slot(
                    **key, owner=f"n{i}", scheduled_for=None, stale_after=timedelta(days=1)
                ),
                range(8),
            )
        )
    assert won.count(True) == 1
    store.release_slot(**key, owner=f"n{won.index(True)}")
    assert other.slot_status(**key) is None


def test_schedules_and_digest_state(stores):
    store, other = stores
    row = DigestScheduleRow(
        channel="C1", project_gid="100", project_name="P", at="09:30", tz="UTC", days="mon-fri"
    )
    store.save_digest_schedule(row, by="U1")
    other.save_digest_schedule(row.__class__(**{**row.__dict__, "at": "10:00"}), by="U2")
    [saved] = store.digest_schedules()
    assert saved.at == "10:00" and saved.updated_by == "U2"
    assert other.delete_digest_schedule("C1", "100", by="U1") is True
    assert store.delete_digest_schedule("C1", "100", by="U1") is False
    store.record_digest("C1", "100", at=T0, message_ts="9.9", project_name="P")
    assert other.last_digest("C1", "100") == (T0, "9.9")
    assert other.digest_project_name("100") == "P"


def test_caches_are_shared(stores, clock):
    store, other = stores
    store.cache_judgements({"k1": {"score": 5}, "k2": [1]}, model="m")
    other.cache_judgements({"k2": [2]}, model="m")
    assert store.cached_judgements(["k1", "k2", "k3"]) == {"k1": {"score": 5}, "k2": [2]}
    store.remember_slack_user("A@x.io", "U9")
    assert other.cached_slack_user("a@X.io", max_age=timedelta(days=1)) == (True, "U9")
    store.remember_slack_user("b@x.io", None)
    assert other.cached_slack_user("b@x.io", max_age=timedelta(days=1)) == (True, None)
    clock.now += timedelta(days=2)
    assert other.cached_slack_user("a@x.io", max_age=timedelta(days=1)) == (False, None)
    store.remember_comments({"7": ("blocked", T0, T0), "8": (None, None, T0)})
    found = other.latest_comments(["7", "8", "9"])
    assert found["7"].text == "blocked" and found["8"].text is None and "9" not in found
    store.remember_chart("100", file_id="F1", channel="C1")
    assert other.latest_chart("100")[0] == "F1"


def test_people_hours_and_one_overload_alert(stores):
    store, other = stores
    assert store.set_weekly_hours("u1", 30, person_name="Ann", by="U1") is None
    assert other.set_weekly_hours("u1", 20, person_name="Ann", by="U1") == 30.0
    assert store.weekly_hours_overrides() == {"u1": 20.0}
    other.set_weekly_hours("u1", None, person_name="Ann", by="U1")
    assert store.weekly_hours_overrides() == {}

    def claim(i: int):
        return (store if i % 2 else other).claim_overload_alert(
            project_gid="100",
            person_gid="u1",
            week_start="2026-11-23",
            expected_version=None,
            task_gids=["1"],
            load=50.0,
            capacity=40.0,
            reason="r",
        )

    with ThreadPoolExecutor(6) as pool:
        claims = list(pool.map(claim, range(12)))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and winners[0].version == 1 and winners[0].active
    again = other.claim_overload_alert(
        project_gid="100",
        person_gid="u1",
        week_start="2026-11-23",
        expected_version=1,
        task_gids=["1", "2"],
        load=60.0,
        capacity=40.0,
        reason="r2",
    )
    assert again is not None and again.version == 2
    assert (
        store.claim_overload_alert(
            project_gid="100",
            person_gid="u1",
            week_start="2026-11-23",
            expected_version=1,
            task_gids=["1"],
            load=60.0,
            capacity=40.0,
            reason="stale",
        )
        is None
    )
    assert store.clear_overload_alerts("100", weeks=["2026-11-23"], still=set()) == 1
    assert other.overload_alert("100", "u1", "2026-11-23").active is False


def test_a_signed_request_is_accepted_by_one_instance_only(stores, clock):
    store, other = stores
    ttl = timedelta(minutes=10)
    with ThreadPoolExecutor(6) as pool:
        seen = list(
            pool.map(
                lambda i: (store if i % 2 else other).seen_signature("v0=abc", ttl=ttl), range(12)
            )
        )
    assert seen.count(False) == 1  # accepted once, refused everywhere else
    clock.now += timedelta(minutes=11)
    assert other.seen_signature("v0=abc", ttl=ttl) is False  # expired: Slack refuses it anyway
    assert store.prune_signatures() == 0
    clock.now += timedelta(minutes=11)
    assert store.prune_signatures() == 1


def test_an_interrupted_command_is_taken_by_one_instance(stores, clock):
    store, other = stores
    for i, owner in enumerate(["dead:1", "alive:2", "dead:1"]):
        store.command_acknowledged(
            PendingCommandRow(
                id=f"c{i}",
                command="/prioritize",
                text="",
                user_id="U1",
                channel_id="C1",
                response_url=f"https://hooks/{i}",
                owner=owner,
                acked_at=store.now(),
            )
        )
    store.command_answered("c2")
    with ThreadPoolExecutor(2) as pool:
        taken = list(
            pool.map(
                lambda s: s.take_interrupted(
                    holder_dead=lambda o: o.startswith("dead"), max_age=timedelta(minutes=30)
                ),
                [store, other],
            )
        )
    assert sorted(c.id for batch in taken for c in batch) == ["c0"]
    clock.now += timedelta(minutes=31)
    assert other.take_interrupted(holder_dead=lambda o: True, max_age=timedelta(minutes=30)) == []


def test_instances_heartbeat(stores, clock):
    store, other = stores
    store.heartbeat("h:1:a")
    assert other.instance_seen("h:1:a", within=timedelta(seconds=30))
    clock.now += timedelta(seconds=31)
    assert not other.instance_seen("h:1:a", within=timedelta(seconds=30))
    store.heartbeat("h:1:a")
    store.instance_gone("h:1:a")
    assert not other.instance_seen("h:1:a", within=timedelta(seconds=30))
    store.heartbeat("h:2:b")
    clock.now += timedelta(days=2)
    store.heartbeat("h:3:c")
    assert other.forget_instances(unseen_for=timedelta(days=1)) == 1
    assert other.instance_seen("h:3:c", within=timedelta(seconds=30))
