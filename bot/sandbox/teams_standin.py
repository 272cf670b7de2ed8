"""A loopback stand-in for Microsoft Teams: the Bot Framework side the app talks to, and the
signed activities Teams sends it.

It serves what a bot on Microsoft's Teams SDK reaches over HTTP:
- the OpenID metadata and its JWKS (`/v1/.well-known/openidconfiguration`, `/v1/.well-known/keys`),
  with an RSA key generated when the stand-in is built;
- the client-credentials token endpoint (`/{tenant}/oauth2/v2.0/token`, scope
  `https://api.botframework.com/.default`);
- the Bot Connector under `service_url`: create a conversation, post, reply to and update
  activities, read members, list a team's channels; every call needs a token from the endpoint
  above.

It delivers activities to the app as Teams does: a JSON body with a Bearer JWT (RS256, `iss`
https://api.botframework.com, `aud` the app's client id, `serviceurl` the activity's serviceUrl),
for messages, installs (conversationUpdate with the bot in membersAdded, then installationUpdate
"add"), uninstalls (installationUpdate "remove") and `adaptiveCard/action` invokes; each piece of
the token can be forged for hostile-request tests. After an uninstall, the connector refuses the
bot in that team's conversations with 403 `BotNotInConversationRoster`, as Teams does.

Images in cards are checked as Teams renders them (Adaptive Cards `Image.url`): an https URL, or
a `data:image/png|jpeg|gif;base64,` URI (1.2+) whose bytes are that format, at most 1024×1024
pixels (Teams' limit for pictures in bot messages); and the whole message, images included,
must stay within the 28 KB budget.

Choices where Teams' behaviour is not pinned down by Microsoft's documentation:
- A message (the activity's JSON) larger than 28 KB is refused with 413 `MessageSizeTooBig`, and an
  Adaptive Card above version 1.5 or with an element or action Teams does not render with 400
  `BadArgument`.
- Activity ids are deterministic: "1700000000001", "1700000000002", ...
- Faults answer in the Bot Framework error shape `{"error": {"code", "message"}}`; 429 carries
  Retry-After.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.sandbox.loopback import LoopbackService

__all__ = [
    "BOT_FRAMEWORK_ISSUER",
    "BOT_SCOPE",
    "DEFAULT_TEAMS_USERS",
    "MAX_CARD_VERSION",
    "MAX_MESSAGE_BYTES",
    "ConnectorCall",
    "HttpResult",
    "TeamsConversation",
    "TeamsStandIn",
    "TeamsUser",
    "card_problems",
    "image_problems",
    "render_card",
]

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
BOT_SCOPE = "https://api.botframework.com/.default"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
MAX_MESSAGE_BYTES = 28 * 1024
MAX_IMAGE_PIXELS = 1024  # width and height of a picture in a bot message (Teams' docs)
_DATA_URI = re.compile(r"^data:image/(png|jpeg|gif);base64,([A-Za-z0-9+/]+={0,2})$")
_IMAGE_MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "gif": b"GIF8"}
MAX_CARD_VERSION = (1, 5)
TOKEN_TTL_S = 3600

# Adaptive Cards 1.5 as Teams renders them (elements and actions; Action.Execute is 1.4+).
CARD_ELEMENTS = {
    "TextBlock",
    "RichTextBlock",
    "TextRun",
    "Image",
    "ImageSet",
    "Media",
    "Container",
    "ColumnSet",
    "Column",
    "FactSet",
    "ActionSet",
    "Table",
    "TableRow",
    "TableCell",
    "Input.Text",
    "Input.Number",
    "Input.Date",
    "Input.Time",
    "Input.Toggle",
    "Input.ChoiceSet",
}
CARD_ACTIONS = {
    "Action.Execute",
    "Action.Submit",
    "Action.OpenUrl",
    "Action.ShowCard",
    "Action.ToggleVisibility",
}


@dataclass(frozen=True)
class TeamsUser:
    id: str  # the Bot Framework id Teams gives the person in this app ("29:…")
    aad_object_id: str
    name: str
    email: str
    tenant_id: str
    role: str = "user"  # "user" | "guest" (Teams' userRole)


@dataclass(frozen=True)
class TeamsConversation:
    id: str
    kind: str  # "channel" | "groupChat" | "personal"
    team_id: str | None = None
    team_name: str | None = None
    name: str | None = None


TENANT = "f1a2b3c4-0000-4000-8000-00000000c0de"
OTHER_TENANT = "0e0e0e0e-0000-4000-8000-0000000000ff"

DEFAULT_TEAMS_USERS: tuple[TeamsUser, ...] = (
    TeamsUser(
        "29:1ana", "aaaaaaaa-0000-4000-8000-000000000001", "Ana Lima", "ana@example.com", TENANT
    ),
    TeamsUser(
        "29:1ben", "aaaaaaaa-0000-4000-8000-000000000002", "Ben Ode", "ben@example.com", TENANT
    ),
    TeamsUser(
        "29:1cleo", "aaaaaaaa-0000-4000-8000-000000000003", "Cleo Park", "cleo@example.com", TENANT
    ),
    TeamsUser(
        "29:1gus",
        "aaaaaaaa-0000-4000-8000-000000000004",
        "Gus Guest",
        "gus@partner.example",
        TENANT,
        role="guest",
    ),
    TeamsUser(
        "29:1xena",
        "bbbbbbbb-0000-4000-8000-000000000005",
        "Xena Outside",
        "xena@elsewhere.example",
        OTHER_TENANT,
    ),
)

TEAM_ID = "19:platform-general@thread.tacv2"  # a team's id is its General channel's id
DEFAULT_CONVERSATIONS: tuple[TeamsConversation, ...] = (
    TeamsConversation(TEAM_ID, "channel", TEAM_ID, "Platform", "General"),
    TeamsConversation(
        "19:platform-planning@thread.tacv2", "channel", TEAM_ID, "Platform", "Planning"
    ),
    TeamsConversation("19:leads-chat@thread.v2", "groupChat", name="Leads"),
)


@dataclass
class ConnectorCall:
    method: str
    path: str
    status: int
    body: Any


@dataclass
class HttpResult:
    status: int
    body: str
    headers: dict[str, str]
    elapsed_ms: float

    def json(self) -> Any:
        """Decode the body as JSON."""
        return json.loads(self.body)


@dataclass
class _Fault:
    status: int
    code: str
    method: str | None
    remaining: int
    retry_after: int


@dataclass
class TeamsFaults:
    """Connector faults to inject: each answers the next `count` matching requests."""

    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    CODES = {  # noqa: RUF012 - a constant table, never mutated
        429: "TooManyRequests",
        412: "PreconditionFailed",
        502: "BadGateway",
        504: "GatewayTimeout",
        403: "MessageWritesBlocked",
        500: "InternalServerError",
    }

    def add(
        self, status: int, *, method: str | None = None, count: int = 1, retry_after: int = 1
    ) -> None:
        """Fail the next `count` connector requests (of `method`, e.g. "PUT") with `status`."""
        with self._lock:
            self._faults.append(
                _Fault(status, self.CODES.get(status, "ServiceError"), method, count, retry_after)
            )

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.method in (None, method):
                    fault.remaining -= 1
                    return fault
        return None


class _ConnectorError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _version(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d+(\.\d+)*", value):
        return None
    return tuple(int(p) for p in value.split("."))


def image_problems(url: Any) -> list[str]:
    """What Teams would not show of an Image's url: not https, or a data URI that is not an
    image of its declared format, or larger than 1024×1024 pixels."""
    if not isinstance(url, str):
        return ["an image needs a url"]
    if url.startswith("https://"):
        return []
    found = _DATA_URI.match(url)
    if found is None:
        return ["an image url must be https or a base64 data URI of a PNG, JPEG or GIF"]
    kind, encoded = found.groups()
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        return ["the image's base64 does not decode"]
    if not raw.startswith(_IMAGE_MAGIC[kind]):
        return [f"the image is not a {kind.upper()}"]
    if kind == "png" and len(raw) >= 24:
        width, height = int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
        if width > MAX_IMAGE_PIXELS or height > MAX_IMAGE_PIXELS:
            return [f"the image is {width}×{height}, above 1024×1024 pixels"]
    return []


def card_problems(card: Any) -> list[str]:
    """What Teams would refuse in an Adaptive Card: its version, unknown elements and actions."""
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return ["content is not an AdaptiveCard"]
    problems = []
    version = _version(card.get("version"))
    if version is None:
        problems.append("the card has no valid version")
    elif version > MAX_CARD_VERSION:
        problems.append(f"version {card['version']} is above 1.5, the highest Teams renders")

    def walk(node: Any, pointer: str) -> None:
        if isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{pointer}/{i}")
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if pointer and isinstance(kind, str):
            if kind.startswith("Action."):
                if kind not in CARD_ACTIONS:
                    problems.append(f"{pointer}: action {kind} is not rendered by Teams")
            elif kind not in CARD_ELEMENTS and kind != "AdaptiveCard":
                problems.append(f"{pointer}: element {kind} is not in Adaptive Cards 1.5")
            if kind == "TextBlock" and not isinstance(node.get("text"), str):
                problems.append(f"{pointer}: a TextBlock needs a text")
            if kind == "Image":
                problems.extend(f"{pointer}: {p}" for p in image_problems(node.get("url")))
        for key, value in node.items():
            if key == "msteams" and not pointer:
                continue  # Teams' own card properties (width, mention entities), checked below
            if isinstance(value, (dict, list)):
                walk(value, f"{pointer}/{key}")

    walk(card, "")
    text = json.dumps(card.get("body", []), ensure_ascii=False)
    for entity in (card.get("msteams") or {}).get("entities", []):
        mentioned = entity.get("mentioned") or {}
        if entity.get("type") != "mention" or not mentioned.get("id"):
            problems.append("/msteams/entities: a mention needs a mentioned id")
        elif json.dumps(entity.get("text", ""), ensure_ascii=False)[1:-1] not in text:
            problems.append(f"/msteams/entities: {entity.get('text')} is not in the card's text")
    return problems


def render_card(message: Mapping[str, Any]) -> str:
    """A message as a person reads it: its text, its cards' text blocks, then [buttons]."""
    lines = [str(message["text"])] if message.get("text") else []
    for attachment in message.get("attachments") or []:
        card = attachment.get("content") or {}
        for block in card.get("body", []):
            if block.get("type") == "TextBlock":
                # Markdown escapes and date functions as Teams shows them.
                shown = re.sub(r"\\(.)", r"\1", str(block.get("text", "")))
                shown = re.sub(r"\{\{DATE\((\d{4}-\d\d-\d\d)T[^)]*\)\}\}", r"\1", shown)
                shown = re.sub(r"\{\{TIME\([^T]*T(\d\d:\d\d)[^)]*\)\}\}", r"\1 UTC", shown)
                lines.append(shown)
        buttons = [f"[{a.get('title')}]" for a in card.get("actions", [])]
        if buttons:
            lines.append(" ".join(buttons))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: TeamsStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")

    def do_PUT(self) -> None:
        self.server.owner._handle(self, "PUT")


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: Any,
    headers: Mapping[str, str] | None = None,
) -> None:
    body = b"" if payload is None else json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------------------------------------


@functools.cache
def _signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per process: making one takes ~60 ms, and every sandbox starts a stand-in."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TeamsStandIn(LoopbackService):
    """A Teams tenant on loopback: records what the bot sends, delivers signed activities to it."""

    def __init__(
        self,
        *,
        client_id: str = "c0c0c0c0-0000-4000-8000-00000000b07a",
        client_secret: str = "sandbox-teams-secret",
        tenant_id: str = TENANT,
        bot_name: str = "Copilot",
        users: Sequence[TeamsUser] = DEFAULT_TEAMS_USERS,
        conversations: Sequence[TeamsConversation] = DEFAULT_CONVERSATIONS,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenant_id = tenant_id
        self.bot_name = bot_name
        self.bot_id = f"28:{client_id}"
        self.users: dict[str, TeamsUser] = {u.id: u for u in users}
        self.conversations: dict[str, TeamsConversation] = {c.id: c for c in conversations}
        self.faults = TeamsFaults()
        self.removed: set[str] = set()  # conversations the bot was uninstalled from
        self.calls: list[ConnectorCall] = []
        self.activities: dict[tuple[str, str], dict[str, Any]] = {}  # (conversation, id) -> last
        self.history: list[dict[str, Any]] = []  # every post and update, in order
        self.tokens_issued = 0
        self.key = _signing_key()
        self.kid = uuid.uuid4().hex  # its own: a token of another stand-in names a kid not here
        self._lock = threading.RLock()
        self._ids = itertools.count(1700000000001)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> TeamsStandIn:
        """Start serving on a free loopback port."""
        self._serve(_Server(self), "teams-standin")
        return self

    @property
    def base_url(self) -> str:
        assert self._server is not None, "stand-in not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def service_url(self) -> str:
        """The serviceUrl Teams puts in activities: where the connector lives."""
        return f"{self.base_url}/teams/"

    @property
    def openid_metadata_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/oauth2/v2.0/token"

    def environ(self) -> dict[str, str]:
        """The TEAMS_* settings that point the app at this stand-in."""
        return {
            "TEAMS_CLIENT_ID": self.client_id,
            "TEAMS_CLIENT_SECRET": self.client_secret,
            "TEAMS_TENANT_ID": self.tenant_id,
            "TEAMS_OPENID_METADATA_URL": self.openid_metadata_url,
            "TEAMS_TOKEN_URL": self.token_url,
        }

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def messages_in(self, conversation: str) -> list[dict[str, Any]]:
        """The current version of every activity the bot posted in a conversation (and threads)."""
        with self._lock:
            return [
                a
                for (conv, _), a in self.activities.items()
                if conv.split(";")[0] == conversation.split(";")[0]
            ]

    def calls_to(self, method: str, fragment: str = "") -> list[ConnectorCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method and fragment in c.path]

    # -- serving --------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, verb: str) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        path = parsed.path
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if verb == "GET" and path == "/v1/.well-known/openidconfiguration":
            return _send(handler, 200, self._metadata())
        if verb == "GET" and path == "/v1/.well-known/keys":
            return _send(handler, 200, self.jwks())
        if verb == "POST" and path.endswith("/oauth2/v2.0/token"):
            status, payload = self._token(path, raw)
            return _send(handler, status, payload)
        if path.startswith("/teams/v3/"):
            return self._connector(handler, verb, path[len("/teams") :], raw)
        return _send(handler, 404, {"error": {"code": "NotFound", "message": "no such endpoint"}})

    def _metadata(self) -> dict[str, Any]:
        return {
            "issuer": BOT_FRAMEWORK_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": f"{self.base_url}/v1/.well-known/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "n": _b64(numbers.n),
                    "e": _b64(numbers.e),
                    "endorsements": ["msteams"],
                }
            ]
        }

    def _token(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace")).items()}
        tenant = path.split("/")[1]
        if tenant != self.tenant_id:
            return 400, {"error": "invalid_request", "error_description": "AADSTS90002: Tenant"}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003"}
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
            }
        if form.get("scope") != BOT_SCOPE:
            return 400, {"error": "invalid_scope", "error_description": "AADSTS70011"}
        now = int(time.time())
        claims = {
            "aud": BOT_FRAMEWORK_ISSUER,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "appid": self.client_id,
            "tid": self.tenant_id,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_TTL_S,
        }
        with self._lock:
            self.tokens_issued += 1
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        return 200, {
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_S,
            "ext_expires_in": TOKEN_TTL_S,
            "access_token": token,
        }

    def _bot_token_ok(self, header: str) -> bool:
        if not header.startswith("Bearer "):
            return False
        try:
            claims = jwt.decode(
                header.removeprefix("Bearer "),
                self.key.public_key(),
                algorithms=["RS256"],
                audience=BOT_FRAMEWORK_ISSUER,
            )
        except jwt.InvalidTokenError:
            return False
        return claims.get("appid") == self.client_id

    def _connector(self, handler: BaseHTTPRequestHandler, verb: str, path: str, raw: bytes) -> None:
        body: Any = None
        try:
            if not self._bot_token_ok(handler.headers.get("Authorization", "")):
                raise _ConnectorError(401, "Unauthorized", "Authorization has been denied")
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise _ConnectorError(400, "BadSyntax", "body is not JSON") from None
            fault = self.faults.take(verb)
            if fault is not None:
                headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
                self._record(verb, path, fault.status, body)
                return _send(
                    handler,
                    fault.status,
                    {"error": {"code": fault.code, "message": f"injected {fault.status}"}},
                    headers,
                )
            status, payload = self._route(verb, path, body, len(raw))
        except _ConnectorError as exc:
            self._record(verb, path, exc.status, body)
            return _send(handler, exc.status, {"error": {"code": exc.code, "message": exc.message}})
        self._record(verb, path, status, body)
        return _send(handler, status, payload)

    def _record(self, verb: str, path: str, status: int, body: Any) -> None:
        with self._lock:
            self.calls.append(ConnectorCall(verb, path, status, body))

    def _route(self, verb: str, path: str, body: Any, size: int) -> tuple[int, Any]:
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] == ["v3", "teams"] and verb == "GET" and len(parts) in (3, 4):
            return self._team(parts[2], channels=len(parts) == 4 and parts[3] == "conversations")
        # v3 / conversations [/ {id} [/ activities [/ {activityId}] | members [/ {memberId}]]]
        if parts[:2] != ["v3", "conversations"]:
            raise _ConnectorError(404, "NotFound", "no such endpoint")
        rest = parts[2:]
        if verb == "POST" and not rest:
            return self._create_conversation(body, size)
        if not rest:
            raise _ConnectorError(405, "MethodNotAllowed", "method not allowed")
        conversation = rest[0]
        if not self._known(conversation):
            raise _ConnectorError(404, "ConversationNotFound", "Conversation not found.")
        if conversation.split(";")[0] in self.removed:
            raise _ConnectorError(
                403, "BotNotInConversationRoster", "The bot is not part of the conversation roster."
            )
        tail = rest[1:]
        if tail[:1] == ["activities"]:
            if verb == "POST" and len(tail) in (1, 2):
                return 201, {"id": self._post(conversation, body, size)}
            if verb == "PUT" and len(tail) == 2:
                return 200, {"id": self._update(conversation, tail[1], body, size)}
        if tail[:1] == ["members"] and verb == "GET":
            members = self._members(conversation)
            if len(tail) == 1:
                return 200, members
            for member in members:
                if tail[1] in (member["id"], member["aadObjectId"]):
                    return 200, member
            raise _ConnectorError(404, "MemberNotFound", "The member is not in the conversation")
        if tail == ["pagedmembers"] and verb == "GET":
            return 200, {"members": self._members(conversation), "continuationToken": None}
        raise _ConnectorError(404, "NotFound", "no such endpoint")

    def _team(self, team_id: str, *, channels: bool) -> tuple[int, Any]:
        """GET /v3/teams/{id}[/conversations]: a team the bot is in, and its channels (the
        General channel, whose id is the team's, comes without a name, as in Teams)."""
        members = [c for c in self.conversations.values() if c.team_id == team_id]
        if not members or team_id in self.removed:
            raise _ConnectorError(404, "NotFound", "Team not found or the bot is not in it.")
        if not channels:
            return 200, {"id": team_id, "name": members[0].team_name, "aadGroupId": team_id}
        listed = [{"id": c.id} | ({"name": c.name} if c.id != team_id else {}) for c in members]
        return 200, {"conversations": listed}

    def _known(self, conversation: str) -> bool:
        return conversation.split(";")[0] in self.conversations

    def _members(self, conversation: str) -> list[dict[str, Any]]:
        conv = self.conversations[conversation.split(";")[0]]
        people = [u for u in self.users.values() if u.tenant_id == self.tenant_id]
        if conv.kind == "personal" and conv.name:
            people = [u for u in people if u.id == conv.name]
        return [self.account(u) | {"userRole": u.role} for u in people]

    def account(self, user: TeamsUser) -> dict[str, Any]:
        """A person as the connector describes them (TeamsChannelAccount)."""
        return {
            "id": user.id,
            "name": user.name,
            "aadObjectId": user.aad_object_id,
            "email": user.email,
            "userPrincipalName": user.email,
            "tenantId": user.tenant_id,
        }

    def _check_message(self, activity: Any, size: int) -> dict[str, Any]:
        if not isinstance(activity, dict) or activity.get("type") not in ("message", "typing"):
            raise _ConnectorError(400, "BadArgument", "activity type must be message")
        if size > MAX_MESSAGE_BYTES:
            raise _ConnectorError(413, "MessageSizeTooBig", "Message size too big")
        attachments = activity.get("attachments") or []
        if activity["type"] == "message" and not (activity.get("text") or attachments):
            raise _ConnectorError(400, "BadArgument", "a message needs a text or an attachment")
        for attachment in attachments:
            if attachment.get("contentType") == ADAPTIVE_CARD:
                problems = card_problems(attachment.get("content"))
                if problems:
                    raise _ConnectorError(400, "BadArgument", "; ".join(problems))
        return activity

    def _create_conversation(self, body: Any, size: int) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _ConnectorError(400, "BadArgument", "body must be a ConversationParameters")
        channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
        members = body.get("members") or []
        if channel:  # a new thread in a team's channel
            if channel not in self.conversations:
                raise _ConnectorError(404, "ConversationNotFound", "Channel not found.")
            activity = self._check_message(body.get("activity"), size)
            activity_id = self._store(channel, activity)
            conv_id = f"{channel};messageid={activity_id}"
            return 201, {"id": conv_id, "activityId": activity_id, "serviceUrl": self.service_url}
        if len(members) != 1 or members[0].get("id") not in self.users:
            raise _ConnectorError(400, "BadArgument", "one known member is needed for a 1:1 chat")
        user = self.users[members[0]["id"]]
        if user.tenant_id != (body.get("tenantId") or self.tenant_id):
            raise _ConnectorError(403, "Forbidden", "The bot is not installed for this user")
        conv_id = f"a:personal-{user.id.split(':', 1)[1]}"
        with self._lock:
            self.conversations.setdefault(
                conv_id, TeamsConversation(conv_id, "personal", name=user.id)
            )
        result: dict[str, Any] = {"id": conv_id, "serviceUrl": self.service_url}
        if body.get("activity"):
            result["activityId"] = self._store(conv_id, self._check_message(body["activity"], size))
        return 201, result

    def _store(self, conversation: str, activity: dict[str, Any], activity_id: str = "") -> str:
        with self._lock:
            activity_id = activity_id or str(next(self._ids))
            stored = dict(activity) | {"id": activity_id, "conversation": {"id": conversation}}
            self.activities[(conversation, activity_id)] = stored
            self.history.append(stored)
        return activity_id

    def _post(self, conversation: str, body: Any, size: int) -> str:
        return self._store(conversation, self._check_message(body, size))

    def _update(self, conversation: str, activity_id: str, body: Any, size: int) -> str:
        with self._lock:
            if (conversation, activity_id) not in self.activities:
                raise _ConnectorError(404, "ActivityNotFound", "Activity not found.")
        return self._store(conversation, self._check_message(body, size), activity_id)

    # -- activities to the app ------------------------------------------------------------------

    def token_for_app(
        self,
        *,
        service_url: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        """A Bot Framework token for an activity; any claim can be overridden or removed (None)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": BOT_FRAMEWORK_ISSUER,
            "aud": self.client_id,
            "serviceurl": service_url or self.service_url,
            "nbf": now - 5,
            "iat": now - 5,
            "exp": now + 3600,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def post_raw(
        self, app_url: str, body: bytes, headers: Mapping[str, str], timeout: float = 15
    ) -> HttpResult:
        """POST `body` to the app exactly as given: for hostile-request tests."""
        request = urllib.request.Request(app_url, data=body, headers=dict(headers), method="POST")
        started = time.perf_counter()
        try:
            with _no_proxy_opener().open(request, timeout=timeout) as resp:
                status, raw, resp_headers = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            status, raw, resp_headers = exc.code, exc.read(), exc.headers
        return HttpResult(
            status=status,
            body=raw.decode("utf-8", errors="replace"),
            headers={k.lower(): v for k, v in resp_headers.items()},
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def deliver(
        self, app_url: str, activity: Mapping[str, Any], *, token: str | None = None
    ) -> HttpResult:
        """Send an activity to the app with a valid token for its serviceUrl (or `token`)."""
        token = token or self.token_for_app(service_url=activity.get("serviceUrl"))
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        return self.post_raw(app_url, json.dumps(activity).encode(), headers)

    def activity(self, kind: str, *, user: str, conversation: str, **fields: Any) -> dict[str, Any]:
        """An activity as Teams shapes it, from `user` in `conversation`."""
        person = self.users[user]
        conv = self.conversations[conversation.split(";")[0]]
        channel_data: dict[str, Any] = {"tenant": {"id": person.tenant_id}}
        if conv.kind == "channel":
            channel_data |= {
                "team": {"id": conv.team_id, "name": conv.team_name},
                "channel": {"id": conv.id, "name": conv.name},
            }
        return {
            "type": kind,
            "id": f"f:{uuid.uuid4().hex[:12]}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {"id": person.id, "name": person.name, "aadObjectId": person.aad_object_id},
            "conversation": {
                "id": conversation,
                "conversationType": conv.kind,
                "tenantId": person.tenant_id,
                "isGroup": conv.kind != "personal",
            },
            "recipient": {"id": self.bot_id, "name": self.bot_name},
            "channelData": channel_data,
            "locale": "en-US",
        } | fields

    def personal_chat(self, user: str) -> str:
        """The 1:1 chat of a person with the bot (created as Teams does at install)."""
        conv_id = f"a:personal-{user.split(':', 1)[1]}"
        with self._lock:
            self.conversations.setdefault(
                conv_id, TeamsConversation(conv_id, "personal", name=user)
            )
        return conv_id

    def message(
        self, app_url: str, text: str, *, user: str, conversation: str, mention: bool = True
    ) -> HttpResult:
        """A person writes to the bot; in a channel or group chat, with an @mention of it."""
        conv = self.conversations[conversation.split(";")[0]]
        fields: dict[str, Any] = {"text": text, "textFormat": "plain"}
        if mention and conv.kind != "personal":
            tag = f"<at>{self.bot_name}</at>"
            fields["text"] = f"{tag} {text}"
            fields["entities"] = [
                {
                    "type": "mention",
                    "text": tag,
                    "mentioned": {"id": self.bot_id, "name": self.bot_name},
                }
            ]
        return self.deliver(
            app_url, self.activity("message", user=user, conversation=conversation, **fields)
        )

    def install(self, app_url: str, *, user: str, conversation: str) -> HttpResult:
        """The bot is added to a team, group chat or personal scope: Teams sends a
        conversationUpdate (the bot in membersAdded) and an installationUpdate "add"; the answer
        to the latter is returned."""
        with self._lock:
            self._removed(conversation, removed=False)
        self.deliver(
            app_url,
            self.activity(
                "conversationUpdate",
                user=user,
                conversation=conversation,
                membersAdded=[{"id": self.bot_id}],
            ),
        )
        return self.installation_update(app_url, "add", user=user, conversation=conversation)

    def uninstall(self, app_url: str, *, user: str, conversation: str) -> HttpResult:
        """The bot is removed: installationUpdate "remove"; from then on the connector refuses
        it in that team's (or chat's) conversations."""
        result = self.installation_update(app_url, "remove", user=user, conversation=conversation)
        with self._lock:
            self._removed(conversation, removed=True)
        return result

    def installation_update(
        self, app_url: str, action: str, *, user: str, conversation: str
    ) -> HttpResult:
        """An installationUpdate as Teams shapes it (channelData.settings names the channel
        picked at install)."""
        activity = self.activity(
            "installationUpdate", user=user, conversation=conversation, action=action
        )
        conv = self.conversations[conversation.split(";")[0]]
        if conv.kind == "channel":
            activity["channelData"]["settings"] = {"selectedChannel": {"id": conv.id}}
        return self.deliver(app_url, activity)

    def _removed(self, conversation: str, *, removed: bool) -> None:
        conv = self.conversations[conversation.split(";")[0]]
        ids = {
            c.id for c in self.conversations.values() if conv.team_id and c.team_id == conv.team_id
        } | {conv.id}
        if conv.team_id:
            ids.add(conv.team_id)
        if removed:
            self.removed |= ids
        else:
            self.removed -= ids

    def invoke(
        self,
        app_url: str,
        *,
        user: str,
        conversation: str,
        reply_to: str,
        verb: str,
        data: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> HttpResult:
        """A person presses an Action.Execute button of the card in activity `reply_to`.

        `inputs`: the values of the card's inputs (by id); Teams merges them into the action's
        data, as it does for Universal Actions."""
        value = {
            "action": {
                "type": "Action.Execute",
                "verb": verb,
                "data": dict(data or {}) | dict(inputs or {}),
            },
            "trigger": "manual",
        }
        return self.deliver(
            app_url,
            self.activity(
                "invoke",
                user=user,
                conversation=conversation,
                name="adaptiveCard/action",
                value=value,
                replyToId=reply_to,
            ),
        )
