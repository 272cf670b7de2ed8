"""The workers' mechanics: lanes, deadlines and single flights, ordered by events, not timings."""

from __future__ import annotations

import threading

from bot.jobs import Deadline, JobQueue, SingleFlight


def test_exactly_one_of_finish_and_expire_wins():
    finished = Deadline(60)
    assert finished.claim() and not finished.expire() and finished.claim()
    expired = Deadline(60)
    assert expired.expire() and not expired.claim() and expired.expired


def test_a_command_still_queued_at_its_deadline_never_starts_and_is_told_once():
    jobs = JobQueue(commands=1)
    release, told = threading.Event(), threading.Event()
    replies: list[str] = []
    ran: list[str] = []

    def reply(text: str) -> None:
        replies.append(text)
        told.set()

    try:
        jobs.command(lambda d: release.wait(60), reply=reply, late=lambda d: "late", seconds=60)
        ahead = jobs.command(
            lambda d: ran.append("second"), reply=reply, late=lambda d: "too late", seconds=0.01
        )
        assert ahead == 1
        assert told.wait(30) and replies == ["too late"]
        release.set()
        jobs.drain(timeout=30)
        assert ran == [] and replies == ["too late"]
    finally:
        release.set()
        jobs.shutdown()


def test_one_flight_per_key_and_every_waiter_gets_its_outcome():
    flights = SingleFlight()
    got: list[tuple[str, object]] = []
    assert (
        flights.join("p1", user="U1", channel="C1", waiter=lambda o: got.append(("U1", o))) is None
    )
    running = flights.join("p1", user="U2", channel="C2", waiter=lambda o: got.append(("U2", o)))
    assert running is not None and (running.user, running.channel) == ("U1", "C1")
    assert flights.join("p2", user="U3", channel="C1", waiter=lambda o: None) is None  # other key
    flights.land("p1", "posted")
    assert got == [("U2", "posted")]
    assert flights.join("p1", user="U4", channel="C1", waiter=lambda o: None) is None  # free again
