from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_manifest_declares_commands_interactivity_and_scopes():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert {"/prioritize", "/plan-sprint"} <= commands
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "users:read.email"} <= scopes
    for command in manifest["features"]["slash_commands"]:
        assert command["url"].endswith("/slack/events")


def test_procfile_migrates_on_release_serves_http_on_web_and_socket_mode_on_worker():
    lines = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert lines["release"] == "copilot migrate"
    # --http: a web process must bind $PORT even if SLACK_APP_TOKEN is set for the worker
    assert lines["web"].startswith("copilot serve --http")
    assert lines["worker"] == "copilot serve --socket-mode"
