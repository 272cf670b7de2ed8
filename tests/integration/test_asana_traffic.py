"""Every request the app sends to Asana during the demo flows is one Asana's OpenAPI spec declares.

The flows of `copilot demo` (setup, /prioritize by name, Approve, /retro and its Approve (action
items, the retrospective's task and comment), /plan-sprint, Approve, /forecast, the stand-up
digest, the overload check and its Approve, a new task's triage and its Approve with its
comment, /estimate and its Approve, the daily nudges, the webhooks' ensure, reconcile and
re-creation) run against the sandbox; each recorded
request, and each action inside a /batch, is checked against asana_spec_operations.json (taken
from Asana/openapi at the commit it names): a declared path, only declared query parameters, the
required ones present, and only opt_fields names of that operation's enum.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine

from bot.demo import (
    CHANNEL,
    HANNAH_SLACK_ID,
    LEAD,
    add_slack_user_for,
    arrange_overload,
    proposal_id_of,
    running_sandbox,
)
from bot.demo_triage import triage_demo
from bot.sandbox.asana_server import RecordedRequest
from bot.surfaces.slack.listeners.forecast import forecast_demo
from bot.usecases.overload import run_overload_check
from tests.clock import DEFAULT_NOW

SPEC = json.loads(Path(__file__).with_name("asana_spec_operations.json").read_text("utf-8"))
# Query parameters the asana client adds or the transport needs, none of which Asana reads as
# input: nothing here today (every name must be declared).
NOT_INPUT: frozenset[str] = frozenset()


def _operations() -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    ops = []
    for op in SPEC["operations"]:
        # `me` stands for the token's own user wherever Asana takes a user gid.
        path = re.sub(r"\{user_gid\}", r"(?:\\d+|me)", op["path"])
        pattern = re.compile(re.sub(r"\{[a-z_]+\}", r"\\d+", path) + "/?")
        ops.append((op["method"], pattern, op))
    return ops


OPERATIONS = _operations()


def _find(method: str, path: str) -> dict[str, Any] | None:
    for op_method, pattern, op in OPERATIONS:
        if op_method == method.upper() and pattern.fullmatch(path):
            return op
    return None


def _problems(method: str, path: str, query: dict[str, str]) -> Iterator[tuple[str, str]]:
    op = _find(method, path)
    if op is None:
        yield f"{method} {path}", "not an operation of the spec list"
        return
    where = f"{op['method']} {op['path']}"
    for name in sorted(set(query) - set(op["query"]) - NOT_INPUT):
        yield where, f"query parameter {name} is not declared"
    for name in op["required_query"]:
        if name not in query:
            yield where, f"required query parameter {name} is missing"
    fields = [f.strip() for f in query.get("opt_fields", "").split(",") if f.strip()]
    for name in fields:
        if name not in op["opt_fields"]:
            yield where, f"opt_field {name} is not declared ({op['operationId']})"


def _batch_actions(request: RecordedRequest) -> Iterator[tuple[str, str, dict[str, str]]]:
    """Each action of a /batch as (method, path, query) the way Asana reads it."""
    for action in (request.body or {}).get("data", {}).get("actions", []):
        method = str(action.get("method", "")).upper()
        query: dict[str, str] = {}
        options = action.get("options") or {}
        if "fields" in options:
            fields = options["fields"]
            query["opt_fields"] = ",".join(fields) if isinstance(fields, list) else str(fields)
        for key in ("limit", "offset", "pretty"):
            if key in options:
                query["opt_pretty" if key == "pretty" else key] = str(options[key])
        if method == "GET":  # a GET action's query parameters travel in `data`
            query.update({k: str(v) for k, v in (action.get("data") or {}).items()})
        yield method, action["relative_path"], query


def problems_of(requests: list[RecordedRequest]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for request in requests:
        found |= set(_problems(request.method, request.path, request.query))
        if request.method == "POST" and request.path.rstrip("/") == "/batch":
            for method, path, query in _batch_actions(request):
                found |= {(f"in /batch: {w}", p) for w, p in _problems(method, path, query)}
    return found


@pytest.fixture(scope="module")
def demo_traffic() -> tuple[list[RecordedRequest], set[str]]:
    """Run the demo's flows once; return every recorded Asana request and the operations used.

    Module-scoped, it is set up before the autouse `frozen_now`: it freezes the clock itself.
    """
    with (
        time_machine.travel(DEFAULT_NOW.instant, tick=True),
        running_sandbox(tasks=60, lease_seconds=1.0, webhooks=True) as box,
    ):
        box.setup_fields()
        _, message = box.command("/prioritize", box.seed.project_name)  # by name: typeahead
        assert message is not None
        box.click(message["ts"], "proposal_approve")
        # Issue 14: /retro and its Approve (action items, the retrospective's task and comment),
        # before /plan-sprint moves the seed's carried-over tasks; /forecast after it.
        _, retro = box.command("/retro")
        assert retro is not None
        box.click(retro["ts"], "proposal_approve")
        assert box.services.store.proposal(proposal_id_of(retro)).status == "applied"
        _, sprint = box.command("/plan-sprint")
        assert sprint is not None
        box.click(sprint["ts"], "proposal_approve")
        assert box.services.store.proposal(proposal_id_of(sprint)).status == "applied"
        assert forecast_demo(box, lambda text="": None)
        box.services.nudges.set_project(LEAD, CHANNEL, box.seed.project_gid, on=True)
        box.services.nudges.run()  # the daily nudges' read
        digest = box.services.digests.post_now(box.seed.project_name, CHANNEL)  # by name: typeahead
        assert digest.message_ts is not None
        crunch = arrange_overload(box.asana.store, box.seed, box.services.today())
        box.link(crunch.project_gid)
        add_slack_user_for(box, "hannah.kim@acme.example", HANNAH_SLACK_ID, "Hannah Kim")
        report = run_overload_check(box.services, project_ref=crunch.project_gid, channel=CHANNEL)
        assert report.alerts
        box.click(report.alerts[0].message_ts, "proposal_approve")
        # Issue 13: a new task triaged and approved (its comment), then /estimate and Approve.
        assert triage_demo(box, lambda text="": None)
        # Asana webhooks (issue 13): a missed event reconciled, a disabled webhook re-created,
        # and `copilot webhooks --delete` then a fresh ensure.
        hooks, project = box.services.webhooks, box.seed.project_gid
        box.asana.webhooks.knobs.drop_next = 1
        someone = next(u for u in box.seed.user_gids.values() if u != box.asana.store.me)
        box.asana.store.add_task(project, "Missed by the webhook", by=someone)
        box.asana.webhooks.deactivate(box.services.store.webhook_row(project).webhook_gid)
        assert hooks.reconcile()
        assert hooks.remove(project).action == "deleted"
        assert hooks.ensure(project).action == "created"
        requests = list(box.asana.requests)
    used = {f"{r.method} {r.path}" for r in requests}
    used |= {
        f"in /batch: {m} {p}"
        for r in requests
        if r.path.rstrip("/") == "/batch"
        for m, p, _ in _batch_actions(r)
    }
    return requests, used


def test_the_flows_use_the_operations_the_spec_list_covers(demo_traffic) -> None:
    _, used = demo_traffic
    operations = {
        (_find(*u.removeprefix("in /batch: ").split(" ", 1)) or {}).get("operationId") for u in used
    }
    # The flows exercise the typeahead, the people read, the dependency reads in /batch, the
    # writes in /batch and the Sprint option creation: the check below has real traffic to judge.
    assert {
        "typeaheadForWorkspace",
        "getUsers",
        "getTasksForProject",
        "getTask",
        "updateTask",
        "getStoriesForTask",
        "createStoryForTask",
        "getUser",
        "createBatchRequest",
        "createEnumOptionForCustomField",
        "createCustomField",
        "addCustomFieldSettingForProject",
        "getTasks",
        "getWebhooks",
        "createWebhook",
        "getWebhook",
        "deleteWebhook",
    } <= operations


def test_every_request_is_declared_by_the_spec(demo_traffic) -> None:
    requests, _ = demo_traffic
    # Fails on the old gateway: dependencies.* and assignee.email opt_fields, GET /projects to
    # find a project by name, ?limit=100 on POST /batch, the enum option's body in the query.
    assert sorted(problems_of(requests)) == []


def test_the_check_catches_what_the_spec_does_not_declare() -> None:
    """The checker itself: undeclared opt_fields, query parameters and paths are reported."""
    bad = [
        RecordedRequest(
            "GET",
            "/projects/1/tasks",
            {"completed_since": "now", "opt_fields": "name,dependencies.name,assignee.email"},
            None,
        ),
        RecordedRequest("GET", "/projects", {"workspace": "1"}, None),
        RecordedRequest(
            "POST",
            "/batch",
            {},
            {
                "data": {
                    "actions": [
                        {
                            "relative_path": "/tasks/2",
                            "method": "get",
                            "options": {"fields": ["name", "dependents.completed"]},
                        }
                    ]
                }
            },
        ),
        RecordedRequest("GET", "/workspaces/1/typeahead", {"query": "x"}, None),
    ]
    assert problems_of(bad) == {
        (
            "GET /projects/{project_gid}/tasks",
            "opt_field dependencies.name is not declared (getTasksForProject)",
        ),
        (
            "GET /projects/{project_gid}/tasks",
            "opt_field assignee.email is not declared (getTasksForProject)",
        ),
        ("GET /projects", "not an operation of the spec list"),
        (
            "in /batch: GET /tasks/{task_gid}",
            "opt_field dependents.completed is not declared (getTask)",
        ),
        (
            "GET /workspaces/{workspace_gid}/typeahead",
            "required query parameter resource_type is missing",
        ),
    }
