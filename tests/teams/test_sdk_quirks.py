"""The SDK's import-time habits are contained: no FutureWarning, no `.env` loaded, no secret
taken from the environment behind our back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.surfaces.teams.sdk import TeamsRuntime

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_sdk_neither_warns_nor_loads_a_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CLIENT_SECRET=from-dotenv\nTEAMS_LEAK=1\n")
    env = {
        k: v for k, v in os.environ.items() if k not in ("CLIENT_SECRET", "PYTHON_DOTENV_DISABLED")
    }
    env["PYTHONPATH"] = str(ROOT)
    script = (
        "import os, bot.surfaces.teams.sdk\n"
        "assert 'TEAMS_LEAK' not in os.environ and 'CLIENT_SECRET' not in os.environ\n"
        "assert 'PYTHON_DOTENV_DISABLED' not in os.environ\n"
        "print('clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean" and result.stderr == ""


def test_a_client_secret_in_the_environment_cannot_replace_our_token_provider(monkeypatch) -> None:
    monkeypatch.setenv("CLIENT_SECRET", "taken-from-the-environment")
    with pytest.raises(ConfigError, match="CLIENT_SECRET is set in the environment"):
        TeamsRuntime(
            client_id="c0c0c0c0-0000-4000-8000-00000000b07a",
            tenant_id="f1a2b3c4-0000-4000-8000-00000000c0de",
            openid_metadata_url="http://127.0.0.1:9/v1/.well-known/openidconfiguration",
            token=lambda scope, tenant: "unused",
            setup=lambda app: None,
        )
