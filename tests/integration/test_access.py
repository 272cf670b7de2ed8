"""Issue 10 §1: who may ask, who may decide, and which projects a channel may use.

Every reproduction of the issue runs against the sandbox through the real app: a guest, an
approver without a link, an unset COPILOT_APPROVERS, admins, other teams and external people.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.demo import (
    ADMIN,
    CHANNEL,
    GUEST,
    LEAD,
    PARTNER,
    SINGLE_GUEST,
    Sandbox,
    running_sandbox,
)
from bot.sandbox.slack_standin import SlackUser
from bot.surfaces.slack.blocks.access import LINK_ADD, LINK_VIEW

from .conftest import click, current, last_ephemeral, prioritize, proposal_id, put_actions

LEGAL = "Legal - Acquisition of Initech"
OTHER_CHANNEL = "C0RANDOM"


@contextmanager
def access_sandbox(env: dict[str, str] | None = None) -> Iterator[tuple[Sandbox, str]]:
    """A sandbox whose workspace also holds a confidential project linked to no channel."""
    with running_sandbox(tasks=20, use_model=False, lease_seconds=1.0, env=env) as box:
        box.setup_fields()
        store = box.asana.store
        legal = store.add_project(box.seed.workspace_gid, LEGAL)
        for name in ("Due diligence on Initech patents", "Draft the term sheet"):
            store.add_task(legal, name)
        yield box, legal


@pytest.fixture
def abox() -> Iterator[tuple[Sandbox, str]]:
    with access_sandbox() as pair:
        yield pair


def type_command(box: Sandbox, text: str, *, user: str, name: str = "/prioritize"):
    """Type a command without waiting for a proposal (a refused one never comes)."""
    result = box.slack.slash_command(box.app_url, name, text, user_id=user, channel_id=CHANNEL)
    box.services.jobs.drain()
    return result


def open_home(box: Sandbox, user: str, *, expect: str) -> str:
    """Open the Home tab and wait until it shows `expect` (Bolt publishes after the ack)."""
    assert box.slack.open_home(box.app_url, user_id=user).status == 200
    assert box.slack.wait_for(lambda: expect in str(box.slack.home_views.get(user, "")))
    box.services.jobs.drain()
    return str(box.slack.home_views[user])


def nothing_happened(box: Sandbox, legal: str) -> None:
    assert box.channel_messages() == []
    assert box.services.store.proposals_with_status("open") == []
    assert box.asana.count("GET", f"/projects/{legal}") == 0  # never even read


# -- guests, other teams, external people: refused before anything else -------------------------


@pytest.mark.parametrize("who", [GUEST, SINGLE_GUEST])
def test_a_guest_cannot_prioritize_a_confidential_project(abox, who):
    box, legal = abox
    box.asana.reset_requests()
    result = type_command(box, LEGAL, user=who)
    assert result.status == 200
    assert result.json()["response_type"] == "ephemeral"
    assert "Guests can't use the copilot" in result.json()["text"]
    assert LEGAL not in result.body and "Initech" not in result.body
    nothing_happened(box, legal)
    assert box.asana.count() == 0


def test_a_guest_listed_as_approver_still_cannot_approve_and_nothing_is_written():
    with access_sandbox(env={"COPILOT_APPROVERS": f"{LEAD},{GUEST}"}) as (box, _):
        message = prioritize(box)
        box.asana.reset_requests()  # /prioritize itself reads dependencies through /batch
        click(box, message, "proposal_approve", user=GUEST)
        assert "Guests can't use the copilot" in last_ephemeral(box)
        assert put_actions(box) == {} and box.asana.count("POST", "/batch") == 0
        assert box.services.store.proposal(proposal_id(message)).status == "open"
        assert current(box, message)["blocks"] == message["blocks"]  # the message is unchanged


def test_an_external_slack_connect_member_is_refused_for_commands_and_buttons(abox):
    box, legal = abox
    result = type_command(box, "", user=PARTNER)
    assert result.status == 200
    assert "only members of the workspace" in result.json()["text"]
    nothing_happened(box, legal)
    message = prioritize(box)
    before = len(box.slack.calls_to("chat.update"))
    click(box, message, "proposal_reject", user=PARTNER)
    assert "only members of the workspace" in last_ephemeral(box)
    assert box.services.store.proposal(proposal_id(message)).status == "open"
    assert len(box.slack.calls_to("chat.update")) == before


def test_a_guest_opening_the_home_tab_sees_only_why(abox):
    box, _ = abox
    home = open_home(box, GUEST, expect="Guests can't use the copilot")
    assert "Projects of each channel" not in home


# -- projects belong to channels ------------------------------------------------------------------


def refusal_and_reads(box: Sandbox, text: str, *, name: str = "/prioritize") -> tuple[str, list]:
    box.asana.reset_requests()
    assert type_command(box, text, user=LEAD, name=name).status == 200
    reads = [(r.method, r.path) for r in box.asana.requests]
    return last_ephemeral(box).replace(text, "<ref>"), reads


def test_an_unlinked_project_is_refused_exactly_like_an_unknown_one(abox):
    box, legal = abox
    # By name: the confidential project, and a name no project has (same length).
    unlinked, unlinked_reads = refusal_and_reads(box, LEGAL)
    unknown, unknown_reads = refusal_and_reads(box, LEGAL[:-1] + "x")
    assert unlinked == unknown and "No Asana project is named" in unlinked
    assert unlinked_reads == unknown_reads  # the same Asana reads: nothing tells them apart
    # By gid: no Asana read at all, whether the gid exists or not.
    by_gid, gid_reads = refusal_and_reads(box, legal)
    no_gid, no_gid_reads = refusal_and_reads(box, "9" * len(legal))
    assert by_gid == no_gid and gid_reads == no_gid_reads == []
    # /plan-sprint refuses it the same way.
    planned, _ = refusal_and_reads(box, f'"{LEGAL}" 30', name="/plan-sprint")
    assert "No Asana project is named" in planned
    nothing_happened(box, legal)


def test_an_approver_links_a_project_to_a_channel_on_the_home_tab_and_then_uses_it(abox):
    box, legal = abox
    open_home(box, LEAD, expect="Projects of each channel")
    box.slack.click_home_button(box.app_url, user_id=LEAD, action_id=LINK_ADD)

    def forms() -> list[dict]:
        return [v for v in list(box.slack.views.values()) if v.get("callback_id") == LINK_VIEW]

    assert box.slack.wait_for(forms)  # views.open runs right after the click's ack
    [modal] = forms()
    values = {
        "channel": {"channel": {"type": "conversations_select", "selected_conversation": CHANNEL}},
        "project": {"project": {"type": "plain_text_input", "value": LEGAL}},
    }
    assert box.slack.submit_view(box.app_url, user_id=LEAD, view=modal, values=values).status == 200
    box.services.jobs.drain()
    assert box.slack.wait_for(lambda: "Linked *Legal" in str(box.slack.home_views[LEAD]))
    message = prioritize(box, LEGAL)
    assert box.services.store.proposal(proposal_id(message)).project_gid == legal
    # It is linked to that channel only.
    box.slack.slash_command(box.app_url, "/prioritize", LEGAL, user_id=LEAD, channel_id="C0ELSE")
    box.services.jobs.drain()
    assert "No Asana project is named" in last_ephemeral(box)


def test_only_approvers_link_projects(abox):
    box, legal = abox
    home = open_home(box, "U0INTERN", expect="Projects of each channel")
    assert "Only approvers" in home and LINK_ADD not in home
    with pytest.raises(Exception, match="approvers"):
        box.services.access.link("U0INTERN", CHANNEL, legal)
    assert box.services.access.may_use(CHANNEL, legal) is False


def test_only_approvers_see_which_projects_each_channel_may_use():
    # A member outside #legal-private must not read "#legal-private → Legal - …" (issue 10).
    everywhere = "9990001112"
    with access_sandbox(env={"COPILOT_PROJECTS": everywhere}) as (box, legal):
        box.link(legal, "G0LEGAL")
        member = open_home(box, "U0INTERN", expect="Projects of each channel")
        assert "Only approvers" in member and f"<@{LEAD}>" in member
        for secret in ("Initech", "G0LEGAL", legal, everywhere):
            assert secret not in member, secret
        approver = open_home(box, LEAD, expect="Projects of each channel")
        for shown in ("Initech", "G0LEGAL", everywhere):
            assert shown in approver, shown


def test_digests_and_overload_alerts_go_only_to_linked_channels(abox):
    from bot.usecases.overload import run_overload_check

    box, legal = abox
    for post in (
        lambda: box.services.digests.post_now(legal, CHANNEL),
        lambda: run_overload_check(box.services, project_ref=legal, channel=CHANNEL),
    ):
        with pytest.raises(Exception, match="not linked to channel"):
            post()
    assert box.channel_messages() == [] and box.slack.calls_to("chat.postMessage") == []


def test_copilot_digest_and_overload_refuse_an_unlinked_channel(abox, monkeypatch, capsys):
    from bot.__main__ import main
    from bot.demo import sandbox_env

    box, legal = abox
    env = sandbox_env(
        box.asana,
        box.slack,
        None,
        box.seed,
        box.settings.db_path,
        box.settings.slack_signing_secret.value,
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for command in ("digest", "overload"):
        assert main([command, "--project", legal, "--channel", CHANNEL]) == 1
        assert "is not linked to channel C0TEAM" in capsys.readouterr().err
    assert box.slack.calls_to("chat.postMessage") == []


def test_asana_project_is_linked_to_standup_channel_by_default():
    with running_sandbox(
        tasks=10,
        use_model=False,
        env={"COPILOT_PROJECTS": "", "STANDUP_CHANNEL": CHANNEL},
    ) as box:
        access = box.services.access
        assert access.may_use(CHANNEL, box.seed.project_gid)
        assert not access.may_use(OTHER_CHANNEL, box.seed.project_gid)
        assert not access.may_use(CHANNEL, box.seed.other_project_gid)
        box.slack.slash_command(
            box.app_url, "/prioritize", "", user_id=LEAD, channel_id=OTHER_CHANNEL
        )
        box.services.jobs.drain()
        assert "No project is linked to this channel" in last_ephemeral(box)
        assert box.slack.channel_messages(OTHER_CHANNEL) == []


# -- deciding needs an approver ------------------------------------------------------------------


def test_without_approvers_the_proposal_appears_and_approve_explains_how_to_name_them():
    with access_sandbox(env={"COPILOT_APPROVERS": ""}) as (box, _):
        message = prioritize(box)  # the proposal still appears
        for action in ("proposal_approve", "proposal_reject"):
            click(box, message, action, user=LEAD)
            told = last_ephemeral(box)
            assert "Nobody may approve yet" in told and "COPILOT_APPROVERS" in told
            assert "admins" in told
        pid = proposal_id(message)
        retried = box.services.engine.retry(pid, user=LEAD, channel=CHANNEL)
        assert retried.outcome.value == "refused"
        assert put_actions(box) == {} and box.services.store.proposal(pid).status == "open"


def test_a_proposal_whose_project_was_unlinked_can_no_longer_be_approved(abox):
    box, legal = abox
    box.link(legal)
    message = prioritize(box, LEGAL)
    assert box.services.store.unlink_project(CHANNEL, legal, by=LEAD)
    click(box, message, "proposal_approve", user=LEAD)
    assert "no longer linked to this channel" in last_ephemeral(box)
    assert put_actions(box) == {}
    assert box.services.store.proposal(proposal_id(message)).status == "open"


def test_show_all_of_a_proposal_whose_project_was_unlinked_is_refused(abox):
    box, legal = abox
    for n in range(30):  # enough for a "Show all" button
        box.asana.store.add_task(legal, f"Initech clause {n}")
    box.link(legal)
    message = prioritize(box, LEGAL)
    click(box, message, "proposal_page", user="U0INTERN")
    assert "Initech" in box.slack.render(box.slack.ephemerals[-1])
    assert box.services.store.unlink_project(CHANNEL, legal, by=LEAD)
    shown = len(box.slack.ephemerals)
    click(box, message, "proposal_page", user="U0INTERN")
    said = box.slack.ephemerals[shown:]
    assert [e["text"] for e in said] == ["That proposal no longer exists."]
    assert not any("Initech" in box.slack.render(e) for e in said)


def test_reject_and_retry_need_an_approver(abox):
    box, _ = abox
    message = prioritize(box)
    pid = proposal_id(message)
    click(box, message, "proposal_reject", user="U0INTERN")
    assert "Only the team's approvers" in last_ephemeral(box)
    assert box.services.engine.retry(pid, user="U0INTERN", channel=CHANNEL).outcome.value == (
        "refused"
    )
    assert box.services.store.proposal(pid).status == "open"


def test_admins_mode_lets_workspace_admins_and_owners_decide_and_nobody_else():
    with access_sandbox(env={"COPILOT_APPROVERS": "admins"}) as (box, _):
        box.slack.users["U0OWNER"] = SlackUser("U0OWNER", "owner", None, "Olive", is_owner=True)
        first = prioritize(box)
        click(box, first, "proposal_approve", user=LEAD)  # not an admin
        assert "Only the team's approvers" in last_ephemeral(box)
        assert put_actions(box) == {}
        click(box, first, "proposal_approve", user=ADMIN)
        assert box.services.store.proposal(proposal_id(first)).status == "applied"
        second = prioritize(box)
        click(box, second, "proposal_reject", user="U0OWNER")
        assert box.services.store.proposal(proposal_id(second)).status == "rejected"


def test_admins_and_named_ids_together():
    with access_sandbox(env={"COPILOT_APPROVERS": f"admins,{LEAD}"}) as (box, _):
        message = prioritize(box)
        click(box, message, "proposal_reject", user=LEAD)
        assert box.services.store.proposal(proposal_id(message)).status == "rejected"
