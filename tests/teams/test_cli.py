"""The Teams parts of the `copilot` command line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEAMS_ENV = {
    "TEAMS_CLIENT_ID": "c0c0c0c0-0000-4000-8000-00000000b07a",
    "TEAMS_CLIENT_SECRET": "sandbox-teams-secret",
    "TEAMS_TENANT_ID": "f1a2b3c4-0000-4000-8000-00000000c0de",
}


def copilot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=base | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_teams_package_writes_the_zip_to_upload(tmp_path: Path) -> None:
    out = tmp_path / "app.zip"
    result = copilot(
        tmp_path, "teams-package", "--domain", "copilot.example.com", "--out", str(out), **TEAMS_ENV
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(out.read_bytes())).read("manifest.json"))
    assert manifest["bots"][0]["botId"] == TEAMS_ENV["TEAMS_CLIENT_ID"]
    assert "sandbox-teams-secret" not in out.read_bytes().decode("latin-1")


def test_teams_package_needs_the_bots_client_id(tmp_path: Path) -> None:
    result = copilot(tmp_path, "teams-package", "--domain", "copilot.example.com")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "copilot: configuration error: TEAMS_CLIENT_ID is not set (the package names the bot by it)"
    )


def test_a_digest_for_a_teams_channel_needs_teams_configured(tmp_path: Path) -> None:
    result = copilot(
        tmp_path,
        "digest",
        "--channel",
        "teams:19:platform-general@thread.tacv2",
        ASANA_ACCESS_TOKEN="x" * 12,
        ASANA_PROJECT="42",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is a Teams channel: set TEAMS_CLIENT_ID" in result.stderr
