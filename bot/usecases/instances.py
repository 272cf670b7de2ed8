"""This process among the instances sharing the database: liveness, and commands it owes.

- `Liveness` heartbeats this process's row and answers "did the holder of this lease or claim
  die?" for any holder: on this host by its pid, on another host (PostgreSQL) by its
  heartbeats, so a SIGKILLed instance's approval is finished by another within seconds.
- `CommandLedger` records each slash command from its ack until it is answered; a process that
  dies in between leaves the row, and the next start of any instance tells the person through
  the command's response_url while Slack still accepts it (30 minutes).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from bot.render.notes import interrupted_note
from bot.storage.store import PendingCommandRow, Store
from bot.usecases.approvals import holder_is_dead, instance_of, process_id

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
RESPONSE_URL_LIFETIME = timedelta(minutes=30)  # Slack's limit for posts to a response_url

D = TypeVar("D")


class PrivateNotes(Protocol):
    """The chat port's private notes (bot/usecases/chat.py)."""

    def say_privately(self, channel: str, user: str, text: str, *, reply_to: str = "") -> None: ...


class Liveness:
    def __init__(self, store: Store, *, every: float = HEARTBEAT_SECONDS) -> None:
        self._store = store
        self._every = every
        self.instance = process_id()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holder_dead(self, owner: str) -> bool:
        """True when the process behind a holder id no longer runs."""
        if holder_is_dead(owner):
            return True  # this host, and its pid is gone
        if not self._store.shared or instance_of(owner) == self.instance:
            return False
        # Three missed heartbeats: dead, or cut off from the database, which is the same here.
        return not self._store.instance_seen(
            instance_of(owner), within=timedelta(seconds=3 * self._every)
        )

    def start(self) -> None:
        """Heartbeat now, then every few seconds on a daemon thread until stop()."""
        self._store.heartbeat(self.instance)
        self._store.forget_instances(unseen_for=timedelta(days=1))
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._beat, name="copilot-heartbeat", daemon=True
            )
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._store.heartbeat(self.instance)
            except Exception as error:  # the database is away: the next beat tries again
                log.warning("heartbeat failed: %s", type(error).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self._store.instance_gone(self.instance)
        except Exception as error:
            log.warning("could not sign off: %s", type(error).__name__)


class CommandLedger:
    def __init__(self, store: Store, liveness: Liveness, chat: PrivateNotes) -> None:
        self._store = store
        self._liveness = liveness
        self._chat = chat

    def tracked(
        self,
        command: Mapping[str, Any],
        work: Callable[[D], None],
        late: Callable[[D], str],
    ) -> tuple[Callable[[D], None], Callable[[D], str]]:
        """`work` and `late` of a command, recorded as owed until either of them ends."""
        command_id = uuid.uuid4().hex
        self._store.command_acknowledged(
            PendingCommandRow(
                id=command_id,
                command=str(command.get("command") or ""),
                text=str(command.get("text") or ""),
                user_id=str(command.get("user_id") or ""),
                channel_id=str(command.get("channel_id") or ""),
                response_url=str(command.get("response_url") or ""),
                owner=self._liveness.instance,
                acked_at=self._store.now(),
            )
        )

        def run(deadline: D) -> None:
            try:
                work(deadline)
            finally:
                self._store.command_answered(command_id)

        def too_late(deadline: D) -> str:
            self._store.command_answered(command_id)
            return late(deadline)

        return run, too_late

    def tell_interrupted(self) -> int:
        """Tell whoever typed a command a dead instance never answered; return how many."""
        told = 0
        for row in self._store.take_interrupted(
            holder_dead=self._liveness.holder_dead, max_age=RESPONSE_URL_LIFETIME
        ):
            if not row.response_url:
                continue
            try:
                self._chat.say_privately(
                    row.channel_id,
                    row.user_id,
                    interrupted_note(row.command, row.text),
                    reply_to=row.response_url,
                )
                told += 1
            except Exception as error:
                log.warning("could not tell an interrupted command: %s", type(error).__name__)
        return told
