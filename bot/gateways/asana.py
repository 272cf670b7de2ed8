"""The one module that talks to Asana, on the official `asana` v5 client.

Reads are paginated streams with explicit opt_fields (no per-task reads); writes go through
/batch, 10 actions a request. GET/PUT retries (429 Retry-After, 5xx, dropped connections) are
urllib3's, bounded; /batch is a POST the client never retries. A /batch of reads is retried here
(reads are safe to repeat); a /batch of writes is sent once and its outcome reported per action
(written, rate limited, refused, uncertain): the approval engine re-reads before any resend.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import asana
import urllib3
from asana.rest import ApiException
from urllib3.util.retry import Retry

from bot.domain.changes import option_key
from bot.domain.models import AiFields, FieldValue, Person, Task, TaskLink
from bot.errors import NotFoundError, UpstreamError, UserFacingError
from bot.settings import Secret

PAGE_SIZE = 100
BATCH_SIZE = 10
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read seconds

FIELD_AI_SCORE = "AI Priority Score"
FIELD_AI_CONFIDENCE = "AI Confidence"
FIELD_AI_RATIONALE = "AI Rationale"
FIELD_AI_SPRINT = "AI Suggested Sprint"
FIELD_SPRINT = "Sprint"
FIELD_BUSINESS_VALUE = "Business Value"
FIELD_STORY_POINTS = "Story Points"
FIELD_ESTIMATED_HOURS = "Estimated Hours"
FIELD_MANUAL_OVERRIDE = "Manual Override"
# Asana's cap on a field's enum options, disabled ones included; options cannot be deleted.
MAX_ENUM_OPTIONS = 500
AI_FIELDS = (FIELD_AI_SCORE, FIELD_AI_CONFIDENCE, FIELD_AI_RATIONALE, FIELD_AI_SPRINT)


@dataclass(frozen=True)
class FieldSpec:
    """An output field `copilot setup` creates, and what an existing one must be to be used."""

    name: str
    subtype: str
    precision: int = 0
    format: str = "none"
    enum_options: tuple[str, ...] = ()
    description: str = ""
    formats: tuple[str, ...] = ()  # number formats an existing field may have
    min_precision: int = 0  # an existing number field needs at least this many decimals

    def problem(self, subtype: str, fmt: str | None, precision: int | None) -> str | None:
        """Why an existing field of this name cannot hold what the copilot writes, or None."""
        if subtype != self.subtype:
            return f"is a {_kind(subtype)} field; it must be a {_kind(self.subtype)} field"
        if self.subtype != "number":
            return None
        fmt = fmt or "none"
        if self.formats and fmt not in self.formats:
            wanted = " or ".join(_format_name(f) for f in self.formats)
            return f"is a number field formatted as {_format_name(fmt)}; it must be {wanted}"
        if precision is not None and precision < self.min_precision:
            return (
                f"is a number field with {_decimals(precision)}; it needs at least "
                f"{_decimals(self.min_precision)} (the copilot writes e.g. 74.5)"
            )
        return None


OUTPUT_FIELDS = (
    FieldSpec(
        FIELD_AI_SCORE,
        "number",
        precision=1,
        description="Copilot priority score, 0-100",
        # A percentage would show 74.5 as 7450 %; fewer decimals would round what we write.
        formats=("none", "custom"),
        min_precision=1,
    ),
    # Asana's percentage format stores 0.0-1.0 and shows 0-100 %; a plain number shows 0.71.
    FieldSpec(
        FIELD_AI_CONFIDENCE, "number", precision=0, format="percentage", formats=("percentage",)
    ),
    FieldSpec(FIELD_AI_RATIONALE, "text"),
    FieldSpec(FIELD_AI_SPRINT, "enum", enum_options=("Next", "Future", "Backlog")),
)

TASK_OPT_FIELDS = ",".join(
    (
        "name",
        "notes",
        "completed",
        "completed_at",
        "modified_at",
        "start_on",
        "due_on",
        "due_at",
        "permalink_url",
        "actual_time_minutes",
        "assignee.name",
        "parent.name",
        "tags.name",
        # Asana answers these with {gid, resource_type} only (its OpenAPI spec: "contain only
        # the gid"); names, states and dates are resolved by gid (see `_with_links`).
        "dependencies",
        "dependents",
        "custom_fields.name",
        "custom_fields.resource_subtype",
        "custom_fields.number_value",
        "custom_fields.text_value",
        "custom_fields.enum_value.name",
        "custom_fields.multi_enum_values.name",
    )
)
STORY_FIELDS = "text,created_at,resource_subtype,created_by.name"
# A retrospective (added to a sprint after its start) and a forecast (scope growth) also need
# when each task was created.
CREATED_OPT_FIELDS = TASK_OPT_FIELDS + ",created_at"
CREATED_TASK_FIELDS = "name,notes,permalink_url"
# What a dependency or dependent outside the tasks just read needs (GET /tasks/{gid} in /batch).
LINK_FIELDS = ("name", "completed", "due_on")
USER_FIELDS = "name,email"
WEBHOOK_FIELDS = "active,resource,target,last_failure_at,last_failure_content"
# People change rarely; a new teammate is picked up within this many seconds.
USERS_TTL_SECONDS = 3600.0
TYPEAHEAD_COUNT = 100  # the most GET /workspaces/{gid}/typeahead returns (spec: 1-100)
PROJECT_OPT_FIELDS = ",".join(
    (
        "name",
        "permalink_url",
        "workspace.name",
        "custom_field_settings.custom_field.name",
        "custom_field_settings.custom_field.resource_subtype",
        "custom_field_settings.custom_field.format",
        "custom_field_settings.custom_field.precision",
        "custom_field_settings.custom_field.enum_options.name",
        "custom_field_settings.custom_field.enum_options.enabled",
    )
)


@dataclass(frozen=True)
class FieldInfo:
    gid: str
    name: str
    subtype: str
    format: str = "none"
    options: Mapping[str, str] = field(default_factory=dict)  # enabled enum option name -> gid
    precision: int | None = None


@dataclass(frozen=True)
class Project:
    gid: str
    name: str
    workspace_gid: str
    permalink: str
    fields: Mapping[str, FieldInfo]  # custom fields attached to the project, by name
    # When this snapshot was read (time.monotonic): an option resolved after it is missing from
    # it for that reason alone (see ensure_enum_option).
    read_at: float = field(default_factory=time.monotonic, compare=False)

    def missing(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n not in self.fields]


@dataclass(frozen=True)
class TaskWrite:
    """One task update in Asana's terms: custom field gids to values, plus plain task fields."""

    task_gid: str
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteResult:
    task_gid: str
    ok: bool
    status: int | None  # HTTP status of the action, None when the request itself failed
    error: str = ""
    # True when we cannot tell whether Asana applied it (connection dropped, 5xx): re-read first.
    uncertain: bool = False
    # Asana answered 429: nothing was applied; resend (after a re-read) once this many seconds pass.
    retry_after: float | None = None
    # Asana refused the whole batch (400/401/403): resending cannot help; `error` names the fix.
    refused: bool = False


class RateLimited(UpstreamError):
    """Asana answered 429: the request was not processed."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("Asana", f"rate limited (retry after {retry_after:g} s)", status=429)
        self.retry_after = retry_after


class BatchRefused(UpstreamError):
    """Asana refused a whole /batch (400/401/403): the same request will fail again."""


@dataclass(frozen=True)
class WebhookInfo:
    """A webhook as Asana reports it (never its secret: Asana shows that once, at creation)."""

    gid: str
    resource_gid: str
    target: str
    active: bool
    last_failure_at: str | None = None
    last_failure_content: str | None = None


@dataclass(frozen=True)
class TaskStamp:
    """What the reconcile read needs of a task: when and by whom it was created."""

    gid: str
    created_at: datetime | None
    created_by: str | None
    completed: bool = False


@dataclass(frozen=True)
class Comment:
    task_gid: str
    text: str
    created_at: datetime | None
    author: str


@dataclass
class SetupReport:
    created: list[str] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


def retry_policy(*, total: int = 4, retry_after_max: int = 60) -> Retry:
    """Bounded retries for idempotent calls: honours Retry-After, backs off at most 4 s."""
    return Retry(
        total=total,
        connect=total,
        read=2,
        backoff_factor=0.25,
        backoff_max=4,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "PUT", "DELETE"}),
        respect_retry_after_header=True,
        retry_after_max=retry_after_max,
        raise_on_status=False,
    )


class AsanaGateway:
    def __init__(
        self,
        *,
        base_url: str,
        token: Secret,
        retry: Retry | None = None,
        timeout: tuple[float, float] = REQUEST_TIMEOUT,
        batch_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        option_lock: Callable[[str], AbstractContextManager[Any]] | None = None,
    ) -> None:
        config = asana.Configuration()
        config.host = base_url.rstrip("/")
        config.access_token = token.value
        config.retry_strategy = retry or retry_policy()
        self._client = asana.ApiClient(config)
        self._timeout = timeout
        self._batch_attempts = batch_attempts
        self._sleep = sleep
        # (field gid, option) -> (option gid, time.monotonic() when resolved)
        self._created_options: dict[tuple[str, str], tuple[str, float]] = {}
        self._options_lock = threading.Lock()
        # Creating an enum option is once across every instance: a lock the database holds
        # (issue 11), or this process's own when it is the only one.
        self._option_lock = option_lock or (lambda name: self._options_lock)
        self._tasks = asana.TasksApi(self._client)
        self._projects = asana.ProjectsApi(self._client)
        self._workspaces = asana.WorkspacesApi(self._client)
        self._custom_fields = asana.CustomFieldsApi(self._client)
        self._batch = asana.BatchAPIApi(self._client)
        self._stories = asana.StoriesApi(self._client)
        self._users = asana.UsersApi(self._client)
        self._typeahead = asana.TypeaheadApi(self._client)
        self._webhooks = asana.WebhooksApi(self._client)
        self._me: str | None = None
        self._monotonic = monotonic
        # workspace gid -> (read at, user gid -> email): one users read per workspace per TTL.
        self._emails: dict[str, tuple[float, dict[str, str]]] = {}
        self._emails_lock = threading.Lock()

    def close(self) -> None:
        # The v5 client has no close(): stop its thread pool and drop pooled connections.
        self._client.pool.close()
        self._client.pool.join()
        self._client.rest_client.pool_manager.clear()

    # -- reads -----------------------------------------------------------------------------

    def project(self, gid: str) -> Project:
        """Read a project with its attached custom fields in one request."""
        data = self._call(
            f"project {gid}",
            lambda: self._projects.get_project(
                gid, {"opt_fields": PROJECT_OPT_FIELDS}, _request_timeout=self._timeout
            ),
        )
        return _project(data)

    def find_project(self, ref: str) -> Project:
        """Resolve a project gid or a (case-insensitive) name to a project.

        A name is looked up with each workspace's typeahead (one request per workspace, at most
        100 results, exact name match), never by listing every project.
        """
        ref = ref.strip()
        if ref.isdigit():
            return self.project(ref)
        wanted = _folded(ref)
        matches: list[dict[str, Any]] = []
        for workspace in self._list(
            "workspaces",
            lambda: self._workspaces.get_workspaces(
                {"limit": PAGE_SIZE, "opt_fields": "name"}, _request_timeout=self._timeout
            ),
        ):
            found = self._call(
                "projects",
                lambda ws=workspace: self._typeahead.typeahead_for_workspace(
                    ws["gid"],
                    "project",
                    {
                        "query": " ".join(ref.split()),
                        "count": TYPEAHEAD_COUNT,
                        "opt_fields": "name",
                    },
                    full_payload=True,  # one page, no ?limit: typeahead takes `count`
                    _request_timeout=self._timeout,
                ),
            )
            rows = (found or {}).get("data") or []
            matches += [r for r in rows if _folded(r.get("name") or "") == wanted]
        if not matches:
            shown = ref if len(ref) <= 80 else ref[:79] + "…"
            raise NotFoundError(f"No Asana project is named “{shown}”. Use its name or gid.")
        if len(matches) > 1:
            gids = ", ".join(m["gid"] for m in matches[:5])
            raise UserFacingError(f"Several projects are named “{ref}” ({gids}): use the gid.")
        return self.project(matches[0]["gid"])

    def open_tasks(self, project: Project) -> list[Task]:
        """Every incomplete task of the project with what the core needs: ⌈n/100⌉ requests."""
        rows = [row for row in self._project_tasks(project, "now") if not row.get("completed")]
        return self._resolved(project, rows)

    def comments(self, task_gid: str) -> list[Comment]:
        """A task's comments, oldest first (stories of subtype comment_added)."""
        rows = self._list(
            f"comments of task {task_gid}",
            lambda: self._stories.get_stories_for_task(
                task_gid,
                {"limit": PAGE_SIZE, "opt_fields": STORY_FIELDS},
                _request_timeout=self._timeout,
            ),
        )
        return [c for c in (_comment(task_gid, row) for row in rows) if c is not None]

    def tasks_by_gid(self, gids: Sequence[str]) -> dict[str, Task | None]:
        """Read specific tasks through /batch GETs (10 a request); None for a deleted task."""
        found: dict[str, Task | None] = {}
        options = {"fields": TASK_OPT_FIELDS.split(",")}
        for gid, answer in self._batch_get(gids, "/tasks/{}", options):
            status = answer.get("status_code")
            if status == 200:
                found[gid] = _task(answer["body"]["data"])
            elif status == 404:
                found[gid] = None
            elif status in (401, 403):
                raise BatchRefused(
                    "Asana",
                    f"reading task {gid} was refused ({status}): {_ACCESS_HINT}",
                    status=status,
                )
            else:
                raise UpstreamError("Asana", f"reading task {gid} failed ({status})", status=status)
        return found

    # -- writes ----------------------------------------------------------------------------

    def write_tasks(self, writes: Sequence[TaskWrite]) -> list[WriteResult]:
        """Apply updates through /batch, 10 a request, each sent once; one result per write.

        Nothing is resent here: after a 429 or an uncertain answer the caller re-reads the tasks
        and decides (a person may have edited them meanwhile).
        """
        results: list[WriteResult] = []
        for start in range(0, len(writes), BATCH_SIZE):
            chunk = writes[start : start + BATCH_SIZE]
            actions = [
                {
                    "relative_path": f"/tasks/{w.task_gid}",
                    "method": "put",
                    "data": {
                        **w.fields,
                        **({"custom_fields": dict(w.custom_fields)} if w.custom_fields else {}),
                    },
                    "options": {"fields": ["modified_at"]},
                }
                for w in chunk
            ]
            try:
                answers = self._post_batch(actions)
            except RateLimited as exc:
                results.extend(
                    WriteResult(
                        w.task_gid,
                        ok=False,
                        status=429,
                        error=str(exc),
                        retry_after=exc.retry_after,
                    )
                    for w in chunk
                )
                continue
            except BatchRefused as exc:
                results.extend(
                    WriteResult(
                        w.task_gid, ok=False, status=exc.status, error=str(exc), refused=True
                    )
                    for w in chunk
                )
                continue
            except UpstreamError as exc:
                results.extend(
                    WriteResult(
                        w.task_gid, ok=False, status=exc.status, error=str(exc), uncertain=True
                    )
                    for w in chunk
                )
                continue
            for write, answer in zip(chunk, answers, strict=True):
                results.append(_write_result(write.task_gid, answer))
        return results

    def encode_write(
        self, project: Project, task_gid: str, changes: Mapping[str, Any]
    ) -> TaskWrite:
        """Turn name-keyed changes into Asana's terms (field gids, enum option gids)."""
        custom: dict[str, Any] = {}
        plain: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("assignee", "due_on", "due_at", "start_on"):
                plain[key] = value
                continue
            info = project.fields.get(key)
            if info is None:
                raise UserFacingError(
                    f"the project has no “{key}” field: run `copilot setup --project {project.gid}`"
                )
            if info.subtype == "enum" and value is not None:
                value = self.ensure_enum_option(project, key, str(value))
            elif info.subtype == "multi_enum" and value is not None:
                names = [value] if isinstance(value, str) else list(value)
                value = [self.ensure_enum_option(project, key, str(n)) for n in names]
            custom[info.gid] = value
        return TaskWrite(task_gid=task_gid, custom_fields=custom, fields=plain)

    def ensure_output_fields(self, project: Project) -> SetupReport:
        """Create (when missing) and attach the copilot's output fields; safe to run twice.

        A field of the same name that exists already is used only if it can hold what the
        copilot writes; otherwise nothing at all is changed and UserFacingError says why.
        """
        report = SetupReport()
        workspace_fields = {
            f["name"]: f
            for f in self._list(
                "workspace custom fields",
                lambda: self._custom_fields.get_custom_fields_for_workspace(
                    project.workspace_gid,
                    {"limit": PAGE_SIZE, "opt_fields": "name,resource_subtype,format,precision"},
                    _request_timeout=self._timeout,
                ),
            )
        }
        # Check every existing field before touching anything: a refusal changes nothing.
        problems = []
        for spec in OUTPUT_FIELDS:
            attached = project.fields.get(spec.name)
            if attached is not None:
                why = spec.problem(attached.subtype, attached.format, attached.precision)
            elif spec.name in workspace_fields:
                found = workspace_fields[spec.name]
                why = spec.problem(
                    found.get("resource_subtype") or "", found.get("format"), found.get("precision")
                )
            else:
                why = None
            if why:
                problems.append(f"“{spec.name}” {why}.")
        if problems:
            raise UserFacingError(
                "Nothing was changed: "
                + " ".join(problems)
                + " Change it in Asana (or rename it so setup creates a new one), then run setup "
                "again."
            )
        for spec in OUTPUT_FIELDS:
            if spec.name in project.fields:
                report.already.append(spec.name)
                continue
            existing = workspace_fields.get(spec.name)
            if existing is None:
                body: dict[str, Any] = {
                    "workspace": project.workspace_gid,
                    "name": spec.name,
                    "resource_subtype": spec.subtype,
                    "description": spec.description,
                }
                if spec.subtype == "number":
                    body["precision"] = spec.precision
                    body["format"] = spec.format
                if spec.enum_options:
                    body["enum_options"] = [{"name": o} for o in spec.enum_options]
                existing = self._call(
                    f"creating field {spec.name}",
                    lambda b=body: self._custom_fields.create_custom_field(
                        {"data": b}, {}, _request_timeout=self._timeout
                    ),
                )
                report.created.append(spec.name)
            self._call(
                f"attaching field {spec.name}",
                lambda gid=existing["gid"]: self._projects.add_custom_field_setting_for_project(
                    {"data": {"custom_field": gid, "is_important": True}},
                    project.gid,
                    {},
                    _request_timeout=self._timeout,
                ),
            )
            report.attached.append(spec.name)
        return report

    def ensure_enum_option(self, project: Project, field_name: str, option: str) -> str:
        """Return the gid of an enabled enum option, reusing, re-enabling or creating it.

        The project read may be stale (another process, or a person, added or disabled the
        option since), so the field's options are read again before anything is created.
        """
        info = project.fields.get(field_name)
        if info is None:
            raise UserFacingError(f"The project has no “{field_name}” field; add it in Asana.")
        if option in info.options:
            return info.options[option]
        key = (info.gid, option)
        # One resolver at a time across instances: two approvals naming a new sprint add it once.
        with self._option_lock(f"enum-option:{info.gid}:{_option_key(option)}"):
            cached = self._created_options.get(key)
            # Trusted only while this project read lists it as enabled, or was read before we
            # resolved it; otherwise a person may have disabled it since: resolve (re-enable).
            if cached is not None and (
                cached[0] in info.options.values() or cached[1] >= project.read_at
            ):
                return cached[0]
            gid = self._resolve_option(info, option)
            self._created_options[key] = (gid, time.monotonic())
            return gid

    def _field_options(self, info: FieldInfo) -> list[dict[str, Any]]:
        """The field's enum options as Asana holds them now, disabled ones included, in order."""
        data = self._call(
            f"field {info.name}",
            lambda: self._custom_fields.get_custom_field(
                info.gid,
                {"opt_fields": "name,enum_options.name,enum_options.enabled"},
                _request_timeout=self._timeout,
            ),
        )
        return list(data.get("enum_options") or [])

    def _resolve_option(self, info: FieldInfo, option: str) -> str:
        options = self._field_options(info)
        wanted = _option_key(option)

        def enabled_match(among: list[dict[str, Any]]) -> dict[str, Any] | None:
            return next(
                (
                    o
                    for o in among
                    if _option_key(o.get("name") or "") == wanted and o.get("enabled", True)
                ),
                None,
            )

        found = enabled_match(options)
        if found is not None:
            return str(found["gid"])
        same = [o for o in options if _option_key(o.get("name") or "") == wanted]
        if same:
            self._send(
                f"enabling option {option} of {info.name}",
                "PUT",
                "/enum_options/{enum_option_gid}",
                {"enum_option_gid": same[0]["gid"]},
                {"data": {"enabled": True}},
            )
            return str(same[0]["gid"])
        if len(options) >= MAX_ENUM_OPTIONS:
            raise UserFacingError(
                f"“{option}” cannot be added to the “{info.name}” field: it has {len(options)} "
                f"options, Asana's limit of {MAX_ENUM_OPTIONS}. Disabled options count too and "
                "Asana cannot delete options, so disabling old sprint options does not make room: "
                "rename an old option that no task uses to this name, or pick an existing option."
            )
        created = str(
            self._send(
                f"adding option {option} to {info.name}",
                "POST",
                "/custom_fields/{custom_field_gid}/enum_options",
                {"custom_field_gid": info.gid},
                {"data": {"name": option}},
            )["gid"]
        )
        # Another process may have added the same name between our read and our create. Every
        # creator settles on the first enabled one in the field's order and disables its own.
        first = enabled_match(self._field_options(info))
        if first is None or str(first["gid"]) == created:
            return created
        self._send(
            f"disabling duplicate option {option} of {info.name}",
            "PUT",
            "/enum_options/{enum_option_gid}",
            {"enum_option_gid": created},
            {"data": {"enabled": False}},
        )
        return str(first["gid"])

    def _send(
        self,
        what: str,
        method: str,
        path: str,
        path_params: Mapping[str, str],
        body: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Send a write whose body travels only as JSON; return the answer's data.

        The v5 client's enum option calls (create_enum_option_for_custom_field,
        update_enum_option) put their whole `opts`, body included, in the query string too
        (`?body=...`); the same ApiClient's call_api with no query parameters sends it once.
        """
        content = "application/json; charset=UTF-8"
        answer = self._call(
            what,
            lambda: self._client.call_api(
                path,
                method,
                dict(path_params),
                {},
                {"Accept": content, "Content-Type": content},
                body=dict(body),
                response_type=object,
                auth_settings=["personalAccessToken"],
                _return_http_data_only=True,
                _request_timeout=self._timeout,
                collection_formats={},
            ),
        )
        return dict(answer["data"])

    # -- dependencies and people, as Asana really returns them ------------------------------

    def _resolved(self, project: Project, rows: Sequence[Mapping[str, Any]]) -> list[Task]:
        """Map rows to tasks with their links resolved and their assignees' emails filled.

        Asana gives dependencies and dependents as gids only: each is resolved against the tasks
        of this read, and the others (another project, completed long ago) are read by gid
        through /batch, ⌈unknown/10⌉ requests. Emails come from one cached users read.
        """
        tasks = [_task(row) for row in rows]
        links = self._links({t.gid: t for t in tasks})
        emails = self._workspace_emails(project.workspace_gid) if tasks else {}
        return [_with_links(t, links, emails) for t in tasks]

    def _links(self, known: Mapping[str, Task]) -> dict[str, TaskLink | None]:
        """Every dependency/dependent of `known` by gid: its name, state and due date.

        None for a task Asana no longer has (deleted since: it blocks nothing).
        """
        links: dict[str, TaskLink | None] = {
            gid: TaskLink(gid, t.name, t.completed, t.due_on) for gid, t in known.items()
        }
        unknown = list(
            dict.fromkeys(
                link.gid
                for t in known.values()
                for link in (*t.dependencies, *t.dependents)
                if link.gid not in links
            )
        )
        options = {"fields": list(LINK_FIELDS)}
        for gid, answer in self._batch_get(unknown, "/tasks/{}", options):
            status = answer.get("status_code")
            if status == 200:
                row = answer["body"]["data"]
                links[gid] = TaskLink(
                    gid, row.get("name") or "", bool(row.get("completed")), _date(row.get("due_on"))
                )
            elif status == 404:
                links[gid] = None
            elif status == 403:
                # A task in a project this token cannot see: still a dependency, state unknown.
                links[gid] = TaskLink(gid, "", completed=False)
            else:
                raise UpstreamError("Asana", f"reading task {gid} failed ({status})")
        return links

    def _workspace_emails(self, workspace_gid: str) -> dict[str, str]:
        """User gid → email for a workspace: one paginated GET /users, cached an hour."""
        if not workspace_gid:
            return {}
        with self._emails_lock:
            cached = self._emails.get(workspace_gid)
            if cached is not None and self._monotonic() - cached[0] < USERS_TTL_SECONDS:
                return cached[1]
            rows = self._list(
                f"people of workspace {workspace_gid}",
                lambda: self._users.get_users(
                    {"workspace": workspace_gid, "limit": PAGE_SIZE, "opt_fields": USER_FIELDS},
                    _request_timeout=self._timeout,
                ),
            )
            emails = {r["gid"]: r["email"] for r in rows if r.get("email")}
            self._emails[workspace_gid] = (self._monotonic(), emails)
            return emails

    # -- webhooks and what they may miss (issue 13) ------------------------------------------

    def me(self) -> str:
        """The gid of the user the token acts as (GET /users/me), read once."""
        if self._me is None:
            data = self._call(
                "the token's own user",
                lambda: self._users.get_user(
                    "me", {"opt_fields": "name"}, _request_timeout=self._timeout
                ),
            )
            self._me = str(data["gid"])
        return self._me

    def webhooks(self, workspace_gid: str, resource_gid: str | None = None) -> list[WebhookInfo]:
        """The token's webhooks in a workspace (on one resource), every page."""
        opts: dict[str, Any] = {"limit": PAGE_SIZE, "opt_fields": WEBHOOK_FIELDS}
        if resource_gid is not None:
            opts["resource"] = resource_gid
        rows = self._list(
            f"webhooks of workspace {workspace_gid}",
            lambda: self._webhooks.get_webhooks(
                workspace_gid, opts, _request_timeout=self._timeout
            ),
        )
        return [_webhook(r) for r in rows]

    def webhook(self, gid: str) -> WebhookInfo | None:
        """One webhook, or None when Asana no longer has it."""
        try:
            data = self._call(
                f"webhook {gid}",
                lambda: self._webhooks.get_webhook(
                    gid, {"opt_fields": WEBHOOK_FIELDS}, _request_timeout=self._timeout
                ),
            )
        except NotFoundError:
            return None
        return _webhook(data)

    def create_webhook(
        self, resource_gid: str, target: str, filters: Sequence[Mapping[str, Any]]
    ) -> WebhookInfo:
        """POST /webhooks; Asana sends the handshake to `target` before this returns."""
        body = {"data": {"resource": resource_gid, "target": target, "filters": list(filters)}}
        data = self._call(
            f"a webhook on {resource_gid}",
            lambda: self._webhooks.create_webhook(body, {}, _request_timeout=self._timeout),
        )
        return _webhook(data)

    def delete_webhook(self, gid: str) -> bool:
        """Delete a webhook; False when it was already gone."""
        try:
            self._call(
                f"webhook {gid}",
                lambda: self._webhooks.delete_webhook(gid, _request_timeout=self._timeout),
            )
        except NotFoundError:
            return False
        return True

    def tasks_modified_since(self, project_gid: str, since: datetime) -> list[TaskStamp]:
        """Tasks of a project modified at or after `since` (GET /tasks?modified_since)."""
        rows = self._list(
            f"tasks of project {project_gid} modified since {_iso(since)}",
            lambda: self._tasks.get_tasks(
                {
                    "project": project_gid,
                    "modified_since": _iso(since),
                    "limit": PAGE_SIZE,
                    "opt_fields": "created_at,created_by,completed",
                },
                _request_timeout=self._timeout,
            ),
        )
        return [
            TaskStamp(
                gid=str(r["gid"]),
                created_at=_datetime(r.get("created_at")),
                created_by=str((r.get("created_by") or {}).get("gid") or "") or None,
                completed=bool(r.get("completed")),
            )
            for r in rows
        ]

    # -- plumbing --------------------------------------------------------------------------

    def _project_tasks(
        self, project: Project, completed_since: str, opt_fields: str = TASK_OPT_FIELDS
    ) -> list[dict[str, Any]]:
        """The project's tasks, open or completed since then, in one paginated stream."""
        return self._list(
            f"tasks of project {project.gid}",
            lambda: self._tasks.get_tasks_for_project(
                project.gid,
                {
                    "completed_since": completed_since,
                    "limit": PAGE_SIZE,
                    "opt_fields": opt_fields,
                },
                _request_timeout=self._timeout,
            ),
        )

    def _batch_get(
        self, gids: Sequence[str], path: str, options: Mapping[str, Any]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """GET `path` (with `{}` for the gid) for many gids, 10 to a /batch request.

        A read is safe to repeat: a batch rate limited, failing or with an action answering 5xx
        is sent again (honouring Retry-After), at most `batch_attempts` times.
        """
        for start in range(0, len(gids), BATCH_SIZE):
            chunk = list(gids[start : start + BATCH_SIZE])
            actions = [
                {"relative_path": path.format(gid), "method": "get", "options": dict(options)}
                for gid in chunk
            ]
            yield from zip(chunk, self._read_batch(actions), strict=True)

    def _read_batch(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for attempt in range(1, self._batch_attempts + 1):
            last = attempt == self._batch_attempts
            try:
                answers = self._post_batch(actions)
            except RateLimited as exc:
                if last:
                    raise
                self._sleep(exc.retry_after)
                continue
            except BatchRefused:
                raise
            except UpstreamError:
                if last:
                    raise
                self._sleep(min(0.25 * 2**attempt, 4.0))
                continue
            statuses = [a.get("status_code") or 0 for a in answers]
            if last or not any(s == 429 or s >= 500 for s in statuses):
                return answers
            self._sleep(min(0.25 * 2**attempt, 4.0))
        raise AssertionError("unreachable")

    def _post_batch(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST /batch once; raises RateLimited, BatchRefused or UpstreamError.

        `full_payload=True` calls the endpoint directly: otherwise the client wraps POST /batch
        in its page iterator, which adds `?limit=100` and would POST again for a `next_page`.
        """
        try:
            payload = self._batch.create_batch_request(
                {"data": {"actions": actions}},
                {},
                _request_timeout=self._timeout,
                full_payload=True,
            )
        except ApiException as exc:
            if exc.status == 429:
                raise RateLimited(_retry_after(exc)) from None
            if exc.status in (400, 401, 403):
                message = _error_message(_json(exc.body))
                hint = _ACCESS_HINT if exc.status in (401, 403) else f"Asana says: {message}"
                raise BatchRefused(
                    "Asana",
                    f"the batch request was refused ({exc.status}): {hint}",
                    status=exc.status,
                ) from None
            raise UpstreamError(
                "Asana", f"batch request failed ({exc.status})", status=exc.status
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise UpstreamError("Asana", f"batch request failed: {type(exc).__name__}") from None
        return list((payload or {}).get("data") or [])

    def _list(self, what: str, make: Callable[[], Any]) -> list[dict[str, Any]]:
        # v5 list calls return a generator over every item, paging by itself.
        return self._call(what, lambda: list(make()))

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ApiException as exc:
            if exc.status == 404:
                raise NotFoundError(f"Asana has no {what} (404).") from None
            if exc.status in (401, 403):
                raise UpstreamError(
                    "Asana", f"access refused for {what} ({exc.status}): check ASANA_ACCESS_TOKEN"
                ) from None
            if exc.status == 400:
                raise UserFacingError(
                    f"Asana rejected {what}: {_error_message(_json(exc.body))}"
                ) from None
            raise UpstreamError(
                "Asana", f"{what} failed ({exc.status})", status=exc.status
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise UpstreamError(
                "Asana", f"unreachable while reading {what} ({type(exc).__name__})"
            ) from None

    # -- triage (issue 13) -------------------------------------------------------------------

    def creators(self, gids: Sequence[str]) -> dict[str, str | None]:
        """Who created each task (a user gid; None: unknown or deleted), 10 a /batch request."""
        found: dict[str, str | None] = {}
        for gid, answer in self._batch_get(gids, "/tasks/{}", {"fields": ["created_by"]}):
            status = answer.get("status_code")
            if status not in (200, 404):
                raise UpstreamError(
                    "Asana", f"reading who created task {gid} failed ({status})", status=status
                )
            creator = ((answer.get("body") or {}).get("data") or {}).get("created_by")
            found[gid] = str(creator["gid"]) if isinstance(creator, dict) else None
        return found

    def stories(self, task_gid: str) -> list[tuple[str, str]]:
        """A task's stories as (gid, text), oldest first (every page)."""
        rows = self._list(
            f"stories of task {task_gid}",
            lambda: self._stories.get_stories_for_task(
                task_gid,
                {"limit": PAGE_SIZE, "opt_fields": "text,resource_subtype"},
                _request_timeout=self._timeout,
            ),
        )
        return [(str(r["gid"]), r.get("text") or "") for r in rows]

    # -- reads for the stand-up digest (issue 4) -------------------------------------------

    def tasks_open_or_completed_since(
        self, project: Project, since: datetime, *, created: bool = False
    ) -> list[Task]:
        """Every open task plus those completed at or after `since`, in one paginated stream.

        Asana's completed_since returns "incomplete or completed since", so one read serves both
        (⌈(open + completed)/100⌉ requests); dependencies resolved as in `_resolved`. `created`
        also reads each task's creation time (`created_at`).
        """
        fields = CREATED_OPT_FIELDS if created else TASK_OPT_FIELDS
        return self._resolved(project, self._project_tasks(project, _iso(since), fields))

    # -- retrospectives (issue 14) ----------------------------------------------------------

    def comments_by_task(self, task_gids: Sequence[str]) -> dict[str, list[Comment]]:
        """Every comment of each task, oldest first, 10 tasks a /batch request."""
        found: dict[str, list[Comment]] = {}
        options = {"limit": PAGE_SIZE, "fields": STORY_FIELDS.split(",")}
        for gid, answer in self._batch_get(task_gids, "/tasks/{}/stories", options):
            status = answer.get("status_code")
            if status == 404:
                continue  # deleted since the task list was read
            if status != 200:
                raise UpstreamError("Asana", f"reading comments of task {gid} failed ({status})")
            body = answer.get("body") or {}
            if body.get("next_page"):
                found[gid] = self.comments(gid)
            else:
                parsed = (_comment(gid, row) for row in body.get("data") or [])
                found[gid] = [c for c in parsed if c is not None]
        return found

    def project_tasks_named(self, project_gid: str) -> list[dict[str, Any]]:
        """Every task of a project (open or not) with its name, notes and link: for finding a
        task the copilot created before creating it again."""
        return self._list(
            f"tasks of project {project_gid}",
            lambda: self._tasks.get_tasks_for_project(
                project_gid,
                {"limit": PAGE_SIZE, "opt_fields": CREATED_TASK_FIELDS},
                _request_timeout=self._timeout,
            ),
        )

    def create_task(self, project_gid: str, *, name: str, notes: str) -> dict[str, Any]:
        """POST /tasks in a project; the new task (gid, name, notes, permalink_url).

        POST is never retried (a retry could create a second task): the caller looks for the
        task by its marker before creating it again.
        """
        return self._call(
            f"creating a task in project {project_gid}",
            lambda: self._tasks.create_task(
                {"data": {"name": name, "notes": notes, "projects": [project_gid]}},
                {"opt_fields": CREATED_TASK_FIELDS},
                _request_timeout=self._timeout,
            ),
        )

    def add_comment(self, task_gid: str, text: str) -> str:
        """POST a comment (story) on a task; its gid. Never retried: look for it first."""
        story = self._call(
            f"commenting on task {task_gid}",
            lambda: self._stories.create_story_for_task(
                {"data": {"text": text}},
                task_gid,
                {"opt_fields": "text,created_at"},
                _request_timeout=self._timeout,
            ),
        )
        return str(story["gid"])

    def latest_comments(self, task_gids: Sequence[str]) -> dict[str, Comment | None]:
        """Each task's latest comment (None: it has none), 10 tasks a /batch request.

        Stories come oldest first; a task with more than one page of them is paged on alone.
        """
        found: dict[str, Comment | None] = {}
        options = {"limit": PAGE_SIZE, "fields": STORY_FIELDS.split(",")}
        for gid, answer in self._batch_get(task_gids, "/tasks/{}/stories", options):
            status = answer.get("status_code")
            if status == 404:
                found[gid] = None  # deleted since the task list was read
                continue
            if status != 200:
                raise UpstreamError("Asana", f"reading comments of task {gid} failed ({status})")
            body = answer.get("body") or {}
            if body.get("next_page"):
                comments = self.comments(gid)
            else:
                parsed = (_comment(gid, row) for row in body.get("data") or [])
                comments = [c for c in parsed if c is not None]
            found[gid] = comments[-1] if comments else None
        return found


# -- mapping Asana dicts to domain records --------------------------------------------------


def _webhook(data: Mapping[str, Any]) -> WebhookInfo:
    return WebhookInfo(
        gid=str(data["gid"]),
        resource_gid=str((data.get("resource") or {}).get("gid") or ""),
        target=str(data.get("target") or ""),
        active=bool(data.get("active")),
        last_failure_at=data.get("last_failure_at"),
        last_failure_content=data.get("last_failure_content"),
    )


def _project(data: Mapping[str, Any]) -> Project:
    fields: dict[str, FieldInfo] = {}
    for setting in data.get("custom_field_settings") or []:
        cf = setting.get("custom_field") or {}
        options = {
            o["name"]: o["gid"]
            for o in cf.get("enum_options") or []
            if o.get("enabled", True) and o.get("name")
        }
        fields[cf["name"]] = FieldInfo(
            gid=cf["gid"],
            name=cf["name"],
            subtype=cf.get("resource_subtype", ""),
            format=cf.get("format") or "none",
            options=options,
            precision=cf.get("precision"),
        )
    workspace = data.get("workspace") or {}
    return Project(
        gid=data["gid"],
        name=data.get("name", ""),
        workspace_gid=workspace.get("gid", ""),
        permalink=data.get("permalink_url") or "",
        fields=fields,
    )


def _kind(subtype: str) -> str:
    return {"enum": "single-select", "multi_enum": "multi-select"}.get(subtype, subtype or "?")


def _format_name(fmt: str) -> str:
    return "plain (format none)" if fmt == "none" else fmt


def _decimals(precision: int) -> str:
    return f"{precision} decimal" + ("" if precision == 1 else "s")


_option_key = option_key  # one rule for matching options and for comparing what was written


def _task(row: Mapping[str, Any]) -> Task:
    values: dict[str, FieldValue] = {}
    for cf in row.get("custom_fields") or []:
        subtype = cf.get("resource_subtype")
        if subtype == "number":
            values[cf["name"]] = cf.get("number_value")
        elif subtype == "enum":
            values[cf["name"]] = (cf.get("enum_value") or {}).get("name")
        elif subtype == "multi_enum":
            chosen = cf.get("multi_enum_values") or []
            values[cf["name"]] = tuple(o["name"] for o in chosen if o.get("name"))
        else:
            values[cf["name"]] = cf.get("text_value")

    def number(name: str) -> float | None:
        value = values.get(name)
        return float(value) if isinstance(value, int | float) else None

    def text(name: str) -> str | None:
        value = values.get(name)
        return value if isinstance(value, str) else None

    assignee = row.get("assignee")
    parent = row.get("parent")
    return Task(
        gid=row["gid"],
        name=row.get("name") or "",
        notes=row.get("notes") or "",
        permalink=row.get("permalink_url") or "",
        assignee=Person(assignee["gid"], assignee.get("name") or "", assignee.get("email"))
        if assignee
        else None,
        start_on=_date(row.get("start_on")),
        due_on=_date(row.get("due_on")),
        due_at=_datetime(row.get("due_at")),
        completed=bool(row.get("completed")),
        completed_at=_datetime(row.get("completed_at")),
        modified_at=_datetime(row.get("modified_at")),
        created_at=_datetime(row.get("created_at")),
        dependencies=tuple(_link(d) for d in row.get("dependencies") or []),
        dependents=tuple(_link(d) for d in row.get("dependents") or []),
        parent_gid=parent["gid"] if parent else None,
        parent_name=parent.get("name") if parent else None,
        business_value=number(FIELD_BUSINESS_VALUE),
        story_points=number(FIELD_STORY_POINTS),
        estimated_hours=number(FIELD_ESTIMATED_HOURS),
        manual_override=number(FIELD_MANUAL_OVERRIDE),
        actual_minutes=row.get("actual_time_minutes"),
        sprint=text(FIELD_SPRINT),
        ai=AiFields(
            score=number(FIELD_AI_SCORE),
            confidence=number(FIELD_AI_CONFIDENCE),
            rationale=text(FIELD_AI_RATIONALE),
            suggested_sprint=text(FIELD_AI_SPRINT),
        ),
        tags=tuple(t.get("name") or "" for t in row.get("tags") or []),
        custom_values=tuple(values.items()),
        enum_fields=frozenset(
            cf["name"]
            for cf in row.get("custom_fields") or []
            if cf.get("resource_subtype") in ("enum", "multi_enum")
        ),
    )


def _comment(task_gid: str, row: Mapping[str, Any]) -> Comment | None:
    if row.get("resource_subtype") != "comment_added":
        return None
    return Comment(
        task_gid=task_gid,
        text=row.get("text") or "",
        created_at=_datetime(row.get("created_at")),
        author=(row.get("created_by") or {}).get("name") or "",
    )


def _with_links(
    task: Task, links: Mapping[str, TaskLink | None], emails: Mapping[str, str]
) -> Task:
    def resolve(found: Sequence[TaskLink]) -> tuple[TaskLink, ...]:
        resolved = (links.get(link.gid, link) for link in found)
        return tuple(link for link in resolved if link is not None)

    assignee = task.assignee
    if assignee is not None and assignee.email is None:
        assignee = replace(assignee, email=emails.get(assignee.gid))
    return replace(
        task,
        assignee=assignee,
        dependencies=resolve(task.dependencies),
        dependents=resolve(task.dependents),
    )


def _folded(name: str) -> str:
    return " ".join(name.split()).casefold()


def _link(row: Mapping[str, Any]) -> TaskLink:
    return TaskLink(
        gid=row["gid"],
        name=row.get("name") or "",
        completed=bool(row.get("completed")),
        due_on=_date(row.get("due_on")),
    )


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _datetime(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json(raw: Any) -> Any:
    import json

    try:
        return json.loads(raw) if raw else None
    except (TypeError, ValueError):
        return None


def _error_message(body: Any) -> str:
    if isinstance(body, Mapping):
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], Mapping):
            return str(errors[0].get("message", "unknown error"))[:300]
    return "unknown error"


_ACCESS_HINT = "check ASANA_ACCESS_TOKEN (a valid token whose user can edit the project's tasks)"


def _write_result(task_gid: str, answer: Mapping[str, Any]) -> WriteResult:
    """One PUT action's answer inside a /batch."""
    status = answer.get("status_code")
    if status is not None and 200 <= status < 300:
        return WriteResult(task_gid, ok=True, status=status)
    error = _error_message(answer.get("body"))
    if status == 429:  # not processed
        headers = answer.get("headers") or {}
        return WriteResult(
            task_gid, ok=False, status=429, error=error, retry_after=_seconds(headers)
        )
    if status in (401, 403):
        error = f"{error} ({status}): {_ACCESS_HINT}"
    return WriteResult(
        task_gid, ok=False, status=status, error=error, uncertain=status is None or status >= 500
    )


def _seconds(headers: Mapping[str, Any]) -> float:
    """Retry-After in seconds, between 1 and 60: a 0 (or garbage) must not mean "resend now"."""
    try:
        wait = float(headers.get("Retry-After", 1))
    except (TypeError, ValueError):
        return 1.0
    return min(max(wait, 1.0), 60.0) if math.isfinite(wait) else 1.0


def _retry_after(exc: ApiException) -> float:
    return _seconds(exc.headers or {})
