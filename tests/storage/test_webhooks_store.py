"""The webhook aggregate on both backends: handshakes only for our creation in flight, once,
and event keys recorded once across instances (two Stores on one database = two instances)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from tests.storage.moments import T0

TARGET = "https://copilot.example.com/asana/events/42"


def test_a_handshake_is_accepted_only_for_our_creation_in_flight_and_once(stores):
    creator, other = stores
    assert not other.accept_handshake("42", TARGET, "s1")  # nobody asked
    creator.begin_webhook_creation("42", TARGET, within=timedelta(seconds=60))
    assert not other.accept_handshake("42", TARGET + "x", "s1")  # another target
    assert other.accept_handshake("42", TARGET, "s1")  # the other instance answers it
    assert not creator.accept_handshake("42", TARGET, "s2")  # a second one is refused
    assert creator.webhook_secret("42") == "s1"
    assert creator.finish_webhook_creation("42", "900")
    assert [r["detail"] for r in other.audit_rows() if r["action"] == "asana_webhook_created"] == [
        {"project": "42", "webhook": "900"}
    ]
    row = other.webhook_row("42")
    assert row is not None and (row.status, row.webhook_gid) == ("active", "900")
    assert "s1" not in repr(row)  # the secret is never part of a row
    assert not other.accept_handshake("42", TARGET, "s3")  # nothing in flight any more


def test_a_late_handshake_is_refused_and_a_failed_creation_leaves_nothing(stores, clock):
    store, _ = stores
    store.begin_webhook_creation("42", TARGET, within=timedelta(seconds=60))
    clock.now = T0 + timedelta(seconds=61)
    assert not store.accept_handshake("42", TARGET, "s1")
    assert not store.finish_webhook_creation("42", "900")  # no handshake: not ours
    store.abandon_webhook_creation("42")
    assert store.webhook_row("42").status == "failed"
    assert store.webhook_secret("42") is None
    assert not store.accept_handshake("42", TARGET, "s1")


def test_concurrent_handshakes_have_one_winner(stores):
    first, second = stores
    first.begin_webhook_creation("42", TARGET, within=timedelta(seconds=60))
    with ThreadPoolExecutor(8) as pool:
        wins = list(
            pool.map(
                lambda n: (first if n % 2 else second).accept_handshake("42", TARGET, f"s{n}"),
                range(8),
            )
        )
    assert wins.count(True) == 1


def test_event_keys_are_first_seen_once_across_instances_and_pruned(stores, clock):
    first, second = stores
    assert first.first_sightings("42", ["a", "b", "a"]) == {"a", "b"}
    assert second.first_sightings("42", ["b", "c"]) == {"c"}
    clock.now = T0 + timedelta(days=8)
    assert second.prune_event_keys(older_than=timedelta(days=7)) == 3
    assert first.first_sightings("42", ["a"]) == {"a"}


def test_a_problem_is_kept_for_approvers_and_audited(stores):
    store, _ = stores
    store.begin_webhook_creation("42", TARGET, within=timedelta(seconds=60))
    store.accept_handshake("42", TARGET, "s1")
    store.finish_webhook_creation("42", "900")
    store.record_webhook_problem("42", "Asana disabled the project's webhook")
    row = store.webhook_row("42")
    assert row is not None and row.problem == "Asana disabled the project's webhook"
    assert any(r["action"] == "asana_webhook" for r in store.audit_rows())
    store.clear_webhook_problem("42")
    assert store.webhook_rows()[0].problem is None


def test_one_creation_in_flight_per_project_across_instances(stores, clock):
    first, second = stores
    within = timedelta(seconds=60)
    assert first.begin_webhook_creation("42", TARGET, within=within)
    in_flight = second.webhook_row("42")
    assert not second.begin_webhook_creation("42", TARGET, within=within, seen=in_flight)
    clock.now = T0 + timedelta(seconds=61)  # the first one died mid-creation
    assert second.begin_webhook_creation("42", TARGET, within=within, seen=in_flight)
    assert second.accept_handshake("42", TARGET, "s")
    assert second.finish_webhook_creation("42", "900")
    # A creation goes ahead only on the row as the caller read it (compare-and-swap).
    assert not first.begin_webhook_creation("42", TARGET, within=within)  # read: no row
    assert not first.begin_webhook_creation("42", TARGET, within=within, seen=in_flight)
    current = first.webhook_row("42")
    assert first.begin_webhook_creation("42", TARGET, within=within, seen=current)  # re-create
