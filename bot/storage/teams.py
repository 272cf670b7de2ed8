"""Microsoft Teams: where each conversation's connector lives, and the people seen there."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.base import StoreBase


@dataclass(frozen=True)
class TeamsConversationRow:
    conversation_id: str
    service_url: str
    tenant_id: str | None
    kind: str | None
    team_id: str | None
    updated_at: str


@dataclass(frozen=True)
class TeamsPersonRow:
    aad_object_id: str
    member_id: str | None
    name: str | None
    email: str | None
    updated_at: str


class TeamsStore(StoreBase):
    def remember_teams_conversation(
        self,
        conversation_id: str,
        *,
        service_url: str,
        tenant_id: str,
        kind: str,
        team_id: str | None,
    ) -> None:
        """Keep the newest serviceUrl of a conversation (proactive posts need it)."""
        with self.write() as conn:
            conn.execute(
                "insert into teams_conversations (conversation_id, service_url, tenant_id, kind, "
                "team_id, updated_at) values (?, ?, ?, ?, ?, ?) on conflict(conversation_id) do "
                "update set service_url = excluded.service_url, tenant_id = excluded.tenant_id, "
                "kind = excluded.kind, "
                "team_id = coalesce(excluded.team_id, teams_conversations.team_id), "
                "updated_at = excluded.updated_at",
                [conversation_id, service_url, tenant_id, kind, team_id, self.now()],
            )

    def teams_conversation(self, conversation_id: str) -> TeamsConversationRow | None:
        with self.connect() as conn:
            row = conn.query_one(
                "select * from teams_conversations where conversation_id = ?", [conversation_id]
            )
        return TeamsConversationRow(**row) if row else None

    def latest_teams_service_url(self) -> str | None:
        """The serviceUrl Teams used last: for a channel of a known team not yet written in."""
        with self.connect() as conn:
            row = conn.query_one(
                "select service_url from teams_conversations order by updated_at desc limit 1"
            )
        return row["service_url"] if row else None

    def remember_teams_person(
        self, aad_object_id: str, *, member_id: str, name: str, email: str | None = None
    ) -> None:
        """A person as last seen in Teams; an email, once known, is kept."""
        with self.write() as conn:
            conn.execute(
                "insert into teams_people (aad_object_id, member_id, name, email, updated_at) "
                "values (?, ?, ?, ?, ?) on conflict(aad_object_id) do update set "
                "member_id = excluded.member_id, name = excluded.name, "
                "email = coalesce(excluded.email, teams_people.email), "
                "updated_at = excluded.updated_at",
                [aad_object_id, member_id, name, email, self.now()],
            )

    def teams_person(self, aad_object_id: str) -> TeamsPersonRow | None:
        with self.connect() as conn:
            row = conn.query_one(
                "select * from teams_people where aad_object_id = ?", [aad_object_id]
            )
        return TeamsPersonRow(**row) if row else None
