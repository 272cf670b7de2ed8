"""The Slack stand-in behaves as Slack does: surfaces refuse what they don't allow, membership."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import UpstreamError
from bot.gateways.slack import SlackGateway, SlackPermanentError, SlackRefused
from bot.render.notes import slack_refusal_text
from bot.sandbox.slack_standin import DEFAULT_SCOPES, SlackChannel, SlackStandIn
from bot.surfaces.slack.blocks.home import home_view
from bot.surfaces.slack.blocks.overload import capacity_home_blocks, capacity_modal

SECRET = "sandbox-signing-secret"
TOKEN = "xoxb-sandbox-token"

NUMBER = {
    "type": "input",
    "block_id": "hours",
    "label": {"type": "plain_text", "text": "Hours"},
    "element": {"type": "number_input", "action_id": "hours", "is_decimal_allowed": True},
}


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(
        signing_secret=SECRET,
        bot_token=TOKEN,
        conversations=[
            SlackChannel("C0PUBLIC", bot_member=False),
            SlackChannel("G0SECRET", kind="private", bot_member=False),
            SlackChannel("C0OLD", archived=True),
            SlackChannel("D0OTHERS", kind="im", bot_member=False),
            SlackChannel("G0MPIM", kind="mpim", bot_member=False),
        ],
    ) as stand_in:
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url, timeout=5)


def _error(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


def test_number_input_is_refused_on_the_home_tab_and_in_messages_but_not_in_a_modal(slack, client):
    err = _error(
        lambda: client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [NUMBER]})
    )
    assert err.response["error"] == "invalid_arguments"
    assert any("number_input" in m for m in err.response["response_metadata"]["messages"])
    err = _error(lambda: client.chat_postMessage(channel="C0TEAM", text="x", blocks=[NUMBER]))
    assert err.response["error"] == "invalid_blocks"
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Hours"}, "blocks": [NUMBER]}
    slack_trigger = slack._new_trigger()
    assert client.views_open(trigger_id=slack_trigger, view=modal)["ok"]


def test_the_home_tab_and_the_capacity_modal_pass_the_surface_rules(slack, client):
    overview = {
        "project_gid": "1",
        "project_name": "P",
        "weeks": ["2026-11-23"],
        "threshold": 1.2,
        "default_hours": 40.0,
        "rows": [
            {
                "person_gid": "7",
                "name": "Ann",
                "weekly_hours": 40.0,
                "overridden": False,
                "loads": [10.0],
                "overloaded": [False],
                "unscheduled": 0.0,
                "unestimated": 0,
            }
        ],
    }
    home = home_view(schedules=[], can_edit=True, extra_sections=[capacity_home_blocks(overview)])
    assert client.views_publish(user_id="U0ALICE", view=home)["ok"]
    modal = capacity_modal(overview["rows"], default_hours=40.0, reset=False)
    assert client.views_open(trigger_id=slack._new_trigger(), view=modal)["ok"]


def test_posting_follows_channel_membership(slack, client):
    # A public channel the bot is not in: chat:write.public lets it post.
    assert client.chat_postMessage(channel="C0PUBLIC", text="hi")["ok"]
    for channel, error in (
        ("G0SECRET", "channel_not_found"),
        ("D0OTHERS", "channel_not_found"),
        ("G0MPIM", "channel_not_found"),
        ("C0OLD", "is_archived"),
    ):
        assert (
            _error(lambda c=channel: client.chat_postMessage(channel=c, text="hi")).response[
                "error"
            ]
            == error
        )
    slack.invite_bot("G0SECRET")
    assert client.chat_postMessage(channel="G0SECRET", text="hi")["ok"]


def test_without_chat_write_public_a_public_channel_answers_not_in_channel():
    with SlackStandIn(
        signing_secret=SECRET,
        bot_token=TOKEN,
        conversations=[SlackChannel("C0PUBLIC", bot_member=False)],
        scopes=DEFAULT_SCOPES - {"chat:write.public", "channels:join"},
    ) as slack:
        client = WebClient(token=TOKEN, base_url=slack.api_url, timeout=5)
        err = _error(lambda: client.chat_postMessage(channel="C0PUBLIC", text="hi"))
        assert err.response["error"] == "not_in_channel"
        err = _error(lambda: client.conversations_join(channel="C0PUBLIC"))
        assert err.response["error"] == "missing_scope"


def test_file_shares_need_the_bot_in_the_channel_and_join_puts_it_there(slack, client):
    err = _error(
        lambda: client.files_upload_v2(channel="C0PUBLIC", filename="a.png", content=b"png")
    )
    assert err.response["error"] == "not_in_channel"
    joined = client.conversations_join(channel="C0PUBLIC")
    assert joined["channel"]["is_member"] is True
    assert client.conversations_join(channel="C0PUBLIC")["warning"] == "already_in_channel"
    assert client.files_upload_v2(channel="C0PUBLIC", filename="a.png", content=b"png")["ok"]
    for channel, error in (
        ("G0SECRET", "channel_not_found"),
        ("D0OTHERS", "method_not_supported_for_channel_type"),
        ("C0OLD", "is_archived"),
    ):
        assert (
            _error(lambda c=channel: client.conversations_join(channel=c)).response["error"]
            == error
        )


def test_the_gateway_calls_permanent_refusals_permanent(slack, client):
    gateway = SlackGateway(client)
    with pytest.raises(SlackPermanentError) as info:
        gateway.post("G0SECRET", text="hi", blocks=[])
    assert info.value.code == "channel_not_found" and info.value.not_a_member
    with pytest.raises(SlackPermanentError) as info:
        gateway.post("C0OLD", text="hi", blocks=[])
    assert info.value.code == "is_archived" and not info.value.not_a_member


@pytest.mark.parametrize("code", ["internal_error", "fatal_error", "service_unavailable"])
def test_slack_failing_on_its_side_is_of_unknown_outcome_not_refused(slack, client, code):
    # Slack: "it's possible some aspect of the operation succeeded": never "not posted".
    slack.faults.add("error", method="chat.postMessage", code=code)
    with pytest.raises(UpstreamError) as info:
        SlackGateway(client).post("C0TEAM", text="hi", blocks=[])
    assert not isinstance(info.value, SlackRefused) and code in str(info.value)


@pytest.mark.parametrize(
    "code",
    [
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "ekm_access_denied",
        "team_access_not_granted",
        "not_allowed_token_type",
    ],
)
def test_refusals_a_retry_cannot_fix_are_permanent_and_say_who_fixes_them(slack, client, code):
    slack.faults.add("error", method="chat.postMessage", code=code)
    with pytest.raises(SlackPermanentError) as info:
        SlackGateway(client).post("C0TEAM", text="hi", blocks=[])
    assert info.value.code == code and not info.value.not_a_member
    said = slack_refusal_text(code)
    assert code in said and "Nothing was changed" in said
    assert ("admin" in said) and ("scopes of manifest.yml" not in said)
