"""Matching Asana people to Slack users, shared by every flow that mentions someone."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bot.errors import UpstreamError

log = logging.getLogger(__name__)

SLACK_USER_MAX_AGE = timedelta(days=7)  # people rarely change email; a week keeps lookups rare


def slack_user_for(store: Any, slack: Any, email: str | None) -> str | None:
    """The Slack user with this Asana email (looked up once, cached a week), else None."""
    if not email:
        return None
    known, user_id = store.cached_slack_user(email, max_age=SLACK_USER_MAX_AGE)
    if known:
        return user_id
    try:
        user_id = slack.user_id_by_email(email)
    except UpstreamError as exc:
        log.warning("Slack user lookup failed, showing the name: %s", exc)
        return None  # not cached: try again next time
    store.remember_slack_user(email, user_id)
    return user_id
