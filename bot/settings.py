"""Settings read once from the environment, validated, with secrets that never print."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.digest import parse_clock
from bot.errors import ConfigError

DEFAULT_ASANA_BASE_URL = "https://app.asana.com/api/1.0"
DEFAULT_MODEL = "gpt-4o-mini"


class Secret:
    """A credential: usable through .value, masked in repr/str so logs never see it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @property
    def value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


# -- Microsoft Teams (issue 12) --------------------------------------------------------------------

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


@dataclass(frozen=True)
class Settings:
    slack_bot_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_app_token: Secret | None = None
    slack_api_url: str | None = None
    asana_access_token: Secret | None = None
    asana_base_url: str = DEFAULT_ASANA_BASE_URL
    asana_project: str | None = None
    openai_api_key: Secret | None = None
    openai_base_url: str | None = None
    model: str = DEFAULT_MODEL
    db_path: str = "copilot.db"
    database_url: Secret | None = None  # PostgreSQL (issue 11); unset: SQLite at db_path
    db_pool_size: int = 10  # PostgreSQL connections per instance, at most
    approvers: frozenset[str] = frozenset()  # Slack user ids; empty: see approve_admins
    approve_admins: bool = False  # COPILOT_APPROVERS lists `admins`: admins and owners decide
    projects: frozenset[str] = frozenset()  # COPILOT_PROJECTS: gids every channel may use
    port: int = 3000
    sprint_days: int = 14
    retro_project: str | None = None  # COPILOT_RETRO_PROJECT: where retro action items go
    stale_days: int = 5  # COPILOT_STALE_DAYS: a task untouched this many working days is at risk
    weekly_hours: float = 40.0
    hours_per_point: float = 4.0
    overload_threshold: float = 1.2
    standup_channel: str | None = None
    standup_time: str = "09:30"
    standup_tz: str = "UTC"
    standup_days: str = "mon-fri"
    proposal_ttl_days: int = 7
    retention_days: int = 90
    command_deadline_seconds: float = 120.0
    teams: TeamsSettings | None = None  # TEAMS_*: None when Teams is not configured
    # COPILOT_PUBLIC_URL (issue 13): the app's public base URL; set, Asana webhooks are kept.
    public_url: str | None = None
    reconcile_minutes: float = 10.0  # COPILOT_RECONCILE_MINUTES: the webhooks' catch-up read

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None and self.slack_signing_secret is not None

    @property
    def database_target(self) -> str:
        """What the Store opens: DATABASE_URL when set, else the SQLite file COPILOT_DB."""
        return self.database_url.value if self.database_url else self.db_path

    @property
    def llm_enabled(self) -> bool:
        return self.openai_api_key is not None

    def secrets(self) -> list[str]:
        """Every secret value, so tests and log filters can look for leaks."""
        return [
            s.value
            for s in (
                self.slack_bot_token,
                self.slack_signing_secret,
                self.slack_app_token,
                self.asana_access_token,
                self.openai_api_key,
                self.teams.client_secret if self.teams else None,
                self.database_url,
                _url_password(self.database_url),
            )
            if s
        ]

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, require: tuple[str, ...] = ()) -> Settings:
        """Build settings from `environ`; raise ConfigError naming the first bad variable."""
        env = {k: v.strip() for k, v in environ.items() if isinstance(v, str) and v.strip()}
        for name in require:
            if name not in env:
                raise ConfigError(f"{name} is not set (required for this command)")

        def secret(name: str, prefix: str | None = None) -> Secret | None:
            value = env.get(name)
            if value is None:
                return None
            if prefix and not value.startswith(prefix):
                raise ConfigError(f"{name} is invalid: it should start with '{prefix}'")
            if any(c.isspace() for c in value):
                raise ConfigError(f"{name} is invalid: it contains whitespace")
            return Secret(value)

        def url(name: str, default: str | None) -> str | None:
            value = env.get(name, default)
            if value is None:
                return None
            parsed = urlparse(value)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(f"{name} is invalid: expected an http(s) URL, got {value!r}")
            return value

        def number(name: str, default: float, *, low: float, high: float) -> float:
            raw = env.get(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name} is invalid: expected a number, got {raw!r}") from None
            if not low <= value <= high:
                raise ConfigError(f"{name} is invalid: {raw} is outside {low:g}..{high:g}")
            return value

        def whole(name: str, default: int, *, low: int, high: int) -> int:
            raw = env.get(name)
            if raw is None:
                return default
            if not raw.isdigit():
                raise ConfigError(f"{name} is invalid: expected a whole number, got {raw!r}")
            value = int(raw)
            if not low <= value <= high:
                raise ConfigError(f"{name} is invalid: {raw} is outside {low}..{high}")
            return value

        retro_project = env.get("COPILOT_RETRO_PROJECT") or None
        if retro_project is not None and not retro_project.strip().isdigit():
            raise ConfigError(
                "COPILOT_RETRO_PROJECT is invalid: expected a project gid (digits), "
                f"got {retro_project!r}"
            )
        project = env.get("ASANA_PROJECT")
        if project is not None and not project.isdigit():
            raise ConfigError(
                f"ASANA_PROJECT is invalid: expected a project gid (digits), got {project!r}"
            )

        approvers_raw = env.get("COPILOT_APPROVERS", "")
        approvers = frozenset(a.strip() for a in approvers_raw.split(",") if a.strip())
        approve_admins = any(a.casefold() == "admins" for a in approvers)
        approvers = frozenset(a for a in approvers if a.casefold() != "admins")
        for approver in approvers:
            if not re.fullmatch(r"[UW][A-Z0-9]{2,}", approver):
                raise ConfigError(
                    f"COPILOT_APPROVERS is invalid: {approver!r} is neither a Slack user id "
                    "(like U012AB3CD) nor `admins`"
                )

        projects = frozenset(p.strip() for p in env.get("COPILOT_PROJECTS", "").split(","))
        projects -= {""}
        for gid in projects:
            if not gid.isdigit():
                raise ConfigError(
                    f"COPILOT_PROJECTS is invalid: {gid!r} is not an Asana project gid (digits)"
                )

        standup_time = env.get("STANDUP_TIME", "09:30")
        try:
            parse_clock(standup_time)
        except ValueError:
            raise ConfigError(
                f"STANDUP_TIME is invalid: expected HH:MM, got {standup_time!r}"
            ) from None
        standup_tz = env.get("STANDUP_TZ", "UTC")
        try:
            ZoneInfo(standup_tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"STANDUP_TZ is invalid: {standup_tz!r} is not an IANA time zone"
            ) from None

        database_url = env.get("DATABASE_URL")
        if database_url is not None:
            parsed_db = urlparse(database_url)
            if parsed_db.scheme not in ("postgres", "postgresql") or not parsed_db.netloc:
                raise ConfigError(
                    "DATABASE_URL is invalid: expected postgres://user:password@host:port/name"
                )

        asana_base_url = url("ASANA_BASE_URL", DEFAULT_ASANA_BASE_URL)
        assert asana_base_url is not None
        if not asana_base_url.rstrip("/").endswith("/api/1.0"):
            raise ConfigError("ASANA_BASE_URL is invalid: it must end in /api/1.0")

        return cls(
            slack_bot_token=secret("SLACK_BOT_TOKEN", "xoxb-"),
            slack_signing_secret=secret("SLACK_SIGNING_SECRET"),
            slack_app_token=secret("SLACK_APP_TOKEN", "xapp-"),
            slack_api_url=url("SLACK_API_URL", None),
            asana_access_token=secret("ASANA_ACCESS_TOKEN"),
            asana_base_url=asana_base_url.rstrip("/"),
            asana_project=project,
            openai_api_key=secret("OPENAI_API_KEY"),
            openai_base_url=url("OPENAI_BASE_URL", None),
            model=env.get("COPILOT_MODEL", DEFAULT_MODEL),
            db_path=env.get("COPILOT_DB", "copilot.db"),
            database_url=Secret(database_url) if database_url else None,
            db_pool_size=int(number("COPILOT_DB_POOL_SIZE", 10, low=2, high=100)),
            approvers=approvers,
            approve_admins=approve_admins,
            projects=projects,
            port=int(number("PORT", 3000, low=1, high=65535)),
            sprint_days=int(number("COPILOT_SPRINT_DAYS", 14, low=1, high=90)),
            retro_project=retro_project.strip() if retro_project else None,
            stale_days=int(number("COPILOT_STALE_DAYS", 5, low=1, high=365)),
            weekly_hours=number("COPILOT_WEEKLY_HOURS", 40.0, low=1, high=168),
            hours_per_point=number("COPILOT_HOURS_PER_POINT", 4.0, low=0.1, high=100),
            overload_threshold=number("COPILOT_OVERLOAD_THRESHOLD", 1.2, low=0.5, high=5),
            standup_channel=env.get("STANDUP_CHANNEL"),
            standup_time=standup_time,
            standup_tz=standup_tz,
            standup_days=env.get("STANDUP_DAYS", "mon-fri"),
            proposal_ttl_days=whole("COPILOT_PROPOSAL_TTL_DAYS", 7, low=1, high=365),
            retention_days=whole("COPILOT_RETENTION_DAYS", 90, low=1, high=3650),
            command_deadline_seconds=number(
                "COPILOT_COMMAND_DEADLINE_SECONDS", 120.0, low=1, high=3600
            ),
            teams=teams_settings(environ),
            public_url=public_url(env.get("COPILOT_PUBLIC_URL")),
            reconcile_minutes=number("COPILOT_RECONCILE_MINUTES", 10.0, low=0.05, high=1440),
        )


def public_url(value: str | None) -> str | None:
    """COPILOT_PUBLIC_URL: https (Asana requires it), or plain http on loopback (the sandbox)."""
    if not value:
        return None
    parsed = urlparse(value)
    loopback = parsed.hostname in ("127.0.0.1", "localhost", "::1")
    if not parsed.netloc or not (
        parsed.scheme == "https" or (parsed.scheme == "http" and loopback)
    ):
        raise ConfigError(
            f"COPILOT_PUBLIC_URL is invalid: Asana delivers only to https URLs, got {value!r}"
        )
    if parsed.query or parsed.fragment:
        raise ConfigError("COPILOT_PUBLIC_URL is invalid: give the base URL, without ? or #")
    return value.rstrip("/")


def _url_password(url: Secret | None) -> Secret | None:
    """The password inside DATABASE_URL, so log filters mask it wherever it appears alone."""
    if not url:
        return None
    password = urlparse(url.value).password
    return Secret(password) if password else None
