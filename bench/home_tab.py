"""Asana requests per Home-tab open, with the capacity overview cached (issue 9 §6).

    python bench/home_tab.py [--tasks 3000] [--opens 5]

Starts the sandbox and the real app (over HTTP on loopback), opens the Home tab `--opens`
times in a row and prints the Asana requests each open made: the first reads the default
project (one paginated read), the next ones within five minutes read nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.demo import LEAD, Sandbox, add_slack_user_for, running_sandbox


def published_count(box: Sandbox) -> int:
    return len(box.slack.calls_to("views.publish"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--opens", type=int, default=5)
    args = parser.parse_args()
    with running_sandbox(tasks=args.tasks, use_model=False) as box:
        add_slack_user_for(box, "lead@example.com", LEAD, "Lee Lead")
        counts = []
        for _ in range(args.opens):
            box.asana.reset_requests()
            published = len(box.slack.calls_to("views.publish"))
            assert box.slack.open_home(box.app_url, user_id=LEAD, timeout=120).status == 200
            box.slack.wait_for(lambda p=published: published_count(box) > p, 120)
            box.services.jobs.drain(timeout=120)
            counts.append(box.asana.count())
        print(f"{args.tasks} tasks: Asana requests per Home open: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
