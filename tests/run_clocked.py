"""`python -m tests.run_clocked OFFSET ARGS`: `python -m bot ARGS`, its clock moved by OFFSET s.

The test-side half of tests/clock.py:clocked_command (time-machine is a test dependency only).
"""

from __future__ import annotations

import sys
import time

import time_machine


def run(argv: list[str]) -> int:
    offset = float(argv[0])
    with time_machine.travel(time.time() + offset, tick=True):
        from bot.__main__ import main

        return main(argv[1:])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
