import copy
import json

import pytest

from bot.demo import CHANNEL, LEAD, Sandbox, running_sandbox


@pytest.fixture
def box():
    with running_sandbox(tasks=60, lease_seconds=1.0) as sandbox:
        sandbox.setup_fields()
        yield sandbox


@pytest.fixture
def rules_box():
    with running_sandbox(tasks=60, use_model=False, lease_seconds=1.0) as sandbox:
        sandbox.setup_fields()
        yield sandbox


def prioritize(box: Sandbox, text: str = "", user: str = LEAD) -> dict:
    """Type /prioritize and wait for the proposal message; return it."""
    before = len(box.channel_messages())
    result = box.slack.slash_command(
        box.app_url, "/prioritize", text, user_id=user, channel_id=CHANNEL
    )
    assert result.status == 200
    assert box.slack.wait_for(lambda: len(box.channel_messages()) > before, timeout=30), (
        last_ephemeral(box)
    )
    box.services.jobs.drain()
    return copy.deepcopy(box.channel_messages()[-1])  # the stand-in updates its own copy in place


def click(box: Sandbox, message: dict, action: str, user: str = LEAD) -> None:
    result = box.slack.click_button(
        box.app_url, channel_id=CHANNEL, message_ts=message["ts"], action_id=action, user_id=user
    )
    assert result.status == 200
    wait_jobs(box)


def wait_jobs(box: Sandbox) -> None:
    # Listeners enqueue before they ack, so by now the work is queued: wait for it.
    box.services.jobs.drain()


def proposal_id(message: dict) -> str:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == "proposal_approve":
                return element["value"]
    raise AssertionError("no Approve button")


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


def dump(message: dict) -> str:
    return json.dumps(message)
