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
        )


def _url_password(url: Secret | None) -> Secret | None:
    """The password inside DATABASE_URL, so log filters mask it wherever it appears alone."""
    if not url:
        return None
    password = urlparse(url.value).password
    return Secret(password) if password else None
