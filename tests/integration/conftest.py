import json

import pytest

from bot.demo import CHANNEL, LEAD, Sandbox, proposal_id_of, running_sandbox
from tests.clock import NOWS, FrozenNow


def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """DATABASE_URL of a fresh PostgreSQL schema when the test runs on that backend."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return {"DATABASE_URL": request.getfixturevalue("pg_url")}
    return {}


def both_backends(fixture: str = "box") -> pytest.MarkDecorator:
    """Run a test with its sandbox on SQLite, then on PostgreSQL (issue 11)."""
    return pytest.mark.parametrize(fixture, ["sqlite", "postgresql"], indirect=True)


# The nows a date-sensitive flow also runs at on PostgreSQL: the default Wednesday, New York's
# repeated hour, and New Year's Eve (the local date and year are not UTC's).
POSTGRESQL_NOWS = ("wednesday", "new-york-fall-back", "dec-31")


def both_backends_every_now(fixture: str = "box") -> pytest.MarkDecorator:
    """Run a date-sensitive flow on SQLite at every one of NOWS, on PostgreSQL at three of them.

    The dates are worked out above the Store, by the same code on either backend, and the schema
    keeps them as the text it is given (week_start, slot, scheduled_for: bot/storage/schema.py),
    so no database date arithmetic differs from one now to another: SQLite's nine runs test the
    dates, PostgreSQL's three the storage at the edges where local and UTC dates part.
    """
    params = [
        pytest.param(backend, now, id=f"{backend}-{now.id}")
        for backend in ("sqlite", "postgresql")
        for now in NOWS
        if backend == "sqlite" or now.id in POSTGRESQL_NOWS
    ]
    return pytest.mark.parametrize((fixture, "frozen_now"), params, indirect=True)


@pytest.fixture
def box(frozen_now: FrozenNow, request: pytest.FixtureRequest):
    env = frozen_now.env | backend_env(request)
    with running_sandbox(tasks=60, lease_seconds=1.0, env=env) as sandbox:
        sandbox.setup_fields()
        yield sandbox


@pytest.fixture
def rules_box(frozen_now: FrozenNow, request: pytest.FixtureRequest):
    with running_sandbox(
        tasks=60, use_model=False, lease_seconds=1.0, env=frozen_now.env | backend_env(request)
    ) as sandbox:
        sandbox.setup_fields()
        yield sandbox


def prioritize(box: Sandbox, text: str = "", user: str = LEAD) -> dict:
    """Type /prioritize and wait for the proposal message; return it."""
    result, message = box.command("/prioritize", text, user=user)
    assert result.status == 200
    assert message is not None, last_ephemeral(box)
    return message


def click(box: Sandbox, message: dict, action: str, user: str = LEAD) -> None:
    assert box.click(message["ts"], action, user=user).status == 200


def proposal_id(message: dict) -> str:
    return proposal_id_of(message)


def current(box: Sandbox, message: dict) -> dict:
    return box.slack.messages[(CHANNEL, message["ts"])]


def last_ephemeral(box: Sandbox) -> str:
    return box.slack.ephemerals[-1]["text"] if box.slack.ephemerals else ""


def put_actions(box: Sandbox) -> dict[str, int]:
    """How many PUT actions each task received through /batch (and direct PUTs)."""
    counts: dict[str, int] = {}
    for request in box.asana.requests:
        if (
            request.method == "POST"
            and request.path == "/batch"
            and request.body
            and request.status == 200
        ):
            for action in request.body["data"]["actions"]:
                if action["method"].lower() == "put":
                    gid = action["relative_path"].rsplit("/", 1)[-1]
                    counts[gid] = counts.get(gid, 0) + 1
        elif request.method == "PUT" and request.path.startswith("/tasks/"):
            gid = request.path.rsplit("/", 1)[-1]
            counts[gid] = counts.get(gid, 0) + 1
    return counts


def batch_kinds(box: Sandbox) -> list[str]:
    """Each /batch request in order: "get" (a read of tasks) or "put" (a write)."""
    return [
        request.body["data"]["actions"][0]["method"].lower()
        for request in box.asana.requests
        if request.method == "POST" and request.path == "/batch" and request.body
    ]


def on_first_write(box: Sandbox) -> None:
    """Aim the next /batch fault at the first write: Approve reads a batch's tasks (one /batch of
    GETs) right before writing them, so this lets that read through untouched."""
    box.asana.faults.add("latency", method="POST", path_contains="/batch", times=1, delay=0.0)


def batch_faults(box: Sandbox, *plan: tuple[str, dict] | None) -> None:
    """One entry per coming /batch request, in order: a fault (kind, options) or None (none)."""
    for step in plan:
        kind, options = step if step is not None else ("latency", {"delay": 0.0})
        box.asana.faults.add(kind, method="POST", path_contains="/batch", times=1, **options)


def dump(message: dict) -> str:
    return json.dumps(message)


def batches(box: Sandbox, method: str) -> int:
    """POST /batch requests whose actions are all `method` (get: reads, put: writes)."""
    return sum(
        1
        for r in box.asana.requests
        if r.method == "POST"
        and r.path == "/batch"
        and r.body
        and all(a["method"].lower() == method for a in r.body["data"]["actions"])
    )


def outside_links(box: Sandbox, gids: list[str]) -> set[str]:
    """Dependencies and dependents of these tasks that are not among them (from the store)."""
    store = box.asana.store
    linked = {
        d for g in gids for d in (*store.tasks[g]["dependencies"], *store.tasks[g]["dependents"])
    }
    return linked - set(gids)
