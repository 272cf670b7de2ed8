"""Every table of the copilot, as versioned migrations both backends run (see migrations.py).

Append a new migration as `mNNN_what(schema)`; never edit one that has shipped.
"""

from __future__ import annotations

import json

from bot.storage.base import dump, without_notes
from bot.storage.migrations import MigrationSet, Schema

migrations = MigrationSet()


@migrations
def m001_proposals_and_audit(schema: Schema) -> None:
    schema.create_table(
        "proposals",
        {
            "id": str,
            "kind": str,
            "project_gid": str,
            "project_name": str,
            "channel": str,
            "message_ts": str,
            "status": str,
            "created_by": str,
            "created_at": str,
            "decided_by": str,
            "decided_at": str,
            "decision": str,
            "prompt_version": str,
            "model": str,
            "inputs_json": str,
            "model_output_json": str,
            "view_json": str,
            "result_json": str,
            "lease_owner": str,
            "lease_until": str,
        },
        pk="id",
        not_null=("kind", "status", "created_at"),
    )
    schema.create_index("proposals", ["status"])
    schema.create_table(
        "proposal_items",
        {
            "proposal_id": str,
            "task_gid": str,
            "position": int,
            "label": str,
            "changes_json": str,
            "guard_json": str,
            "status": str,
            "reason": str,
            "updated_at": str,
        },
        pk=("proposal_id", "task_gid"),
        foreign_keys=[("proposal_id", "proposals", "id")],
    )
    schema.create_table(
        "audit_log",
        {
            "id": int,
            "at": str,
            "proposal_id": str,
            "actor": str,
            "action": str,
            "task_gid": str,
            "detail_json": str,
        },
        pk="id",
    )
    schema.create_index("audit_log", ["proposal_id"])
    schema.create_table(
        "llm_cache",
        {"key": str, "value_json": str, "model": str, "created_at": str},
        pk="key",
    )


@migrations
def m002_capacity_and_overload_alerts(schema: Schema) -> None:
    # Issue 5: per-person weekly hours, the overload alert ledger, Slack ids by email, charts.
    schema.create_table(
        "capacity_overrides",
        {
            "person_gid": str,
            "person_name": str,
            "weekly_hours": float,
            "set_by": str,
            "set_at": str,
        },
        pk="person_gid",
        not_null=("weekly_hours",),
    )
    schema.create_table(
        "overload_alerts",
        {
            "project_gid": str,
            "person_gid": str,
            "week_start": str,
            "version": int,
            "active": int,
            "task_gids_json": str,
            "load": float,
            "capacity": float,
            "reason": str,
            "alerted_at": str,
            "cleared_at": str,
            "proposal_id": str,
            "message_ts": str,
        },
        pk=("project_gid", "person_gid", "week_start"),
        not_null=("version", "active"),
    )
    schema.create_table(
        "slack_users_by_email",
        {"email": str, "slack_user_id": str, "checked_at": str},
        pk="email",
    )
    schema.create_table(
        "overload_charts",
        {"project_gid": str, "file_id": str, "channel": str, "created_at": str},
        pk="project_gid",
    )


@migrations
def m003_standup_digests(schema: Schema) -> None:
    # Issue 4: digest schedules set from the Home tab, the posted-digest ledger (claimed before
    # posting: one digest per channel, project and day), the last digest per channel and
    # project, and each task's latest comment (re-read only when the task changed).
    schema.create_table(
        "digest_schedules",
        {
            "channel": str,
            "project_gid": str,
            "project_name": str,
            "at": str,
            "tz": str,
            "days": str,
            "created_by": str,
            "created_at": str,
            "updated_by": str,
            "updated_at": str,
        },
        pk=("channel", "project_gid"),
        not_null=("at", "tz", "days"),
    )
    schema.create_table(
        "posted_ledger",
        {
            "kind": str,
            "channel": str,
            "project_gid": str,
            "slot": str,
            "status": str,  # claimed | posting | posted
            "owner": str,
            "scheduled_for": str,
            "claimed_at": str,
            "posted_at": str,
            "message_ts": str,
        },
        pk=("kind", "channel", "project_gid", "slot"),
        not_null=("status", "claimed_at"),
    )
    schema.create_table(
        "digest_state",
        {
            "channel": str,
            "project_gid": str,
            "project_name": str,
            "last_digest_at": str,
            "message_ts": str,
        },
        pk=("channel", "project_gid"),
        not_null=("last_digest_at",),
    )
    schema.create_table(
        "task_comments",
        {"task_gid": str, "text": str, "created_at": str, "task_modified_at": str},
        pk="task_gid",
        not_null=("task_modified_at",),
    )
    schema.create_index("audit_log", ["action", "at"])


@migrations
def m004_slack_delivery_problems(schema: Schema) -> None:
    # Issue 9 §4/§6: posts Slack refused for good (the bot is not in the channel, the channel is
    # archived, the token was revoked), shown to approvers on the Home tab until a post there
    # works again; and the Home tab's capacity overview, cached between Asana reads.
    schema.create_table(
        "slack_delivery_problems",
        {
            "kind": str,  # digest | overload | chart
            "channel": str,
            "project_gid": str,
            "project_name": str,
            "error": str,
            "first_at": str,
            "last_at": str,
            "count": int,
        },
        pk=("kind", "channel", "project_gid"),
        not_null=("error", "first_at", "last_at", "count"),
    )
    schema.create_table(
        "capacity_overview_cache",
        {"project_ref": str, "overview_json": str, "computed_at": str},
        pk="project_ref",
        not_null=("overview_json", "computed_at"),
    )


@migrations
def m005_channel_project_links(schema: Schema) -> None:
    # Issue 10: the projects each channel may use, linked by approvers on the Home tab.
    schema.create_table(
        "channel_projects",
        {
            "channel": str,
            "project_gid": str,
            "project_name": str,
            "linked_by": str,
            "linked_at": str,
        },
        pk=("channel", "project_gid"),
    )


@migrations
def m006_retention(schema: Schema) -> None:
    # Issue 10 §5: the daily prune looks rows up by age; decided proposals keep no task notes.
    schema.create_index("proposals", ["created_at"], if_not_exists=True)
    schema.create_index("llm_cache", ["created_at"], if_not_exists=True)
    decided = schema.conn.query(
        "select id, inputs_json from proposals where status not in ('open') "
        "and inputs_json is not null"
    )
    for row in decided:
        schema.execute(
            "update proposals set inputs_json = ? where id = ?",
            [dump(without_notes(json.loads(row["inputs_json"]))), row["id"]],
        )


@migrations
def m007_shared_state(schema: Schema) -> None:
    # Issue 11: state that was per process and must be shared by every instance.
    # Signed Slack requests already accepted (a replay to another instance is refused).
    schema.create_table(
        "replay_signatures",
        {"signature": str, "expires_at": str},
        pk="signature",
        not_null=("expires_at",),
    )
    schema.create_index("replay_signatures", ["expires_at"])
    # Commands acknowledged and still being worked on: a process that dies leaves its rows
    # behind, and the next start of any instance tells the person (response_url, 30 min).
    schema.create_table(
        "pending_commands",
        {
            "id": str,
            "command": str,
            "text": str,
            "user_id": str,
            "channel_id": str,
            "response_url": str,
            "owner": str,
            "acked_at": str,
        },
        pk="id",
        not_null=("owner", "acked_at"),
    )
    schema.create_index("pending_commands", ["acked_at"])
    # Live instances, so a start can tell a dead holder from a busy one on any host.
    schema.create_table(
        "instances",
        {"owner": str, "started_at": str, "seen_at": str},
        pk="owner",
        not_null=("seen_at",),
    )


@migrations
def m008_teams(schema: Schema) -> None:
    # Issue 12: where each Teams conversation's connector lives (serviceUrl, refreshed from every
    # incoming activity) and the people seen there (names for cards, emails for approvers).
    schema.create_table(
        "teams_conversations",
        {
            "conversation_id": str,
            "service_url": str,
            "tenant_id": str,
            "kind": str,
            "team_id": str,
            "updated_at": str,
        },
        pk="conversation_id",
        not_null=("service_url", "updated_at"),
    )
    schema.create_table(
        "teams_people",
        {
            "aad_object_id": str,
            "member_id": str,
            "name": str,
            "email": str,
            "updated_at": str,
        },
        pk="aad_object_id",
        not_null=("updated_at",),
    )


@migrations
def m009_asana_webhooks(schema: Schema) -> None:
    # Issue 13: one Asana webhook per linked project. `status` 'creating' marks the app's own
    # creation request in flight (until `creating_until`): only then is a handshake for that
    # target accepted, by whichever instance it reaches, and only once (`handshake_at`). The
    # secret is kept to check every later delivery's X-Hook-Signature.
    schema.create_table(
        "asana_webhooks",
        {
            "project_gid": str,
            "target": str,
            "webhook_gid": str,
            "secret": str,
            "status": str,  # creating | active | failed
            "creating_until": str,
            "handshake_at": str,
            "created_at": str,
            "reconciled_at": str,  # the reconcile read's watermark (Asana's modified_since)
            "problem": str,  # what went wrong last (disabled by Asana, re-created), for approvers
            "problem_at": str,
        },
        pk="project_gid",
        not_null=("target", "status"),
    )
    # Events already handled (Asana's events carry no id: a key derived from the event), kept
    # for a retention window so a retry or a replay does nothing twice.
    schema.create_table(
        "asana_event_keys",
        {"key": str, "project_gid": str, "seen_at": str},
        pk="key",
        not_null=("seen_at",),
    )
    schema.create_index("asana_event_keys", ["seen_at"])


@migrations
def m010_triage(schema: Schema) -> None:
    # Issue 13: each task is triaged once, across restarts and instances (the first claim wins),
    # and the comment an approved triage posts on a task is recorded with its story gid.
    schema.create_table(
        "triaged_tasks",
        {"task_gid": str, "project_gid": str, "proposal_id": str, "claimed_at": str},
        pk="task_gid",
        not_null=("project_gid", "claimed_at"),
    )
    schema.create_table(
        "triage_comments",
        {"proposal_id": str, "task_gid": str, "story_gid": str, "posted_at": str},
        pk=("proposal_id", "task_gid"),
        not_null=("story_gid", "posted_at"),
    )


@migrations
def m011_forecast_nudges(schema: Schema) -> None:
    # Issue 14 §3: nudges are off until an approver turns them on for a project; a person may
    # turn their own off; one nudge a person a day, claimed in the ledger before it is sent.
    schema.create_table(
        "nudge_projects",
        {"project_gid": str, "project_name": str, "enabled": int, "set_by": str, "set_at": str},
        pk="project_gid",
        not_null=("enabled", "set_at"),
    )
    schema.create_table(
        "nudge_opt_outs",
        {"user_id": str, "set_at": str},
        pk="user_id",
        not_null=("set_at",),
    )
    schema.create_table(
        "nudge_ledger",
        {
            "person_gid": str,
            "day": str,
            "recipient": str,
            "status": str,
            "owner": str,
            "claimed_at": str,
            "sent_at": str,
        },
        pk=("person_gid", "day"),
        not_null=("status", "claimed_at"),
    )


@migrations
def m012_retrospectives(schema: Schema) -> None:
    # Issue 14: what each digest found blocked, per task and local day (a retrospective counts
    # the days a task spent blocked and the blockers that keep coming back).
    schema.create_table(
        "blocked_days",
        {
            "project_gid": str,
            "task_gid": str,
            "day": str,
            "blocker": str,
            "seen_at": str,
        },
        pk=("project_gid", "task_gid", "day", "blocker"),
        not_null=("seen_at",),
    )
    schema.create_index("blocked_days", ["project_gid", "day"])
    # A sprint's start date set by an approver (Home tab, or Teams' personal chat): it wins over
    # the approval of its /plan-sprint proposal and over its tasks' dates.
    schema.create_table(
        "sprint_starts",
        {
            "project_gid": str,
            "sprint": str,
            "start_on": str,
            "set_by": str,
            "set_at": str,
        },
        pk=("project_gid", "sprint"),
        not_null=("start_on", "set_at"),
    )


@migrations
def m013_teams_settings(schema: Schema) -> None:
    # Issue 12: where the copilot is installed in Teams. installationUpdate "remove" marks a
    # team's conversations (or a chat) removed, so nothing more is posted there and approvers
    # see why; "add" marks them installed again (and welcomes once).
    schema.create_table(
        "teams_installs",
        {
            "conversation_id": str,
            "team_id": str,
            "state": str,
            "changed_by": str,
            "changed_at": str,
        },
        pk="conversation_id",
        not_null=("state", "changed_at"),
    )
    schema.create_index("teams_installs", ["team_id"])
    # The load chart shown in an overload alert's card, kept so every redraw of the card (the
    # clicker's answer, the update after the decision) shows it again.
    schema.create_table(
        "teams_card_images",
        {"proposal_id": str, "png_base64": str, "created_at": str},
        pk="proposal_id",
        not_null=("png_base64", "created_at"),
    )
