"""The database layer and versioned migrations, on SQLite and on a real PostgreSQL server."""

import os
import sqlite3
import subprocess
import sys

import pytest

from bot.storage.db import is_postgres_url, normalise_postgres_url, open_database, redact_url
from bot.storage.schema import migrations
from tests.backends import schema_url


def test_migrations_apply_once_and_record_every_version(database_target):
    database = open_database(database_target)
    try:
        assert migrations.apply(database) == migrations.names
        assert migrations.apply(database) == []  # idempotent: every start runs it
        assert migrations.applied(database) == migrations.names
        with database.connect() as conn:
            tables = set(conn.table_names())
        assert {"proposals", "proposal_items", "audit_log", "posted_ledger"} <= tables
        assert {"replay_signatures", "pending_commands", "instances"} <= tables
    finally:
        database.close()


def test_portable_sql_on_both_backends(database_target):
    database = open_database(database_target)
    try:
        migrations.apply(database)
        with database.write() as conn:
            conn.insert("audit_log", {"at": "t1", "action": "a", "detail_json": "{}"})
            conn.insert("audit_log", {"at": "t2", "action": "b%", "detail_json": "{}"})
        with database.connect() as conn:
            ids = [r["id"] for r in conn.query("select id from audit_log order by id")]
            assert ids == [1, 2]  # the integer key numbers itself on both
            # a literal % next to ? placeholders means the same on both
            rows = conn.query(
                "select action from audit_log where action like 'b%' and at = ?", ["t2"]
            )
            assert rows == [{"action": "b%"}]
            assert conn.insert_ignore("llm_cache", {"key": "k", "value_json": "1"}) is True
            assert conn.insert_ignore("llm_cache", {"key": "k", "value_json": "2"}) is False
            conn.upsert("llm_cache", {"key": "k", "value_json": "3", "model": "m"}, pk="key")
            conn.upsert_all(
                "llm_cache",
                [{"key": "j", "value_json": "4"}, {"key": "k", "value_json": "5"}],
                pk="key",
            )
            assert conn.query("select key, value_json, model from llm_cache order by key") == [
                {"key": "j", "value_json": "4", "model": None},
                {"key": "k", "value_json": "5", "model": "m"},  # upsert keeps unnamed columns
            ]
        with pytest.raises(RuntimeError), database.write() as conn:
            conn.execute("delete from llm_cache")
            raise RuntimeError("rolled back")
        with database.connect() as conn:
            assert len(conn.rows("llm_cache")) == 2
        assert database.round_trips.value > 0
    finally:
        database.close()


def test_a_sqlite_file_from_before_issue_11_keeps_its_data_and_gets_only_new_migrations(tmp_path):
    path = str(tmp_path / "old.db")
    database = open_database(path)
    from bot.storage.migrations import Schema

    with database.write() as conn:  # what sqlite-utils' Migrations("copilot") left behind
        for migration in migrations.migrations[:3]:
            migration.fn(Schema(conn))
        conn.execute(
            "create table _sqlite_migrations (id integer primary key, migration_set text, "
            "name text, applied_at text)"
        )
        for migration in migrations.migrations[:3]:
            conn.insert(
                "_sqlite_migrations",
                {"migration_set": "copilot", "name": migration.name, "applied_at": "2026-11-01"},
            )
        conn.insert("llm_cache", {"key": "kept", "value_json": "1"})
    applied = migrations.apply(database)
    assert applied == migrations.names[3:]
    with database.connect() as conn:
        assert conn.query("select key from llm_cache") == [{"key": "kept"}]


def test_postgres_urls_as_platforms_set_them(pg_url):
    assert is_postgres_url(pg_url) and is_postgres_url("postgres://u:p@h/d")
    assert not is_postgres_url("copilot.db")
    assert normalise_postgres_url("postgres://u:p@h:5/d?x=1") == "postgresql://u:p@h:5/d?x=1"
    assert redact_url("postgres://u:hunter22@h/d") == "postgres://u:****@h/d"
    short = "postgres://" + pg_url.removeprefix("postgresql://")
    database = open_database(short)  # Heroku's spelling works as it is
    try:
        assert migrations.apply(database) == migrations.names
    finally:
        database.close()


def test_three_copilot_migrate_at_once_build_one_schema(postgres_schemas):
    url = postgres_schemas.new()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": url}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert sum("applied m001" in out for out in outputs) == 1, outputs
    assert sum("is up to date" in out for out in outputs) == 2, outputs
    database = open_database(url)
    try:
        with database.connect() as conn:
            versions = conn.query("select version, name from schema_migrations order by version")
        assert [v["name"] for v in versions] == migrations.names
    finally:
        database.close()


def test_migrate_on_sqlite_from_the_command_line(tmp_path):
    path = tmp_path / "c.db"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "COPILOT_DB": str(path)}
    first = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"], env=env, capture_output=True, text=True
    )
    second = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"], env=env, capture_output=True, text=True
    )
    assert first.returncode == 0 and "applied m001_proposals_and_audit" in first.stdout
    assert second.returncode == 0 and "up to date" in second.stdout
    names = [r[0] for r in sqlite3.connect(path).execute("select name from schema_migrations")]
    assert names == migrations.names


def test_schema_url_keeps_tests_apart():
    assert schema_url("postgresql://h/d", "s1").endswith("?options=-csearch_path%3Ds1")
