"""The log filter redacts secrets wherever a record carries text: message, traceback, stack."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.__main__ import configure_logging

SECRET = "xoxb-123456-secret-token"


@pytest.fixture
def configured() -> Iterator[None]:
    """Put pytest's own handlers back after a test that configured the app's logging."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def app_logging() -> None:
    # Inside the test body: the handler binds the stderr that capsys captures in this phase.
    configure_logging([SECRET], "INFO")


def test_a_secret_in_an_exception_text_is_redacted_in_the_traceback(configured, capsys):
    app_logging()
    try:
        raise RuntimeError(f"POST https://slack.example/api?token={SECRET} failed")
    except RuntimeError:
        logging.getLogger("bot.test").exception("call failed")
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: POST https://slack.example/api?token=****" in err
    assert SECRET not in err


def test_a_secret_in_a_chained_exception_passed_as_exc_info_is_redacted(configured, capsys):
    app_logging()
    try:
        try:
            raise ValueError(SECRET)
        except ValueError as inner:
            raise KeyError("lookup") from inner
    except KeyError as error:
        logging.getLogger("bot.test").error("failed: %s", "plain", exc_info=error)
    err = capsys.readouterr().err
    assert "ValueError: ****" in err and SECRET not in err


def test_a_secret_in_stack_info_is_redacted(configured, capsys):
    app_logging()

    def leaky(token: str) -> None:
        # The stack shows source lines: a secret on one (here in a comment) is redacted.
        logging.getLogger("bot.test").info("here", stack_info=True)  # xoxb-123456-secret-token

    leaky(SECRET)
    err = capsys.readouterr().err
    assert "Stack (most recent call last)" in err and "# ****" in err
    assert SECRET not in err


def test_the_message_itself_is_still_redacted(configured, capsys):
    app_logging()
    logging.getLogger("bot.test").warning("token %s", SECRET)
    err = capsys.readouterr().err
    assert "token ****" in err and SECRET not in err
