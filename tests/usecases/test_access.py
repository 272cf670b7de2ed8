"""AccessPolicy with fakes: links, lookups that reveal nothing, users.info cached, fail closed."""

import pytest

from bot.domain.access import ApproverRule, Denial, Installation, Requester, SlackPerson
from bot.errors import NotFoundError, UpstreamError, UserFacingError
from bot.gateways.asana import Project
from bot.storage.store import Store
from bot.usecases.access import AccessPolicy

CHANNEL = "C0TEAM"
MAIN, OTHER, LEGAL = "100", "200", "300"


def project(gid: str, name: str) -> Project:
    return Project(gid=gid, name=name, workspace_gid="1", permalink="", fields={})


class FakeAsana:
    def __init__(self) -> None:
        self.projects = {
            MAIN: project(MAIN, "Platform"),
            OTHER: project(OTHER, "Mobile"),
            LEGAL: project(LEGAL, "Legal"),
        }
        self.reads: list[str] = []

    def project(self, gid: str) -> Project:
        self.reads.append(gid)
        if gid not in self.projects:
            raise NotFoundError(f"Asana has no project {gid}.")
        return self.projects[gid]

    def find_project(self, ref: str) -> Project:
        for p in self.projects.values():
            if ref in (p.gid, p.name):
                return p
        raise NotFoundError(f"No Asana project is named “{ref}”.")


class FakeSlack:
    def __init__(self) -> None:
        self.people = {
            "U1": SlackPerson("U1", "T1"),
            "U2": SlackPerson("U2", "T1", is_restricted=True),
            "U5": SlackPerson("U5", "T1", is_admin=True),
        }
        self.lookups: list[str] = []
        self.down = False

    def installation(self) -> Installation:
        return Installation("T1")

    def person(self, user_id: str) -> SlackPerson | None:
        self.lookups.append(user_id)
        if self.down:
            raise UpstreamError("Slack", "users.info failed: timeout")
        return self.people.get(user_id)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def policy(tmp_path, **over):
    args = dict(
        directory=FakeSlack(),
        store=Store(str(tmp_path / "c.db")),
        asana=FakeAsana(),
        approvers=ApproverRule(frozenset({"U1"})),
        default_project=MAIN,
        default_channel=CHANNEL,
        everywhere=frozenset(),
        monotonic=Clock(),
    )
    args.update(over)
    return AccessPolicy(**args), args


def test_links_default_everywhere_and_stored(tmp_path):
    access, _ = policy(tmp_path, everywhere=frozenset({OTHER}))
    assert access.may_use(CHANNEL, MAIN) and not access.may_use("C0ELSE", MAIN)
    assert access.may_use("C0ELSE", OTHER) and access.may_use(CHANNEL, OTHER)
    assert not access.may_use(CHANNEL, LEGAL)
    access.link("U1", "C0LEGAL", "Legal")
    assert access.may_use("C0LEGAL", LEGAL) and not access.may_use(CHANNEL, LEGAL)
    assert access.unlink("U1", "C0LEGAL", LEGAL) and not access.may_use("C0LEGAL", LEGAL)
    with pytest.raises(UserFacingError, match="approvers"):
        access.link("U2", CHANNEL, "Legal")


def test_an_unknown_and_an_unlinked_project_read_the_same_and_say_the_same(tmp_path):
    access, args = policy(tmp_path)
    asana = args["asana"]
    said, reads = [], []
    for ref in ("Legal", "Legax", LEGAL, "999"):
        asana.reads.clear()
        with pytest.raises(NotFoundError) as refused:
            access.resolve(CHANNEL, ref, usage="")
        said.append(str(refused.value).replace(ref, "<ref>"))
        reads.append(list(asana.reads))
    assert len(set(said)) == 1
    assert reads == [[MAIN], [MAIN], [], []]  # names: only linked projects read; gids: nothing
    assert access.resolve(CHANNEL, "  platform ", usage="").gid == MAIN
    assert access.resolve(CHANNEL, "", usage="").gid == MAIN


def test_the_default_project_must_be_linked_too(tmp_path):
    access, _ = policy(tmp_path)
    with pytest.raises(UserFacingError, match="No project is linked to this channel"):
        access.resolve("C0ELSE", "", usage="")


def test_users_info_is_cached_briefly_and_a_failure_refuses(tmp_path):
    access, args = policy(tmp_path)
    slack, clock = args["directory"], args["monotonic"]
    member = Requester("U1", "T1")
    assert access.refusal(member) is None and access.refusal(member) is None
    assert access.is_approver("U1")
    assert slack.lookups == ["U1"]
    clock.t += 61
    slack.people["U1"] = SlackPerson("U1", "T1", is_restricted=True)  # made a guest
    assert access.refusal(member) is Denial.GUEST and not access.is_approver("U1")
    clock.t += 61
    slack.down = True
    assert access.refusal(member) is Denial.UNVERIFIED
    assert access.refusal(Requester("U1", "T9")) is Denial.OTHER_TEAM  # no lookup needed


def test_admins_mode_reads_users_info(tmp_path):
    access, _ = policy(tmp_path, approvers=ApproverRule(admins=True))
    assert access.is_approver("U5") and not access.is_approver("U1")
    nobody, _ = policy(tmp_path, approvers=ApproverRule())
    assert not nobody.is_approver("U1") and not nobody.approvers_configured
