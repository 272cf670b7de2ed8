"""TEAMS_* settings: Teams is off without them, and each bad value is named."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.settings import DEFAULT_OPENID_METADATA_URL, teams_settings

GOOD = {
    "TEAMS_CLIENT_ID": "C0C0C0C0-0000-4000-8000-00000000B07A",
    "TEAMS_CLIENT_SECRET": "s3cret~value",
    "TEAMS_TENANT_ID": "f1a2b3c4-0000-4000-8000-00000000c0de",
}


def test_teams_is_off_without_any_teams_variable() -> None:
    assert teams_settings({"SLACK_BOT_TOKEN": "xoxb-1"}) is None


def test_defaults_are_the_public_cloud_and_the_tenant_token_endpoint() -> None:
    settings = teams_settings(GOOD)
    assert settings is not None
    assert settings.client_id == "c0c0c0c0-0000-4000-8000-00000000b07a"
    assert settings.openid_metadata_url == DEFAULT_OPENID_METADATA_URL
    assert settings.token_url == (
        "https://login.microsoftonline.com/f1a2b3c4-0000-4000-8000-00000000c0de/oauth2/v2.0/token"
    )
    assert "s3cret" not in repr(settings)


def test_approvers_are_aad_object_ids_or_emails_in_any_case() -> None:
    settings = teams_settings(
        GOOD | {"TEAMS_APPROVERS": "AAAAAAAA-0000-4000-8000-000000000001, Ben@Example.com"}
    )
    assert settings is not None
    assert settings.approvers == {"aaaaaaaa-0000-4000-8000-000000000001", "ben@example.com"}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"TEAMS_CLIENT_ID": ""}, "TEAMS_CLIENT_ID is not set"),
        ({"TEAMS_CLIENT_SECRET": ""}, "TEAMS_CLIENT_SECRET is not set"),
        ({"TEAMS_TENANT_ID": "contoso.onmicrosoft.com"}, "TEAMS_TENANT_ID is invalid"),
        ({"TEAMS_CLIENT_ID": "28:bot"}, "TEAMS_CLIENT_ID is invalid"),
        ({"TEAMS_CLIENT_SECRET": "two words"}, "TEAMS_CLIENT_SECRET is invalid"),
        ({"TEAMS_APPROVERS": "U0ALICE"}, "TEAMS_APPROVERS is invalid"),
        ({"TEAMS_OPENID_METADATA_URL": "ftp://x/openidconfiguration"}, "TEAMS_OPENID_METADATA"),
        ({"TEAMS_OPENID_METADATA_URL": "https://x.example/keys"}, "end in /openidconfiguration"),
        ({"TEAMS_TOKEN_URL": "login.microsoftonline.com"}, "TEAMS_TOKEN_URL is invalid"),
    ],
)
def test_a_missing_or_invalid_variable_is_named(change: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        teams_settings(GOOD | change)


def test_only_the_approvers_set_is_still_configuration_that_needs_the_rest() -> None:
    with pytest.raises(ConfigError, match="TEAMS_CLIENT_ID is not set"):
        teams_settings({"TEAMS_APPROVERS": "ana@example.com"})
