"""Exceptions the app turns into messages: raised low, rendered once."""

from __future__ import annotations


class CopilotError(Exception):
    """Base for every error the copilot raises on purpose."""


class ConfigError(CopilotError):
    """A missing or invalid setting; the message names the variable."""


class UserFacingError(CopilotError):
    """Something the person in Slack can act on; the message is safe to show as is."""


class NotFoundError(UserFacingError):
    """An unknown project, proposal or task."""


class UpstreamError(CopilotError):
    """An outside service (Asana, Slack, the model) failed after retries."""

    def __init__(self, service: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.status = status


class ModelOutputError(CopilotError):
    """The model answered something we refuse to use; the batch falls back to rules."""


class ModelUnavailableError(ModelOutputError):
    """The model gave no answer (timeout, unreachable, rate limit, server error): ask again soon."""


class PostRefused(UpstreamError):
    """A chat service answered that it did not post: the message is certainly not there."""

    def __init__(
        self, service: str, message: str, *, status: int | None = None, code: str = ""
    ) -> None:
        super().__init__(service, message, status=status)
        self.code = code


class PostBlocked(PostRefused):
    """Refused for a reason a retry cannot fix until a person acts (invite the bot, …)."""

    @property
    def not_a_member(self) -> bool:
        """True when adding the bot to the channel is the fix."""
        return False
