"""TEAMS_* settings: read once, validated, the client secret never printed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from bot.errors import ConfigError
from bot.settings import Secret

DEFAULT_OPENID_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
TOKEN_URL_TEMPLATE = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")
NAMES = (
    "TEAMS_CLIENT_ID",
    "TEAMS_CLIENT_SECRET",
    "TEAMS_TENANT_ID",
    "TEAMS_APPROVERS",
    "TEAMS_OPENID_METADATA_URL",
    "TEAMS_TOKEN_URL",
)


@dataclass(frozen=True)
class TeamsSettings:
    client_id: str
    client_secret: Secret
    tenant_id: str
    approvers: frozenset[str]  # AAD object ids (lower case) and emails (lower case)
    openid_metadata_url: str = DEFAULT_OPENID_METADATA_URL
    token_url: str = ""

    def is_approver(self, aad_object_id: str, email: str | None) -> bool:
        """Whether a person is named in TEAMS_APPROVERS, by AAD object id or email."""
        return aad_object_id.lower() in self.approvers or (
            email is not None and email.lower() in self.approvers
        )


def teams_settings(environ: Mapping[str, str]) -> TeamsSettings | None:
    """The Teams settings, or None when Teams is not configured (no TEAMS_* at all).

    Raises ConfigError naming the first missing or invalid variable.
    """
    env = {k: v.strip() for k, v in environ.items() if k in NAMES and v.strip()}
    if not env:
        return None
    for name in ("TEAMS_CLIENT_ID", "TEAMS_CLIENT_SECRET", "TEAMS_TENANT_ID"):
        if name not in env:
            raise ConfigError(
                f"{name} is not set (Teams needs TEAMS_CLIENT_ID, _SECRET, _TENANT_ID)"
            )
    for name in ("TEAMS_CLIENT_ID", "TEAMS_TENANT_ID"):
        if not GUID.fullmatch(env[name]):
            raise ConfigError(
                f"{name} is invalid: expected a GUID like 00000000-0000-0000-0000-000000000000"
            )
    if any(c.isspace() for c in env["TEAMS_CLIENT_SECRET"]):
        raise ConfigError("TEAMS_CLIENT_SECRET is invalid: it contains whitespace")
    approvers = frozenset(
        a.strip().lower() for a in env.get("TEAMS_APPROVERS", "").split(",") if a.strip()
    )
    for approver in approvers:
        if not (GUID.fullmatch(approver) or EMAIL.fullmatch(approver)):
            raise ConfigError(
                f"TEAMS_APPROVERS is invalid: {approver!r} is neither an AAD object id nor an email"
            )
    metadata = env.get("TEAMS_OPENID_METADATA_URL", DEFAULT_OPENID_METADATA_URL)
    _check_url("TEAMS_OPENID_METADATA_URL", metadata)
    if not metadata.endswith("/openidconfiguration"):
        # The SDK finds the signing keys by replacing this ending with /keys.
        raise ConfigError(
            "TEAMS_OPENID_METADATA_URL is invalid: it must end in /openidconfiguration"
        )
    tenant = env["TEAMS_TENANT_ID"].lower()
    token_url = env.get("TEAMS_TOKEN_URL", TOKEN_URL_TEMPLATE.format(tenant=tenant))
    _check_url("TEAMS_TOKEN_URL", token_url)
    return TeamsSettings(
        client_id=env["TEAMS_CLIENT_ID"].lower(),
        client_secret=Secret(env["TEAMS_CLIENT_SECRET"]),
        tenant_id=tenant,
        approvers=approvers,
        openid_metadata_url=metadata,
        token_url=token_url,
    )


def _check_url(name: str, value: str) -> None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{name} is invalid: expected an http(s) URL, got {value!r}")
