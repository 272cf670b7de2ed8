"""Cost and speed of the stand-up digest: 100 channels, each with its own 500-task project.

    python bench/digest.py [--channels 100] [--tasks 500] [--no-model]

Two rounds against the Asana sandbox (in this process, over real HTTP on loopback):
- day 1, every channel's first digest (changes since the previous working day);
- day 2, after a day of activity in every project (tasks completed, edited and commented on),
  each digest covering only what changed since day 1.
Prints, per digest, the Asana requests (and the budget the issue sets), Slack and model calls,
and the wall time.
"""

from __future__ import annotations

import argparse
import math
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.demo import sandbox_env
from bot.sandbox.asana_seed import SeedInfo, seed_team
from bot.sandbox.asana_server import AsanaSandbox, AsanaStore
from bot.sandbox.openai_standin import OpenAIStandIn
from bot.sandbox.slack_standin import SlackStandIn, SlackUser
from bot.services import build_services
from bot.settings import Settings
from bot.usecases.digest import PostResult


def open_count(store: AsanaStore, project: str) -> int:
    return sum(
        1
        for t in store.tasks.values()
        if not t["completed"] and any(m["project"] == project for m in t["memberships"])
    )


def a_day_of_work(store: AsanaStore, project: str, rng: random.Random) -> tuple[int, int, int]:
    """Complete 8 tasks, edit 30, comment on 12 (3 of them "blocked") in one project."""
    with store.lock:
        gids = [
            gid
            for gid, t in store.tasks.items()
            if not t["completed"] and any(m["project"] == project for m in t["memberships"])
        ]
        picked = rng.sample(gids, 50)
        now = store.timestamp()
        for gid in picked[:8]:
            store.tasks[gid].update(completed=True, completed_at=now, modified_at=now)
        for gid in picked[8:38]:
            store.tasks[gid].update(notes=store.tasks[gid]["notes"] + " (updated)", modified_at=now)
    for n, gid in enumerate(picked[38:]):
        text = "Blocked until the vendor answers." if n < 3 else "PR is up for review."
        store.add_story(gid, text)  # a live comment: it also bumps the task's modified_at
    return 8, 30, 12


@dataclass
class Round:
    requests: list[int] = field(default_factory=list)
    task_pages: list[int] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    comment_reads: list[int] = field(default_factory=list)
    link_batches: list[int] = field(default_factory=list)  # dependencies outside the read
    people_reads: list[int] = field(default_factory=list)  # GET /users (cached an hour)
    open_tasks: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    slack_calls: int = 0
    model_calls: int = 0


def run_round(
    channels: list[tuple[str, SeedInfo]],
    post: Callable[[str, str], PostResult],
    asana: AsanaSandbox,
    slack: SlackStandIn,
    model: OpenAIStandIn | None,
) -> Round:
    out = Round()
    slack_before = len(slack.calls)
    model_before = len(model.requests) if model else 0
    for channel, seed in channels:
        asana.reset_requests()
        started = time.perf_counter()
        result = post(seed.project_gid, channel)
        out.seconds.append(time.perf_counter() - started)
        assert result.digest is not None
        out.open_tasks.append(result.digest.facts.open_count)
        out.requests.append(asana.count())
        out.task_pages.append(asana.count("GET", f"/projects/{seed.project_gid}/tasks"))
        every = [r for r in asana.requests if r.method == "POST" and r.path == "/batch" and r.body]
        batches = [
            r
            for r in every
            if all(a["relative_path"].endswith("/stories") for a in r.body["data"]["actions"])
        ]
        out.batches.append(len(batches))
        out.link_batches.append(len(every) - len(batches))
        out.people_reads.append(asana.count("GET", "/users"))
        out.comment_reads.append(sum(len(r.body["data"]["actions"]) for r in batches if r.body))
    out.slack_calls = len(slack.calls) - slack_before
    out.model_calls = (len(model.requests) - model_before) if model else 0
    return out


def report(title: str, r: Round) -> None:
    ms = sorted(s * 1000 for s in r.seconds)
    p95 = ms[min(len(ms) - 1, math.ceil(0.95 * len(ms)) - 1)]
    med = statistics.median
    print(f"{title}: {len(r.requests)} digests")
    print(
        f"  Asana requests per digest: median {med(r.requests):g} (min {min(r.requests)}, max "
        f"{max(r.requests)}) = 1 project + {med(r.task_pages):g} task pages "
        f"(open and completed since, 100 a page; {med(r.open_tasks):g} open) + "
        f"{med(r.batches):g} comment batches (latest comment of {med(r.comment_reads):g} changed "
        f"tasks, 10 a batch) + {med(r.link_batches):g} batches of dependencies outside the read "
        f"+ {med(r.people_reads):g} people reads (once an hour per workspace)"
    )
    pages = med(r.task_pages)
    print(
        f"  for comparison: one comments request per changed task would make "
        f"{1 + pages + med(r.comment_reads):g}, per open task {1 + pages + med(r.open_tasks):g}; "
        f"the issue's floor for the task read is ⌈open/100⌉ = {math.ceil(med(r.open_tasks) / 100)}"
    )
    print(
        f"  wall time per digest: median {med(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms "
        f"(total {sum(r.seconds):.1f} s); Slack calls {r.slack_calls}, model calls "
        f"{r.model_calls}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--no-model", action="store_true")
    args = parser.parse_args()

    now = datetime.now(UTC)
    # The seed dates its history back from 09:30 UTC on `today`: keep that in the past.
    today = now.date() if now.time() >= time_of_day(9, 30) else now.date() - timedelta(days=1)
    store = AsanaStore()
    started = time.perf_counter()
    seeds = [seed_team(store, tasks=args.tasks, today=today, seed=n) for n in range(args.channels)]
    channels = [(f"C0BENCH{n:03d}", seed) for n, seed in enumerate(seeds)]
    seeded = time.perf_counter() - started
    print(
        f"{args.channels} channels, each with its own project of {args.tasks} open tasks "
        f"({len(store.tasks)} tasks in the sandbox, seeded in {seeded:.0f} s)"
    )
    rng = random.Random(4)
    # The seeded team (same people in every project) all have Slack accounts: mentions resolve.
    users = [SlackUser(f"U0P{n:04d}", f"p{n}", e) for n, e in enumerate(seeds[0].user_gids)]

    with tempfile.TemporaryDirectory(prefix="copilot-bench-") as workdir:
        signing = secrets.token_hex(16)
        with (
            AsanaSandbox(store) as asana,
            SlackStandIn(
                signing_secret=signing, users=users, channels=[c for c, _ in channels]
            ) as slack,
        ):
            model = None if args.no_model else OpenAIStandIn().start()
            try:
                settings = Settings.from_env(
                    sandbox_env(asana, slack, model, seeds[0], str(Path(workdir) / "c.db"), signing)
                )
                services = build_services(settings)
                try:

                    def post(project: str, channel: str) -> PostResult:
                        return services.digests.post_now(project, channel)

                    day1 = run_round(channels, post, asana, slack, model)
                    report("day 1, first digests (changes since the previous working day)", day1)
                    for _, seed in channels:
                        a_day_of_work(store, seed.project_gid, rng)
                    day2 = run_round(channels, post, asana, slack, model)
                    report(
                        "day 2, after a day of work (8 done, 30 edited, 12 commented per project)",
                        day2,
                    )
                    posted = sum(len(slack.channel_messages(c)) for c, _ in channels)
                    print(f"messages posted: {posted} (2 per channel)")
                finally:
                    services.close()
            finally:
                if model is not None:
                    model.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
