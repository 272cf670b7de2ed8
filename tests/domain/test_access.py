"""Who may ask and who may decide: the pure rules (issue 10)."""

import pytest

from bot.domain.access import (
    ApproverRule,
    Denial,
    Installation,
    Requester,
    SlackPerson,
    denial,
    requester_of,
)

WORKSPACE = Installation(team_id="T1")
GRID_WORKSPACE = Installation(team_id="T1", enterprise_id="E1")
ORG_WIDE = Installation(team_id="T1", enterprise_id="E1", is_enterprise_install=True)

MEMBER = SlackPerson("U1", team_id="T1")
GUEST = SlackPerson("U2", team_id="T1", is_restricted=True)
SINGLE = SlackPerson("U3", team_id="T1", is_ultra_restricted=True)
OUTSIDER = SlackPerson("U4", team_id="T9")
ADMIN = SlackPerson("U5", team_id="T1", is_admin=True)
OWNER = SlackPerson("U6", team_id="T1", is_owner=True)


@pytest.mark.parametrize(
    "installation, requester, person, expected",
    [
        (WORKSPACE, Requester("U1", "T1"), MEMBER, None),
        (WORKSPACE, Requester("U1", "T2"), MEMBER, Denial.OTHER_TEAM),
        (WORKSPACE, Requester("U1", None), MEMBER, Denial.OTHER_TEAM),
        (WORKSPACE, Requester("U1", "T1", "E9"), MEMBER, Denial.OTHER_ENTERPRISE),
        (WORKSPACE, Requester("U4", "T1", None, "T9"), OUTSIDER, Denial.EXTERNAL),
        (WORKSPACE, Requester("U4", "T1"), OUTSIDER, Denial.EXTERNAL),  # users.info tells
        (WORKSPACE, Requester("U2", "T1"), GUEST, Denial.GUEST),
        (WORKSPACE, Requester("U3", "T1"), SINGLE, Denial.GUEST),
        (WORKSPACE, Requester("U7", "T1"), None, Denial.UNKNOWN_USER),
        (
            WORKSPACE,
            Requester("U1", "T1"),
            SlackPerson("U1", "T1", deleted=True),
            Denial.UNKNOWN_USER,
        ),
        # A workspace of an Enterprise Grid org: its members, not the org's other workspaces'.
        (GRID_WORKSPACE, Requester("U1", "T1", "E1"), SlackPerson("U1", "T1", "E1"), None),
        (
            GRID_WORKSPACE,
            Requester("U1", "T1", "E1"),
            SlackPerson("U1", "T3", "E1", teams=frozenset({"T3", "T1"})),
            None,
        ),
        (GRID_WORKSPACE, Requester("U1", "T2", "E1"), MEMBER, Denial.OTHER_TEAM),
        (
            GRID_WORKSPACE,
            Requester("U1", "T1", "E1"),
            SlackPerson("U1", "T3", "E1"),
            Denial.EXTERNAL,
        ),
        # Installed org-wide: any workspace of the org, no other org.
        (ORG_WIDE, Requester("U1", "T3", "E1"), SlackPerson("U1", "T3", "E1"), None),
        (ORG_WIDE, Requester("U1", "T1", "E2"), MEMBER, Denial.OTHER_ENTERPRISE),
        (ORG_WIDE, Requester("U1", "T1", None), MEMBER, Denial.OTHER_ENTERPRISE),
        (ORG_WIDE, Requester("U1", "T3", "E1"), SlackPerson("U1", "T3", "E2"), Denial.EXTERNAL),
        (ORG_WIDE, Requester("U2", "T3", "E1"), SlackPerson("U2", "T3", "E1", True), Denial.GUEST),
    ],
)
def test_who_may_ask(installation, requester, person, expected):
    assert denial(installation, requester, person) == expected


def test_requester_read_from_a_slash_command_and_a_click():
    command = {"user_id": "U1", "team_id": "T1", "enterprise_id": "E1", "command": "/p"}
    assert requester_of(command) == Requester("U1", "T1", "E1", None)
    click = {
        "type": "block_actions",
        "user": {"id": "U4", "team_id": "T9"},
        "team": {"id": "T1", "enterprise_id": "E1"},
        "enterprise": None,
    }
    assert requester_of(click) == Requester("U4", "T1", "E1", "T9")
    assert requester_of({"type": "block_actions", "team": {"id": "T1"}}) is None


def test_approvers_unset_means_nobody():
    rule = ApproverRule()
    assert not rule.configured
    assert not any(rule.allows(p, p.id) for p in (MEMBER, ADMIN, OWNER))


def test_named_approvers_and_admins():
    named = ApproverRule(frozenset({"U1", "U2"}))
    assert named.allows(MEMBER, "U1") and not named.allows(ADMIN, "U5")
    assert not named.allows(GUEST, "U2")  # a guest never decides, even when listed
    admins = ApproverRule(admins=True)
    assert admins.allows(ADMIN, "U5") and admins.allows(OWNER, "U6")
    assert not admins.allows(MEMBER, "U1") and not admins.allows(None, "U5")
    both = ApproverRule(frozenset({"U1"}), admins=True)
    assert both.allows(MEMBER, "U1") and both.allows(ADMIN, "U5")
