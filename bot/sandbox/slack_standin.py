"""A loopback stand-in for Slack: the Web API the bot calls and the signed requests Slack sends it.

The real `slack_sdk.WebClient(base_url=stand_in.api_url)` works against it unchanged, and the
requests it delivers (slash commands, button clicks, App Home opens, modal submissions) are signed
and shaped like Slack's so the real Bolt app accepts them.

Choices where Slack's behaviour is not fully pinned down (see also the README of the sandbox):
- Channels: only the ids given in `channels` (or "#name", where a "C0TEAM" id is named "team"),
  any DM id starting with "D", and user ids (a post to a user id goes to that user's DM channel
  "D" + user id[1:], as Slack opens a DM). Anything else is `channel_not_found`. The ids in
  `channels` are public channels the bot was invited to; `conversations` adds channels with their
  kind and membership (see `SlackChannel`), and an unregistered "D" id is the bot's own DM.
- Membership (Slack's documented rules): chat.postMessage into a public channel the bot is not
  in needs `chat:write.public` (else `not_in_channel`); a private channel, DM or group DM without
  the bot answers `channel_not_found`; an archived one `is_archived`. chat.postEphemeral follows
  the same rules here (the reference does not pin that down). File shares
  (files.completeUploadExternal) need the bot in the channel whatever the scopes.
  conversations.join (scope `channels:join`) joins public channels only; a private channel
  answers `method_not_supported_for_channel_type` (or `channel_not_found` when the bot cannot
  see it), a DM or group DM `method_not_supported_for_channel_type`.
- Surfaces: elements and blocks a surface does not allow (number_input outside modals, ...) are
  refused like other invalid blocks.
- Timestamps are deterministic: "1763800000.000100", "1763800000.000200", ...
- A trigger_id is valid for 3 seconds after the request that carried it (Slack's rule).
- A response_url accepts 5 posts within 30 minutes; later posts get HTTP 404 `used_url`.
- `chat.update` without `blocks` keeps the message's blocks (Slack's documented behaviour); an
  empty list removes them.
- HTTP 500 faults answer `{"ok": false, "error": "internal_error"}` with status 500; "error"
  faults answer any error code (`code=`, e.g. `fatal_error`, `restricted_action`) with HTTP 200,
  as Slack answers most of its errors.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.sandbox.loopback import LoopbackService

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "DEFAULT_SCOPES",
    "DEFAULT_USERS",
    "ApiCall",
    "HttpResult",
    "SlackChannel",
    "SlackFaults",
    "SlackStandIn",
    "SlackUser",
    "pings",
    "render_message",
]

BOT_USER_ID = "U0COPILOT"
BOT_ID = "B0COPILOT"
APP_ID = "A0COPILOT"
TEAM_DOMAIN = "sandbox"

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID_LENGTH = 255
MAX_MESSAGE_TEXT = 40000
TRIGGER_TTL_S = 3.0
RESPONSE_URL_MAX_POSTS = 5
RESPONSE_URL_TTL_S = 30 * 60


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str
    email: str | None = None
    real_name: str = ""
    # Access (issue 10): guests are restricted (multi-channel) or ultra-restricted (single-
    # channel); a Slack Connect member's team_id is their own company's, not the installed one.
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    is_admin: bool = False
    is_owner: bool = False
    team_id: str | None = None  # None: the stand-in's own team
    enterprise_id: str | None = None  # None: the stand-in's enterprise (if any)


DEFAULT_USERS: tuple[SlackUser, ...] = (
    SlackUser("U0ALICE", "alice", "alice@example.com", "Alice Adams"),
    SlackUser("U0BOB", "bob", "bob@example.com", "Bob Brown"),
    SlackUser("U0CAROL", "carol", "carol@example.com", "Carol Chen"),
    SlackUser("U0DAVE", "dave", None, "Dave Doe"),
)


@dataclass
class SlackChannel:
    """A conversation and whether the bot is in it (kind: public | private | im | mpim)."""

    id: str
    kind: str = "public"
    bot_member: bool = True
    archived: bool = False
    name: str = ""


# The bot scopes the manifest grants (manifest.yml); a method needing another answers
# `missing_scope`.
DEFAULT_SCOPES: frozenset[str] = frozenset(
    {
        "commands",
        "chat:write",
        "chat:write.public",
        "channels:join",
        "users:read",
        "users:read.email",
        "files:write",
        "im:write",
    }
)


@dataclass
class ApiCall:
    method: str
    args: dict
    ok: bool
    error: str | None


@dataclass
class HttpResult:
    status: int
    body: str
    headers: dict
    elapsed_ms: float

    def json(self) -> Any:
        """Decode the body as JSON."""
        return json.loads(self.body)


class _SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Fault:
    kind: str
    method: str | None
    remaining: int
    retry_after: int
    code: str = "internal_error"


class SlackFaults:
    """Planned failures of Web API calls: `add("429", method="chat.postMessage", times=1)`.

    `add("error", code="fatal_error")` answers that error code with HTTP 200.
    """

    KINDS = ("429", "500", "error")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(
        self,
        kind: str,
        *,
        method: str | None = None,
        times: int = 1,
        retry_after: int = 1,
        code: str = "internal_error",
    ) -> None:
        """Fail the next `times` calls (to `method`, or to any method when None) with `kind`."""
        if kind not in self.KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {self.KINDS}")
        with self._lock:
            self._faults.append(_Fault(kind, method, times, retry_after, code))

    def clear(self) -> None:
        """Drop every planned fault."""
        with self._lock:
            self._faults.clear()

    def take(self, method: str) -> _Fault | None:
        """Consume and return the first fault that applies to `method`, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.method in (None, method):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None


# ---------------------------------------------------------------------------------------------
# Block Kit validation (the limits Slack enforces and a bot is likely to hit)


def _text_errors(obj: Any, pointer: str, *, max_len: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"must be a text object [json-pointer:{pointer}]"]
    if plain_only and obj["type"] != "plain_text":
        return [f"must be a plain_text object [json-pointer:{pointer}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(text) > max_len:
        return [f"must be less than {max_len + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _element_errors(el: Any, pointer: str) -> list[str]:
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        return [f"must provide an object with a type [json-pointer:{pointer}]"]
    errors: list[str] = []
    action_id = el.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > MAX_ID_LENGTH):
        errors.append(
            f"must be less than {MAX_ID_LENGTH + 1} characters [json-pointer:{pointer}/action_id]"
        )
    if el["type"] == "button":
        errors += _text_errors(
            el.get("text"), f"{pointer}/text", max_len=MAX_BUTTON_TEXT, plain_only=True
        )
        value = el.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
            limit = MAX_BUTTON_VALUE + 1
            errors.append(f"must be less than {limit} characters [json-pointer:{pointer}/value]")
        if el.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be one of primary, danger [json-pointer:{pointer}/style]")
        url = el.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > 3000):
            errors.append(f"must be less than 3001 characters [json-pointer:{pointer}/url]")
    return errors


_BLOCK_TYPES = {
    "section",
    "header",
    "divider",
    "context",
    "actions",
    "image",
    "input",
    "rich_text",
    "file",
    "video",
    "markdown",
    "context_actions",
    "table",
}


# Block Kit reference, "Available in surfaces": the few elements and blocks not allowed
# everywhere (number_input: "Modals"; file_input: "Modals"; the file block: "Messages").
# Surfaces: "message", "modal", "home".
SURFACE_ELEMENTS: dict[str, frozenset[str]] = {
    "number_input": frozenset({"modal"}),
    "file_input": frozenset({"modal"}),
}
SURFACE_BLOCKS: dict[str, frozenset[str]] = {
    "file": frozenset({"message"}),
}


def surface_errors(blocks: Any, surface: str, *, root: str = "") -> list[str]:
    """Errors for the blocks and elements `surface` does not allow."""
    if not isinstance(blocks, list):
        return []
    errors: list[str] = []

    def element(el: Any, pointer: str) -> None:
        kind = el.get("type") if isinstance(el, dict) else None
        allowed = SURFACE_ELEMENTS.get(kind) if isinstance(kind, str) else None
        if allowed is not None and surface not in allowed:
            where = ", ".join(sorted(allowed))
            errors.append(
                f"{kind} is not supported in a {surface} surface (only: {where}) "
                f"[json-pointer:{pointer}/type]"
            )

    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        p = f"{root}/blocks/{i}"
        allowed = SURFACE_BLOCKS.get(block.get("type"))  # type: ignore[arg-type]
        if allowed is not None and surface not in allowed:
            errors.append(
                f"{block['type']} blocks are not supported in a {surface} surface "
                f"[json-pointer:{p}/type]"
            )
        if "accessory" in block:
            element(block["accessory"], f"{p}/accessory")
        if "element" in block:
            element(block["element"], f"{p}/element")
        for j, el in enumerate(block.get("elements") or []):
            element(el, f"{p}/elements/{j}")
    return errors


def validate_blocks(
    blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, surface: str = "message"
) -> list[str]:
    """Return Slack-style error strings for `blocks` (empty when Slack would accept them)."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    if len(blocks) > max_blocks:
        return [f"no more than {max_blocks} items allowed [json-pointer:/blocks]"]
    errors: list[str] = []
    seen_block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        p = f"/blocks/{i}"
        if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
            errors.append(f"must provide a valid block type [json-pointer:{p}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_ID_LENGTH:
                errors.append(f"must be less than 256 characters [json-pointer:{p}/block_id]")
            elif block_id in seen_block_ids:
                errors.append(f"duplicate block_id {block_id!r} [json-pointer:{p}/block_id]")
            else:
                seen_block_ids.add(block_id)
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields [json-pointer:{p}]")
            if "text" in block:
                errors += _text_errors(block["text"], f"{p}/text", max_len=MAX_SECTION_TEXT)
            fields = block.get("fields")
            if fields is not None:
                if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                    errors.append(f"must provide 1 to 10 items [json-pointer:{p}/fields]")
                else:
                    for j, f in enumerate(fields):
                        errors += _text_errors(f, f"{p}/fields/{j}", max_len=MAX_FIELD_TEXT)
            if "accessory" in block:
                errors += _element_errors(block["accessory"], f"{p}/accessory")
        elif kind == "header":
            errors += _text_errors(
                block.get("text"), f"{p}/text", max_len=MAX_HEADER_TEXT, plain_only=True
            )
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                errors.append(f"must provide 1 to 10 items [json-pointer:{p}/elements]")
            else:
                for j, el in enumerate(elements):
                    if isinstance(el, dict) and el.get("type") == "image":
                        continue
                    errors += _text_errors(el, f"{p}/elements/{j}", max_len=MAX_SECTION_TEXT)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                errors.append(f"must provide 1 to 25 items [json-pointer:{p}/elements]")
            else:
                for j, el in enumerate(elements):
                    errors += _element_errors(el, f"{p}/elements/{j}")
        elif kind == "input":
            errors += _text_errors(block.get("label"), f"{p}/label", max_len=2000, plain_only=True)
            errors += _element_errors(block.get("element"), f"{p}/element")
    return errors + surface_errors(blocks, surface)


def _view_errors(view: Any, *, expect: tuple[str, ...]) -> list[str]:
    if not isinstance(view, dict):
        return ["must be an object [json-pointer:/view]"]
    if view.get("type") not in expect:
        return [f"must be one of {', '.join(expect)} [json-pointer:/view/type]"]
    errors = validate_blocks(
        view.get("blocks", []), max_blocks=MAX_VIEW_BLOCKS, surface=view["type"]
    )
    if view["type"] == "modal":
        errors += _text_errors(view.get("title"), "/view/title", max_len=24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                errors += _text_errors(view[key], f"/view/{key}", max_len=24, plain_only=True)
    meta = view.get("private_metadata")
    if meta is not None and (not isinstance(meta, str) or len(meta) > 3000):
        errors.append("must be less than 3001 characters [json-pointer:/view/private_metadata]")
    callback_id = view.get("callback_id")
    if callback_id is not None and (
        not isinstance(callback_id, str) or len(callback_id) > MAX_ID_LENGTH
    ):
        errors.append("must be less than 256 characters [json-pointer:/view/callback_id]")
    return errors


def _with_block_ids(blocks: list[dict], seed: str) -> list[dict]:
    """Give blocks without a block_id a generated one, as Slack does when it stores a message."""
    out = []
    for i, block in enumerate(blocks):
        block = dict(block)
        if "block_id" not in block:
            block["block_id"] = hashlib.sha1(f"{seed}:{i}".encode()).hexdigest()[:5]
        out.append(block)
    return out


# ---------------------------------------------------------------------------------------------
# What a person sees, and what would ping them

_ENTITY = re.compile(r"<([^<>]*)>")


def _iter_text_objects(message: Mapping[str, Any]) -> Iterator[dict]:
    def walk(node: Any) -> Iterator[dict]:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                yield node
                return
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    yield from walk(message.get("blocks") or [])
    for att in message.get("attachments") or []:
        for key in ("pretext", "text", "fallback", "title"):
            if isinstance(att.get(key), str):
                yield {"type": "mrkdwn", "text": att[key]}
        yield from walk(att.get("blocks") or [])


def pings(text_or_message: str | Mapping[str, Any]) -> list[str]:
    """List the control sequences in posted text that Slack would turn into notifications or links.

    Counts `<!channel>`, `<!here>`, `<!everyone>`, `<@U…>`, `<!subteam^…>` and links `<http…>`
    (with or without a `|label`), found in the raw text of the message's `text` and of every
    mrkdwn text object. plain_text objects are shown literally by Slack and do not count, nor does
    escaped text such as `&lt;!channel&gt;`.
    """
    if isinstance(text_or_message, str):
        raws = [text_or_message]
    else:
        raws = []
        if isinstance(text_or_message.get("text"), str):
            raws.append(text_or_message["text"])
        raws += [
            obj["text"] for obj in _iter_text_objects(text_or_message) if obj["type"] == "mrkdwn"
        ]
    found: list[str] = []
    for raw in raws:
        for match in _ENTITY.finditer(raw):
            inner = match.group(1)
            head = inner.split("|", 1)[0]
            if (
                head in ("!channel", "!here", "!everyone")
                or head.startswith("!subteam^")
                or re.fullmatch(r"@[UW][A-Z0-9]+", head)
                or head.startswith(("http://", "https://"))
            ):
                found.append(match.group(0))
    return found


def _user_names(users: Sequence[SlackUser] | Mapping[str, str] | None) -> dict[str, str]:
    if users is None:
        users = DEFAULT_USERS
    if isinstance(users, Mapping):
        return dict(users)
    return {u.id: u.name for u in users} | {BOT_USER_ID: "copilot"}


def _mrkdwn_to_plain(text: str, names: Mapping[str, str]) -> str:
    def entity(match: re.Match[str]) -> str:
        inner = match.group(1)
        head, _, label = inner.partition("|")
        if head.startswith("@"):
            return "@" + (label or names.get(head[1:], head[1:]))
        if head.startswith("#"):
            return "#" + (label or head[1:])
        if head.startswith("!subteam^"):
            return label or "@" + head.split("^", 1)[1]
        if head.startswith("!date^"):
            return label
        if head.startswith("!"):
            return "@" + head[1:]
        return f"{label} ({head})" if label else head

    return html.unescape(_ENTITY.sub(entity, text)) if "&" in text or "<" in text else text


def _text(obj: Any, names: Mapping[str, str]) -> str:
    if not isinstance(obj, dict):
        return ""
    text = obj.get("text", "")
    if obj.get("type") == "mrkdwn":
        return _mrkdwn_to_plain(text, names)
    return text


def _element_label(el: Mapping[str, Any], names: Mapping[str, str]) -> str:
    kind = el.get("type")
    if kind == "button":
        return f"[{_text(el.get('text'), names)}]"
    if kind == "image":
        return f"[image: {el.get('alt_text', '')}]"
    if kind == "overflow":
        return "[…]"
    if "placeholder" in el:
        return f"[{_text(el['placeholder'], names)} ▾]"
    return f"[{kind}]"


def _rich_text(node: Any, names: Mapping[str, str]) -> str:
    if isinstance(node, list):
        return "".join(_rich_text(n, names) for n in node)
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        return node.get("text", "")
    if kind == "link":
        url = node.get("url", "")
        return f"{node['text']} ({url})" if node.get("text") else url
    if kind == "user":
        return "@" + names.get(node.get("user_id", ""), node.get("user_id", ""))
    if kind == "broadcast":
        return "@" + node.get("range", "")
    if kind == "emoji":
        return f":{node.get('name', '')}:"
    return _rich_text(node.get("elements", []), names)


def _find_button(
    surface: dict[str, Any], action_id: str, value: str, block_id: str | None, *, where: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The block and button a person would click, or LookupError listing the buttons there are."""
    available = []
    for block in surface.get("blocks", []):
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for el in elements:
            if el.get("type") != "button":
                continue
            available.append((block["block_id"], el.get("action_id"), el.get("value")))
            if (
                el.get("action_id") == action_id
                and (not value or el.get("value") == value)
                and (block_id is None or block["block_id"] == block_id)
            ):
                return block, el
    raise LookupError(f"no {where} {action_id!r} (value {value!r}); buttons: {available}")


def render_message(
    message: Mapping[str, Any], *, users: Sequence[SlackUser] | Mapping[str, str] | None = None
) -> str:
    """Render a message (or view) as plain text, roughly as a person reads it in Slack.

    Headers, section text and fields, context, dividers ("---"), actions as `[Approve] [Reject]`;
    mrkdwn entities shown human-style: `<url|label>` → `label (url)`, `<@U1>` → `@name` (names from
    `users`, default DEFAULT_USERS), `<!channel>` → `@channel`, and `&lt; &gt; &amp;` unescaped.
    """
    names = _user_names(users)
    blocks = message.get("blocks") or []
    if not blocks:
        return _mrkdwn_to_plain(message.get("text") or "", names)
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(_text(block.get("text"), names))
        elif kind == "section":
            first = _text(block.get("text"), names) if "text" in block else ""
            if "accessory" in block:
                first = f"{first} {_element_label(block['accessory'], names)}".strip()
            if first:
                lines.append(first)
            lines += [_text(f, names) for f in block.get("fields") or []]
        elif kind == "context":
            parts = [
                f"[image: {el.get('alt_text', '')}]"
                if el.get("type") == "image"
                else _text(el, names)
                for el in block.get("elements") or []
            ]
            lines.append("  ".join(parts))
        elif kind == "divider":
            lines.append("---")
        elif kind in ("actions", "context_actions"):
            lines.append(" ".join(_element_label(el, names) for el in block.get("elements") or []))
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "input":
            label = _text(block.get("label"), names)
            lines.append(f"{label}: {_element_label(block.get('element') or {}, names)}")
        elif kind == "rich_text":
            lines.append(_rich_text(block.get("elements", []), names))
        elif kind == "markdown":
            lines.append(block.get("text", ""))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The real services accept bursts; socketserver's default backlog of 5 would make the
    # sixth concurrent connection wait a 1 s SYN retry and show up as the app's latency.
    request_queue_size = 128

    def __init__(self, owner: Any, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.owner = owner


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                break
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str = "application/json; charset=utf-8",
    headers: Mapping[str, str] | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")


def _parse_args(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    args: dict[str, Any] = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
    ctype = content_type.split(";")[0].strip().lower()
    if not body:
        return args
    if ctype == "application/json":
        data = json.loads(body.decode("utf-8"))
        if not isinstance(data, dict):
            raise _SlackError("invalid_json")
        args.update(data)
    elif ctype == "multipart/form-data":
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                args[name] = payload
            else:
                args[name] = payload.decode("utf-8")
    else:
        parsed = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        args.update({k: v[-1] for k, v in parsed.items()})
    return args


_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")


def _decode_json_fields(args: dict[str, Any]) -> None:
    for key in _JSON_FIELDS:
        value = args.get(key)
        if isinstance(value, str):
            try:
                args[key] = json.loads(value) if value else []
            except json.JSONDecodeError as exc:
                error = "invalid_blocks_format" if key == "blocks" else "invalid_arguments"
                raise _SlackError(error) from exc


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true"))


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------------------------------------


class SlackStandIn(LoopbackService):
    """A Slack workspace on loopback: records Web API calls, delivers signed requests to the app."""

    def __init__(
        self,
        *,
        signing_secret: str,
        bot_token: str = "xoxb-sandbox-token",
        team_id: str = "T0SANDBOX",
        users: Sequence[SlackUser] = DEFAULT_USERS,
        channels: Sequence[str] = ("C0TEAM",),
        conversations: Sequence[SlackChannel] = (),
        scopes: frozenset[str] = DEFAULT_SCOPES,
        enterprise_id: str | None = None,
        is_enterprise_install: bool = False,
    ) -> None:
        self._lock = threading.RLock()
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.team_id = team_id
        self.enterprise_id = enterprise_id  # set: the workspace belongs to an Enterprise Grid org
        self.is_enterprise_install = is_enterprise_install  # installed org-wide
        self.users: dict[str, SlackUser] = {u.id: u for u in users}
        self.channels: tuple[str, ...] = tuple(channels)
        self.conversations: dict[str, SlackChannel] = {c: SlackChannel(c) for c in channels}
        self.scopes = frozenset(scopes)
        for conversation in conversations:
            self.add_conversation(conversation)
        self.faults = SlackFaults()
        self.calls: list[ApiCall] = []
        self.messages: dict[tuple[str, str], dict] = {}
        self.ephemerals: list[dict] = []
        self.response_posts: list[dict] = []
        self.home_views: dict[str, dict] = {}
        self.views: dict[str, dict] = {}
        self.files: dict[str, dict] = {}
        self.file_shares: list[dict] = []
        self._ts_counter = itertools.count(1)
        self._id_counter = itertools.count(1)
        self._triggers: dict[str, float] = {}
        self._response_urls: dict[str, dict] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> SlackStandIn:
        """Start serving on a free loopback port."""
        self._serve(_Server(self, _Handler), "slack-standin")
        return self

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackStandIn is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # -- inspection -----------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        """Return the recorded calls to one Web API method, in order."""
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def channel_messages(self, channel: str) -> list[dict]:
        """Return the messages of a channel as they now stand, oldest first."""
        with self._lock:
            found = [m for (ch, _), m in self.messages.items() if ch == channel]
        return sorted(found, key=lambda m: float(m["ts"]))

    def render(self, message: Mapping[str, Any]) -> str:
        """Render a message with this workspace's user names."""
        return render_message(message, users=list(self.users.values()))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Poll `predicate` until it is true or `timeout` seconds pass; return its last value."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    # -- ids ------------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        n = next(self._ts_counter) * 100
        return f"{1763800000 + n // 1_000_000}.{n % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._id_counter):08d}"

    def _new_trigger(self) -> str:
        n = next(self._id_counter)
        trigger = f"{1763800000 + n}.{self.team_id[1:]}.{hashlib.md5(str(n).encode()).hexdigest()}"
        with self._lock:
            self._triggers[trigger] = time.monotonic()
        return trigger

    def _new_response_url(self, **target: Any) -> str:
        url_id = hashlib.sha1(f"resp:{next(self._id_counter)}".encode()).hexdigest()[:24]
        with self._lock:
            self._response_urls[url_id] = {
                **target,
                "created": time.monotonic(),
                "posts": 0,
                "last_ephemeral": None,
            }
        return f"{self.base_url}/response/{url_id}"

    def new_response_url(self, *, channel: str, user: str) -> str:
        """A response_url for a hand-made request (hostile-request tests build their own)."""
        return self._new_response_url(channel=channel, user=user)

    def _user_name(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return user.name if user else user_id.lower()

    def _channel_name(self, channel_id: str) -> str:
        known = self.conversations.get(channel_id)
        if known is not None and known.name:
            return known.name
        if channel_id.startswith("D"):
            return "directmessage"
        return channel_id[2:].lower() if channel_id.startswith("C0") else channel_id.lower()

    def _resolve_channel(self, channel: Any) -> str:
        if not isinstance(channel, str) or not channel:
            raise _SlackError("channel_not_found")
        if channel in self.conversations or channel.startswith("D"):
            return channel
        if channel.startswith("#"):
            by_name = {self._channel_name(c): c for c in self.conversations}
            if channel[1:] in by_name:
                return by_name[channel[1:]]
        if channel in self.users:
            return "D" + channel[1:]
        raise _SlackError("channel_not_found")

    # -- channel membership -----------------------------------------------------------------

    def add_conversation(self, conversation: SlackChannel) -> None:
        """Register a channel, DM or group DM with its kind and whether the bot is in it."""
        with self._lock:
            self.conversations[conversation.id] = conversation
            if conversation.id not in self.channels and not conversation.id.startswith("D"):
                self.channels = (*self.channels, conversation.id)

    def invite_bot(self, channel: str) -> None:
        """A member invites the bot (/invite @Asana Copilot)."""
        with self._lock:
            self.conversations[channel].bot_member = True

    def archive(self, channel: str) -> None:
        with self._lock:
            self.conversations[channel].archived = True

    def _check_post_access(self, channel: str) -> None:
        """chat.postMessage / postEphemeral: Slack's membership rules."""
        known = self.conversations.get(channel)
        if known is None:  # an unregistered "D" id: the bot's own DM with a person
            return
        if known.archived:
            raise _SlackError("is_archived")
        if known.bot_member:
            return
        if known.kind == "public":
            if "chat:write.public" not in self.scopes:
                raise _SlackError("not_in_channel")
            return
        raise _SlackError("channel_not_found")  # private, DM, group DM: the bot cannot see it

    def _check_share_access(self, channel: str) -> None:
        """File shares need the bot in the channel, even with chat:write.public."""
        known = self.conversations.get(channel)
        if known is None:
            return
        if known.archived:
            raise _SlackError("is_archived")
        if not known.bot_member:
            raise _SlackError("not_in_channel" if known.kind == "public" else "channel_not_found")

    def _require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise _SlackError("missing_scope", needed=scope, provided=",".join(sorted(self.scopes)))

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """conversations.open with one user: the bot's DM with them, created once (im:write)."""
        self._require_scope("im:write")
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise _SlackError("not_enough_users" if not users else "too_many_users")
        if users[0] not in self.users:
            raise _SlackError("user_not_found")
        channel = "D" + users[0][1:]  # as chat.postMessage to a user id answers
        already = channel in self.conversations
        if not already:
            self.conversations[channel] = SlackChannel(channel, kind="im", bot_member=True)
        out: dict[str, Any] = {"channel": {"id": channel}}
        if already:
            out |= {"no_op": True, "already_open": True}
        return out

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        self._require_scope("channels:join")
        channel = self._resolve_channel(args.get("channel"))
        known = self.conversations.get(channel)
        if known is None or known.kind in ("im", "mpim"):
            raise _SlackError("method_not_supported_for_channel_type")
        if known.kind == "private":
            if not known.bot_member:
                raise _SlackError("channel_not_found")
            raise _SlackError("method_not_supported_for_channel_type")
        if known.archived:
            raise _SlackError("is_archived")
        already = known.bot_member
        known.bot_member = True
        out: dict[str, Any] = {"channel": self._conversations_info({"channel": channel})["channel"]}
        if already:
            out |= {
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        return out

    # -- HTTP dispatch --------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, verb: str) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        body = _read_body(handler)
        path = parsed.path
        if path.startswith("/api/"):
            self._handle_api(handler, path[len("/api/") :], parsed.query, body)
        elif path.startswith("/response/") and verb == "POST":
            self._handle_response_url(handler, path[len("/response/") :], body)
        elif path.startswith("/upload/") and verb == "POST":
            self._handle_upload(handler, path[len("/upload/") :], body)
        else:
            _send(handler, 404, b"not found", "text/plain; charset=utf-8")

    def _handle_api(
        self, handler: BaseHTTPRequestHandler, method: str, query: str, body: bytes
    ) -> None:
        args: dict[str, Any] = {}
        status, headers = 200, {}
        try:
            args = _parse_args(handler.headers.get("Content-Type", ""), body, query)
            token = args.pop("token", None)
            auth = handler.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                token = auth[len("Bearer ") :]
            fault = self.faults.take(method)
            if fault is not None and fault.kind == "429":
                status, headers = 429, {"Retry-After": str(fault.retry_after)}
                raise _SlackError("ratelimited")
            if fault is not None and fault.kind == "error":
                raise _SlackError(fault.code)
            if fault is not None:
                status = 500
                raise _SlackError("internal_error")
            impl = self._methods.get(method)
            if impl is None:
                raise _SlackError("unknown_method")
            if not token:
                raise _SlackError("not_authed")
            if token != self.bot_token:
                raise _SlackError("invalid_auth")
            _decode_json_fields(args)
            with self._lock:
                result = {"ok": True, **impl(args)}
            error = None
        except _SlackError as exc:
            result = {"ok": False, "error": exc.error, **exc.extra}
            error = exc.error
        except (ValueError, UnicodeDecodeError):
            result, error = {"ok": False, "error": "invalid_arguments"}, "invalid_arguments"
        with self._lock:
            self.calls.append(ApiCall(method, args, error is None, error))
        _send(handler, status, json.dumps(result).encode("utf-8"), headers=headers)

    # -- Web API methods ------------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Sandbox",
            "user": "copilot",
            "team_id": self.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": self.is_enterprise_install,
            **self._auth_enterprise(),
        }

    def _check_content(self, args: dict[str, Any], *, require: bool = True) -> None:
        text = args.get("text")
        if require and not text and not args.get("blocks") and not args.get("attachments"):
            raise _SlackError("no_text")
        if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
            raise _SlackError("msg_too_long")
        if args.get("blocks") is not None:
            errors = validate_blocks(args["blocks"])
            if errors:
                raise _SlackError(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )

    def _message_view(self, stored: dict) -> dict:
        """The message as the Web API returns it: no channel key, no empty blocks."""
        return {k: v for k, v in stored.items() if k != "channel" and not (k == "blocks" and not v)}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        self._check_post_access(channel)
        self._check_content(args)
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self.team_id,
            "ts": ts,
            "channel": channel,
            "text": args.get("text") or "",
            "blocks": _with_block_ids(args.get("blocks") or [], ts),
        }
        if args.get("attachments"):
            message["attachments"] = args["attachments"]
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": self._message_view(message)}

    def _stored(self, args: dict[str, Any], ts_key: str = "ts") -> dict:
        channel = self._resolve_channel(args.get("channel"))
        message = self.messages.get((channel, str(args.get(ts_key))))
        if message is None:
            raise _SlackError("message_not_found")
        return message

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._stored(args)
        self._check_content(args, require=False)
        if "text" in args:
            message["text"] = args["text"] or ""
        if args.get("blocks") is not None:
            message["blocks"] = _with_block_ids(args["blocks"], f"{message['ts']}:edit")
        if "attachments" in args:
            message["attachments"] = args["attachments"]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "channel": message["channel"],
            "ts": message["ts"],
            "text": message["text"],
            "message": self._message_view(message),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._stored(args)
        del self.messages[(message["channel"], message["ts"])]
        return {"channel": message["channel"], "ts": message["ts"]}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        self._check_post_access(channel)
        user = args.get("user")
        if user not in self.users:
            raise _SlackError("user_not_in_channel")
        self._check_content(args)
        self.ephemerals.append(
            {
                "channel": channel,
                "user": user,
                "text": args.get("text") or "",
                "blocks": args.get("blocks") or [],
                "via": "api",
            }
        )
        return {"message_ts": self._next_ts()}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._stored(args, "message_ts")
        p_ts = "p" + message["ts"].replace(".", "")
        return {
            "channel": message["channel"],
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/archives/{message['channel']}/{p_ts}",
        }

    def _user_object(self, user: SlackUser) -> dict[str, Any]:
        real_name = user.real_name or user.name
        profile: dict[str, Any] = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": user.name,
            "display_name_normalized": user.name,
        }
        if user.email:
            profile["email"] = user.email
        return {
            "id": user.id,
            "team_id": self._team_of(user.id),
            "name": user.name,
            "deleted": False,
            "real_name": real_name,
            "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "is_bot": False,
            "profile": profile,
            **self._access_fields(user),
        }

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user in self.users.values():
            if user.email and user.email.lower() == email:
                return {"user": self._user_object(user)}
        raise _SlackError("users_not_found")

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            raise _SlackError("user_not_found")
        return {"user": self._user_object(user)}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        known = self.conversations.get(channel)
        if known is not None and known.kind != "public" and not known.bot_member:
            raise _SlackError("channel_not_found")
        info: dict[str, Any] = {
            "id": channel,
            "created": 1700000000,
            "is_archived": bool(known and known.archived),
            "is_org_shared": False,
            "context_team_id": self.team_id,
        }
        if channel.startswith("D"):
            info |= {
                "is_im": True,
                "is_channel": False,
                "is_private": True,
                "user": "U" + channel[1:],
            }
        else:
            info |= {
                "name": self._channel_name(channel),
                "is_im": False,
                "is_channel": True,
                "is_group": bool(known and known.kind == "private"),
                "is_mpim": bool(known and known.kind == "mpim"),
                "is_private": bool(known and known.kind != "public"),
                "is_general": False,
                "is_member": known.bot_member if known else True,
            }
        return {"channel": info}

    def _stored_view(self, view: dict, *, view_id: str | None = None) -> dict:
        view_id = view_id or self._next_id("V")
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": _with_block_ids(view.get("blocks", []), view_id),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{hashlib.sha1(json.dumps(view).encode()).hexdigest()[:8]}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "bot_id": BOT_ID,
        }
        for key in ("title", "submit", "close"):
            if key in view:
                stored[key] = view[key]
        self.views[view_id] = stored
        return stored

    def _check_view(self, view: Any, expect: tuple[str, ...]) -> dict:
        errors = _view_errors(view, expect=expect)
        if errors:
            raise _SlackError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        return view

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user_id"))
        if user_id not in self.users:
            raise _SlackError("user_not_found")
        view = self._check_view(args.get("view"), ("home",))
        old = self.home_views.get(user_id)
        if old is not None and args.get("hash") and args["hash"] != old["hash"]:
            raise _SlackError("hash_conflict")
        stored = self._stored_view(view, view_id=old["id"] if old else None)
        self.home_views[user_id] = stored
        return {"view": stored}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = args.get("trigger_id")
        issued = self._triggers.get(str(trigger))
        if issued is None:
            raise _SlackError("invalid_trigger_id")
        if time.monotonic() - issued > TRIGGER_TTL_S:
            raise _SlackError("expired_trigger_id")
        view = self._check_view(args.get("view"), ("modal",))
        return {"view": self._stored_view(view)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        old: dict | None = None
        if args.get("view_id"):
            old = self.views.get(str(args["view_id"]))
        elif args.get("external_id"):
            old = next(
                (v for v in self.views.values() if v["external_id"] == args["external_id"]), None
            )
        if old is None:
            raise _SlackError("not_found")
        if args.get("hash") and args["hash"] != old["hash"]:
            raise _SlackError("hash_conflict")
        view = self._check_view(args.get("view"), (old["type"],))
        stored = self._stored_view(view, view_id=old["id"])
        for user_id, home in self.home_views.items():
            if home["id"] == old["id"]:
                self.home_views[user_id] = stored
        return {"view": stored}

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        try:
            length = int(args.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            length = -1
        if not filename or length < 0:
            raise _SlackError("invalid_arguments")
        file_id = self._next_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": length,
            "content": None,
            "shares": [],
        }
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _handle_upload(self, handler: BaseHTTPRequestHandler, file_id: str, body: bytes) -> None:
        with self._lock:
            record = self.files.get(file_id)
            if record is not None:
                record["content"] = body
        if record is None:
            _send(handler, 404, b"file not found", "text/plain; charset=utf-8")
        else:
            _send(handler, 200, f"OK - {len(body)}".encode(), "text/plain; charset=utf-8")

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = args.get("files")
        if not isinstance(wanted, list) or not wanted:
            raise _SlackError("invalid_arguments")
        channel = self._resolve_channel(args["channel_id"]) if args.get("channel_id") else None
        if channel:
            self._check_share_access(channel)
        out = []
        for item in wanted:
            record = self.files.get(str(item.get("id")))
            if record is None or record["content"] is None:
                raise _SlackError("file_not_found")
            if item.get("title"):
                record["title"] = item["title"]
            if channel:
                share = {
                    "file_id": record["id"],
                    "channel": channel,
                    "title": record["title"],
                    "name": record["name"],
                    "initial_comment": args.get("initial_comment"),
                    "thread_ts": args.get("thread_ts"),
                }
                record["shares"].append(share)
                self.file_shares.append(share)
            out.append(
                {
                    "id": record["id"],
                    "name": record["name"],
                    "title": record["title"],
                    "size": len(record["content"]),
                    "user": BOT_USER_ID,
                }
            )
        return {"files": out}

    # -- response_url ---------------------------------------------------------------------------

    def _handle_response_url(
        self, handler: BaseHTTPRequestHandler, url_id: str, body: bytes
    ) -> None:
        try:
            payload = json.loads(body.decode("utf-8") or "{}")
        except (ValueError, UnicodeDecodeError):
            payload = None
        with self._lock:
            target = self._response_urls.get(url_id)
            status, result = self._apply_response_post(target, payload)
            record = dict(payload) if isinstance(payload, dict) else {"raw": body.decode("latin-1")}
            record.setdefault("channel", target["channel"] if target else None)
            record.setdefault("user", target["user"] if target else None)
            record["response_url"] = f"{self.base_url}/response/{url_id}"
            record["accepted"] = status == 200
            self.response_posts.append(record)
        _send(handler, status, json.dumps(result).encode("utf-8"))

    def _apply_response_post(self, target: dict | None, payload: Any) -> tuple[int, dict]:
        if target is None:
            return 404, {"ok": False, "error": "no_service"}
        if time.monotonic() - target["created"] > RESPONSE_URL_TTL_S:
            return 404, {"ok": False, "error": "expired_url"}
        if target["posts"] >= RESPONSE_URL_MAX_POSTS:
            return 404, {"ok": False, "error": "used_url"}
        if not isinstance(payload, dict):
            return 400, {"ok": False, "error": "invalid_payload"}
        try:
            self._check_content(payload, require=not (payload.get("delete_original") or False))
        except _SlackError as exc:
            return 400, {"ok": False, "error": exc.error, **exc.extra}
        target["posts"] += 1
        channel, user = target["channel"], target["user"]
        text, blocks = payload.get("text") or "", payload.get("blocks") or []
        original = (
            self.messages.get((channel, target["message_ts"])) if target.get("message_ts") else None
        )
        if _truthy(payload.get("delete_original")):
            if original is not None:
                del self.messages[(channel, original["ts"])]
            return 200, {"ok": True}
        if _truthy(payload.get("replace_original")):
            if original is not None:
                original["text"] = text
                original["blocks"] = _with_block_ids(blocks, f"{original['ts']}:r")
                return 200, {"ok": True}
            if target["last_ephemeral"] is not None:
                self.ephemerals[target["last_ephemeral"]].update(text=text, blocks=blocks)
                return 200, {"ok": True}
        if payload.get("response_type") == "in_channel":
            ts = self._next_ts()
            message = {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "app_id": APP_ID,
                "team": self.team_id,
                "ts": ts,
                "channel": channel,
                "text": text,
                "blocks": _with_block_ids(blocks, ts),
            }
            if payload.get("thread_ts"):
                message["thread_ts"] = str(payload["thread_ts"])
            self.messages[(channel, ts)] = message
        else:
            target["last_ephemeral"] = len(self.ephemerals)
            self.ephemerals.append(
                {
                    "channel": channel,
                    "user": user,
                    "text": text,
                    "blocks": blocks,
                    "via": "response_url",
                }
            )
        return 200, {"ok": True}

    # -- requests to the app --------------------------------------------------------------------

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Return the X-Slack-Request-Timestamp and X-Slack-Signature headers for `body`."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        base = b"v0:" + ts.encode() + b":" + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    def post_raw(self, app_url: str, body: bytes, headers: dict, timeout: float = 10) -> HttpResult:
        """POST `body` to the app exactly as given (no signing): for hostile-request tests."""
        request = urllib.request.Request(app_url, data=body, headers=dict(headers), method="POST")
        started = time.perf_counter()
        try:
            with _no_proxy_opener().open(request, timeout=timeout) as resp:
                status, raw, resp_headers = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            status, raw, resp_headers = exc.code, exc.read(), exc.headers
        elapsed = (time.perf_counter() - started) * 1000
        return HttpResult(
            status=status,
            body=raw.decode("utf-8", errors="replace"),
            headers={k.lower(): v for k, v in resp_headers.items()},
            elapsed_ms=elapsed,
        )

    def _post_signed(
        self, app_url: str, body: bytes, content_type: str, timeout: float
    ) -> HttpResult:
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        headers |= self.sign(body)
        return self.post_raw(app_url, body, headers, timeout=timeout)

    def _post_payload(self, app_url: str, payload: dict, timeout: float) -> HttpResult:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._post_signed(app_url, body, "application/x-www-form-urlencoded", timeout)

    def _user_block(self, user_id: str) -> dict[str, str]:
        name = self._user_name(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": self._team_of(user_id)}

    # -- access (issue 10): who a person is, and where their requests come from ---------------

    def _auth_enterprise(self) -> dict[str, Any]:
        """auth.test of a workspace in an Enterprise Grid org names the org."""
        return {"enterprise_id": self.enterprise_id} if self.enterprise_id else {}

    def _team_of(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return user.team_id if user and user.team_id else self.team_id

    def _enterprise_of(self, user_id: str) -> str | None:
        user = self.users.get(user_id)
        return user.enterprise_id if user and user.enterprise_id else self.enterprise_id

    def _access_fields(self, user: SlackUser) -> dict[str, Any]:
        """users.info's flags for guests, admins and owners, and a grid member's org."""
        fields: dict[str, Any] = {
            "is_admin": user.is_admin or user.is_owner,  # Slack: owners are admins too
            "is_owner": user.is_owner,
            "is_primary_owner": False,
            "is_restricted": user.is_restricted or user.is_ultra_restricted,
            "is_ultra_restricted": user.is_ultra_restricted,
        }
        enterprise = self._enterprise_of(user.id)
        if enterprise:
            fields["enterprise_user"] = {
                "id": user.id,
                "enterprise_id": enterprise,
                "enterprise_name": "Sandbox Org",
                "is_admin": user.is_admin,
                "is_owner": user.is_owner,
                "teams": [self._team_of(user.id)],
            }
        return fields

    def _command_origin(self, user_id: str) -> dict[str, str]:
        """The team (and org) fields of a slash command, as the sender's own workspace."""
        origin = {"team_id": self._team_of(user_id)}
        enterprise = self._enterprise_of(user_id)
        if enterprise:
            origin |= {"enterprise_id": enterprise, "enterprise_name": "Sandbox Org"}
        return origin

    def _click_origin(self, user_id: str) -> dict[str, Any]:
        """The team, enterprise and install fields of an interactive payload."""
        enterprise = self._enterprise_of(user_id)
        team: dict[str, Any] = {"id": self._team_of(user_id), "domain": TEAM_DOMAIN}
        if enterprise:
            team["enterprise_id"] = enterprise
        return {
            "team": team,
            "enterprise": {"id": enterprise, "name": "Sandbox Org"} if enterprise else None,
            "is_enterprise_install": self.is_enterprise_install,
        }

    def slash_command(
        self,
        app_url: str,
        command: str,
        text: str = "",
        *,
        user_id: str,
        channel_id: str = "C0TEAM",
        timeout: float = 10,
    ) -> HttpResult:
        """Deliver a signed slash command, form-encoded as Slack sends it."""
        form = {
            "token": "sandbox-verification-token",
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "true" if self.is_enterprise_install else "false",
            "response_url": self._new_response_url(
                channel=channel_id, user=user_id, message_ts=None
            ),
            "trigger_id": self._new_trigger(),
            **self._command_origin(user_id),
        }
        body = urllib.parse.urlencode(form).encode()
        return self._post_signed(app_url, body, "application/x-www-form-urlencoded", timeout)

    def click_button(
        self,
        app_url: str,
        *,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str = "",
        user_id: str,
        block_id: str | None = None,
        timeout: float = 10,
        as_seen: Mapping[str, Any] | None = None,
    ) -> HttpResult:
        """Click a button of a stored message: deliver the block_actions payload Slack would send.

        Raises LookupError when the message or the button does not exist (a person could not
        click it either). `as_seen`: the message as an earlier copy showed it, for a click from
        a screen that has not redrawn yet (Slack delivers those too).
        """
        with self._lock:
            message = self.messages.get((channel_id, message_ts))
            if message is None:
                raise LookupError(f"no message {message_ts} in {channel_id}")
            message = json.loads(json.dumps(as_seen if as_seen is not None else message))
        block, button = _find_button(message, action_id, value, block_id, where="button")
        action: dict[str, Any] = {
            "action_id": button["action_id"],
            "block_id": block["block_id"],
            "text": {"type": "plain_text", "text": button["text"]["text"], "emoji": True},
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
        if "value" in button:
            action["value"] = button["value"]
        if "style" in button:
            action["style"] = button["style"]
        payload = self._message_actions(
            message, channel_id=channel_id, message_ts=message_ts, user_id=user_id, action=action
        )
        return self._post_payload(app_url, payload, timeout)

    def choose_option(
        self,
        app_url: str,
        *,
        channel_id: str,
        message_ts: str,
        block_id: str,
        value: str,
        user_id: str,
        timeout: float = 10,
    ) -> HttpResult:
        """Pick an option of a static_select in a stored message (outside an input block, Slack
        sends the block_actions payload at once, with `selected_option`).

        Raises LookupError when the message, the menu or the option does not exist.
        """
        with self._lock:
            message = self.messages.get((channel_id, message_ts))
            if message is None:
                raise LookupError(f"no message {message_ts} in {channel_id}")
            message = json.loads(json.dumps(message))
        block = next((b for b in message.get("blocks", []) if b.get("block_id") == block_id), None)
        menu = next(
            (e for e in (block or {}).get("elements") or [] if e.get("type") == "static_select"),
            None,
        )
        if block is None or menu is None:
            raise LookupError(f"no static_select in block {block_id!r}")
        option = next((o for o in menu["options"] if o["value"] == value), None)
        if option is None:
            raise LookupError(f"no option {value!r} in block {block_id!r}")
        action = {
            "type": "static_select",
            "action_id": menu["action_id"],
            "block_id": block_id,
            "selected_option": option,
            "placeholder": menu.get("placeholder"),
            "action_ts": f"{time.time():.6f}",
        }
        payload = self._message_actions(
            message,
            channel_id=channel_id,
            message_ts=message_ts,
            user_id=user_id,
            action=action,
            values={
                block_id: {menu["action_id"]: {"type": "static_select", "selected_option": option}}
            },
        )
        return self._post_payload(app_url, payload, timeout)

    def _message_actions(
        self,
        message: dict[str, Any],
        *,
        channel_id: str,
        message_ts: str,
        user_id: str,
        action: dict[str, Any],
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The block_actions payload of a click on a channel message (`values`: its inputs')."""
        return {
            "type": "block_actions",
            "user": self._user_block(user_id),
            "api_app_id": APP_ID,
            "token": "sandbox-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            },
            "trigger_id": self._new_trigger(),
            **self._click_origin(user_id),
            "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
            "message": self._message_view(message),
            "state": {"values": values or {}},
            "response_url": self._new_response_url(
                channel=channel_id, user=user_id, message_ts=message_ts
            ),
            "actions": [action],
        }

    def open_home(self, app_url: str, *, user_id: str, timeout: float = 10) -> HttpResult:
        """Deliver an app_home_opened event in the Events API envelope."""
        now = time.time()
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": "D" + user_id[1:],
            "tab": "home",
            "event_ts": f"{now:.6f}",
        }
        with self._lock:
            if user_id in self.home_views:
                event["view"] = json.loads(json.dumps(self.home_views[user_id]))
        envelope = {
            "token": "sandbox-verification-token",
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev0{next(self._id_counter):08d}",
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-sandbox-{self.team_id}",
        }
        body = json.dumps(envelope).encode()
        return self._post_signed(app_url, body, "application/json", timeout)

    def click_home_button(
        self,
        app_url: str,
        *,
        user_id: str,
        action_id: str,
        value: str = "",
        values: dict | None = None,
        timeout: float = 10,
    ) -> HttpResult:
        """Click a button in `user_id`'s published Home tab: the block_actions payload Slack sends.

        The container is the view (`{"type": "view", "view_id": ...}`), the payload carries the
        whole view with `state.values` (`values`, in Slack's shape) and a fresh trigger_id, and
        there is no response_url. Raises LookupError when the Home tab has no such button.
        """
        with self._lock:
            home = self.home_views.get(user_id)
            if home is None:
                raise LookupError(f"{user_id} has no published Home tab")
            home = json.loads(json.dumps(home))
        block, button = _find_button(home, action_id, value, None, where="Home button")
        action: dict[str, Any] = {
            "action_id": button["action_id"],
            "block_id": block["block_id"],
            "text": button["text"],
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
        if "value" in button:
            action["value"] = button["value"]
        home["state"] = {"values": values or {}}
        payload = {
            "type": "block_actions",
            "user": self._user_block(user_id),
            "api_app_id": APP_ID,
            "token": "sandbox-verification-token",
            "container": {"type": "view", "view_id": home["id"]},
            "trigger_id": self._new_trigger(),
            **self._click_origin(user_id),
            "view": home,
            "actions": [action],
        }
        return self._post_payload(app_url, payload, timeout)

    def submit_view(
        self, app_url: str, *, user_id: str, view: dict, values: dict, timeout: float = 10
    ) -> HttpResult:
        """Deliver a view_submission payload for `view` with `state.values` = `values`.

        `values` is in Slack's shape: {block_id: {action_id: {"type": ..., "value": ...}}}.
        On an empty 200 answer the modal counts as closed (removed from `views`).
        """
        view_id = view.get("id") or self._next_id("V")
        submitted = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type", "modal"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": values},
            "hash": view.get("hash", f"{int(time.time())}.sandbox"),
            "title": view.get("title", {"type": "plain_text", "text": "Sandbox"}),
            "clear_on_close": False,
            "notify_on_close": False,
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": None,
            "root_view_id": view.get("root_view_id", view_id),
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }
        payload = {
            "type": "view_submission",
            "user": self._user_block(user_id),
            "api_app_id": APP_ID,
            "token": "sandbox-verification-token",
            "trigger_id": self._new_trigger(),
            "view": submitted,
            "response_urls": [],
            **self._click_origin(user_id),
        }
        result = self._post_payload(app_url, payload, timeout)
        if result.status == 200 and not result.body.strip():
            with self._lock:
                self.views.pop(view_id, None)
        return result
