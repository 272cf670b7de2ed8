"""Fault campaign: approvals under random Asana faults and concurrent clicks, then an audit.

    python bench/reliability.py [--rounds 20] [--tasks 60] [--seed 7]

Each round clears the AI fields, proposes (/prioritize), injects random faults (429 with
Retry-After, 500, 503, slow answers, dropped connections before and after Asana applied a batch,
batches with failing actions), clicks Approve 5 times at once, presses Retry until the proposal is
applied, and then checks every task: Asana holds exactly the approved values, it received at most
one write, and the audit log says "written" exactly for the tasks that were written.

Two more scenarios follow (issue 10):
- a person editing during a slow approval: every /batch answers 0.3 s late while a person sets
  AI Priority Score on random tasks of the proposal at random moments; a task whose edit came
  before the copilot's write must keep the person's value ("overwritten" counts those that did not);
- a lease shorter than one batch: a 0.5 s lease while every /batch takes 1 s and some answer 429
  (Retry-After 1 s), 5 Approve clicks spread over the first 4 s; each task must get one write and
  each proposal one "finished" row.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.demo import CHANNEL, LEAD, Sandbox, proposal_id_of, running_sandbox
from bot.gateways.asana import AI_FIELDS, FIELD_AI_SCORE

FAULTS = ("429", "500", "503", "latency", "drop", "drop_after", "batch_partial")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--edit-rounds", type=int, default=5)
    parser.add_argument("--lease-rounds", type=int, default=3)
    args = parser.parse_args()
    failed = campaign(args)
    failed |= person_edits(args)
    failed |= short_lease(args)
    return 1 if failed else 0


def campaign(args: argparse.Namespace) -> bool:
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
    return bool(totals["duplicates"] or totals["lost"] or totals["mismatches"])


def person_edits(args: argparse.Namespace) -> bool:
    """A person sets AI Priority Score on tasks of the proposal while the approval runs slowly."""
    rng = random.Random(args.seed + 1)
    edits = overwritten = raced = duplicates = kept_skipped = 0
    with running_sandbox(tasks=args.tasks, lease_seconds=1.0) as box:
        box.setup_fields()
        store = box.asana.store
        score_gid = store.find_field(box.seed.workspace_gid, FIELD_AI_SCORE)
        for _ in range(args.edit_rounds):
            box.asana.faults.clear()
            _clear_ai_fields(box)
            _, message = box.command("/prioritize")
            assert message is not None, "no proposal was posted"
            proposal_id = proposal_id_of(message)
            items = box.services.store.items(proposal_id)
            applied_before = len(store.applied_updates)
            box.asana.faults.add(
                "latency", method="POST", path_contains="/batch", times=-1, delay=0.3
            )
            # The approval takes about 2 × 0.3 s per batch of 10 (a read, then the write).
            span = 2 * 0.3 * len(items) / 10
            plan = sorted(
                (rng.uniform(0, span), item, float(rng.randint(1, 99)))
                for item in rng.sample(items, 5)
            )
            # gid -> (writes applied, requests received) at the instant of the person's edit
            edited_at: dict[str, tuple[int, int]] = {}

            def person(plan=plan, edited_at=edited_at) -> None:
                start = time.monotonic()
                for at, item, value in plan:
                    time.sleep(max(0.0, at - (time.monotonic() - start)))
                    if abs(value - item.changes[FIELD_AI_SCORE]) < 1e-4:
                        value += 1
                    with store.lock:  # no request is processed while the person edits
                        store.set_custom_field(item.task_gid, score_gid, value)
                        edited_at[item.task_gid] = (
                            len(store.applied_updates),
                            len(box.asana.requests),
                        )

            box.asana.reset_requests()
            editor = threading.Thread(target=person)
            editor.start()
            box.click(message["ts"], "proposal_approve")
            editor.join()
            box.asana.faults.clear()
            counts: dict[str, int] = {}
            for gid in store.applied_updates[applied_before:]:
                counts[gid] = counts.get(gid, 0) + 1
            duplicates += sum(1 for n in counts.values() if n > 1)
            statuses = {i.task_gid: i.status for i in box.services.store.items(proposal_id)}
            requests = list(box.asana.requests)
            for _, item, _ in plan:
                edits += 1
                gid = item.task_gid
                applied, received = edited_at[gid]
                if gid not in store.applied_updates[applied:]:
                    kept_skipped += statuses[gid] == "skipped"
                    continue  # the person's value stands
                # The copilot's write landed after the edit: did a read show it the edit first?
                write = max(i for i, r in enumerate(requests) if _batch_has(r, "put", gid))
                if any(_batch_has(r, "get", gid) for r in requests[received:write]):
                    overwritten += 1  # it read the person's value and wrote over it
                else:
                    raced += 1  # the edit fell between the batch's read and its write
    print(
        f"person editing during a slow approval: {args.edit_rounds} approvals · {edits} edits by "
        f"a person · overwritten after the copilot had read the edit: {overwritten} · skipped "
        f"and named: {kept_skipped} · written over an edit made after that task's last read "
        f"(for this engine: inside the ~0.3 s between its batch's read and write, which no "
        f"Asana client can close: the API has no conditional update): {raced} · "
        f"written twice: {duplicates}"
    )
    return bool(overwritten or duplicates)


def _batch_has(request: object, method: str, gid: str) -> bool:
    body = getattr(request, "body", None) or {}
    if getattr(request, "path", "") != "/batch" or not isinstance(body.get("data"), dict):
        return False
    return any(
        a.get("method", "").lower() == method and a.get("relative_path") == f"/tasks/{gid}"
        for a in body["data"].get("actions", [])
    )


def short_lease(args: argparse.Namespace) -> bool:
    """A lease shorter than one batch, 429s, and 5 Approve clicks spread over the approval."""
    rng = random.Random(args.seed + 2)
    duplicates = extra_finishes = checked = 0
    with running_sandbox(tasks=args.tasks, lease_seconds=0.5) as box:
        box.setup_fields()
        store = box.asana.store
        for _ in range(args.lease_rounds):
            box.asana.faults.clear()
            _clear_ai_fields(box)
            _, message = box.command("/prioritize")
            assert message is not None, "no proposal was posted"
            proposal_id = proposal_id_of(message)
            applied_before = len(store.applied_updates)
            box.asana.faults.add(
                "429", method="POST", path_contains="/batch", times=rng.randint(1, 3), retry_after=1
            )
            box.asana.faults.add(
                "latency", method="POST", path_contains="/batch", times=-1, delay=1.0
            )

            # Clicks over the first seconds: each later one comes after a lease span has passed.
            moments = sorted(rng.uniform(0, 4.0) for _ in range(4))

            def approve(at: float, ts: str = message["ts"]) -> None:
                time.sleep(at)
                try:
                    box.slack.click_button(
                        box.app_url,
                        channel_id=CHANNEL,
                        message_ts=ts,
                        action_id="proposal_approve",
                        user_id=LEAD,
                    )
                except LookupError:
                    pass  # the message already shows the decision: no Approve button to press

            with ThreadPoolExecutor(max_workers=5) as pool:
                list(pool.map(approve, [0.0, *moments]))
            box.services.jobs.drain(timeout=600)
            box.asana.faults.clear()
            counts: dict[str, int] = {}
            for gid in store.applied_updates[applied_before:]:
                counts[gid] = counts.get(gid, 0) + 1
            checked += len(box.services.store.items(proposal_id))
            duplicates += sum(1 for n in counts.values() if n > 1)
            finished = [
                r
                for r in box.services.store.audit_rows(proposal_id)
                if r["action"].startswith("finished")
            ]
            extra_finishes += max(0, len(finished) - 1)
    print(
        f"lease (0.5 s) shorter than one batch (1 s): {args.lease_rounds} approvals · 5 clicks "
        f"each over 4 s · {checked} task writes checked · written twice: {duplicates} · "
        f'extra "finished" rows: {extra_finishes}'
    )
    return bool(duplicates or extra_finishes)


def _clear_ai_fields(box: Sandbox) -> None:
    store = box.asana.store
    field_gids = [store.find_field(box.seed.workspace_gid, name) for name in AI_FIELDS]
    for gid, task in list(store.tasks.items()):
        if not task["completed"]:
            for field_gid in field_gids:
                store.set_custom_field(gid, field_gid, None)


def _same(a: object, b: object) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) < 1e-4
    return a == b


if __name__ == "__main__":
    sys.exit(main())
