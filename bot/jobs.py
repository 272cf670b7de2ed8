"""Background work after Slack's 3-second ack: one bounded pool per kind of work.

A model call can take 45 s plus a retry, so commands (model-bound), decisions (Approve, Reject,
Retry), pages (Show all) and everything else (Home tab, capacity) each get their own workers: a
click never waits behind the model. Work that cannot start at once is told so ("queued"), a
command has a total deadline, and `SingleFlight` lets one run per key (a project) at a time.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bot.errors import PostBlocked, UpstreamError, UserFacingError
from bot.render.notes import post_refusal_text
from bot.render.text import escape

log = logging.getLogger(__name__)

Reply = Callable[[str], None]

# A command's total time, from the request to its result; past it the person is told and
# nothing is posted late. Two model attempts of 45 s, plus Asana reads and a margin.
COMMAND_DEADLINE_SECONDS = 120.0


def message_for(error: BaseException) -> str:
    """What a person sees when a job fails; never a traceback, never a secret."""
    # Messages may quote what the user typed or what Asana said: escape, so nothing pings.
    if isinstance(error, UserFacingError):
        return escape(str(error))
    if isinstance(error, PostBlocked):  # no use trying again: say what fixes it
        return post_refusal_text(error.service, error.code)
    if isinstance(error, UpstreamError):
        return escape(
            f"{error.service} is not answering right now ({error}). Nothing was changed; "
            "try again in a minute."
        )
    ref = uuid.uuid4().hex[:8]
    log.error("job failed (ref %s): %s", ref, type(error).__name__, exc_info=error)
    return f"Something went wrong on our side (ref {ref}). Nothing was changed."


class Deadline:
    """A command's time limit: exactly one of "finish" (post the result) and "expire" wins."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._state = "running"  # running | finished | expired

    def claim(self) -> bool:
        """Call right before posting a result: True unless the deadline already passed."""
        with self._lock:
            if self._state == "running":
                self._state = "finished"
            return self._state == "finished"

    def expire(self) -> bool:
        """True for the one caller that ends the command for lateness."""
        with self._lock:
            if self._state != "running":
                return False
            self._state = "expired"
            return True

    @property
    def expired(self) -> bool:
        with self._lock:
            return self._state == "expired"


class Watchdog:
    """One thread that calls each scheduled callback when its time comes (the deadlines)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def after(self, seconds: float, callback: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._ids), callback))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="copilot-deadlines", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, callback = heapq.heappop(self._heap)
            try:
                callback()
            except Exception as error:
                log.warning("a deadline callback failed: %s", type(error).__name__)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()


class Lane:
    """A bounded pool for one kind of work; says how many jobs are ahead of a new one."""

    def __init__(self, name: str, workers: int, *, notes: ThreadPoolExecutor) -> None:
        self.name = name
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"copilot-{name}")
        self._notes = notes
        self._lock = threading.Lock()
        self._in_flight = 0
        self._pending: set[Future[Any]] = set()

    def submit(
        self,
        work: Callable[[], None],
        *,
        reply: Reply,
        queued: Callable[[int], None] | None = None,
    ) -> int:
        """Run `work` here; a failure is answered through `reply`.

        Return how many jobs are running or waiting ahead of it when it cannot start at once,
        else 0. Then `queued(ahead)` is called off the caller's thread, so an ack is never held
        up by the note.
        """

        def run() -> None:
            try:
                work()
            except Exception as error:  # the one place job errors are turned into messages
                try:
                    reply(message_for(error))
                except Exception as failure:
                    log.warning("could not answer a failed job: %s", type(failure).__name__)

        with self._lock:
            ahead = self._in_flight if self._in_flight >= self.workers else 0
            self._in_flight += 1
            future = self._pool.submit(run)
            self._pending.add(future)
        future.add_done_callback(self._done)
        if ahead and queued is not None:
            self._track(self._notes.submit(_quietly, queued, ahead))
        return ahead

    def _track(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._in_flight -= 1
            self._pending.discard(future)

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    @property
    def busy(self) -> int:
        """Jobs running or waiting here."""
        with self._lock:
            return self._in_flight

    def pending(self) -> list[Future[Any]]:
        with self._lock:
            return list(self._pending)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


def _quietly(note: Callable[[int], None], ahead: int) -> None:
    try:
        note(ahead)
    except Exception as error:
        log.warning("could not send a queued note: %s", type(error).__name__)


class JobQueue:
    """The app's workers: `commands`, `decisions`, `pages` and `other` (the default)."""

    def __init__(
        self,
        *,
        commands: int = 4,
        decisions: int = 4,
        pages: int = 2,
        other: int = 2,
        events: int = 2,
        deadline_seconds: float = COMMAND_DEADLINE_SECONDS,
    ) -> None:
        self._notes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="copilot-note")
        self.commands = Lane("command", commands, notes=self._notes)
        self.decisions = Lane("decision", decisions, notes=self._notes)
        self.pages = Lane("page", pages, notes=self._notes)
        self.other = Lane("job", other, notes=self._notes)
        # Asana webhook deliveries (issue 13), answered at once and worked on here.
        self.events = Lane("asana-event", events, notes=self._notes)
        self.deadline_seconds = deadline_seconds
        self._watchdog = Watchdog()

    @property
    def lanes(self) -> tuple[Lane, ...]:
        return (self.commands, self.decisions, self.pages, self.other, self.events)

    def submit(
        self,
        work: Callable[[], None],
        *,
        reply: Reply,
        queued: Callable[[int], None] | None = None,
    ) -> int:
        """Run `work` with the other background work (Home tab, capacity, schedules)."""
        return self.other.submit(work, reply=reply, queued=queued)

    def command(
        self,
        work: Callable[[Deadline], None],
        *,
        reply: Reply,
        late: Callable[[Deadline], str],
        seconds: float | None = None,
    ) -> int:
        """Run a (model-bound) command with a total deadline; return how many are ahead of it.

        `work` gets the Deadline and must `claim()` it right before posting its result. When
        the deadline passes first, the person gets `late(deadline)` and the work, whenever it
        ends, posts nothing; a job still queued by then does not start at all.
        """
        deadline = Deadline(self.deadline_seconds if seconds is None else seconds)

        def expire() -> None:
            if deadline.expire():
                reply(late(deadline))

        def run() -> None:
            if deadline.expired:
                return
            try:
                work(deadline)
            except Exception:
                if deadline.claim():  # not told yet: the error is its answer
                    raise
                log.info("a command failed after its deadline; the person was told already")

        self._watchdog.after(deadline.seconds, expire)
        return self.commands.submit(run, reply=reply)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for submitted work in every lane, and for work it queued (tests, shutdown)."""
        end = time.monotonic() + timeout
        while True:
            pending = [f for lane in self.lanes for f in lane.pending()]
            if not pending:
                return
            for future in pending:
                future.result(timeout=max(0.0, end - time.monotonic()))

    def shutdown(self) -> None:
        for lane in self.lanes:
            lane.shutdown()
        self._notes.shutdown(wait=True)
        self._watchdog.stop()


@dataclass
class Flight:
    """One run in progress for a key, and who is waiting for its result."""

    key: str
    user: str
    channel: str
    waiters: list[Callable[[Any], None]] = field(default_factory=list)


class SingleFlight:
    """At most one run per key at a time; later requests wait for its outcome instead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, Flight] = {}

    def join(
        self, key: str, *, user: str, channel: str, waiter: Callable[[Any], None]
    ) -> Flight | None:
        """None: the caller leads a new run and must `land` it. Else the running flight, and
        `waiter(outcome)` will be called when it lands."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                self._flights[key] = Flight(key, user, channel)
                return None
            flight.waiters.append(waiter)
            return flight

    def land(self, key: str, outcome: Any) -> None:
        """End the run of `key` and give its outcome to everyone who waited for it."""
        with self._lock:
            flight = self._flights.pop(key, None)
        for waiter in flight.waiters if flight else []:
            try:
                waiter(outcome)
            except Exception as error:
                log.warning("could not tell a waiting request: %s", type(error).__name__)

    def running(self, key: str) -> Flight | None:
        with self._lock:
            return self._flights.get(key)
