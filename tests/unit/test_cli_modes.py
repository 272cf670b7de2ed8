"""`copilot serve --http` / `--socket-mode` (the Procfile's web and worker processes)."""

from bot.__main__ import build_parser, main

ENV = {
    "SLACK_BOT_TOKEN": "xoxb-1-abc",
    "SLACK_SIGNING_SECRET": "s3cr3t-signing",
    "ASANA_ACCESS_TOKEN": "asana-pat-123456",
}


def test_socket_mode_without_an_app_token_is_a_configuration_error(monkeypatch, capsys):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--socket-mode"]) == 2
    assert "SLACK_APP_TOKEN is not set" in capsys.readouterr().err


def test_the_modes_parse_and_exclude_each_other(capsys):
    parser = build_parser()
    assert parser.parse_args(["serve", "--http"]).mode == "http"
    assert parser.parse_args(["serve", "--socket-mode"]).mode == "socket"
    assert parser.parse_args(["serve"]).mode is None  # SLACK_APP_TOKEN decides, as before
    try:
        parser.parse_args(["serve", "--http", "--socket-mode"])
    except SystemExit as exit_:
        assert exit_.code == 2
    else:
        raise AssertionError("both modes were accepted")
    capsys.readouterr()
