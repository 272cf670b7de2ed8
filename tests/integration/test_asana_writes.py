"""Enum options, field checks, multi-select values and due times: the gateway's writes as Asana
takes them, through the real ``asana`` client against the sandbox over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import asana
import pytest
from urllib3.util import Retry

from bot.errors import UserFacingError
from bot.gateways.asana import AI_FIELDS, FIELD_SPRINT, AsanaGateway
from bot.sandbox.asana_seed import SeedInfo, seed_team
from bot.sandbox.asana_server import AsanaSandbox, AsanaStore
from bot.settings import Secret

TODAY = date(2026, 11, 20)
TOKEN = "sandbox-asana-token"


@pytest.fixture
def seeded() -> Iterator[tuple[AsanaSandbox, SeedInfo]]:
    store = AsanaStore(now=lambda: datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    info = seed_team(store, tasks=12, today=TODAY)
    with AsanaSandbox(store) as sandbox:
        yield sandbox, info


def _gateway(sandbox: AsanaSandbox) -> AsanaGateway:
    return AsanaGateway(base_url=sandbox.base_url, token=Secret(TOKEN))


def _options(sandbox: AsanaSandbox, field_gid: str) -> list[dict[str, Any]]:
    store = sandbox.store
    return [store.enum_options[g] for g in store.custom_fields[field_gid]["enum_options"]]


def _posts(sandbox: AsanaSandbox, path: str) -> list[Any]:
    return [r for r in sandbox.requests if r.method == "POST" and r.path == path]


# --------------------------------------------------------------------------- enum options


def test_the_client_copies_an_enum_option_body_into_the_query_string(seeded) -> None:
    """What the asana 5.x client sends today, recorded by the sandbox: the reason for `_send`."""
    sandbox, info = seeded
    cfg = asana.Configuration()
    cfg.host = sandbox.base_url
    cfg.access_token = TOKEN
    cfg.retry_strategy = Retry(total=0)
    client = asana.ApiClient(cfg)
    try:
        sprint = info.field_gids["Sprint"]
        asana.CustomFieldsApi(client).create_enum_option_for_custom_field(
            sprint, {"body": {"data": {"name": "Sprint 30"}}}
        )
    finally:
        client.pool.close()
        client.pool.join()
    [request] = _posts(sandbox, f"/custom_fields/{sprint}/enum_options")
    assert "Sprint 30" in request.query["body"]
    assert request.body == {"data": {"name": "Sprint 30"}}


def test_a_new_sprint_option_goes_out_in_the_json_body_only(seeded) -> None:
    sandbox, info = seeded
    gateway = _gateway(sandbox)
    try:
        project = gateway.project(info.project_gid)
        gid = gateway.ensure_enum_option(project, FIELD_SPRINT, "Sprint 30")
    finally:
        gateway.close()
    sprint = info.field_gids["Sprint"]
    [request] = _posts(sandbox, f"/custom_fields/{sprint}/enum_options")
    assert request.query == {}
    assert request.body == {"data": {"name": "Sprint 30"}}
    assert request.status == 201
    assert sandbox.store.enum_options[gid]["name"] == "Sprint 30"


def test_two_processes_adding_the_same_sprint_make_one_option(seeded) -> None:
    sandbox, info = seeded
    first, second = _gateway(sandbox), _gateway(sandbox)
    try:
        # Both read the project before either added the option: both snapshots lack it.
        stale_first = first.project(info.project_gid)
        stale_second = second.project(info.project_gid)
        made = first.ensure_enum_option(stale_first, FIELD_SPRINT, "Sprint 30")
        reused = second.ensure_enum_option(stale_second, FIELD_SPRINT, "Sprint 30")
        # Within one process the answer is remembered: no second read.
        reads = sandbox.count("GET", f"/custom_fields/{info.field_gids['Sprint']}")
        assert second.ensure_enum_option(stale_second, FIELD_SPRINT, "Sprint 30") == reused
        assert sandbox.count("GET", f"/custom_fields/{info.field_gids['Sprint']}") == reads
    finally:
        first.close()
        second.close()
    assert made == reused
    names = [o["name"] for o in _options(sandbox, info.field_gids["Sprint"])]
    assert names.count("Sprint 30") == 1


def test_two_processes_racing_to_add_a_sprint_settle_on_one_enabled_option(seeded) -> None:
    """Both read the field before either created the option: both create, one copy survives."""
    sandbox, info = seeded
    sprint = info.field_gids["Sprint"]
    first, second = _gateway(sandbox), _gateway(sandbox)
    try:
        stale_first = first.project(info.project_gid)
        stale_second = second.project(info.project_gid)
        # The first gateway's read of the field is answered (without the option) but held
        # back until the second gateway has read, created and checked its own option.
        sandbox.faults.add("latency", method="GET", path_contains=f"/custom_fields/{sprint}",
                           delay=3.0)  # fmt: skip
        results: dict[str, str] = {}
        racer = threading.Thread(
            target=lambda: results.update(
                first=first.ensure_enum_option(stale_first, FIELD_SPRINT, "Sprint 30")
            )
        )
        racer.start()
        while not sandbox.count("GET", f"/custom_fields/{sprint}"):
            time.sleep(0.01)
        results["second"] = second.ensure_enum_option(stale_second, FIELD_SPRINT, "Sprint 30")
        racer.join(timeout=30)
    finally:
        first.close()
        second.close()
    made = [o for o in _options(sandbox, sprint) if o["name"] == "Sprint 30"]
    assert len(made) == 2 and len(_posts(sandbox, f"/custom_fields/{sprint}/enum_options")) == 2
    assert [o["enabled"] for o in made] == [True, False]  # the later copy was disabled
    assert results == {"first": made[0]["gid"], "second": made[0]["gid"]}


def test_a_disabled_sprint_option_is_enabled_again_not_duplicated(seeded) -> None:
    sandbox, info = seeded
    sprint = info.field_gids["Sprint"]
    old = sandbox.store.add_enum_option(sprint, "Sprint 30", enabled=False)
    gateway = _gateway(sandbox)
    try:
        project = gateway.project(info.project_gid)
        assert "Sprint 30" not in project.fields[FIELD_SPRINT].options  # disabled: not offered
        assert gateway.ensure_enum_option(project, FIELD_SPRINT, "Sprint 30") == old
    finally:
        gateway.close()
    assert sandbox.store.enum_options[old]["enabled"] is True
    assert [o["name"] for o in _options(sandbox, sprint)].count("Sprint 30") == 1
    assert not _posts(sandbox, f"/custom_fields/{sprint}/enum_options")
    [put] = [r for r in sandbox.requests if r.method == "PUT" and r.path == f"/enum_options/{old}"]
    assert put.query == {} and put.body == {"data": {"enabled": True}} and put.status == 200


def test_a_field_at_asanas_500_option_cap_is_refused_clearly(seeded) -> None:
    sandbox, info = seeded
    sprint = info.field_gids["Sprint"]
    for n in range(500 - len(_options(sandbox, sprint))):
        sandbox.store.add_enum_option(sprint, f"Old sprint {n}", enabled=n % 2 == 0)
    gateway = _gateway(sandbox)
    try:
        project = gateway.project(info.project_gid)
        with pytest.raises(UserFacingError) as refused:
            gateway.ensure_enum_option(project, FIELD_SPRINT, "Sprint 30")
        # A disabled option of that name is still found and enabled, cap or not.
        assert gateway.ensure_enum_option(project, FIELD_SPRINT, "Old Sprint 1")
    finally:
        gateway.close()
    message = str(refused.value)
    assert "“Sprint 30”" in message and "500" in message and "Disabled options count" in message
    assert not _posts(sandbox, f"/custom_fields/{sprint}/enum_options")
    assert len(_options(sandbox, sprint)) == 500


def test_sandbox_enum_option_rules_follow_the_spec(seeded) -> None:
    sandbox, info = seeded
    status = info.field_gids["Status"]
    on_track, blocked = sandbox.store.custom_fields[status]["enum_options"]
    api = sandbox.api
    answer = api.handle("PUT", f"/enum_options/{blocked}", {}, {"data": {"enabled": False}})
    assert answer.status == 200 and answer.body["data"]["enabled"] is False
    last = api.handle("PUT", f"/enum_options/{on_track}", {}, {"data": {"enabled": False}})
    assert last.status == 400 and "at least one enabled" in last.body["errors"][0]["message"]
    assert api.handle("PUT", "/enum_options/1", {}, {"data": {"enabled": True}}).status == 404
    for n in range(498):
        sandbox.store.add_enum_option(status, f"s{n}")
    full = api.handle("POST", f"/custom_fields/{status}/enum_options", {}, {"data": {"name": "x"}})
    assert full.status == 400 and "at most 500" in full.body["errors"][0]["message"]


# --------------------------------------------------------------------------- copilot setup


def _setup(sandbox: AsanaSandbox, project: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "ASANA_ACCESS_TOKEN": TOKEN,
        "ASANA_BASE_URL": sandbox.base_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "setup", "--project", project],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _attached_names(sandbox: AsanaSandbox, project: str) -> list[str]:
    store = sandbox.store
    return [store.custom_fields[s["field"]]["name"] for s in store.settings[project]]


@pytest.mark.parametrize(
    ("name", "subtype", "kwargs", "said"),
    [
        (
            "AI Confidence",
            "number",
            {"precision": 2},
            "“AI Confidence” is a number field formatted as plain (format none); "
            "it must be percentage.",
        ),
        (
            "AI Priority Score",
            "number",
            {"precision": 0},
            "“AI Priority Score” is a number field with 0 decimals; it needs at least 1 decimal",
        ),
        (
            "AI Priority Score",
            "number",
            {"precision": 1, "format": "percentage"},
            "“AI Priority Score” is a number field formatted as percentage; "
            "it must be plain (format none) or custom.",
        ),
        (
            "AI Rationale",
            "enum",
            {"enum_options": ["Yes"]},
            "“AI Rationale” is a single-select field; it must be a text field.",
        ),
        (
            "AI Suggested Sprint",
            "text",
            {},
            "“AI Suggested Sprint” is a text field; it must be a single-select field.",
        ),
    ],
)
def test_setup_refuses_an_existing_field_that_cannot_hold_our_values(
    seeded, name: str, subtype: str, kwargs: dict[str, Any], said: str
) -> None:
    sandbox, info = seeded
    sandbox.store.add_custom_field(info.workspace_gid, name, subtype, **kwargs)
    fields_before = len(sandbox.store.custom_fields)
    attached_before = _attached_names(sandbox, info.project_gid)

    result = _setup(sandbox, info.project_gid)

    assert result.returncode == 1, result.stdout + result.stderr
    assert said in result.stderr and "Nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(sandbox.store.custom_fields) == fields_before  # nothing created
    assert _attached_names(sandbox, info.project_gid) == attached_before  # nothing attached
    assert not [r for r in sandbox.requests if r.method != "GET"]


def test_setup_refuses_a_wrong_field_already_on_the_project(seeded) -> None:
    sandbox, info = seeded
    plain = sandbox.store.add_custom_field(info.workspace_gid, "AI Confidence", "number")
    sandbox.store.attach_field(info.project_gid, plain)

    result = _setup(sandbox, info.project_gid)

    assert result.returncode == 1
    assert "“AI Confidence” is a number field formatted as plain" in result.stderr
    assert not [r for r in sandbox.requests if r.method != "GET"]


def test_setup_attaches_existing_fields_that_fit(seeded) -> None:
    sandbox, info = seeded
    store = sandbox.store
    score = store.add_custom_field(info.workspace_gid, "AI Priority Score", "number", precision=2)
    confidence = store.add_custom_field(
        info.workspace_gid, "AI Confidence", "number", precision=1, format="percentage"
    )

    result = _setup(sandbox, info.project_gid)

    assert result.returncode == 0, result.stderr
    assert "attached              AI Priority Score" in result.stdout
    attached = {s["field"] for s in store.settings[info.project_gid]}
    assert {score, confidence} <= attached
    assert all(name in _attached_names(sandbox, info.project_gid) for name in AI_FIELDS)
    assert [f["name"] for f in store.custom_fields.values()].count("AI Priority Score") == 1


def test_a_precision_0_field_would_round_the_score_the_way_asana_does(seeded) -> None:
    """Why setup insists on a decimal: the sandbox keeps numbers at the field's precision."""
    sandbox, info = seeded
    store = sandbox.store
    whole = store.add_custom_field(info.workspace_gid, "Whole", "number", precision=0)
    share = store.add_custom_field(
        info.workspace_gid, "Share", "number", precision=0, format="percentage"
    )
    store.attach_field(info.project_gid, whole)
    store.attach_field(info.project_gid, share)
    task = next(iter(store.tasks))
    answer = sandbox.api.handle(
        "PUT", f"/tasks/{task}", {}, {"data": {"custom_fields": {whole: 74.5, share: 0.715}}}
    )
    assert answer.status == 200
    assert store.field_value(task, "Whole") == 75.0
    assert store.field_value(task, "Share") == 0.72


def test_a_sprint_option_a_person_disabled_after_we_made_it_is_enabled_again(seeded) -> None:
    sandbox, info = seeded
    sprint = info.field_gids["Sprint"]
    gateway = _gateway(sandbox)
    try:
        stale = gateway.project(info.project_gid)
        made = gateway.ensure_enum_option(stale, FIELD_SPRINT, "Sprint 31")
        # The rest of the same approval (its project read predates the option) reuses it.
        before = len(sandbox.requests)
        assert gateway.ensure_enum_option(stale, FIELD_SPRINT, "Sprint 31") == made
        assert len(sandbox.requests) == before
        # A person disables it in Asana; the next approval reads the project afresh.
        answer = sandbox.api.handle(
            "PUT", f"/enum_options/{made}", {}, {"data": {"enabled": False}}
        )
        assert answer.status == 200
        fresh = gateway.project(info.project_gid)
        assert "Sprint 31" not in fresh.fields[FIELD_SPRINT].options
        assert gateway.ensure_enum_option(fresh, FIELD_SPRINT, "Sprint 31") == made
    finally:
        gateway.close()
    assert sandbox.store.enum_options[made]["enabled"] is True
    assert [o["name"] for o in _options(sandbox, sprint)].count("Sprint 31") == 1


def test_a_batch_answered_429_with_retry_after_0_waits_at_least_a_second(seeded) -> None:
    sandbox, info = seeded
    gateway = _gateway(sandbox)
    try:
        project = gateway.project(info.project_gid)
        task = next(iter(sandbox.store.tasks))
        write = gateway.encode_write(project, task, {"Business Value": 5})
        sandbox.faults.add("429", method="POST", path_contains="/batch", retry_after=0)
        [result] = gateway.write_tasks([write])
    finally:
        gateway.close()
    assert [r.status for r in sandbox.requests if r.path == "/batch"] == [429]
    assert result.status == 429 and not result.ok
    assert result.retry_after == 1.0
