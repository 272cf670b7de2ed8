"""Asana webhook deliveries: acknowledgement latency of 100 events in one second, and how many
calls reach the new-task sink (triage) for them.

    python bench/webhooks.py [--events 100] [--seconds 1] [--database-url postgresql://…]

The app runs against the sandbox on loopback (SQLite unless a PostgreSQL URL is given); its
webhook on the seeded project was created through the real handshake. 100 deliveries, each one
signed `added` event for a new task, are sent from a separate process, spread evenly over one
second, each on its own connection; the figure is the time to the app's 200 (Asana's timeout is
10 s). The recording sink then counts the calls it received.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.demo import running_sandbox


class CountingSink:
    """Stands where triage sits: records each call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def tasks_created(self, project_gid: str, task_gids: Sequence[str]) -> None:
        with self.lock:
            self.calls.append(list(task_gids))


def _send(request: dict) -> tuple[int, float]:
    time.sleep(max(0.0, request["at"] - time.time()))
    http = urllib.request.Request(
        request["url"],
        data=request["body"].encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-Hook-Signature": request["signature"]},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    try:
        with opener.open(http, timeout=30) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, (time.perf_counter() - started) * 1000


def load() -> int:
    """In the load process: send each request of stdin at its time; print (status, ms)."""
    requests = json.load(sys.stdin)
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        print(json.dumps(list(pool.map(_send, requests))))
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        return load()
    env = {"DATABASE_URL": args.database_url} if args.database_url else {}
    with running_sandbox(tasks=60, use_model=False, env=env, webhooks=True) as box:
        sink = CountingSink()
        box.services.webhooks.sink = sink
        project = box.seed.project_gid
        secret = box.services.store.webhook_secret(project)
        assert secret is not None
        person = next(u for u in box.asana.store.users if u != box.asana.store.me)
        url = f"{box.server.base_url}/asana/events/{project}"
        start = time.time() + 1.0
        requests = []
        for n in range(args.events):
            task = box.asana.store.add_task(
                None, f"Imported {n}", workspace_gid=box.seed.workspace_gid
            )
            event = {
                "user": {"gid": person, "resource_type": "user"},
                "created_at": "2026-11-30T10:00:00.000Z",
                "action": "added",
                "resource": {
                    "gid": task,
                    "resource_type": "task",
                    "resource_subtype": "default_task",
                },
                "parent": {"gid": project, "resource_type": "project"},
            }
            body = json.dumps({"events": [event]})
            requests.append(
                {
                    "url": url,
                    "body": body,
                    "signature": hmac.new(
                        secret.encode(), body.encode(), hashlib.sha256
                    ).hexdigest(),
                    "at": start + n * args.seconds / args.events,
                }
            )
        out = subprocess.run(
            [sys.executable, __file__, "--load"],
            input=json.dumps(requests),
            capture_output=True,
            text=True,
            check=True,
        )
        answers = json.loads(out.stdout)
        box.services.jobs.drain()
        deadline = time.monotonic() + 30
        while sum(len(c) for c in sink.calls) < args.events and time.monotonic() < deadline:
            time.sleep(0.1)
        latencies = [ms for _, ms in answers]
        statuses = sorted({status for status, _ in answers})
        backend = "PostgreSQL" if args.database_url else "SQLite"
        print(f"{args.events} signed deliveries over {args.seconds:g} s ({backend}):")
        print(f"  answers: {statuses} ({sum(s == 200 for s, _ in answers)} × 200)")
        print(
            f"  ack latency: p50 {statistics.median(latencies):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms "
            "(Asana's timeout: 10 s)"
        )
        print(
            f"  calls to the new-task sink: {len(sink.calls)} "
            f"({sum(len(c) for c in sink.calls)} tasks)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
