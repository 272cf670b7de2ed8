"""The Store: one typed interface over every aggregate, on SQLite or PostgreSQL.

Use cases see one object with typed methods and never SQL; the aggregates live in their own
modules (proposals and audit, schedules and the posted ledger, caches, people and settings,
instances) and share one database and clock. Which backend is a constructor argument: a
`postgres://` / `postgresql://` URL (DATABASE_URL) opens a connection pool, anything else is
the path of a SQLite file (COPILOT_DB). Constructing a Store brings the schema up to date,
under the migrations' cross-process lock, so every start of every instance is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.storage.base import StoreBase, iso, utc_now
from bot.storage.caches import CachesStore, CommentRow
from bot.storage.db import open_database
from bot.storage.instances import InstancesStore, PendingCommandRow
from bot.storage.nudges import NudgeProjectRow, NudgesStore
from bot.storage.people import ChannelLinkRow, OverloadAlertRow, PeopleStore
from bot.storage.proposals import ItemRow, ProposalRow, ProposalsStore
from bot.storage.retros import ApprovedSprintRow, BlockedDayRow, RetrosStore
from bot.storage.schedules import DeliveryProblemRow, DigestScheduleRow, SchedulesStore
from bot.storage.schema import migrations
from bot.storage.teams import TeamsConversationRow, TeamsPersonRow, TeamsStore
from bot.storage.teams_installs import TeamRef, TeamsInstallsStore
from bot.storage.triage import TriageStore
from bot.storage.webhooks import WebhookRow, WebhooksStore

__all__ = [
    "ApprovedSprintRow",
    "BlockedDayRow",
    "ChannelLinkRow",
    "CommentRow",
    "DeliveryProblemRow",
    "DigestScheduleRow",
    "ItemRow",
    "NudgeProjectRow",
    "OverloadAlertRow",
    "PendingCommandRow",
    "ProposalRow",
    "Store",
    "TeamRef",
    "TeamsConversationRow",
    "TeamsPersonRow",
    "WebhookRow",
    "iso",
    "utc_now",
]


class Store(
    ProposalsStore,
    SchedulesStore,
    CachesStore,
    PeopleStore,
    InstancesStore,
    TeamsStore,
    RetrosStore,
    TeamsInstallsStore,
    TriageStore,
    WebhooksStore,
    NudgesStore,
    StoreBase,
):
    def __init__(
        self,
        target: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        migrate: bool = True,
        pool_size: int = 10,
    ) -> None:
        self.target = target
        self._clock = clock
        self.db = open_database(target, pool_size=pool_size)
        if migrate:
            migrations.apply(self.db)

    @property
    def round_trips(self) -> int:
        """Statements sent to the database so far by this Store (for benchmarks)."""
        return self.db.round_trips.value

    def close(self) -> None:
        self.db.close()
