"""The daily prune (issue 10 §5): proposals and caches past COPILOT_RETENTION_DAYS go."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.storage.store import Store

log = logging.getLogger(__name__)

RETENTION_JOB_ID = "retention"
RETENTION_AT = "03:17"  # a quiet hour, off the round minutes other jobs take


def prune_old_data(
    store: Store, *, clock: Callable[[], datetime], retention_days: int
) -> dict[str, int]:
    """Delete what is older than `retention_days`; the audit log's decisions and writes stay."""
    counts = store.prune(before=clock() - timedelta(days=retention_days))
    log.info("pruned data older than %d days: %s", retention_days, counts)
    return counts
