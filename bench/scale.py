"""One instance on SQLite against three on PostgreSQL, behind a round-robin client (issue 11).

    python bench/scale.py [--commands 300] [--approvals 100] [--tasks 30] [--big 5000]

For each setup, real `copilot serve --http` processes against the stand-ins of this process:
- 300 concurrent /prioritize commands, round-robin over the instances: ack p50 / p99;
- 100 Approve clicks at once, on 100 proposals, round-robin: approvals applied per second;
- database round trips per approval and per digest (counted by the Store, in this process,
  running the same use cases on the same backend);
- memory: each instance's idle RSS, and the peak RSS of one instance through a 5,000-task
  /prioritize + Approve.
PostgreSQL is COPILOT_BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test);
each run uses a schema of its own, dropped at the end. Rules scoring only (no model), so the
figures are the app's and the database's, not the model stand-in's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.demo import sandbox_env
from bot.sandbox.cluster import CHANNEL, LEAD, Cluster, running_cluster
from bot.services import build_services
from bot.settings import Settings
from bot.surfaces.slack.blocks.common import fallback_text, priority_blocks

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Figures:
    setup: str
    ack_p50: float
    ack_p99: float
    approvals_per_s: float
    trips_per_approval: float
    trips_per_digest: float
    idle_rss_mib: list[float]
    peak_rss_mib: float | None = None


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


@contextmanager
def pg_schema(server: str) -> Iterator[str]:
    import psycopg

    schema = f"copilot_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    try:
        separator = "&" if "?" in server else "?"
        yield f"{server}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{schema}" cascade')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def local_services(cluster: Cluster, database: str):
    """The app's services in this process, on the cluster's database (for proposals, counts)."""
    env = sandbox_env(
        cluster.asana,
        cluster.slack,
        None,
        cluster.seed,
        database if not database.startswith("postgres") else "unused.db",
        cluster.env["SLACK_SIGNING_SECRET"],
    )
    if database.startswith("postgres"):
        env["DATABASE_URL"] = database
    return build_services(Settings.from_env(env))


def burst(cluster: Cluster, n: int) -> list[float]:
    """n concurrent /prioritize commands, round-robin; each ack's latency in ms."""
    before = len(cluster.channel_messages())
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda i: cluster.command(None, "/prioritize"), range(n)))
    assert all(r.status == 200 for r in results), [r.status for r in results if r.status != 200]
    # Let the background work settle before the next phase (one ranking per project and
    # instance at a time; the others wait for it and are told).
    wait(lambda: len(cluster.channel_messages()) > before, 120)
    settled = -1
    while settled != len(cluster.slack.calls):
        settled = len(cluster.slack.calls)
        time.sleep(2.0)
    return [r.elapsed_ms for r in results]


def approvals(cluster: Cluster, services, n: int) -> tuple[float, float]:
    """n Approve clicks on n proposals at once: (approvals per second, DB trips per approval)."""
    messages = []
    for _ in range(n):
        proposal = services.prioritizer.propose("", channel=CHANNEL, user=LEAD)
        ts = services.slack.post(
            CHANNEL,
            text=fallback_text(proposal.view),
            blocks=priority_blocks(proposal.view, proposal.id, proposed_by=LEAD),
        )
        services.engine.posted(proposal.id, CHANNEL, ts)
        messages.append(ts)

    def approved(ts: str) -> bool:
        return "Approved" in cluster.slack.render(cluster.slack.messages[(CHANNEL, ts)])

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(n, 50)) as pool:
        list(pool.map(lambda ts: cluster.click(None, ts, "proposal_approve"), messages))
    if not wait(lambda: all(approved(ts) for ts in messages), 600):
        raise RuntimeError("approvals did not finish:\n" + cluster.outputs()[-3000:])
    rate = n / (time.perf_counter() - started)

    # Round trips of one approval, on the same backend, counted by the Store in this process.
    proposal = services.prioritizer.propose("", channel=CHANNEL, user=LEAD)
    ts = services.slack.post(CHANNEL, text="x", blocks=[])
    services.engine.posted(proposal.id, CHANNEL, ts)
    before = services.store.round_trips
    services.engine.decide(proposal.id, user=LEAD, channel=CHANNEL, decision="approve")
    return rate, float(services.store.round_trips - before)


def digest_trips(services) -> float:
    before = services.store.round_trips
    services.digests.post_now(services.settings.asana_project or "", CHANNEL)
    return float(services.store.round_trips - before)


def run_setup(name: str, database: str, instances: int, args: argparse.Namespace) -> Figures:
    with running_cluster(database=database, instances=instances, tasks=args.tasks) as cluster:
        time.sleep(3.0)  # idle: imports done, scheduler and pool settled
        idle = [rss_mib(i.pid) for i in cluster.instances]
        latencies = burst(cluster, args.commands)
        services = local_services(cluster, database)
        try:
            rate, per_approval = approvals(cluster, services, args.approvals)
            per_digest = digest_trips(services)
        finally:
            services.close()
    return Figures(
        name,
        statistics.median(latencies),
        percentile(latencies, 0.99),
        rate,
        per_approval,
        per_digest,
        idle,
    )


def big_run(database: str, tasks: int) -> float:
    """Peak RSS (MiB) of one instance through a `tasks`-task /prioritize + Approve."""
    with running_cluster(database=database, instances=1, tasks=tasks) as cluster:
        before = len(cluster.channel_messages())
        cluster.command(0, "/prioritize")
        if not wait(lambda: len(cluster.channel_messages()) > before, 600):
            raise RuntimeError("no proposal:\n" + cluster.outputs()[-3000:])
        message = cluster.channel_messages()[-1]
        cluster.click(0, message["ts"], "proposal_approve")
        if not wait(
            lambda: (
                "Approved" in cluster.slack.render(cluster.slack.messages[(CHANNEL, message["ts"])])
            ),
            1200,
        ):
            raise RuntimeError("approval did not finish:\n" + cluster.outputs()[-3000:])
        return rss_mib(cluster.instances[0].pid, "VmHWM")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--approvals", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--big", type=int, default=5000, help="tasks of the memory run (0: skip)")
    args = parser.parse_args()
    server = os.environ.get("COPILOT_BENCH_DATABASE_URL", DEFAULT_PG)
    results = []
    with tempfile.TemporaryDirectory(prefix="copilot-bench-") as workdir:
        sqlite_path = str(Path(workdir) / "copilot.db")
        print(f"SQLite, 1 instance ({os.cpu_count()} cores)…", flush=True)
        sqlite = run_setup("SQLite, 1 instance", sqlite_path, 1, args)
        results.append(sqlite)
        if args.big:
            sqlite.peak_rss_mib = big_run(str(Path(workdir) / "big.db"), args.big)
    print("PostgreSQL, 3 instances…", flush=True)
    with pg_schema(server) as url:
        pg = run_setup("PostgreSQL, 3 instances", url, 3, args)
    results.append(pg)
    if args.big:
        with pg_schema(server) as url:
            pg.peak_rss_mib = big_run(url, args.big)

    print()
    print(
        f"{args.commands} concurrent /prioritize, {args.approvals} Approve clicks, "
        f"{args.tasks} tasks a proposal; {os.cpu_count()} cores shared by everything"
    )
    header = (
        "| setup | ack p50 | ack p99 | approvals/s | DB trips/approval | DB trips/digest "
        "| idle RSS | peak RSS |"
    )
    print(header)
    print("|" + "---|" * 8)
    for f in results:
        idle = "/".join(f"{m:.0f}" for m in f.idle_rss_mib)
        peak = f"{f.peak_rss_mib:.0f} MiB ({args.big} tasks)" if f.peak_rss_mib else "—"
        print(
            f"| {f.setup} | {f.ack_p50:.0f} ms | {f.ack_p99:.0f} ms | {f.approvals_per_s:.1f} "
            f"| {f.trips_per_approval:.0f} | {f.trips_per_digest:.0f} | {idle} MiB | {peak} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
