"""Background work after Slack's 3-second ack: a bounded pool, and one place errors are shown."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from bot.errors import UpstreamError, UserFacingError
from bot.gateways.slack import SlackPermanentError
from bot.render.blocks import escape
from bot.render.home import slack_refusal_text

log = logging.getLogger(__name__)

Reply = Callable[[str], None]


def message_for(error: BaseException) -> str:
    """What a person sees when a job fails; never a traceback, never a secret."""
    # Messages may quote what the user typed or what Asana said: escape, so nothing pings.
    if isinstance(error, UserFacingError):
        return escape(str(error))
    if isinstance(error, SlackPermanentError):  # no use trying again: say what fixes it
        return slack_refusal_text(error.code)
    if isinstance(error, UpstreamError):
        return escape(
            f"{error.service} is not answering right now ({error}). Nothing was changed; "
            "try again in a minute."
        )
    ref = uuid.uuid4().hex[:8]
    log.error("job failed (ref %s): %s", ref, type(error).__name__, exc_info=error)
    return f"Something went wrong on our side (ref {ref}). Nothing was changed."


class JobQueue:
    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copilot-job")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], None], *, reply: Reply) -> None:
        """Run `work` in the background; a failure is answered through `reply`."""

        def run() -> None:
            try:
                work()
            except Exception as error:  # the one place job errors are turned into messages
                try:
                    reply(message_for(error))
                except Exception as failure:
                    log.warning("could not answer a failed job: %s", type(failure).__name__)

        future = self._pool.submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for submitted work (tests, shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
