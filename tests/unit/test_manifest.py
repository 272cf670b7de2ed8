"""Both Slack manifests against the facts of Slack's app manifest reference.

manifest.yml is the Socket Mode variant (no request URLs: Slack talks over the WebSocket);
manifest.http.yml is the HTTP variant the Procfile serves (every request URL filled in).
"""

from pathlib import Path

import pytest
import yaml

from bot.sandbox.slack_standin import DEFAULT_SCOPES

ROOT = Path(__file__).resolve().parents[2]
SOCKET = "manifest.yml"
HTTP = "manifest.http.yml"

# Top-level keys of `settings` in Slack's app manifest reference.
SETTINGS_KEYS = {
    "allowed_ip_address_ranges",
    "event_subscriptions",
    "incoming_webhooks",
    "interactivity",
    "org_deploy_enabled",
    "socket_mode_enabled",
    "token_rotation_enabled",
    "is_hosted",
    "function_runtime",
}
# The bot scope each Web API method the app calls needs (Slack's method reference).
SCOPES_NEEDED = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.join": "channels:join",
    "conversations.open": "im:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "users.lookupByEmail": "users:read.email",
    "users.info": "users:read",
}


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def without_urls(node):
    if isinstance(node, dict):
        return {k: without_urls(v) for k, v in node.items() if k not in ("url", "request_url")}
    if isinstance(node, list):
        return [without_urls(v) for v in node]
    return node


def urls(node) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("url", "request_url")]
        return found + [u for v in node.values() for u in urls(v)]
    if isinstance(node, list):
        return [u for v in node for u in urls(v)]
    return []


@pytest.mark.parametrize("name", [SOCKET, HTTP])
def test_each_manifest_fits_the_manifest_schema(name):
    manifest = load(name)
    info = manifest["display_information"]
    assert 1 <= len(info["name"]) <= 35 and len(info["description"]) <= 140
    assert len(manifest["features"]["bot_user"]["display_name"]) <= 80
    for command in manifest["features"]["slash_commands"]:
        assert command["command"].startswith("/") and len(command["command"]) <= 32
        assert len(command["description"]) <= 2000 and len(command["usage_hint"]) <= 1000
    assert set(manifest["settings"]) <= SETTINGS_KEYS
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    # Nudges arrive in the app's DM: the Messages tab shows them, read-only (nobody writes to it).
    assert home["messages_tab_enabled"] is True and home["messages_tab_read_only_enabled"] is True


@pytest.mark.parametrize("name", [SOCKET, HTTP])
def test_each_manifest_grants_every_scope_the_app_uses_and_the_sandbox_enforces(name):
    scopes = set(load(name)["oauth_config"]["scopes"]["bot"])
    assert set(SCOPES_NEEDED.values()) | {"commands", "chat:write.public"} <= scopes
    assert scopes == set(DEFAULT_SCOPES)  # the Slack stand-in grants exactly these


def test_the_socket_manifest_says_so_and_needs_no_url():
    manifest = load(SOCKET)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert urls(manifest) == []
    assert "SOCKET MODE" in (ROOT / SOCKET).read_text().splitlines()[0]


def test_the_http_manifest_fills_every_request_url_with_the_one_endpoint():
    manifest = load(HTTP)
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["settings"]["event_subscriptions"]["request_url"]
    assert manifest["settings"]["interactivity"]["request_url"]
    assert all(c.get("url") for c in manifest["features"]["slash_commands"])
    found = urls(manifest)
    assert len(found) == 2 + len(manifest["features"]["slash_commands"])  # events, interactivity
    assert all(u == "https://YOUR-HOST/slack/events" for u in found)


def test_the_two_variants_differ_only_in_mode_and_urls():
    socket, http = without_urls(load(SOCKET)), without_urls(load(HTTP))
    socket["settings"].pop("socket_mode_enabled")
    http["settings"].pop("socket_mode_enabled")
    assert socket == http


def test_procfile_migrates_on_release_serves_http_on_web_and_socket_mode_on_worker():
    lines = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert lines["release"] == "copilot migrate"
    # --http: a web process must bind $PORT even if SLACK_APP_TOKEN is set for the worker
    assert lines["web"].startswith("copilot serve --http")
    assert lines["worker"] == "copilot serve --socket-mode"
    assert "Procfile" in (ROOT / HTTP).read_text().splitlines()[0]
