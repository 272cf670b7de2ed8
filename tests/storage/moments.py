"""The storage tests' moment and the settable clock both their Stores read."""

from datetime import UTC, datetime

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now
