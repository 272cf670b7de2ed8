"""The one module that talks to Slack's Web API, on the official slack_sdk client."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.domain.access import Installation, SlackPerson
from bot.errors import PostBlocked, PostRefused, UpstreamError
from bot.settings import Secret

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"

# Errors that will answer the same until a person acts (invites the bot, unarchives the channel,
# reinstalls the app, grants a scope): retrying them only repeats the failure.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "account_inactive",
        "missing_scope",
        "token_revoked",
        # A workspace or channel setting forbids the post (read-only, thread-only, ...).
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "ekm_access_denied",  # admins suspended posting (Enterprise Key Management)
        "team_access_not_granted",  # the token has no access to the channel's workspace
        "not_allowed_token_type",  # the method does not take this kind of token
    }
)
# Slack's own failures: "it's possible some aspect of the operation succeeded" (Slack's error
# reference), whatever the HTTP status, so the outcome is unknown, never "not posted".
UNCERTAIN_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable"})
# Of those, the ones a channel member fixes by inviting the bot.
NOT_A_MEMBER = frozenset({"channel_not_found", "not_in_channel"})


def retry_handlers() -> list[Any]:
    # slack_sdk retries nothing by default; 429s carry Retry-After, which the handler honours.
    return [
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ]


def error_code(exc: SlackApiError) -> str:
    """Slack's error code of a failed call (`invalid_auth`, `channel_not_found`, …)."""
    return exc.response.get("error", "unknown_error") if exc.response else "unknown_error"


def web_client(token: Secret, api_url: str | None) -> WebClient:
    base = (api_url or DEFAULT_API_URL).rstrip("/") + "/"
    return WebClient(token=token.value, base_url=base, timeout=15, retry_handlers=retry_handlers())


class SlackGateway:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._installation_lock = threading.Lock()
        # Posting is not idempotent: a 5xx or a dropped connection may hide a message Slack did
        # post, so posts retry only 429s (Slack says it did nothing) and never resend otherwise.
        self._poster = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)],
        )

    def post(self, channel: str, *, text: str, blocks: list[dict[str, Any]]) -> str:
        """Post to a channel; return the message ts (errors as `post_once` raises them)."""
        return self.post_once(channel, text=text, blocks=blocks)

    def update(self, channel: str, ts: str, *, text: str, blocks: list[dict[str, Any]]) -> None:
        self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    def ephemeral(
        self, channel: str, user: str, *, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks:
            kwargs["blocks"] = blocks
        self._call("chat.postEphemeral", client=self._poster, **kwargs)

    def user_id_by_email(self, email: str) -> str | None:
        """The Slack user with this email, or None when the workspace has none."""
        try:
            response = self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if error_code(exc) == "users_not_found":
                return None
            raise refusal("users.lookupByEmail", exc) from None
        except (SlackRequestError, OSError) as exc:
            raise UpstreamError(
                "Slack", f"users.lookupByEmail failed: {type(exc).__name__}"
            ) from None
        return str(response["user"]["id"])

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        self._call("views.publish", user_id=user, view=view)

    def join(self, channel: str) -> None:
        """Join a public channel (conversations.join, scope channels:join); idempotent.

        File uploads need the bot in the channel even with chat:write.public. Raises
        SlackRefused for what cannot be joined (a private channel, a DM, a missing scope).
        """
        self._call("conversations.join", channel=channel)

    def upload_png(self, channel: str, *, filename: str, title: str, content: bytes) -> str | None:
        """Share a PNG in a channel (files upload v2: get URL, upload, complete); its file id."""
        response = self._guarded(
            "file upload",
            lambda: self._poster.files_upload_v2(
                channel=channel, filename=filename, title=title, content=content
            ),
        )
        uploaded = response.get("file") or {}
        return str(uploaded["id"]) if uploaded.get("id") else None

    def respond(
        self,
        response_url: str,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        replace_original: bool = False,
    ) -> None:
        """Answer through a response_url (ephemeral unless replacing the original message)."""
        hook = WebhookClient(response_url, timeout=15, retry_handlers=retry_handlers())
        body: dict[str, Any] = {"text": text, "response_type": "ephemeral"}
        if blocks:
            body["blocks"] = blocks
        if replace_original:
            body["replace_original"] = True
        result = hook.send_dict(body)
        if result.status_code >= 400:
            log.warning("response_url answered %s", result.status_code)

    def open_modal(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal (within 3 seconds of the click that gave the trigger_id)."""
        self._call("views.open", trigger_id=trigger_id, view=view)

    def post_once(self, channel: str, *, text: str, blocks: list[dict[str, Any]]) -> str:
        """Post a message that must not be posted twice; return its ts.

        Raises SlackRefused when Slack answered that it did not post it (safe to try again), and
        UpstreamError when the outcome is unknown (a dropped connection, a 5xx): do not retry.
        """
        try:
            response = self._poster.api_call(
                "chat.postMessage", json={"channel": channel, "text": text, "blocks": blocks}
            )
        except SlackApiError as exc:
            raise refusal("chat.postMessage", exc) from None
        except (SlackRequestError, OSError) as exc:
            raise UpstreamError("Slack", f"chat.postMessage failed: {type(exc).__name__}") from None
        return str(response["ts"])

    def open_dm(self, user: str) -> str:
        """The app's direct message with `user` (conversations.open, scope im:write): its id."""
        response = self._call("conversations.open", users=user)
        return str(response["channel"]["id"])

    def _call(self, method: str, *, client: WebClient | None = None, **kwargs: Any) -> Any:
        return self._guarded(method, lambda: (client or self.client).api_call(method, json=kwargs))

    @staticmethod
    def _guarded(label: str, call: Callable[[], Any]) -> Any:
        """Run a Slack call; any failure becomes UpstreamError naming what failed."""
        try:
            return call()
        except SlackApiError as exc:
            raise refusal(label, exc) from None
        except (SlackRequestError, OSError) as exc:
            raise UpstreamError("Slack", f"{label} failed: {type(exc).__name__}") from None

    # -- access (issue 10): where the app is installed, and who a person is ------------------

    def installation(self) -> Installation:
        """The installed team (and enterprise) from `auth.test`: read once, then cached."""
        cached = getattr(self, "_installation", None)
        if cached is not None:
            return cached
        with self._installation_lock:  # a burst of first requests asks auth.test once
            cached = getattr(self, "_installation", None)
            if cached is None:
                answer = self._call("auth.test", client=self._quick())
                cached = Installation(
                    team_id=str(answer.get("team_id") or ""),
                    enterprise_id=answer.get("enterprise_id") or None,
                    is_enterprise_install=bool(answer.get("is_enterprise_install")),
                )
                self._installation = cached
        return cached

    def person(self, user_id: str) -> SlackPerson | None:
        """What `users.info` says about a person; None when Slack knows no such user."""
        try:
            answer = self._quick().api_call("users.info", params={"user": user_id})
        except SlackApiError as exc:
            if error_code(exc) in ("user_not_found", "user_not_visible"):
                return None
            raise UpstreamError("Slack", f"users.info failed: {error_code(exc)}") from None
        except (SlackRequestError, OSError) as exc:
            raise UpstreamError("Slack", f"users.info failed: {type(exc).__name__}") from None
        user = answer.get("user") or {}
        grid = user.get("enterprise_user") or {}
        return SlackPerson(
            id=str(user.get("id") or user_id),
            team_id=user.get("team_id") or None,
            enterprise_id=grid.get("enterprise_id") or None,
            is_restricted=bool(user.get("is_restricted")),
            is_ultra_restricted=bool(user.get("is_ultra_restricted")),
            is_admin=bool(user.get("is_admin")),
            is_owner=bool(user.get("is_owner") or user.get("is_primary_owner")),
            deleted=bool(user.get("deleted")),
            teams=frozenset(str(t) for t in grid.get("teams") or ()),
        )

    def _quick(self) -> WebClient:
        """A client for checks made before the 3-second ack: short timeout, no retries."""
        quick = getattr(self, "_quick_client", None)
        if quick is None:
            quick = WebClient(
                token=self.client.token,
                base_url=self.client.base_url,
                timeout=2,
                retry_handlers=[],  # slack_sdk's default would retry a dropped connection
            )
            self._quick_client = quick
        return quick


class SlackRefused(PostRefused):
    """Slack answered with an error: the message was certainly not posted."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__("Slack", message, status=status, code=code)


class SlackPermanentError(SlackRefused, PostBlocked):
    """Slack refused for a reason a retry cannot fix (see PERMANENT_ERRORS)."""

    @property
    def not_a_member(self) -> bool:
        """True when inviting the bot to the channel is the fix."""
        return self.code in NOT_A_MEMBER


def refusal(label: str, exc: SlackApiError) -> UpstreamError:
    """The exception for a Slack error answer: permanent, refused, or (5xx) of unknown outcome."""
    code = error_code(exc)
    status = exc.response.status_code if exc.response is not None else None
    message = f"{label} failed: {code}"
    if code in PERMANENT_ERRORS:
        return SlackPermanentError(message, status=status, code=code)
    if code in UNCERTAIN_ERRORS:
        return UpstreamError("Slack", message, status=status)
    if status is not None and status < 500:
        return SlackRefused(message, status=status, code=code)
    return UpstreamError("Slack", message, status=status)
