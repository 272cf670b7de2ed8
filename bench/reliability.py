"""Fault campaign: approvals under random Asana faults and concurrent clicks, then an audit.

    python bench/reliability.py [--rounds 20] [--tasks 60] [--seed 7]

Each round clears the AI fields, proposes (/prioritize), injects random faults (429 with
Retry-After, 500, 503, slow answers, dropped connections before and after Asana applied a batch,
batches with failing actions), clicks Approve 5 times at once, presses Retry until the proposal is
applied, and then checks every task: Asana holds exactly the approved values, it received at most
one write, and the audit log says "written" exactly for the tasks that were written.
"""

from __future__ import annotations

import argparse
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.demo import CHANNEL, LEAD, proposal_id_of, running_sandbox
from bot.gateways.asana import AI_FIELDS

FAULTS = ("429", "500", "503", "latency", "drop", "drop_after", "batch_partial")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    totals = dict(
        requests=0, faults=0, approvals=0, clicks=0, retries=0, checked=0,
        duplicates=0, lost=0, mismatches=0, skipped=0,
    )  # fmt: skip

    with running_sandbox(tasks=args.tasks, lease_seconds=1.0) as box:
        box.setup_fields()
        store = box.asana.store
        field_gids = {name: store.find_field(box.seed.workspace_gid, name) for name in AI_FIELDS}
        for _ in range(args.rounds):
            box.asana.faults.clear()
            for gid, task in list(store.tasks.items()):
                if not task["completed"]:
                    for field_gid in field_gids.values():
                        store.set_custom_field(gid, field_gid, None)
            _, message = box.command("/prioritize")
            assert message is not None, "no proposal was posted"
            proposal_id = proposal_id_of(message)
            box.asana.reset_requests()
            applied_before = len(store.applied_updates)
            for _ in range(rng.randint(1, 4)):
                kind = rng.choice(FAULTS)
                times = rng.randint(1, 3)
                box.asana.faults.add(
                    kind,
                    method=rng.choice(["POST", "GET"]) if kind != "batch_partial" else "POST",
                    path_contains=None,
                    times=times,
                    retry_after=1,
                    delay=0.2,
                    fail_actions=tuple(sorted(rng.sample(range(10), rng.randint(1, 3)))),
                    status=rng.choice([500, 503, 400]),
                )
                totals["faults"] += times

            def approve(_: int, ts: str = message["ts"]) -> None:
                box.slack.click_button(
                    box.app_url,
                    channel_id=CHANNEL,
                    message_ts=ts,
                    action_id="proposal_approve",
                    user_id=LEAD,
                )

            with ThreadPoolExecutor(max_workers=5) as pool:
                list(pool.map(approve, range(5)))
            totals["clicks"] += 5
            box.services.jobs.drain(timeout=120)
            for _ in range(10):
                if box.services.store.proposal(proposal_id).status != "partial":
                    break
                box.asana.faults.clear()
                box.click(message["ts"], "proposal_retry")
                totals["retries"] += 1
            totals["approvals"] += 1
            totals["requests"] += len(box.asana.requests)

            proposal = box.services.store.proposal(proposal_id)
            counts: dict[str, int] = {}
            for gid in store.applied_updates[applied_before:]:
                counts[gid] = counts.get(gid, 0) + 1
            audit = {
                row["task_gid"]: row["action"]
                for row in box.services.store.audit_rows(proposal_id)
                if row["task_gid"] and row["action"] in ("written", "already", "skipped", "failed")
            }
            for item in box.services.store.items(proposal_id):
                totals["checked"] += 1
                holds = all(
                    _same(store.field_value(item.task_gid, name), value)
                    for name, value in item.changes.items()
                )
                if counts.get(item.task_gid, 0) > 1:
                    totals["duplicates"] += 1
                if item.status == "skipped":
                    totals["skipped"] += 1
                    continue
                if proposal.status == "applied" and not holds:
                    totals["lost"] += 1
                if (audit.get(item.task_gid) in ("written", "already")) != holds:
                    totals["mismatches"] += 1

    print(
        f"rounds {args.rounds} · {totals['approvals']} approvals of {args.tasks} tasks · "
        f"{totals['clicks']} concurrent Approve clicks · {totals['retries']} Retry clicks"
    )
    print(f"Asana requests tried: {totals['requests']} · faults injected: {totals['faults']}")
    print(
        f"task writes checked: {totals['checked']} · duplicate writes: {totals['duplicates']} · "
        f"approved but lost: {totals['lost']} · audit log ≠ Asana: {totals['mismatches']} · "
        f"skipped as conflicts: {totals['skipped']}"
    )
    return 1 if totals["duplicates"] or totals["lost"] or totals["mismatches"] else 0


def _same(a: object, b: object) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) < 1e-4
    return a == b


if __name__ == "__main__":
    sys.exit(main())
