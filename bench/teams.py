"""Teams: answer latency of 50 concurrent command messages and of 50 concurrent Approve invokes
on different proposals, and Asana requests per approval from Teams beside Slack's.

    python bench/teams.py [--tasks 60] [--burst 50]

Everything runs against the sandbox over real HTTP on loopback, through the real Teams SDK behind
the JWT check. The requests are signed here and sent from a separate process, so the figures do
not include the measured app's GIL.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.demo import TEAMS_CHANNEL, TEAMS_LEAD, Sandbox, proposal_id_of, running_sandbox


def _send(request: dict) -> float:
    http = urllib.request.Request(
        request["url"],
        data=request["body"].encode(),
        headers={"Content-Type": "application/json", "Authorization": request["auth"]},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    with opener.open(http, timeout=30) as response:
        response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - started) * 1000


def burst() -> int:
    """In the load process: send every request of stdin at once; print the latencies (ms)."""
    requests = json.load(sys.stdin)
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        print(json.dumps(list(pool.map(_send, requests))))
    return 0


def fire(requests: list[dict]) -> list[float]:
    done = subprocess.run(
        [sys.executable, __file__, "_burst"],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def signed(box: Sandbox, activity: dict) -> dict:
    token = box.teams.token_for_app(service_url=activity["serviceUrl"])
    return {"url": box.app_url_teams, "body": json.dumps(activity), "auth": f"Bearer {token}"}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def summary(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):.0f} ms · p99 {p99(values):.0f} ms · "
        f"max {max(values):.0f} ms (n={len(values)})"
    )


def approval_cost(box: Sandbox) -> dict[str, dict[str, int]]:
    """Asana requests of one Approve from Slack and one from Teams, same project and size."""
    costs = {}
    _, message = box.command("/prioritize")
    assert message is not None
    box.asana.reset_requests()
    box.click(message["ts"], "proposal_approve")
    costs["Slack"] = {
        "reads": box.asana.count("GET"),
        "batches": box.asana.count("POST", "/batch"),
        "all": box.asana.count(),
    }
    assert proposal_id_of(message)
    _, card = box.teams_say("prioritize")
    assert card is not None
    box.asana.reset_requests()
    box.teams_click(card, "approve")
    costs["Teams"] = {
        "reads": box.asana.count("GET"),
        "batches": box.asana.count("POST", "/batch"),
        "all": box.asana.count(),
    }
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--burst", type=int, default=50)
    args = parser.parse_args()
    n = args.burst

    with running_sandbox(tasks=args.tasks, use_model=False) as box:
        box.setup_fields()
        # Ana has written in the channel once: the copilot knows it and her (a real install).
        box.teams_say("help", expect_proposal=False)

        messages = [
            signed(
                box,
                box.teams.activity(
                    "message", user=TEAMS_LEAD, conversation=TEAMS_CHANNEL, text="prioritize"
                ),
            )
            for _ in range(n)
        ]
        command_ms = fire(messages)
        box.services.jobs.drain(timeout=600)

        # n different open proposals, posted as cards, then n Approve clicks at once.
        channel = f"teams:{TEAMS_CHANNEL}"
        ana = f"teams:{box.teams.users[TEAMS_LEAD].aad_object_id}"
        project = box.services.prioritizer.resolve_project("", channel=channel)
        teams = box.services.teams
        assert teams is not None
        cards = []
        for _ in range(n):
            proposal = box.services.prioritizer.propose(project, channel=channel, user=ana)
            activity_id = teams.post_proposal(channel, proposal.view, proposal.id, proposed_by=ana)
            cards.append((proposal.id, activity_id))
        invokes = [
            signed(
                box,
                box.teams.activity(
                    "invoke",
                    user=TEAMS_LEAD,
                    conversation=TEAMS_CHANNEL,
                    name="adaptiveCard/action",
                    value={
                        "action": {
                            "type": "Action.Execute",
                            "verb": "approve",
                            "data": {"proposal": pid},
                        },
                        "trigger": "manual",
                    },
                    replyToId=activity_id,
                ),
            )
            for pid, activity_id in cards
        ]
        approve_ms = fire(invokes)
        box.services.jobs.drain(timeout=600)
        decided = sum(
            box.services.store.proposal(pid).status in ("applied", "partial") for pid, _ in cards
        )
        costs = approval_cost(box)

    print(f"Teams, {n} concurrent command messages (“@Copilot prioritize”): {summary(command_ms)}")
    print(f"Teams, {n} concurrent Approve invokes on {n} proposals: {summary(approve_ms)}")
    print(f"  {decided} of {n} proposals then approved in the background")
    for surface, cost in costs.items():
        print(
            f"Asana requests for one Approve of {args.tasks} tasks from {surface}: {cost['all']} "
            f"({cost['reads']} GET, {cost['batches']} POST /batch)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(burst() if sys.argv[1:] == ["_burst"] else main())
