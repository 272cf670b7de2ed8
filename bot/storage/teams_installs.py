"""Microsoft Teams installs and the images of cards (issue 12, migration m013_teams_settings).

A team's install covers every channel of it: removing the copilot from a team marks all its
known conversations removed and drops their connector references (teams_conversations), so no
scheduled post goes there until it is added again.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.base import StoreBase

INSTALLED = "installed"
REMOVED = "removed"


@dataclass(frozen=True)
class TeamRef:
    """A team the copilot is installed in, and where its connector lives."""

    team_id: str
    service_url: str
    tenant_id: str | None


class TeamsInstallsStore(StoreBase):
    def teams_installed(self, conversation_id: str, *, team_id: str | None, by: str) -> bool:
        """Mark a conversation (and, for a team, its channels) installed; True when it was not
        installed before (a new install, or back after a removal)."""
        now = self.now()
        with self.write() as conn:
            changed = conn.execute(
                "insert into teams_installs (conversation_id, team_id, state, changed_by, "
                "changed_at) values (?, ?, ?, ?, ?) on conflict(conversation_id) do update set "
                "state = excluded.state, "
                "team_id = coalesce(excluded.team_id, teams_installs.team_id), "
                "changed_by = excluded.changed_by, changed_at = excluded.changed_at "
                "where teams_installs.state <> excluded.state",
                [conversation_id, team_id, INSTALLED, by, now],
            )
            if team_id:
                conn.execute(
                    "update teams_installs set state = ?, changed_by = ?, changed_at = ? "
                    "where team_id = ? and state <> ?",
                    [INSTALLED, by, now, team_id, INSTALLED],
                )
        return changed > 0

    def teams_removed(self, conversation_id: str, *, team_id: str | None, by: str) -> list[str]:
        """Mark a conversation (for a team: each of its known channels) removed and drop their
        connector references; the conversation ids marked."""
        now = self.now()
        with self.write() as conn:
            ids = {conversation_id}
            if team_id:
                ids |= {
                    r["conversation_id"]
                    for r in conn.query(
                        "select conversation_id from teams_conversations where team_id = ? "
                        "union select conversation_id from teams_installs where team_id = ?",
                        [team_id, team_id],
                    )
                }
            for conversation in sorted(ids):
                conn.execute(
                    "insert into teams_installs (conversation_id, team_id, state, changed_by, "
                    "changed_at) values (?, ?, ?, ?, ?) on conflict(conversation_id) do update "
                    "set state = excluded.state, "
                    "team_id = coalesce(excluded.team_id, teams_installs.team_id), "
                    "changed_by = excluded.changed_by, changed_at = excluded.changed_at",
                    [conversation, team_id, REMOVED, by, now],
                )
                conn.execute(
                    "delete from teams_conversations where conversation_id = ?", [conversation]
                )
        return sorted(ids)

    def teams_install_state(self, conversation_id: str) -> str | None:
        """`installed`, `removed`, or None (never seen an install or removal there)."""
        with self.connect() as conn:
            row = conn.query_one(
                "select state from teams_installs where conversation_id = ?", [conversation_id]
            )
        return row["state"] if row else None

    def teams_installed_teams(self) -> list[TeamRef]:
        """Every team with a conversation the copilot knows (and was not removed from)."""
        with self.connect() as conn:
            rows = conn.query(
                "select c.team_id, c.service_url, c.tenant_id, c.updated_at "
                "from teams_conversations c where c.team_id is not null and not exists ("
                "select 1 from teams_installs i where i.conversation_id = c.conversation_id "
                "and i.state = ?) order by c.updated_at desc",
                [REMOVED],
            )
        teams: dict[str, TeamRef] = {}
        for r in rows:  # newest first: each team's latest serviceUrl
            teams.setdefault(r["team_id"], TeamRef(r["team_id"], r["service_url"], r["tenant_id"]))
        return sorted(teams.values(), key=lambda t: t.team_id)

    # -- images of cards -----------------------------------------------------------------------

    def keep_card_image(self, proposal_id: str, png_base64: str) -> None:
        with self.write() as conn:
            conn.execute(
                "insert into teams_card_images (proposal_id, png_base64, created_at) "
                "values (?, ?, ?) on conflict(proposal_id) do update set "
                "png_base64 = excluded.png_base64, created_at = excluded.created_at",
                [proposal_id, png_base64, self.now()],
            )

    def card_image(self, proposal_id: str) -> str | None:
        with self.connect() as conn:
            row = conn.query_one(
                "select png_base64 from teams_card_images where proposal_id = ?", [proposal_id]
            )
        return row["png_base64"] if row else None
