"""Fixtures of the storage tests: two Stores on one database stand for two instances."""

import pytest

from bot.storage.store import Store
from tests.storage.moments import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(database_target, clock):
    """Two Stores on one database: two instances of the app, on one settable clock."""
    first = Store(database_target, clock=clock)
    second = Store(database_target, clock=clock)
    yield first, second
    first.close()
    second.close()
