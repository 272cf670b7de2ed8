"""The one module that talks to Asana, on the official `asana` v5 client.

Reads are paginated streams with explicit opt_fields (no per-task reads); writes go through
/batch, 10 actions a request. GET/PUT retries (429 Retry-After, 5xx, dropped connections) are
urllib3's, bounded; /batch is a POST the client never retries. A /batch of reads is retried here
(reads are safe to repeat); a /batch of writes is sent once and its outcome reported per action
(written, rate limited, refused, uncertain): the approval engine re-reads before any resend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asana
import urllib3
from asana.rest import ApiException
from urllib3.util.retry import Retry

from bot.domain.models import AiFields, Person, Task, TaskLink
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
AI_FIELDS = (FIELD_AI_SCORE, FIELD_AI_CONFIDENCE, FIELD_AI_RATIONALE, FIELD_AI_SPRINT)


@dataclass(frozen=True)
class FieldSpec:
    """An output field `copilot setup` creates."""

    name: str
    subtype: str
    precision: int = 0
    format: str = "none"
    enum_options: tuple[str, ...] = ()
    description: str = ""


OUTPUT_FIELDS = (
    FieldSpec(FIELD_AI_SCORE, "number", precision=1, description="Copilot priority score, 0-100"),
    # Asana's percentage format stores 0.0-1.0 and shows 0-100 %.
    FieldSpec(FIELD_AI_CONFIDENCE, "number", precision=0, format="percentage"),
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
        "permalink_url",
        "actual_time_minutes",
        "assignee.name",
        "assignee.email",
        "parent.name",
        "tags.name",
        "dependencies.name",
        "dependencies.completed",
        "dependencies.due_on",
        "dependents.name",
        "dependents.completed",
        "dependents.due_on",
        "custom_fields.name",
        "custom_fields.resource_subtype",
        "custom_fields.number_value",
        "custom_fields.text_value",
        "custom_fields.enum_value.name",
    )
)
STORY_FIELDS = "text,created_at,resource_subtype,created_by.name"
PROJECT_OPT_FIELDS = ",".join(
    (
        "name",
        "permalink_url",
        "workspace.name",
        "custom_field_settings.custom_field.name",
        "custom_field_settings.custom_field.resource_subtype",
        "custom_field_settings.custom_field.format",
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
    options: Mapping[str, str] = field(default_factory=dict)  # enum option name -> gid


@dataclass(frozen=True)
class Project:
    gid: str
    name: str
    workspace_gid: str
    permalink: str
    fields: Mapping[str, FieldInfo]  # custom fields attached to the project, by name

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
    ) -> None:
        config = asana.Configuration()
        config.host = base_url.rstrip("/")
        config.access_token = token.value
        config.retry_strategy = retry or retry_policy()
        self._client = asana.ApiClient(config)
        self._timeout = timeout
        self._batch_attempts = batch_attempts
        self._sleep = sleep
        self._created_options: dict[tuple[str, str], str] = {}
        self._options_lock = threading.Lock()
        self._tasks = asana.TasksApi(self._client)
        self._projects = asana.ProjectsApi(self._client)
        self._workspaces = asana.WorkspacesApi(self._client)
        self._custom_fields = asana.CustomFieldsApi(self._client)
        self._batch = asana.BatchAPIApi(self._client)
        self._stories = asana.StoriesApi(self._client)

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
        """Resolve a project gid or a (case-insensitive) name to a project."""
        ref = ref.strip()
        if ref.isdigit():
            return self.project(ref)
        wanted = " ".join(ref.split()).casefold()
        matches: list[dict[str, Any]] = []
        for workspace in self._list("workspaces", lambda: self._workspaces.get_workspaces({})):
            for candidate in self._list(
                "projects",
                lambda ws=workspace: self._projects.get_projects(
                    {"workspace": ws["gid"], "archived": False, "opt_fields": "name"},
                    _request_timeout=self._timeout,
                ),
            ):
                if " ".join(candidate["name"].split()).casefold() == wanted:
                    matches.append(candidate)
        if not matches:
            shown = ref if len(ref) <= 80 else ref[:79] + "…"
            raise NotFoundError(f"No Asana project is named “{shown}”. Use its name or gid.")
        if len(matches) > 1:
            gids = ", ".join(m["gid"] for m in matches[:5])
            raise UserFacingError(f"Several projects are named “{ref}” ({gids}): use the gid.")
        return self.project(matches[0]["gid"])

    def open_tasks(self, project: Project) -> list[Task]:
        """Every incomplete task of the project with what the core needs: ⌈n/100⌉ requests."""
        return [
            _task(row) for row in self._project_tasks(project, "now") if not row.get("completed")
        ]

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
            if key in ("assignee", "due_on", "start_on"):
                plain[key] = value
                continue
            info = project.fields.get(key)
            if info is None:
                raise UserFacingError(
                    f"the project has no “{key}” field: run `copilot setup --project {project.gid}`"
                )
            if info.subtype == "enum" and value is not None:
                value = self.ensure_enum_option(project, key, str(value))
            custom[info.gid] = value
        return TaskWrite(task_gid=task_gid, custom_fields=custom, fields=plain)

    def ensure_output_fields(self, project: Project) -> SetupReport:
        """Create (when missing) and attach the copilot's output fields; safe to run twice."""
        report = SetupReport()
        workspace_fields = {
            f["name"]: f
            for f in self._list(
                "workspace custom fields",
                lambda: self._custom_fields.get_custom_fields_for_workspace(
                    project.workspace_gid,
                    {"limit": PAGE_SIZE, "opt_fields": "name,resource_subtype"},
                    _request_timeout=self._timeout,
                ),
            )
        }
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
        """Return the gid of an enum option, creating it when the field lacks it."""
        info = project.fields.get(field_name)
        if info is None:
            raise UserFacingError(f"The project has no “{field_name}” field; add it in Asana.")
        if option in info.options:
            return info.options[option]
        key = (info.gid, option)
        # One creator at a time: two approvals naming the same new sprint add it once.
        with self._options_lock:
            if key in self._created_options:
                return self._created_options[key]
            created = self._call(
                f"adding option {option} to {field_name}",
                lambda: self._custom_fields.create_enum_option_for_custom_field(
                    info.gid, {"body": {"data": {"name": option}}}, _request_timeout=self._timeout
                ),
            )
            self._created_options[key] = created["gid"]
        return created["gid"]

    # -- plumbing --------------------------------------------------------------------------

    def _project_tasks(self, project: Project, completed_since: str) -> list[dict[str, Any]]:
        """The project's tasks, open or completed since then, in one paginated stream."""
        return self._list(
            f"tasks of project {project.gid}",
            lambda: self._tasks.get_tasks_for_project(
                project.gid,
                {
                    "completed_since": completed_since,
                    "limit": PAGE_SIZE,
                    "opt_fields": TASK_OPT_FIELDS,
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

    # -- reads for the stand-up digest (issue 4) -------------------------------------------

    def tasks_open_or_completed_since(self, project: Project, since: datetime) -> list[Task]:
        """Every open task plus those completed at or after `since`, in one paginated stream.

        Asana's completed_since returns "incomplete or completed since", so one read serves both
        (⌈(open + completed)/100⌉ requests), with dependencies in the same opt_fields.
        """
        return [_task(row) for row in self._project_tasks(project, _iso(since))]

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
        )
    workspace = data.get("workspace") or {}
    return Project(
        gid=data["gid"],
        name=data.get("name", ""),
        workspace_gid=workspace.get("gid", ""),
        permalink=data.get("permalink_url") or "",
        fields=fields,
    )


def _task(row: Mapping[str, Any]) -> Task:
    values: dict[str, float | str | None] = {}
    for cf in row.get("custom_fields") or []:
        subtype = cf.get("resource_subtype")
        if subtype == "number":
            values[cf["name"]] = cf.get("number_value")
        elif subtype == "enum":
            values[cf["name"]] = (cf.get("enum_value") or {}).get("name")
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
        completed=bool(row.get("completed")),
        completed_at=_datetime(row.get("completed_at")),
        modified_at=_datetime(row.get("modified_at")),
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
    try:
        return min(float(headers.get("Retry-After", 1)), 60.0)
    except (TypeError, ValueError):
        return 1.0


def _retry_after(exc: ApiException) -> float:
    return _seconds(exc.headers or {})
