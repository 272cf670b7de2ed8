"""Bot Framework authentication both ways: the check of every incoming activity's JWT, and the
app's own client-credentials token for the Bot Connector.

The check runs in front of the SDK (which validates again): the SDK answers a malformed body with a
500 and a traceback in the log, and a token does not cover the body, so the `serviceurl` claim must
equal the activity's serviceUrl or a captured token could send the bot's replies elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from bot.errors import UpstreamError
from bot.settings import Secret

log = logging.getLogger(__name__)

BOT_SCOPE = "https://api.botframework.com/.default"
CLOCK_SKEW_S = 300  # Bot Framework allows five minutes of clock skew
KEYS_TTL_S = 24 * 3600  # Microsoft rotates keys; it asks bots to refresh them at least daily
KEYS_REFRESH_MIN_S = 300  # an unknown kid refetches at most this often (no amplification)
MAX_BODY_BYTES = 256_000  # activities are a few KB; Teams messages are capped at 28 KB
HTTP_TIMEOUT_S = 10.0
INVOKES = frozenset({"adaptiveCard/action"})
# Activity types the copilot takes (others could not be parsed by the SDK, which would answer
# 500 with a traceback): the rest are refused with 400 before it.
TYPES = frozenset(
    {
        "message",
        "conversationUpdate",
        "installationUpdate",
        "invoke",
        "messageReaction",
        "messageUpdate",
        "messageDelete",
        "typing",
    }
)
# installationUpdate actions: Teams' own ("-upgrade" when the app is updated in place) and the
# SDK's ("upgrade"); the "-upgrade" ones the SDK cannot parse are answered without it.
INSTALL_ACTIONS = frozenset({"add", "remove", "upgrade", "add-upgrade", "remove-upgrade"})


class Refusal(Exception):
    """A request the bot must not process; `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener()


def _get_json(url: str, opener: urllib.request.OpenerDirector) -> Any:
    try:
        with opener.open(url, timeout=HTTP_TIMEOUT_S) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise UpstreamError(
            "Bot Framework", f"could not read {url}: {type(exc).__name__}"
        ) from None


class SigningKeys:
    """The JWKS named by the OpenID metadata, cached, refetched when a new kid appears."""

    def __init__(
        self,
        metadata_url: str,
        *,
        opener: urllib.request.OpenerDirector | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metadata_url = metadata_url
        self._opener = opener or _opener()
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[Any, frozenset[str]]] = {}
        self._issuer = ""
        self._fetched_at: float | None = None

    def _refresh(self) -> None:
        metadata = _get_json(self._metadata_url, self._opener)
        if not isinstance(metadata, dict) or not isinstance(metadata.get("jwks_uri"), str):
            raise UpstreamError("Bot Framework", "OpenID metadata without a jwks_uri")
        jwks = _get_json(metadata["jwks_uri"], self._opener)
        keys: dict[str, tuple[Any, frozenset[str]]] = {}
        for entry in jwks.get("keys", []) if isinstance(jwks, dict) else []:
            try:
                key = jwt.PyJWK(entry, algorithm="RS256")
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a key type we cannot use cannot have signed a Bot Framework token
            endorsements = frozenset(e for e in entry.get("endorsements", []) if isinstance(e, str))
            keys[str(entry.get("kid"))] = (key.key, endorsements)
        self._keys = keys
        self._issuer = str(metadata.get("issuer") or "")
        self._fetched_at = self._clock()

    def key(self, kid: str) -> tuple[Any, frozenset[str], str]:
        """The public key for `kid`, its endorsements and the metadata's issuer."""
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at > KEYS_TTL_S
            unknown = kid not in self._keys and (
                self._fetched_at is None or now - self._fetched_at > KEYS_REFRESH_MIN_S
            )
            if stale or unknown:
                self._refresh()
            if kid not in self._keys:
                raise Refusal(401, "token signed with an unknown key")
            key, endorsements = self._keys[kid]
            return key, endorsements, self._issuer


@dataclass(frozen=True)
class Caller:
    """Who sent an activity, once its token and shape are checked."""

    activity: dict[str, Any]
    claims: dict[str, Any]


class ActivityAuth:
    """Checks an incoming request: size, Bearer JWT, shape, serviceurl, tenant."""

    def __init__(self, *, client_id: str, tenant_id: str, keys: SigningKeys) -> None:
        self._client_id = client_id
        self._tenant_id = tenant_id
        self._keys = keys

    def check(self, authorization: str, body: bytes) -> Caller:
        """The checked activity, or Refusal with 400/401/403 and a reason (never the body)."""
        if len(body) > MAX_BODY_BYTES:
            raise Refusal(400, "request body too large")
        if not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise Refusal(401, "missing bearer token")
        claims = self._claims(authorization[7:].strip())
        activity = _activity(body)
        service_url = str(activity["serviceUrl"]).rstrip("/")
        if str(claims.get("serviceurl") or "").rstrip("/") != service_url:
            raise Refusal(401, "token serviceurl does not match the activity's serviceUrl")
        if activity.get("channelId") not in (None, "msteams"):
            raise Refusal(403, "only Microsoft Teams activities are handled")
        if _tenant(activity) != self._tenant_id:
            raise Refusal(403, "activity from another tenant")
        return Caller(activity=activity, claims=claims)

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Refusal(401, "malformed token") from None
        if header.get("alg") != "RS256":
            raise Refusal(401, "token not signed with RS256")
        key, endorsements, issuer = self._keys.key(str(header.get("kid")))
        if endorsements and "msteams" not in endorsements:
            raise Refusal(401, "signing key not endorsed for msteams")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._client_id,
                issuer=issuer or "https://api.botframework.com",
                leeway=CLOCK_SKEW_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise Refusal(401, f"invalid token ({type(exc).__name__})") from None


def _activity(body: bytes) -> dict[str, Any]:
    try:
        activity = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "body is not JSON") from None
    if not isinstance(activity, dict):
        raise Refusal(400, "body is not an activity")
    for name in ("type", "serviceUrl"):
        if not isinstance(activity.get(name), str) or not activity[name]:
            raise Refusal(400, f"activity without {name}")
    for name in ("conversation", "from"):
        part = activity.get(name)
        if not isinstance(part, dict) or not isinstance(part.get("id"), str) or not part["id"]:
            raise Refusal(400, f"activity without {name}.id")
    if activity["type"] not in TYPES:
        raise Refusal(400, "activity type not handled")
    if activity["type"] == "installationUpdate" and activity.get("action") not in INSTALL_ACTIONS:
        raise Refusal(400, "unknown installation action")
    if activity["type"] == "message" and not isinstance(activity.get("text", ""), str):
        raise Refusal(400, "message text is not a string")
    if activity["type"] == "invoke":
        if activity.get("name") not in INVOKES:
            raise Refusal(400, "unknown invoke")
        action = (
            (activity.get("value") or {}).get("action")
            if isinstance(activity.get("value"), dict)
            else None
        )
        if not isinstance(action, dict) or not isinstance(action.get("verb"), str):
            raise Refusal(400, "card action without a verb")
        if not isinstance(action.get("data", {}), dict):
            raise Refusal(400, "card action data is not an object")
    return activity


def _tenant(activity: Mapping[str, Any]) -> str:
    conversation = activity.get("conversation") or {}
    channel_data = (
        activity.get("channelData") if isinstance(activity.get("channelData"), dict) else {}
    )
    tenant = (channel_data.get("tenant") or {}) if isinstance(channel_data, dict) else {}
    value = conversation.get("tenantId") or (tenant.get("id") if isinstance(tenant, dict) else "")
    return str(value or "").lower()


class ClientCredentialsToken:
    """The bot's token for the Bot Connector: a client-credentials POST, cached until near expiry.

    Given to the SDK as its `token=` provider: the SDK's own MSAL path refuses non-https authorities
    and first calls Microsoft's instance discovery, which a sovereign cloud or the sandbox lacks.
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        opener: urllib.request.OpenerDirector | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._opener = opener or _opener()
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[str, float] | None = None

    def token(self, scope: str = BOT_SCOPE) -> str:
        """A valid access token for `scope` (the Bot Connector's, unless told otherwise)."""
        if scope != BOT_SCOPE:
            raise UpstreamError("Teams", f"no token for scope {scope!r}: only the Bot Connector's")
        with self._lock:
            now = self._clock()
            if self._cached and self._cached[1] > now:
                return self._cached[0]
            form = urllib.parse.urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._secret.value,
                    "scope": scope,
                }
            ).encode()
            request = urllib.request.Request(
                self._token_url,
                data=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                method="POST",
            )
            try:
                with self._opener.open(request, timeout=HTTP_TIMEOUT_S) as response:
                    answer = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                code = _oauth_error(exc)
                raise UpstreamError(
                    "Teams",
                    f"the token endpoint refused the app's credentials ({code})",
                    status=exc.code,
                ) from None
            except (urllib.error.URLError, TimeoutError, ValueError) as exc:
                raise UpstreamError(
                    "Teams", f"token endpoint unreachable ({type(exc).__name__})"
                ) from None
            token = answer.get("access_token") if isinstance(answer, dict) else None
            if not isinstance(token, str):
                raise UpstreamError("Teams", "the token endpoint answered without an access_token")
            lifetime = float(answer.get("expires_in") or 300)
            # Renew five minutes early (or halfway through a short-lived token).
            self._cached = (token, now + max(lifetime - 300, lifetime / 2))
            return token

    async def __call__(self, scope: str | list[str], tenant_id: str | None = None) -> str:
        """The SDK's token provider: the blocking POST runs off the event loop."""
        wanted = scope[0] if isinstance(scope, list) else scope
        return await asyncio.to_thread(self.token, wanted)


def _oauth_error(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read())
    except ValueError:
        return f"HTTP {exc.code}"
    return (
        str(body.get("error") or f"HTTP {exc.code}")
        if isinstance(body, dict)
        else f"HTTP {exc.code}"
    )
