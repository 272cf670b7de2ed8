"""An offline stand-in for Asana's REST API (1.0), faithful enough for the official client.

Stdlib only. The store holds the data and answers plain Python calls (for seeds and assertions);
the server speaks Asana's wire format over loopback: ``{"data": ...}`` envelopes, compact records
unless ``opt_fields`` asks for more, offset-token pagination, ``/batch``, custom field validation,
Asana's error bodies, a sliding-window rate limit and injectable faults.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import itertools
import json
import math
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from bot.sandbox.asana_webhooks import WebhookError, WebhookHub, WebhookKnobs
from bot.sandbox.asana_webhooks import full as full_webhook
from bot.sandbox.asana_webhooks import render as render_webhook
from bot.sandbox.loopback import LoopbackService

API_PREFIX = "/api/1.0"
HELP = (
    "For more information on API status codes and how to handle them, "
    "read the docs on errors: https://developers.asana.com/docs/errors"
)
# Asana's documented wording (https://developers.asana.com/docs/rate-limits).
RATE_LIMIT_MESSAGE = (
    "You've made too many requests and hit a rate limit. "
    "Please retry after the given amount of time."
)
UNPAGINATED_MAX = 1000  # Asana refuses an unpaginated listing past about 1,000 objects.
MAX_BATCH_ACTIONS = 10
FIRST_GID = 1209876543210001
FIELD_FORMATS = ("none", "percentage", "currency", "custom", "identifier", "duration")
FIELD_SUBTYPES = ("number", "text", "enum", "multi_enum")
# "A custom field can have at most 500 enum options (including disabled options)" (OpenAPI).
MAX_ENUM_OPTIONS = 500
ENUM_SUBTYPES = ("enum", "multi_enum")
_PHRASE_WORDS = (
    ("sad", "brave", "quiet", "happy", "sleepy", "fuzzy", "eager", "shy"),
    ("squid", "otter", "llama", "badger", "heron", "walrus", "gecko", "panda"),
    ("snuggle", "dance", "wander", "ponder", "juggle", "whistle", "sprint", "hum"),
    ("softly", "boldly", "quickly", "gently", "loudly", "calmly", "oddly", "warmly"),
)


# --------------------------------------------------------------------------- time helpers


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime the way Asana does: UTC, milliseconds, Z."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 date-time (or a date, as midnight UTC) into an aware UTC datetime."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _timestamp(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_timestamp(value)
    return format_timestamp(parse_timestamp(value))


def _date(value: date | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(value).isoformat()


# --------------------------------------------------------------------------- errors


class ApiError(Exception):
    """An answer in Asana's error shape."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "help": HELP}
        if self.status >= 500:
            error["phrase"] = _phrase()
        return {"errors": [error]}


_phrase_counter = itertools.count(1)


def _phrase() -> str:
    n = next(_phrase_counter)
    words = [group[(n * (i + 3)) % len(group)] for i, group in enumerate(_PHRASE_WORDS)]
    return f"{n % 9 + 1} " + " ".join(words)


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _unknown(resource: str, gid: str) -> ApiError:
    return ApiError(404, f"{resource}: Unknown object: {gid}")


# --------------------------------------------------------------------------- store


class AsanaStore:
    """The sandbox's in-memory Asana data; thread-safe through one re-entrant lock."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self._next_gid = FIRST_GID
        self.users: dict[str, dict[str, Any]] = {}
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.sections: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.custom_fields: dict[str, dict[str, Any]] = {}
        self.enum_options: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, list[dict[str, Any]]] = {}  # project gid -> settings
        self.stories: dict[str, list[dict[str, Any]]] = {}  # task gid -> stories
        self.tags: dict[str, dict[str, Any]] = {}
        # Every task update the API applied (PUT /tasks/{gid}, direct or in /batch), in order.
        self.applied_updates: list[str] = []
        self.me: str | None = None  # the user the sandbox token acts as
        # The user the API request answered on this thread acts as (its token's): events' user.
        self._request = threading.local()
        # Called with each event Asana would publish (the webhooks hub listens here).
        self.event_listeners: list[Callable[[dict[str, Any]], None]] = []
        # The token user's time zone: Asana answers a due time's due_on as the date there.
        self.time_zone = "UTC"

    @property
    def actor(self) -> str | None:
        return getattr(self._request, "actor", None)

    @actor.setter
    def actor(self, user_gid: str | None) -> None:
        self._request.actor = user_gid

    # -- ids and time

    def new_gid(self) -> str:
        with self.lock:
            gid = str(self._next_gid)
            self._next_gid += 1
            return gid

    def timestamp(self) -> str:
        return format_timestamp(self.now())

    # -- creation

    def add_user(self, name: str, email: str) -> str:
        with self.lock:
            gid = self.new_gid()
            self.users[gid] = {"gid": gid, "name": name, "email": email, "workspaces": []}
            for workspace in self.workspaces.values():
                self._join(gid, workspace["gid"])
            if self.me is None:
                self.me = gid
            return gid

    def add_workspace(self, name: str) -> str:
        with self.lock:
            gid = self.new_gid()
            self.workspaces[gid] = {"gid": gid, "name": name, "members": []}
            for user in self.users.values():
                self._join(user["gid"], gid)
            return gid

    def _join(self, user_gid: str, workspace_gid: str) -> None:
        user = self.users[user_gid]
        if workspace_gid not in user["workspaces"]:
            user["workspaces"].append(workspace_gid)
            self.workspaces[workspace_gid]["members"].append(user_gid)

    def add_project(self, workspace_gid: str, name: str, owner_gid: str | None = None) -> str:
        with self.lock:
            self._need(self.workspaces, workspace_gid, "workspace")
            if owner_gid is not None:
                self._need(self.users, owner_gid, "user")
            gid = self.new_gid()
            stamp = self.timestamp()
            self.projects[gid] = {
                "gid": gid,
                "name": name,
                "workspace": workspace_gid,
                "owner": owner_gid,
                "archived": False,
                "notes": "",
                "color": "light-green",
                "created_at": stamp,
                "modified_at": stamp,
                "sections": [],
            }
            self.settings[gid] = []
            return gid

    def add_section(self, project_gid: str, name: str) -> str:
        with self.lock:
            project = self._need(self.projects, project_gid, "project")
            gid = self.new_gid()
            self.sections[gid] = {
                "gid": gid,
                "name": name,
                "project": project_gid,
                "created_at": self.timestamp(),
            }
            project["sections"].append(gid)
            return gid

    def _first_section(self, project_gid: str) -> str:
        project = self.projects[project_gid]
        if not project["sections"]:
            return self.add_section(project_gid, "Untitled section")
        return project["sections"][0]

    def add_tag(self, workspace_gid: str, name: str) -> str:
        with self.lock:
            for tag in self.tags.values():
                if tag["workspace"] == workspace_gid and tag["name"] == name:
                    return tag["gid"]
            gid = self.new_gid()
            self.tags[gid] = {"gid": gid, "name": name, "workspace": workspace_gid, "color": None}
            return gid

    def add_custom_field(
        self,
        workspace_gid: str,
        name: str,
        subtype: str,
        *,
        precision: int = 0,
        format: str = "none",
        enum_options: Iterable[str | tuple[str, str] | dict[str, Any]] = (),
        description: str = "",
    ) -> str:
        with self.lock:
            self._need(self.workspaces, workspace_gid, "workspace")
            if subtype not in FIELD_SUBTYPES:
                raise ValueError(f"unsupported custom field subtype {subtype!r}")
            if format not in FIELD_FORMATS:
                raise ValueError(f"unsupported custom field format {format!r}")
            if self.find_field(workspace_gid, name) is not None:
                raise ValueError(f"a custom field named {name!r} already exists")
            gid = self.new_gid()
            self.custom_fields[gid] = {
                "gid": gid,
                "name": name,
                "workspace": workspace_gid,
                "subtype": subtype,
                "precision": precision,
                "format": format,
                "description": description,
                "enum_options": [],
            }
            for option in enum_options:
                if isinstance(option, str):
                    self.add_enum_option(gid, option)
                elif isinstance(option, tuple):
                    self.add_enum_option(gid, option[0], color=option[1])
                else:
                    self.add_enum_option(gid, option["name"], color=option.get("color", "none"))
            return gid

    def add_enum_option(
        self, field_gid: str, name: str, *, color: str = "none", enabled: bool = True
    ) -> str:
        with self.lock:
            custom_field = self._need(self.custom_fields, field_gid, "custom_field")
            if custom_field["subtype"] not in ENUM_SUBTYPES:
                raise ValueError("enum options belong to enum fields")
            if len(custom_field["enum_options"]) >= MAX_ENUM_OPTIONS:
                raise ValueError(f"a field holds at most {MAX_ENUM_OPTIONS} enum options")
            gid = self.new_gid()
            self.enum_options[gid] = {
                "gid": gid,
                "name": name,
                "color": color,
                "enabled": enabled,
                "field": field_gid,
            }
            custom_field["enum_options"].append(gid)
            return gid

    def attach_field(self, project_gid: str, field_gid: str, *, is_important: bool = False) -> str:
        """Add a custom field setting to a project; ValueError when already attached."""
        with self.lock:
            self._need(self.projects, project_gid, "project")
            self._need(self.custom_fields, field_gid, "custom_field")
            if any(s["field"] == field_gid for s in self.settings[project_gid]):
                raise ValueError(f"custom field {field_gid} is already on project {project_gid}")
            gid = self.new_gid()
            self.settings[project_gid].append(
                {
                    "gid": gid,
                    "field": field_gid,
                    "project": project_gid,
                    "is_important": is_important,
                }
            )
            return gid

    def add_task(
        self,
        project_gid: str | None,
        name: str,
        *,
        notes: str = "",
        assignee: str | None = None,
        start_on: date | str | None = None,
        due_on: date | str | None = None,
        due_at: datetime | str | None = None,
        completed: bool = False,
        completed_at: datetime | str | None = None,
        custom_fields: dict[str, Any] | None = None,
        parent: str | None = None,
        tags: Iterable[str] = (),
        created_at: datetime | str | None = None,
        modified_at: datetime | str | None = None,
        section: str | None = None,
        workspace_gid: str | None = None,
        by: str | None = None,
    ) -> str:
        """Create a task; ``tags`` are tag names or gids, enum values option gids or names.

        ``by`` is the user creating it: the event published says so (None: Asana itself, as
        for a form or a rule).
        """
        with self.lock:
            if assignee is not None:
                self._need(self.users, assignee, "user")
            if parent is not None:
                self._need(self.tasks, parent, "task")
            memberships: list[dict[str, str]] = []
            if project_gid is not None:
                project = self._need(self.projects, project_gid, "project")
                workspace_gid = project["workspace"]
                if section is None:
                    section = self._first_section(project_gid)
                memberships.append({"project": project_gid, "section": section})
            elif parent is not None:
                workspace_gid = self.tasks[parent]["workspace"]
            if workspace_gid is None:
                raise ValueError("a task needs a project, a parent or a workspace")
            now = self.timestamp()
            created = _timestamp(created_at) or now
            if completed and completed_at is None:
                completed_at = now
            gid = self.new_gid()
            tag_gids = [t if t in self.tags else self.add_tag(workspace_gid, t) for t in tags]
            self.tasks[gid] = {
                "gid": gid,
                "name": name,
                "notes": notes,
                "assignee": assignee,
                "start_on": _date(start_on),
                "due_on": _date(due_on) if due_at is None else self.local_date(due_at),
                "due_at": _timestamp(due_at),
                "completed": bool(completed),
                "completed_at": _timestamp(completed_at) if completed else None,
                "created_at": created,
                "modified_at": _timestamp(modified_at) or max(created, now),
                "workspace": workspace_gid,
                "memberships": memberships,
                "parent": parent,
                "tags": tag_gids,
                "dependencies": [],
                "dependents": [],
                "custom_values": {},
                "created_by": by,
            }
            for field_gid, value in (custom_fields or {}).items():
                self.tasks[gid]["custom_values"][field_gid] = self._coerce(field_gid, value)
            self.stories[gid] = []
            if project_gid is not None:
                self.emit("added", gid, user=by, parent=("project", project_gid))
            return gid

    def emit(
        self,
        action: str,
        task_gid: str,
        *,
        user: str | None,
        parent: tuple[str, str] | None = None,
        change: dict[str, Any] | None = None,
    ) -> None:
        """Publish a compact task event, shaped as Asana delivers it to webhooks."""
        if not self.event_listeners:
            return
        event: dict[str, Any] = {
            "user": {"gid": user, "resource_type": "user"} if user else None,
            "created_at": self.timestamp(),
            "action": action,
            "resource": {
                "gid": task_gid,
                "resource_type": "task",
                "resource_subtype": "default_task",
            },
            "parent": {"gid": parent[1], "resource_type": parent[0]} if parent else None,
        }
        if change is not None:
            event["change"] = change
        for listener in self.event_listeners:
            listener(event)

    def add_dependency(self, task_gid: str, depends_on_gid: str) -> None:
        """Record that ``task_gid`` depends on ``depends_on_gid`` (both directions kept)."""
        with self.lock:
            task = self._need(self.tasks, task_gid, "task")
            blocker = self._need(self.tasks, depends_on_gid, "task")
            if task_gid == depends_on_gid:
                raise ValueError("a task cannot depend on itself")
            if depends_on_gid not in task["dependencies"]:
                task["dependencies"].append(depends_on_gid)
                blocker["dependents"].append(task_gid)

    def add_story(
        self,
        task_gid: str,
        text: str,
        *,
        author_gid: str | None = None,
        created_at: datetime | str | None = None,
    ) -> str:
        with self.lock:
            task = self._need(self.tasks, task_gid, "task")
            gid = self.new_gid()
            stamp = _timestamp(created_at) or self.timestamp()
            self.stories[task_gid].append(
                {
                    "gid": gid,
                    "text": text,
                    "created_by": author_gid,
                    "created_at": stamp,
                    "target": task_gid,
                }
            )
            if created_at is None:
                task["modified_at"] = stamp
            return gid

    def local_date(self, moment: datetime | str) -> str:
        """The date of a moment in the token user's time zone (a due time's due_on)."""
        if isinstance(moment, str):
            moment = parse_timestamp(moment)
        return moment.astimezone(ZoneInfo(self.time_zone)).date().isoformat()

    # -- reads for tests and the seed

    def task(self, gid: str) -> dict[str, Any]:
        """Return a deep copy of the internal task record."""
        with self.lock:
            return json.loads(json.dumps(self._need(self.tasks, gid, "task")))

    def find_field(self, workspace_gid: str, name: str) -> str | None:
        with self.lock:
            for f in self.custom_fields.values():
                if f["workspace"] == workspace_gid and f["name"].casefold() == name.casefold():
                    return f["gid"]
            return None

    def task_projects(self, task_gid: str) -> list[str]:
        return [m["project"] for m in self.tasks[task_gid]["memberships"]]

    def task_field_gids(self, task_gid: str) -> list[str]:
        """Field gids attached to any project of the task, in settings order."""
        seen: list[str] = []
        for project_gid in self.task_projects(task_gid):
            for setting in self.settings.get(project_gid, []):
                if setting["field"] not in seen:
                    seen.append(setting["field"])
        return seen

    def field_value(self, task_gid: str, field_name: str) -> Any:
        """Return a task's value of a field by name: number, text, or enum option name."""
        with self.lock:
            task = self._need(self.tasks, task_gid, "task")
            for field_gid, value in task["custom_values"].items():
                custom_field = self.custom_fields[field_gid]
                if custom_field["name"] != field_name:
                    continue
                if custom_field["subtype"] == "enum" and value is not None:
                    return self.enum_options[value]["name"]
                if custom_field["subtype"] == "multi_enum" and value is not None:
                    return [self.enum_options[g]["name"] for g in value]
                return value
            return None

    def set_custom_field(
        self, task_gid: str, field_gid: str, value: Any, *, by: str | None = None
    ) -> None:
        with self.lock:
            task = self._need(self.tasks, task_gid, "task")
            task["custom_values"][field_gid] = self._coerce(field_gid, value)
            task["modified_at"] = self.timestamp()
            self.emit(
                "changed", task_gid, user=by, change={"field": "custom_fields", "action": "changed"}
            )

    def _coerce(self, field_gid: str, value: Any) -> Any:
        custom_field = self._need(self.custom_fields, field_gid, "custom_field")
        if value is None:
            return None
        if custom_field["subtype"] == "multi_enum":
            values = [value] if isinstance(value, str) else list(value)
            return [self._option_gid(custom_field, v) for v in values]
        if custom_field["subtype"] == "enum":
            return self._option_gid(custom_field, value)
        return value

    def _option_gid(self, custom_field: dict[str, Any], value: str) -> str:
        """An option of the field by gid or name."""
        if value in custom_field["enum_options"]:
            return value
        for option_gid in custom_field["enum_options"]:
            if self.enum_options[option_gid]["name"] == value:
                return option_gid
        raise ValueError(f"{value!r} is not an option of {custom_field['name']}")

    @staticmethod
    def _need(table: dict[str, dict[str, Any]], gid: str, kind: str) -> dict[str, Any]:
        try:
            return table[gid]
        except KeyError:
            raise KeyError(f"{kind}: Unknown object: {gid}") from None

    # -- persistence

    _TABLES = (
        "users",
        "workspaces",
        "projects",
        "sections",
        "tasks",
        "custom_fields",
        "enum_options",
        "settings",
        "stories",
        "tags",
    )

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            snapshot: dict[str, Any] = {name: getattr(self, name) for name in self._TABLES}
            snapshot["next_gid"] = self._next_gid
            snapshot["me"] = self.me
            return json.loads(json.dumps(snapshot))

    def save(self, path: str | Path) -> None:
        """Write a JSON snapshot atomically (temp file, then rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json()), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, now: Callable[[], datetime] | None = None) -> AsanaStore:
        snapshot = json.loads(Path(path).read_text(encoding="utf-8"))
        store = cls(now=now)
        for name in cls._TABLES:
            setattr(store, name, snapshot[name])
        store._next_gid = snapshot["next_gid"]
        store.me = snapshot["me"]
        return store


# --------------------------------------------------------------------------- faults, records


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    status: int = 0


# "drop" closes the connection before doing anything; "drop_after" applies the request and then
# closes without answering (the response is lost: the client cannot tell whether it landed).
FAULT_KINDS = (
    "429",
    "401",
    "403",
    "500",
    "503",
    "drop",
    "drop_after",
    "latency",
    "batch_partial",
)
_FAULT_MESSAGES = {
    401: "Not Authorized",  # a revoked or mistyped token
    403: "Forbidden",  # a token whose user may not see or edit the resource
    500: "Server Error",
    503: "Service Unavailable",
}


@dataclass
class _Fault:
    kind: str
    method: str | None
    path_contains: str | None
    times: int
    retry_after: float
    delay: float
    fail_actions: tuple[int, ...]
    status: int
    actions: str | None = None  # only a /batch whose actions all use this method ("get", "put")

    def matches(self, method: str, path: str, action_methods: frozenset[str] = frozenset()) -> bool:
        if self.times == 0:
            return False
        if self.actions is not None and action_methods != {self.actions}:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path_contains is not None and self.path_contains not in path:
            return False
        return not (self.kind == "batch_partial" and path.rstrip("/") != "/batch")


class FaultPlan:
    """Faults to inject into matching requests, each firing ``times`` times (-1: forever)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(
        self,
        kind: str,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        times: int = 1,
        retry_after: float = 1.0,
        delay: float = 0.0,
        fail_actions: tuple[int, ...] = (),
        status: int = 500,
        actions: str | None = None,
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(
                _Fault(
                    kind,
                    method,
                    path_contains,
                    times,
                    retry_after,
                    delay,
                    tuple(fail_actions),
                    status,
                    actions.lower() if actions else None,
                )
            )

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, body: dict[str, Any] | None = None) -> _Fault | None:
        """Consume and return the first fault matching the request, if any."""
        action_methods = _action_methods(path, body)
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, action_methods):
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
            return None


def _action_methods(path: str, body: dict[str, Any] | None) -> frozenset[str]:
    """The methods of a /batch request's actions (empty for any other request)."""
    if path.rstrip("/") != "/batch" or not isinstance(body, dict):
        return frozenset()
    actions = (
        (body.get("data") or {}).get("actions") if isinstance(body.get("data"), dict) else None
    )
    if not isinstance(actions, list):
        return frozenset()
    return frozenset(str(a.get("method", "")).lower() for a in actions if isinstance(a, dict))


class _RateLimiter:
    def __init__(self, per_minute: int | None) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._hits: deque[float] = deque()

    def check(self) -> None:
        if self.per_minute is None:
            return
        with self._lock:
            now = time.monotonic()
            while self._hits and now - self._hits[0] >= 60.0:
                self._hits.popleft()
            if len(self._hits) >= self.per_minute:
                wait = max(1, math.ceil(60.0 - (now - self._hits[0])))
                raise ApiError(429, RATE_LIMIT_MESSAGE, headers={"Retry-After": str(wait)})
            self._hits.append(now)


# --------------------------------------------------------------------------- projection


@dataclass(frozen=True)
class Ref:
    """A resource to render: its kind, its key (gid or struct), context and default view."""

    kind: str
    key: Any
    ctx: Any = None
    view: str = "compact"


# Every field each kind answers, and the kind of the resource it holds (None for a value).
SCHEMA: dict[str, dict[str, str | None]] = {
    "task": {
        "gid": None,
        "resource_type": None,
        "resource_subtype": None,
        "name": None,
        "notes": None,
        "completed": None,
        "completed_at": None,
        "completed_by": "user",
        "created_at": None,
        "created_by": "user",
        "modified_at": None,
        "start_on": None,
        "start_at": None,
        "due_on": None,
        "due_at": None,
        "assignee": "user",
        "assignee_status": None,
        "projects": "project",
        "memberships": "membership",
        "parent": "task",
        "num_subtasks": None,
        "tags": "tag",
        "dependencies": "task",
        "dependents": "task",
        "permalink_url": None,
        "custom_fields": "custom_field",
        "workspace": "workspace",
        "followers": "user",
        "liked": None,
        "num_likes": None,
        "actual_time_minutes": None,
        "is_rendered_as_separator": None,
    },
    "user": {
        "gid": None,
        "resource_type": None,
        "name": None,
        "email": None,
        "photo": None,
        "workspaces": "workspace",
    },
    "workspace": {
        "gid": None,
        "resource_type": None,
        "name": None,
        "is_organization": None,
        "email_domains": None,
    },
    "project": {
        "gid": None,
        "resource_type": None,
        "name": None,
        "archived": None,
        "color": None,
        "created_at": None,
        "modified_at": None,
        "notes": None,
        "owner": "user",
        "workspace": "workspace",
        "team": None,
        "public": None,
        "permalink_url": None,
        "due_on": None,
        "start_on": None,
        "completed": None,
        "default_view": None,
        "custom_field_settings": "custom_field_setting",
        "members": "user",
    },
    "section": {
        "gid": None,
        "resource_type": None,
        "name": None,
        "project": "project",
        "created_at": None,
    },
    "tag": {
        "gid": None,
        "resource_type": None,
        "name": None,
        "color": None,
        "notes": None,
        "workspace": "workspace",
        "permalink_url": None,
    },
    "membership": {"project": "project", "section": "section"},
    "custom_field": {
        "gid": None,
        "resource_type": None,
        "name": None,
        "type": None,
        "resource_subtype": None,
        "representation_type": None,
        "enabled": None,
        "description": None,
        "precision": None,
        "format": None,
        "currency_code": None,
        "custom_label": None,
        "custom_label_position": None,
        "is_global_to_workspace": None,
        "has_notifications_enabled": None,
        "is_formula_field": None,
        "id_prefix": None,
        "created_by": "user",
        "enum_options": "enum_option",
        "enum_value": "enum_option",
        "multi_enum_values": "enum_option",
        "number_value": None,
        "text_value": None,
        "date_value": None,
        "display_value": None,
    },
    "enum_option": {
        "gid": None,
        "resource_type": None,
        "name": None,
        "color": None,
        "enabled": None,
    },
    "custom_field_setting": {
        "gid": None,
        "resource_type": None,
        "is_important": None,
        "custom_field": "custom_field",
        "project": "project",
        "parent": "project",
    },
    "story": {
        "gid": None,
        "resource_type": None,
        "resource_subtype": None,
        "type": None,
        "text": None,
        "created_at": None,
        "created_by": "user",
        "is_pinned": None,
        "is_edited": None,
        "source": None,
        "target": "task",
    },
}

# Fields Asana leaves out of a full task until opt_fields names them ([Opt In] in its OpenAPI).
_TASK_OPT_IN = {"num_subtasks", "dependencies", "dependents"}
_COMPACT = {
    "task": ("gid", "resource_type", "name", "resource_subtype"),
    "user": ("gid", "resource_type", "name"),
    "workspace": ("gid", "resource_type", "name"),
    "project": ("gid", "resource_type", "name"),
    "section": ("gid", "resource_type", "name"),
    "tag": ("gid", "resource_type", "name"),
    "membership": ("project", "section"),
    "enum_option": ("gid", "resource_type", "name", "color", "enabled"),
    "custom_field_setting": ("gid", "resource_type", "is_important", "custom_field", "project"),
    "story": ("gid", "resource_type", "created_at", "created_by", "resource_subtype", "text"),
}
_VALUE_FIELDS = {
    "number": ("number_value", "precision", "format"),
    "text": ("text_value",),
    "enum": ("enum_options", "enum_value"),
    "multi_enum": ("enum_options", "multi_enum_values"),
}


def parse_opt_fields(raw: str | None) -> dict[str, Any] | None:
    """Turn ``a,b.c,b.d`` into ``{"a": {}, "b": {"c": {}, "d": {}}}``; None when absent."""
    if raw is None:
        return None
    tree: dict[str, Any] = {}
    for item in raw.split(","):
        path = item.strip()
        if path.startswith("this."):
            path = path[5:]
        if not path:
            continue
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})
    return tree


def validate_fields(kind: str, spec: dict[str, Any], prefix: str = "") -> None:
    """Refuse (400) any opt_fields path the kind does not have."""
    fields = SCHEMA[kind]
    for name, sub in spec.items():
        if name not in fields:
            raise _bad(f"opt_fields: Invalid field: {prefix}{name} is not a field of {kind}")
        child = fields[name]
        if sub:
            if child is None:
                raise _bad(f"opt_fields: Invalid field: {prefix}{name} has no nested fields")
            validate_fields(child, sub, f"{prefix}{name}.")


class _Renderer:
    def __init__(self, store: AsanaStore) -> None:
        self.store = store

    def render(self, ref: Ref, spec: dict[str, Any] | None) -> dict[str, Any]:
        getters = self._getters(ref)
        names: Iterable[str] = spec.keys() if spec else self._default_names(ref)
        out: dict[str, Any] = {}
        if "gid" in getters:
            out["gid"] = getters["gid"]()
        for name in names:
            if name == "gid":
                continue
            sub = spec.get(name) if spec else None
            out[name] = self._value(getters[name](), sub)
        return out

    def _value(self, value: Any, sub: dict[str, Any] | None) -> Any:
        if isinstance(value, Ref):
            # A minimal reference (a task's dependencies and dependents) is {gid, resource_type}
            # whatever dotted opt_fields ask: Asana's spec says they "contain only the gid".
            return self.render(value, None if value.view == "minimal" else sub or None)
        if isinstance(value, list):
            return [self._value(v, sub) for v in value]
        return value

    def _default_names(self, ref: Ref) -> Iterable[str]:
        if ref.view == "minimal":
            return ("gid", "resource_type")
        if ref.kind == "custom_field":
            subtype = self.store.custom_fields[ref.key]["subtype"]
            if ref.view == "full":
                names = [
                    n
                    for n in SCHEMA["custom_field"]
                    if n not in ("number_value", "text_value", "enum_value", "enum_options")
                    and n not in ("precision", "format", "currency_code", "custom_label")
                    and n not in ("custom_label_position", "multi_enum_values", "date_value")
                ]
            else:
                names = ["gid", "resource_type", "name", "resource_subtype", "type", "enabled"]
                names += ["representation_type", "display_value"]
            names += list(_VALUE_FIELDS[subtype])
            if ref.view == "full" and subtype == "number":
                names += ["currency_code", "custom_label", "custom_label_position"]
            return names
        if ref.view == "full":
            names = list(SCHEMA[ref.kind])
            if ref.kind == "task":
                names = [n for n in names if n not in _TASK_OPT_IN]
            return names
        return _COMPACT[ref.kind]

    # Each getter returns a value, a Ref, a list of them, or None.
    def _getters(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        return getattr(self, f"_{ref.kind}")(ref)

    def _task(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        s = self.store
        t = s.tasks[ref.key]
        projects = [m["project"] for m in t["memberships"]]
        home = projects[0] if projects else "0"
        return {
            "gid": lambda: t["gid"],
            "resource_type": lambda: "task",
            "resource_subtype": lambda: "default_task",
            "name": lambda: t["name"],
            "notes": lambda: t["notes"],
            "completed": lambda: t["completed"],
            "completed_at": lambda: t["completed_at"],
            "completed_by": lambda: None,
            "created_at": lambda: t["created_at"],
            "created_by": lambda: (
                Ref("user", t["created_by"], view="minimal") if t.get("created_by") else None
            ),
            "modified_at": lambda: t["modified_at"],
            "start_on": lambda: t["start_on"],
            "start_at": lambda: None,
            "due_on": lambda: t["due_on"],
            "due_at": lambda: t.get("due_at"),
            "assignee": lambda: Ref("user", t["assignee"]) if t["assignee"] else None,
            "assignee_status": lambda: "upcoming" if t["assignee"] else None,
            "projects": lambda: [Ref("project", p) for p in projects],
            "memberships": lambda: [Ref("membership", m) for m in t["memberships"]],
            "parent": lambda: Ref("task", t["parent"]) if t["parent"] else None,
            "num_subtasks": lambda: sum(1 for x in s.tasks.values() if x["parent"] == t["gid"]),
            "tags": lambda: [Ref("tag", g) for g in t["tags"]],
            "dependencies": lambda: [Ref("task", g, view="minimal") for g in t["dependencies"]],
            "dependents": lambda: [Ref("task", g, view="minimal") for g in t["dependents"]],
            "permalink_url": lambda: f"https://app.asana.com/0/{home}/{t['gid']}",
            "custom_fields": lambda: [
                Ref("custom_field", f, ctx=t["gid"], view="full")
                for f in s.task_field_gids(t["gid"])
            ],
            "workspace": lambda: Ref("workspace", t["workspace"]),
            "followers": lambda: [Ref("user", t["assignee"])] if t["assignee"] else [],
            "liked": lambda: False,
            "num_likes": lambda: 0,
            "actual_time_minutes": lambda: t.get("actual_time_minutes"),
            "is_rendered_as_separator": lambda: False,
        }

    def _user(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        u = self.store.users[ref.key]
        return {
            "gid": lambda: u["gid"],
            "resource_type": lambda: "user",
            "name": lambda: u["name"],
            "email": lambda: u["email"],
            "photo": lambda: None,
            "workspaces": lambda: [Ref("workspace", w) for w in u["workspaces"]],
        }

    def _workspace(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        w = self.store.workspaces[ref.key]
        domains = sorted({self.store.users[u]["email"].rpartition("@")[2] for u in w["members"]})
        return {
            "gid": lambda: w["gid"],
            "resource_type": lambda: "workspace",
            "name": lambda: w["name"],
            "is_organization": lambda: True,
            "email_domains": lambda: domains,
        }

    def _project(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        p = self.store.projects[ref.key]
        return {
            "gid": lambda: p["gid"],
            "resource_type": lambda: "project",
            "name": lambda: p["name"],
            "archived": lambda: p["archived"],
            "color": lambda: p["color"],
            "created_at": lambda: p["created_at"],
            "modified_at": lambda: p["modified_at"],
            "notes": lambda: p["notes"],
            "owner": lambda: Ref("user", p["owner"]) if p["owner"] else None,
            "workspace": lambda: Ref("workspace", p["workspace"]),
            "team": lambda: None,
            "public": lambda: True,
            "permalink_url": lambda: f"https://app.asana.com/0/{p['gid']}/{p['gid']}",
            "due_on": lambda: None,
            "start_on": lambda: None,
            "completed": lambda: False,
            "default_view": lambda: "list",
            "custom_field_settings": lambda: [
                Ref("custom_field_setting", s["gid"], ctx=s) for s in self.store.settings[p["gid"]]
            ],
            "members": lambda: [Ref("user", p["owner"])] if p["owner"] else [],
        }

    def _section(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        sec = self.store.sections[ref.key]
        return {
            "gid": lambda: sec["gid"],
            "resource_type": lambda: "section",
            "name": lambda: sec["name"],
            "project": lambda: Ref("project", sec["project"]),
            "created_at": lambda: sec["created_at"],
        }

    def _tag(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        tag = self.store.tags[ref.key]
        return {
            "gid": lambda: tag["gid"],
            "resource_type": lambda: "tag",
            "name": lambda: tag["name"],
            "color": lambda: tag["color"],
            "notes": lambda: "",
            "workspace": lambda: Ref("workspace", tag["workspace"]),
            "permalink_url": lambda: f"https://app.asana.com/0/{tag['gid']}/list",
        }

    def _membership(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        m = ref.key
        return {
            "project": lambda: Ref("project", m["project"]),
            "section": lambda: Ref("section", m["section"]) if m.get("section") else None,
        }

    def _enum_option(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        o = self.store.enum_options[ref.key]
        return {
            "gid": lambda: o["gid"],
            "resource_type": lambda: "enum_option",
            "name": lambda: o["name"],
            "color": lambda: o["color"],
            "enabled": lambda: o["enabled"],
        }

    def _custom_field(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        f = self.store.custom_fields[ref.key]
        subtype = f["subtype"]
        value = None
        if ref.ctx is not None:
            value = self.store.tasks[ref.ctx]["custom_values"].get(f["gid"])

        def typed(kind: str) -> Any:
            return value if subtype == kind else None

        return {
            "gid": lambda: f["gid"],
            "resource_type": lambda: "custom_field",
            "name": lambda: f["name"],
            "type": lambda: subtype,
            "resource_subtype": lambda: subtype,
            "representation_type": lambda: subtype,
            "enabled": lambda: True,
            "description": lambda: f["description"],
            "precision": lambda: f["precision"] if subtype == "number" else None,
            "format": lambda: f["format"] if subtype == "number" else None,
            "currency_code": lambda: None,
            "custom_label": lambda: None,
            "custom_label_position": lambda: None,
            "is_global_to_workspace": lambda: True,
            "has_notifications_enabled": lambda: False,
            "is_formula_field": lambda: False,
            "id_prefix": lambda: None,
            "created_by": lambda: None,
            "enum_options": lambda: [Ref("enum_option", o) for o in f["enum_options"]],
            "enum_value": lambda: Ref("enum_option", value) if typed("enum") else None,
            "multi_enum_values": lambda: [Ref("enum_option", o) for o in typed("multi_enum") or []],
            "number_value": lambda: typed("number"),
            "text_value": lambda: typed("text"),
            "date_value": lambda: None,
            "display_value": lambda: self.display_value(f, value),
        }

    def display_value(self, f: dict[str, Any], value: Any) -> str | None:
        if value is None:
            return None
        if f["subtype"] == "enum":
            return self.store.enum_options[value]["name"]
        if f["subtype"] == "multi_enum":
            return ", ".join(self.store.enum_options[o]["name"] for o in value) or None
        if f["subtype"] == "text":
            return value
        precision = int(f["precision"])
        if f["format"] == "percentage":
            return f"{value * 100:.{precision}f}%"
        return f"{value:.{precision}f}"

    def _custom_field_setting(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        s = ref.ctx
        return {
            "gid": lambda: s["gid"],
            "resource_type": lambda: "custom_field_setting",
            "is_important": lambda: s["is_important"],
            "custom_field": lambda: Ref("custom_field", s["field"], view="full"),
            "project": lambda: Ref("project", s["project"]),
            "parent": lambda: Ref("project", s["project"]),
        }

    def _story(self, ref: Ref) -> dict[str, Callable[[], Any]]:
        st = ref.ctx
        return {
            "gid": lambda: st["gid"],
            "resource_type": lambda: "story",
            "resource_subtype": lambda: "comment_added",
            "type": lambda: "comment",
            "text": lambda: st["text"],
            "created_at": lambda: st["created_at"],
            "created_by": lambda: Ref("user", st["created_by"]) if st["created_by"] else None,
            "is_pinned": lambda: False,
            "is_edited": lambda: False,
            "source": lambda: "web",
            "target": lambda: Ref("task", st["target"]),
        }


# --------------------------------------------------------------------------- the API


@dataclass
class _Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(f"{name}: Not a boolean: {value}")


def _rounded(value: float, custom_field: dict[str, Any]) -> float:
    """A number as the field keeps it: rounded half up to its precision (a percentage's
    precision counts percent places, so 0.715 at precision 0 is kept as 0.72)."""
    if isinstance(value, int):
        return value
    places = int(custom_field["precision"]) + (2 if custom_field["format"] == "percentage" else 0)
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


def _check_date(name: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise _bad(f"{name}: Date must be in ISO-8601 (yyyy-mm-dd) format, not: {value}") from None


def _check_datetime(name: str, value: str) -> datetime:
    try:
        return parse_timestamp(value)
    except ValueError:
        raise _bad(f"{name}: Not a valid ISO-8601 date-time: {value}") from None


def _encode_offset(index: int) -> str:
    raw = json.dumps({"v": 1, "i": index}).encode()
    return "eyJ" + base64.urlsafe_b64encode(raw).decode().rstrip("=")[3:]


def _decode_offset(token: str) -> int:
    try:
        if not token.startswith("eyJ"):
            raise ValueError
        padded = "eyJ" + token[3:] + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
        index = payload["i"]
        if payload.get("v") != 1 or not isinstance(index, int) or index < 0:
            raise ValueError
        return index
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _bad("offset: Your pagination token is invalid.") from None


_TASK_WRITABLE = {
    "name",
    "notes",
    "assignee",
    "due_on",
    "due_at",
    "start_on",
    "completed",
    "custom_fields",
}
_TASK_READ_ONLY = {
    "gid",
    "resource_type",
    "projects",
    "memberships",
    "tags",
    "parent",
    "workspace",
    "created_at",
    "modified_at",
    "completed_at",
    "dependencies",
    "dependents",
    "num_subtasks",
    "permalink_url",
}


class AsanaApi:
    """Route one request to the store and build Asana's answer (no HTTP here)."""

    def __init__(
        self, store: AsanaStore, base_url: str = "", hub: WebhookHub | None = None
    ) -> None:
        self.store = store
        self.base_url = base_url
        self.renderer = _Renderer(store)
        self.hub = hub
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., _Response]]] = []
        for method, pattern, handler in (
            ("GET", r"/users/me", self.get_me),
            ("GET", r"/users/(\d+)", self.get_user),
            ("GET", r"/users", self.list_users),
            ("GET", r"/workspaces", self.list_workspaces),
            ("GET", r"/workspaces/(\d+)", self.get_workspace),
            ("GET", r"/workspaces/(\d+)/users", self.list_workspace_users),
            ("GET", r"/workspaces/(\d+)/custom_fields", self.list_workspace_fields),
            ("GET", r"/workspaces/(\d+)/typeahead", self.typeahead),
            ("GET", r"/projects", self.list_projects),
            ("GET", r"/projects/(\d+)", self.get_project),
            ("GET", r"/projects/(\d+)/tasks", self.list_project_tasks),
            ("GET", r"/projects/(\d+)/sections", self.list_sections),
            ("GET", r"/projects/(\d+)/custom_field_settings", self.list_settings),
            ("POST", r"/projects/(\d+)/addCustomFieldSetting", self.add_setting),
            ("GET", r"/sections/(\d+)/tasks", self.list_section_tasks),
            ("GET", r"/tasks", self.list_tasks),
            ("POST", r"/tasks", self.create_task),
            ("GET", r"/webhooks", self.list_webhooks),
            ("POST", r"/webhooks", self.create_webhook),
            ("GET", r"/webhooks/(\d+)", self.get_webhook),
            ("DELETE", r"/webhooks/(\d+)", self.delete_webhook),
            ("GET", r"/tasks/(\d+)", self.get_task),
            ("PUT", r"/tasks/(\d+)", self.update_task),
            ("GET", r"/tasks/(\d+)/stories", self.list_stories),
            ("POST", r"/tasks/(\d+)/stories", self.create_story),
            ("GET", r"/tasks/(\d+)/subtasks", self.list_subtasks),
            ("GET", r"/tasks/(\d+)/dependencies", self.list_dependencies),
            ("GET", r"/tasks/(\d+)/dependents", self.list_dependents),
            ("POST", r"/custom_fields", self.create_field),
            ("GET", r"/custom_fields/(\d+)", self.get_field),
            ("POST", r"/custom_fields/(\d+)/enum_options", self.create_enum_option),
            ("PUT", r"/enum_options/(\d+)", self.update_enum_option),
            ("POST", r"/batch", self.batch),
        ):
            self._routes.append((method, re.compile(pattern + r"/?"), handler))

    # -- dispatch

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: dict[str, Any] | None,
        *,
        batch_fault: tuple[int, ...] = (),
        batch_status: int = 500,
    ) -> _Response:
        method = method.upper()
        try:
            for route_method, pattern, handler in self._routes:
                match = pattern.fullmatch(path)
                if not match or route_method != method:
                    continue
                if method in ("POST", "PUT"):
                    data = self._data(body)
                    if handler == self.batch:
                        return handler(data, query, batch_fault, batch_status)
                    return handler(*match.groups(), data=data, query=query)
                return handler(*match.groups(), query=query)
            # Asana answers a method a path does not take like a path it does not have.
            raise ApiError(404, "No matching route for request")
        except ApiError as error:
            return _Response(error.status, error.body(), error.headers)

    @staticmethod
    def _data(body: dict[str, Any] | None) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise _bad("data: Missing input")
        extra = set(body) - {"data", "options"}
        if extra:
            name = sorted(extra)[0]
            raise _bad(
                f"Unrecognized request field '{name}'. The only allowed keys at the top level "
                "are: data, options."
            )
        return body["data"]

    # -- helpers

    def _spec(self, kind: str, query: dict[str, str]) -> dict[str, Any] | None:
        spec = parse_opt_fields(query.get("opt_fields"))
        if spec:
            validate_fields(kind, spec)
        return spec

    def _one(self, ref: Ref, query: dict[str, str], status: int = 200) -> _Response:
        spec = self._spec(ref.kind, query)
        full = Ref(ref.kind, ref.key, ref.ctx, view="full")
        headers = {}
        if status == 201 and ref.kind in ("story", "custom_field", "enum_option", "task"):
            headers["Location"] = f"/{ref.kind}s/{full.key}"
        return _Response(status, {"data": self.renderer.render(full, spec)}, headers)

    def _page(
        self,
        path: str,
        refs: list[Ref],
        query: dict[str, str],
        render: Callable[[Ref], dict[str, Any]] | None = None,
    ) -> _Response:
        if render is None:
            spec = self._spec(refs[0].kind, query) if refs else self._spec_only(query)
            render = lambda ref: self.renderer.render(ref, spec)  # noqa: E731
        raw_limit = query.get("limit")
        offset_token = query.get("offset")
        if raw_limit is None:
            if offset_token is not None:
                raise _bad("offset: Your pagination token is invalid.")
            if len(refs) > UNPAGINATED_MAX:
                raise _bad(
                    "The result is too large. You should use pagination "
                    "(may require specifying a workspace)!"
                )
            data = [render(r) for r in refs]
            return _Response(200, {"data": data, "next_page": None})
        try:
            limit = int(raw_limit)
        except ValueError:
            raise _bad(f"limit: Not an integer: {raw_limit}") from None
        if not 1 <= limit <= 100:
            raise _bad(f"limit: Must be between 1 and 100, got {limit}")
        start = _decode_offset(offset_token) if offset_token is not None else 0
        if start > len(refs):
            raise _bad("offset: Your pagination token is invalid.")
        chunk = refs[start : start + limit]
        next_page = None
        if start + limit < len(refs):
            token = _encode_offset(start + limit)
            params = {k: v for k, v in query.items() if k != "offset"}
            params["offset"] = token
            rel = f"{path}?{urlencode(params, quote_via=quote, safe=',')}"
            next_page = {"offset": token, "path": rel, "uri": f"{self.base_url}{rel}"}
        data = [render(r) for r in chunk]
        return _Response(200, {"data": data, "next_page": next_page})

    @staticmethod
    def _spec_only(query: dict[str, str]) -> dict[str, Any] | None:
        return parse_opt_fields(query.get("opt_fields"))

    def _need(self, table: dict[str, Any], gid: str, kind: str) -> Any:
        if gid not in table:
            raise _unknown(kind, gid)
        return table[gid]

    def _workspace_param(self, query: dict[str, str], required: bool = True) -> str | None:
        gid = query.get("workspace")
        if gid is None:
            if required:
                raise _bad("workspace: Missing input")
            return None
        if not gid.isdigit():
            raise _bad(f"workspace: Not a recognized ID: {gid}")
        if gid not in self.store.workspaces:
            raise _unknown("workspace", gid)
        return gid

    # -- users and workspaces

    def get_me(self, *, query: dict[str, str]) -> _Response:
        me = self.store.actor or self.store.me
        if me is None:
            raise ApiError(401, "Not Authorized")
        return self._one(Ref("user", me), query)

    def get_user(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.users, gid, "user")
        return self._one(Ref("user", gid), query)

    def list_users(self, *, query: dict[str, str]) -> _Response:
        workspace = self._workspace_param(query, required=False)
        users = [
            Ref("user", u["gid"])
            for u in self.store.users.values()
            if workspace is None or workspace in u["workspaces"]
        ]
        return self._page("/users", users, query)

    def list_workspace_users(self, gid: str, *, query: dict[str, str]) -> _Response:
        workspace = self._need(self.store.workspaces, gid, "workspace")
        users = [Ref("user", u) for u in workspace["members"]]
        return self._page(f"/workspaces/{gid}/users", users, query)

    def list_workspaces(self, *, query: dict[str, str]) -> _Response:
        refs = [Ref("workspace", w) for w in self.store.workspaces]
        return self._page("/workspaces", refs, query)

    def get_workspace(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.workspaces, gid, "workspace")
        return self._one(Ref("workspace", gid), query)

    def typeahead(self, gid: str, *, query: dict[str, str]) -> _Response:
        """GET /workspaces/{gid}/typeahead: one unpaginated page of at most `count` (1-100,
        default 20) objects of one type whose name has a word starting with each query word,
        most recently modified first (Asana orders projects by recency)."""
        self._need(self.store.workspaces, gid, "workspace")
        kind = query.get("resource_type") or query.get("type") or "user"
        if kind not in ("project", "user"):
            raise _bad(f"resource_type: Not a supported typeahead type in the sandbox: {kind}")
        raw = query.get("count", "20")
        try:
            count = int(raw)
        except ValueError:
            raise _bad(f"count: Not an integer: {raw}") from None
        if not 1 <= count <= 100:
            raise _bad(f"count: Must be between 1 and 100, got {count}")
        words = (query.get("query") or "").casefold().split()

        def hit(name: str) -> bool:
            have = name.casefold().split()
            return all(any(h.startswith(w) for h in have) for w in words)

        if kind == "project":
            found = [
                p for p in self.store.projects.values() if p["workspace"] == gid and hit(p["name"])
            ]
            found.sort(key=lambda p: p["modified_at"], reverse=True)
        else:
            found = [
                u for u in self.store.users.values() if gid in u["workspaces"] and hit(u["name"])
            ]
        spec = self._spec(kind, query)
        data = [self.renderer.render(Ref(kind, r["gid"]), spec) for r in found[:count]]
        return _Response(200, {"data": data})

    # -- projects

    def list_projects(self, *, query: dict[str, str]) -> _Response:
        workspace = self._workspace_param(query, required=False)
        archived = query.get("archived")
        wanted = None if archived is None else _as_bool("archived", archived)
        refs = [
            Ref("project", p["gid"])
            for p in self.store.projects.values()
            if (workspace is None or p["workspace"] == workspace)
            and (wanted is None or p["archived"] == wanted)
        ]
        return self._page("/projects", refs, query)

    def get_project(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.projects, gid, "project")
        return self._one(Ref("project", gid), query)

    def list_sections(self, gid: str, *, query: dict[str, str]) -> _Response:
        project = self._need(self.store.projects, gid, "project")
        refs = [Ref("section", s) for s in project["sections"]]
        return self._page(f"/projects/{gid}/sections", refs, query)

    def list_settings(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.projects, gid, "project")
        refs = [Ref("custom_field_setting", s["gid"], ctx=s) for s in self.store.settings[gid]]
        return self._page(f"/projects/{gid}/custom_field_settings", refs, query)

    def add_setting(self, gid: str, *, data: dict[str, Any], query: dict[str, str]) -> _Response:
        project = self._need(self.store.projects, gid, "project")
        field_gid = data.get("custom_field")
        if field_gid is None:
            raise _bad("custom_field: Missing input")
        if not isinstance(field_gid, str) or not field_gid.isdigit():
            raise _bad(f"custom_field: Not a recognized ID: {field_gid}")
        custom_field = self.store.custom_fields.get(field_gid)
        if custom_field is None or custom_field["workspace"] != project["workspace"]:
            raise _unknown("custom_field", field_gid)
        important = _as_bool("is_important", data.get("is_important", False))
        try:
            self.store.attach_field(gid, field_gid, is_important=important)
        except ValueError:
            raise _bad(
                f"custom_field: Custom field with ID {field_gid} is already on project {gid}"
            ) from None
        setting = self.store.settings[gid][-1]
        return self._one(Ref("custom_field_setting", setting["gid"], ctx=setting), query)

    # -- tasks

    def _completed_since(self, query: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
        raw = query.get("completed_since")
        if raw is None:
            return lambda t: True
        if raw == "now":
            return lambda t: not t["completed"]
        # Stored timestamps share one fixed-width UTC format, so strings compare as times.
        since = format_timestamp(_check_datetime("completed_since", raw))
        return lambda t: (
            not t["completed"] or (t["completed_at"] is not None and t["completed_at"] >= since)
        )

    def list_project_tasks(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.projects, gid, "project")
        keep = self._completed_since(query)
        refs = [
            Ref("task", t["gid"])
            for t in self.store.tasks.values()
            if any(m["project"] == gid for m in t["memberships"]) and keep(t)
        ]
        return self._page(f"/projects/{gid}/tasks", refs, query)

    def list_section_tasks(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.sections, gid, "section")
        keep = self._completed_since(query)
        refs = [
            Ref("task", t["gid"])
            for t in self.store.tasks.values()
            if any(m.get("section") == gid for m in t["memberships"]) and keep(t)
        ]
        return self._page(f"/sections/{gid}/tasks", refs, query)

    def list_tasks(self, *, query: dict[str, str]) -> _Response:
        project = query.get("project")
        section = query.get("section")
        assignee = query.get("assignee")
        workspace = query.get("workspace")
        filters = [project is not None, section is not None, assignee is not None]
        if sum(filters) != 1 or (assignee is not None and workspace is None):
            raise _bad(
                "Must specify exactly one of project, tag, section, user task list, "
                "or assignee + workspace"
            )
        keep = self._completed_since(query)
        modified_since = query.get("modified_since")
        since = (
            format_timestamp(_check_datetime("modified_since", modified_since))
            if modified_since
            else None
        )
        if project is not None:
            self._need(self.store.projects, project, "project")

            def member(t: dict[str, Any]) -> bool:
                return any(m["project"] == project for m in t["memberships"])
        elif section is not None:
            self._need(self.store.sections, section, "section")

            def member(t: dict[str, Any]) -> bool:
                return any(m.get("section") == section for m in t["memberships"])
        else:
            me = self.store.me if assignee == "me" else assignee
            self._need(self.store.users, str(me), "user")
            self._workspace_param(query)

            def member(t: dict[str, Any]) -> bool:
                return t["assignee"] == me and t["workspace"] == workspace

        refs = [
            Ref("task", t["gid"])
            for t in self.store.tasks.values()
            if member(t) and keep(t) and (since is None or t["modified_at"] >= since)
        ]
        return self._page("/tasks", refs, query)

    def get_task(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.tasks, gid, "task")
        return self._one(Ref("task", gid), query)

    def list_subtasks(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.tasks, gid, "task")
        refs = [Ref("task", t["gid"]) for t in self.store.tasks.values() if t["parent"] == gid]
        return self._page(f"/tasks/{gid}/subtasks", refs, query)

    def list_dependencies(self, gid: str, *, query: dict[str, str]) -> _Response:
        task = self._need(self.store.tasks, gid, "task")
        refs = [Ref("task", g) for g in task["dependencies"]]
        return self._page(f"/tasks/{gid}/dependencies", refs, query)

    def list_dependents(self, gid: str, *, query: dict[str, str]) -> _Response:
        task = self._need(self.store.tasks, gid, "task")
        refs = [Ref("task", g) for g in task["dependents"]]
        return self._page(f"/tasks/{gid}/dependents", refs, query)

    def create_task(self, *, data: dict[str, Any], query: dict[str, str]) -> _Response:
        """POST /tasks: a new task in `projects` (or a workspace); 201 with the task.

        As Asana's createTask: the workspace is implied by `projects` or `parent` and must
        match them when given; name and notes are strings; unknown keys are refused.
        """
        self._spec("task", query)
        allowed = {"name", "notes", "projects", "workspace", "parent", "assignee", "due_on"}
        for key in data:
            if key not in allowed:
                raise _bad(f"{key}: Unknown property of a task, or one the sandbox cannot set")
        for key in ("name", "notes"):
            if key in data and not isinstance(data[key], str):
                raise _bad(f"{key}: Not a string: {data[key]}")
        projects = data.get("projects") or []
        if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
            raise _bad("projects: Not an array of project gids")
        for project_gid in projects:
            self._need(self.store.projects, project_gid, "project")
        parent = data.get("parent")
        workspace = data.get("workspace")
        if not projects and parent is None and workspace is None:
            raise _bad("workspace: Missing input")
        if workspace is not None:
            self._need(self.store.workspaces, workspace, "workspace")
            implied = [self.store.projects[p]["workspace"] for p in projects]
            if any(w != workspace for w in implied):
                raise _bad("workspace: The project is not in this workspace")
        gid = self.store.add_task(
            projects[0] if projects else None,
            data.get("name") or "",
            notes=data.get("notes") or "",
            assignee=data.get("assignee"),
            due_on=data.get("due_on"),
            parent=parent,
            workspace_gid=workspace,
            by=self.store.actor or self.store.me,
        )
        for project_gid in projects[1:]:
            self.store.tasks[gid]["memberships"].append(
                {"project": project_gid, "section": self.store._first_section(project_gid)}
            )
            self.store.emit(
                "added",
                gid,
                user=self.store.actor or self.store.me,
                parent=("project", project_gid),
            )
        return self._one(Ref("task", gid), query, status=201)

    def update_task(self, gid: str, *, data: dict[str, Any], query: dict[str, str]) -> _Response:
        task = self._need(self.store.tasks, gid, "task")
        self._spec("task", query)  # refuse a bad opt_fields before writing anything
        changes: dict[str, Any] = {}
        for key in data:
            if key in _TASK_READ_ONLY:
                raise _bad(f"{key}: Cannot write this property")
            if key not in _TASK_WRITABLE:
                raise _bad(f"{key}: Unknown property of a task")
        if "name" in data:
            if not isinstance(data["name"], str):
                raise _bad(f"name: Not a string: {data['name']}")
            changes["name"] = data["name"]
        if "notes" in data:
            if not isinstance(data["notes"], str):
                raise _bad(f"notes: Not a string: {data['notes']}")
            changes["notes"] = data["notes"]
        if "assignee" in data:
            changes["assignee"] = self._assignee(task, data["assignee"])
        if "due_on" in data and "due_at" in data:
            # Observed wording: https://forum.asana.com/t/808508
            raise _bad("You may only provide one of due_on or due_at!")
        if "due_on" in data:
            # A date without a time: any due time the task had is gone.
            changes["due_on"] = _check_date("due_on", data["due_on"])
            changes["due_at"] = None
        if "due_at" in data:
            due_at = data["due_at"]
            if due_at is None:
                changes["due_on"] = changes["due_at"] = None
            else:
                if not isinstance(due_at, str) or "T" not in due_at:
                    raise _bad(f"due_at: Not a valid ISO-8601 date-time: {due_at}")
                moment = _check_datetime("due_at", due_at)
                changes["due_at"] = format_timestamp(moment)
                changes["due_on"] = self.store.local_date(moment)
        if "start_on" in data:
            changes["start_on"] = _check_date("start_on", data["start_on"])
            if "due_on" not in data and "due_at" not in data:
                # "due_on or due_at must be present in the request when setting or unsetting
                # the start_on parameter" (OpenAPI, TaskBase.start_on).
                raise _bad(
                    "start_on: You must specify a due date (due_on or due_at) with a start date"
                )
        start_on = changes.get("start_on", task["start_on"])
        due_on = changes.get("due_on", task["due_on"])
        if start_on is not None and due_on is None:
            raise _bad("start_on: You must specify a due date (due_on or due_at) with a start date")
        if start_on is not None and due_on is not None and start_on > due_on:
            raise _bad("start_on: The start date must be on or before the due date")
        if "completed" in data:
            if not isinstance(data["completed"], bool):
                raise _bad(f"completed: Not a boolean: {data['completed']}")
            changes["completed"] = data["completed"]
        values = (
            self._custom_values(task, data.get("custom_fields")) if "custom_fields" in data else {}
        )
        # Every check passed: apply all or nothing, as Asana does.
        now = self.store.timestamp()
        if "completed" in changes and changes["completed"] != task["completed"]:
            task["completed_at"] = now if changes["completed"] else None
        task.update(changes)
        task["custom_values"].update(values)
        task["modified_at"] = now
        self.store.applied_updates.append(gid)  # what tests count as "written"
        for name in [*changes, *(["custom_fields"] if values else [])]:
            self.store.emit(
                "changed", gid, user=self.store.actor, change={"field": name, "action": "changed"}
            )
        return self._one(Ref("task", gid), query)

    # -- webhooks

    def _hub(self) -> WebhookHub:
        if self.hub is None:
            raise ApiError(404, "No matching route for request")
        return self.hub

    def _owner(self) -> str:
        return self.store.actor or self.store.me or ""

    def list_webhooks(self, *, query: dict[str, str]) -> _Response:
        workspace = self._workspace_param(query)
        assert workspace is not None
        hooks = self._hub().listing(
            workspace=workspace, resource=query.get("resource"), owner=self._owner()
        )
        refs = [Ref("webhook", w["gid"]) for w in hooks]
        return self._webhook_page(refs, query)

    def _webhook_page(self, refs: list[Ref], query: dict[str, str]) -> _Response:
        hub = self._hub()
        return self._page(
            "/webhooks",
            refs,
            query,
            render=lambda ref: render_webhook(hub.get(ref.key), query.get("opt_fields")),
        )

    def create_webhook(self, *, data: dict[str, Any], query: dict[str, str]) -> _Response:
        hub = self._hub()
        resource = str(data.get("resource") or "")
        workspace = None
        if resource in self.store.projects:
            workspace = self.store.projects[resource]["workspace"]
        elif resource in self.store.tasks:
            workspace = self.store.tasks[resource]["workspace"]
        try:
            webhook = hub.create(data, owner=self._owner(), workspace=workspace)
        except WebhookError as error:
            raise ApiError(error.status, error.message) from None
        return _Response(201, {"data": full_webhook(webhook)}, {})

    def get_webhook(self, gid: str, *, query: dict[str, str]) -> _Response:
        try:
            webhook = self._hub().get(gid)
        except WebhookError as error:
            raise ApiError(error.status, error.message) from None
        if query.get("opt_fields"):
            return _Response(200, {"data": render_webhook(webhook, query["opt_fields"])})
        return _Response(200, {"data": full_webhook(webhook)})

    def delete_webhook(self, gid: str, *, query: dict[str, str]) -> _Response:
        try:
            self._hub().delete(gid)
        except WebhookError as error:
            raise ApiError(error.status, error.message) from None
        return _Response(200, {"data": {}})

    def _assignee(self, task: dict[str, Any], value: Any) -> str | None:
        if value is None:
            return None
        if value == "me":
            return self.store.me
        if not isinstance(value, str) or not (value.isdigit() or "@" in value):
            raise _bad(f"assignee: Not a recognized ID: {value}")
        for user in self.store.users.values():
            if value in (user["gid"], user["email"]) and task["workspace"] in user["workspaces"]:
                return user["gid"]
        raise _bad(f"assignee: Not a user in Organization: {value}")

    def _custom_values(self, task: dict[str, Any], sent: Any) -> dict[str, Any]:
        if not isinstance(sent, dict):
            raise _bad(f"custom_fields: Value is not a JSON object: {sent}")
        attached = self.store.task_field_gids(task["gid"])
        out: dict[str, Any] = {}
        for field_gid, value in sent.items():
            if not str(field_gid).isdigit():
                raise _bad(f"custom_fields: Not a recognized ID: {field_gid}")
            if field_gid not in self.store.custom_fields:
                raise _bad(f"custom_fields: Unknown object: {field_gid}")
            if field_gid not in attached:
                # Observed wording: https://forum.asana.com/t/618448
                raise _bad(f"Custom field with ID {field_gid} is not on given object")
            custom_field = self.store.custom_fields[field_gid]
            subtype = custom_field["subtype"]
            where = f"custom_fields.{field_gid}"
            if value is None:
                out[field_gid] = None
            elif subtype == "number":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise _bad(f"{where}: number_value: Not a number: {value}")
                if not math.isfinite(value):
                    raise _bad(f"{where}: number_value: Not a finite number: {value}")
                out[field_gid] = _rounded(value, custom_field)
            elif subtype == "text":
                if not isinstance(value, str):
                    raise _bad(f"{where}: text_value: Not a string: {value}")
                out[field_gid] = value
            elif subtype == "multi_enum":
                options = [
                    o for o in custom_field["enum_options"] if self.store.enum_options[o]["enabled"]
                ]
                if not isinstance(value, list):
                    raise _bad(f"{where}: multi_enum_values: Not an array: {value}")
                for gid in value:
                    if gid not in options:
                        raise _bad(
                            f"multi_enum_values: {gid} is not a valid enum option of custom "
                            f"field {field_gid}"
                        )
                out[field_gid] = list(dict.fromkeys(value))
            else:
                options = [
                    o for o in custom_field["enum_options"] if self.store.enum_options[o]["enabled"]
                ]
                if value not in options:
                    raise _bad(
                        f"enum_value: {value} is not a valid enum option of custom field "
                        f"{field_gid}"
                    )
                out[field_gid] = value
        return out

    # -- stories

    def list_stories(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.tasks, gid, "task")
        refs = [Ref("story", s["gid"], ctx=s) for s in self.store.stories[gid]]
        return self._page(f"/tasks/{gid}/stories", refs, query)

    def create_story(self, gid: str, *, data: dict[str, Any], query: dict[str, str]) -> _Response:
        self._need(self.store.tasks, gid, "task")
        self._spec("story", query)
        text = data.get("text")
        if text is None and "html_text" not in data:
            raise _bad("text: Missing input")
        if not isinstance(text, str):
            raise _bad(f"text: Not a string: {text}")
        story_gid = self.store.add_story(gid, text, author_gid=self.store.me)
        story = self.store.stories[gid][-1]
        assert story["gid"] == story_gid
        return self._one(Ref("story", story_gid, ctx=story), query, status=201)

    # -- custom fields

    def list_workspace_fields(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.workspaces, gid, "workspace")
        refs = [
            Ref("custom_field", f["gid"])
            for f in self.store.custom_fields.values()
            if f["workspace"] == gid
        ]
        return self._page(f"/workspaces/{gid}/custom_fields", refs, query)

    def get_field(self, gid: str, *, query: dict[str, str]) -> _Response:
        self._need(self.store.custom_fields, gid, "custom_field")
        return self._one(Ref("custom_field", gid), query)

    def create_field(self, *, data: dict[str, Any], query: dict[str, str]) -> _Response:
        self._spec("custom_field", query)
        workspace = data.get("workspace")
        if workspace is None:
            raise _bad("workspace: Missing input")
        if not isinstance(workspace, str) or not workspace.isdigit():
            raise _bad(f"workspace: Not a recognized ID: {workspace}")
        if workspace not in self.store.workspaces:
            raise _bad(f"workspace: Unknown object: {workspace}")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _bad("name: Missing input")
        subtype = data.get("resource_subtype", data.get("type"))
        if subtype is None:
            raise _bad("resource_subtype: Missing input")
        if subtype not in FIELD_SUBTYPES:
            raise _bad(f"resource_subtype: Not a supported custom field type: {subtype}")
        precision = data.get("precision", 0)
        if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= 6:
            raise _bad(f"precision: Must be an integer between 0 and 6: {precision}")
        fmt = data.get("format", "none")
        if fmt not in FIELD_FORMATS:
            raise _bad(f"format: Not a valid format: {fmt}")
        options = data.get("enum_options", [])
        if not isinstance(options, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in options
        ):
            raise _bad("enum_options: Each enum option needs a name")
        if options and subtype not in ENUM_SUBTYPES:
            raise _bad("enum_options: Only enum custom fields can have enum options")
        if self.store.find_field(workspace, name) is not None:
            raise _bad(
                f'name: A custom field named "{name}" already exists in this workspace; '
                "custom field names must be unique"
            )
        gid = self.store.add_custom_field(
            workspace,
            name,
            subtype,
            precision=precision,
            format=fmt,
            enum_options=[{"name": o["name"], "color": o.get("color", "none")} for o in options],
            description=str(data.get("description", "")),
        )
        return self._one(Ref("custom_field", gid), query, status=201)

    def create_enum_option(
        self, gid: str, *, data: dict[str, Any], query: dict[str, str]
    ) -> _Response:
        custom_field = self._need(self.store.custom_fields, gid, "custom_field")
        self._spec("enum_option", query)
        if custom_field["subtype"] not in ENUM_SUBTYPES:
            raise _bad(f"custom_field: Custom field {gid} is not an enum field")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _bad("name: Missing input")
        if len(custom_field["enum_options"]) >= MAX_ENUM_OPTIONS:
            raise _bad(
                f"enum_options: A custom field can have at most {MAX_ENUM_OPTIONS} enum options "
                "(including disabled options)"
            )
        option = self.store.add_enum_option(gid, name, color=str(data.get("color", "none")))
        return self._one(Ref("enum_option", option), query, status=201)

    def update_enum_option(
        self, gid: str, *, data: dict[str, Any], query: dict[str, str]
    ) -> _Response:
        option = self._need(self.store.enum_options, gid, "enum_option")
        self._spec("enum_option", query)
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("gid", "resource_type"):
                raise _bad(f"{key}: Cannot write this property")
            if key == "name":
                if not isinstance(value, str) or not value.strip():
                    raise _bad(f"name: Not a valid name: {value}")
            elif key == "color":
                if not isinstance(value, str):
                    raise _bad(f"color: Not a string: {value}")
            elif key == "enabled":
                value = _as_bool("enabled", value)
            else:
                raise _bad(f"{key}: Unknown property of an enum option")
            changes[key] = value
        custom_field = self.store.custom_fields[option["field"]]
        if changes.get("enabled") is False and option["enabled"]:
            others = [
                o
                for o in custom_field["enum_options"]
                if o != gid and self.store.enum_options[o]["enabled"]
            ]
            if not others:
                # "Enum custom fields require at least one enabled enum option" (OpenAPI).
                raise _bad("enabled: Enum custom fields require at least one enabled enum option")
        option.update(changes)
        return self._one(Ref("enum_option", gid), query)

    # -- batch

    def batch(
        self,
        data: dict[str, Any],
        query: dict[str, str],
        fail_actions: tuple[int, ...] = (),
        fail_status: int = 500,
    ) -> _Response:
        actions = data.get("actions")
        if not isinstance(actions, list) or not actions:
            raise _bad("actions: Missing input")
        if len(actions) > MAX_BATCH_ACTIONS:
            raise _bad(
                f"actions: Too many actions; a batch request takes at most {MAX_BATCH_ACTIONS}, "
                f"got {len(actions)}"
            )
        results = []
        for index, action in enumerate(actions):
            if index in fail_actions:
                error = ApiError(fail_status, "Server Error" if fail_status >= 500 else "Failed")
                results.append({"status_code": fail_status, "headers": {}, "body": error.body()})
                continue
            response = self._batch_action(index, action)
            results.append(
                {"status_code": response.status, "headers": response.headers, "body": response.body}
            )
        return _Response(200, {"data": results})

    def _batch_action(self, index: int, action: Any) -> _Response:
        try:
            if not isinstance(action, dict):
                raise _bad(f"actions: [{index}]: Not an object")
            path = action.get("relative_path")
            method = action.get("method")
            if not isinstance(path, str) or not path.startswith("/"):
                raise _bad(f"actions: [{index}]: relative_path: Missing input")
            if "?" in path:
                raise _bad(
                    f"actions: [{index}]: relative_path: Query parameters are not accepted "
                    "here; put them in data"
                )
            if not isinstance(method, str) or method.lower() not in ("get", "post", "put"):
                raise _bad(f"actions: [{index}]: method: Not a supported method: {method}")
            if path.rstrip("/") == "/batch":
                raise _bad(f"actions: [{index}]: relative_path: A batch cannot contain /batch")
            payload = action.get("data") or {}
            options = action.get("options") or {}
            if not isinstance(payload, dict) or not isinstance(options, dict):
                raise _bad(f"actions: [{index}]: data and options must be objects")
            query: dict[str, str] = {}
            fields = options.get("fields")
            if fields:
                query["opt_fields"] = ",".join(fields) if isinstance(fields, list) else fields
            for key in ("limit", "offset"):
                if key in options:
                    query[key] = str(options[key])
            if method.lower() == "get":
                for key, value in payload.items():
                    if key in ("limit", "offset", "opt_fields"):
                        raise _bad(
                            f"actions: [{index}]: data: {key}: Options and pagination are not "
                            "accepted here; put them in options"
                        )
                    query[key] = str(value).lower() if isinstance(value, bool) else str(value)
                return self.handle("GET", path, query, None)
            return self.handle(method, path, query, {"data": payload})
        except ApiError as error:
            return _Response(error.status, error.body(), error.headers)


# --------------------------------------------------------------------------- HTTP


class AsanaSandbox(LoopbackService):
    """The Asana stand-in on a loopback port, for the real ``asana`` client."""

    def __init__(
        self,
        store: AsanaStore | None = None,
        *,
        token: str = "sandbox-asana-token",
        rate_limit_per_minute: int | None = None,
        state_path: str | Path | None = None,
        webhook_knobs: WebhookKnobs | None = None,
    ) -> None:
        self.store = store if store is not None else AsanaStore()
        self.token = token
        # More tokens, each acting as a person (user gid): their changes are theirs in events.
        self.people_tokens: dict[str, str] = {}
        self.faults = FaultPlan()
        self.requests: list[RecordedRequest] = []
        self.state_path = Path(state_path) if state_path is not None else None
        self._limiter = _RateLimiter(rate_limit_per_minute)
        self._records_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.webhooks = WebhookHub(
            new_gid=self.store.new_gid,
            now=self.store.now,
            resource_of=self._resource_of,
            projects_of_task=self.store.task_projects,
            knobs=webhook_knobs,
        )
        self.store.event_listeners.append(self.webhooks.publish)
        self.api = AsanaApi(self.store, hub=self.webhooks)

    def token_for(self, user_gid: str) -> str:
        """A personal access token acting as that user (a person editing Asana)."""
        token = f"sandbox-person-{user_gid}"
        self.people_tokens[token] = user_gid
        return token

    def _resource_of(self, gid: str) -> dict[str, Any] | None:
        with self.store.lock:
            for kind, table in (("project", self.store.projects), ("task", self.store.tasks)):
                if gid in table:
                    return {"gid": gid, "resource_type": kind, "name": table[gid]["name"]}
        return None

    def stop(self) -> None:
        self.webhooks.stop()
        super().stop()

    @property
    def rate_limit_per_minute(self) -> int | None:
        return self._limiter.per_minute

    def start(self, port: int = 0) -> AsanaSandbox:
        server = _QuietServer(("127.0.0.1", port), _make_handler(self))
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}{API_PREFIX}"
        self.api.base_url = self.base_url
        self._serve(server, "asana-sandbox")
        return self

    def reset_requests(self) -> None:
        with self._records_lock:
            self.requests.clear()

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        with self._records_lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path_prefix is None or r.path.startswith(path_prefix))
            )

    def _record(self, record: RecordedRequest) -> None:
        with self._records_lock:
            self.requests.append(record)

    def serve(
        self,
        method: str,
        raw_path: str,
        headers: Any,
        raw_body: bytes,
    ) -> tuple[int, dict[str, Any] | None, dict[str, str], float]:
        """Answer one HTTP request: (status, body or None to drop, headers, delay)."""
        split = urlsplit(raw_path)
        query = _flat_query(split.query)
        path = split.path
        inner = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path
        inner = inner or "/"
        body: dict[str, Any] | None = None
        body_error: ApiError | None = None
        if raw_body:
            try:
                parsed = json.loads(raw_body)
                body = parsed if isinstance(parsed, dict) else {"_": parsed}
            except ValueError:
                body_error = _bad("Could not parse request data, invalid JSON")
        record = RecordedRequest(method, inner, query, body)
        self._record(record)
        status, payload, out_headers, delay = self._answer(
            method, path, inner, query, body, body_error, headers
        )
        record.status = status
        return status, payload, out_headers, delay

    def _answer(
        self,
        method: str,
        path: str,
        inner: str,
        query: dict[str, str],
        body: dict[str, Any] | None,
        body_error: ApiError | None,
        headers: Any,
    ) -> tuple[int, dict[str, Any] | None, dict[str, str], float]:
        fault = self.faults.take(method, inner, body)
        delay = 0.0
        fail_actions: tuple[int, ...] = ()
        fail_status = 500
        lose_answer = fault is not None and fault.kind == "drop_after"
        if fault is not None:
            if fault.kind == "drop":
                return 0, None, {}, 0.0
            if fault.kind == "429":
                retry = fault.retry_after
                shown = str(int(retry)) if float(retry).is_integer() else str(retry)
                error = ApiError(429, RATE_LIMIT_MESSAGE, headers={"Retry-After": shown})
                return 429, error.body(), error.headers, 0.0
            if fault.kind in ("401", "403", "500", "503"):
                status = int(fault.kind)
                return status, ApiError(status, _FAULT_MESSAGES[status]).body(), {}, 0.0
            if fault.kind == "latency":
                delay = fault.delay
            if fault.kind == "batch_partial":
                fail_actions, fail_status = fault.fail_actions, fault.status
        if not path.startswith(API_PREFIX):
            error = ApiError(404, "No matching route for request")
            return 404, error.body(), {}, delay
        bearer = headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer != self.token and bearer not in self.people_tokens:
            return 401, {"errors": [{"message": "Not Authorized", "help": HELP}]}, {}, delay
        actor = self.people_tokens.get(bearer, self.store.me)
        try:
            self._limiter.check()
        except ApiError as error:
            return 429, error.body(), error.headers, delay
        if body_error is not None:
            return 400, body_error.body(), {}, delay
        if method == "POST" and inner.rstrip("/") == "/webhooks":
            # The handshake reaches the target while this request is open: the store stays
            # free meanwhile, as Asana keeps answering other requests.
            self.store.actor = actor
            response = self.api.handle(method, inner, query, body)
            return response.status, response.body, response.headers, delay
        with self.store.lock:
            self.store.actor = actor
            response = self.api.handle(
                method,
                inner,
                query,
                body,
                batch_fault=fail_actions,
                batch_status=fail_status,
            )
            self.store.actor = None
            if self.state_path is not None and method != "GET" and response.status < 400:
                self.store.save(self.state_path)
        if lose_answer:
            return response.status, None, {}, delay
        return response.status, response.body, response.headers, delay


def _flat_query(raw: str) -> dict[str, str]:
    parsed = parse_qs(raw, keep_blank_values=True)
    out: dict[str, str] = {}
    for key, values in parsed.items():
        # opt_fields sent as a list arrives as repeated parameters: join them.
        out[key] = ",".join(values) if key == "opt_fields" else values[-1]
    return out


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # The real services accept bursts; socketserver's default backlog of 5 would make the
    # sixth concurrent connection wait a 1 s SYN retry and show up as the app's latency.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout test, a killed app) is not the sandbox's error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _make_handler(sandbox: AsanaSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "AsanaSandbox/1.0"
        # Headers and body go out in two writes: without TCP_NODELAY a small answer (a /batch
        # reply) waits ~40 ms for the client's delayed ACK, which no real server adds.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, payload, headers, delay = sandbox.serve(
                self.command, self.path, self.headers, raw
            )
            if delay:
                time.sleep(delay)
            if payload is None:  # a "drop" fault: close without answering
                self.close_connection = True
                return
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    return Handler


# --------------------------------------------------------------------------- standalone


def main(argv: list[str] | None = None) -> int:
    """Seed (or load) a store, serve it, print the base URL, and run until killed."""
    from bot.sandbox.asana_seed import seed_team

    parser = argparse.ArgumentParser(description="Offline Asana REST sandbox")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--state", type=Path, default=None)
    parser.add_argument("--token", default="sandbox-asana-token")
    parser.add_argument("--rate-limit", type=int, default=None)
    args = parser.parse_args(argv)
    if args.state is not None and args.state.exists():
        store = AsanaStore.load(args.state)
    else:
        store = AsanaStore()
        seed_team(store, tasks=args.tasks, today=datetime.now(UTC).date())
        if args.state is not None:
            store.save(args.state)
    sandbox = AsanaSandbox(
        store, token=args.token, rate_limit_per_minute=args.rate_limit, state_path=args.state
    )
    sandbox.start(port=args.port)
    print(sandbox.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
