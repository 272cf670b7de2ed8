"""The digest's Block Kit: pure builders, checked with the Slack stand-in's validator."""

import re
from datetime import UTC, date, datetime, timedelta

from bot.domain.digest import StandupDigest, build_facts, parse_days
from bot.domain.models import Person, Task
from bot.sandbox.slack_standin import pings, render_message, validate_blocks
from bot.surfaces.slack.blocks.digest import digest_blocks, digest_text, rules_summary

TODAY = date(2026, 3, 6)
NOW = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
SINCE = NOW - timedelta(days=1)
PROJECT_URL = "https://app.asana.com/0/42/list"
ANA = Person("7", "Ana Lopez", "ana@example.com")


def digest(open_tasks=(), completed=(), **kw) -> StandupDigest:
    facts = build_facts(
        open_tasks=list(open_tasks),
        completed=list(completed),
        comments={},
        since=SINCE,
        now=NOW,
        today=TODAY,
        workdays=parse_days("mon-fri"),
    )
    return StandupDigest("42", "Platform", PROJECT_URL, "UTC", facts, **kw)


def late(n: int, name: str = "Late task", **kw) -> Task:
    return Task(
        gid=str(1000 + n),
        name=f"{name} {n}",
        permalink=f"https://app.asana.com/0/42/{1000 + n}",
        due_on=TODAY - timedelta(days=1 + n % 5),
        **kw,
    )


def test_a_quiet_day_is_one_line():
    quiet = digest([Task("1", "Someday", due_on=TODAY + timedelta(days=30))])
    blocks = digest_blocks(quiet)
    assert len(blocks) == 1 and "\n" not in blocks[0]["text"]["text"]
    assert "Quiet day" in render_message({"blocks": blocks})
    assert digest_text(quiet).startswith("Quiet day in Platform")


def test_every_item_links_to_its_task_and_mentions_slack_users():
    d = digest([late(1, assignee=ANA), late(2)], mentions={"7": "U0ANA"})
    blocks = digest_blocks(d)
    assert validate_blocks(blocks) == []
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "<https://app.asana.com/0/42/1001|Late task 1> · <@U0ANA>" in text
    assert "<https://app.asana.com/0/42/1002|Late task 2> · _unassigned_" in text


def test_names_from_asana_cannot_ping_anyone():
    hostile = late(1, name="<!channel> <@U0BOSS> <https://evil.example|click>")
    blocks = digest_blocks(digest([hostile]))
    found = pings({"blocks": blocks})
    assert all(p.startswith("<https://app.asana.com/") for p in found), found
    assert "&lt;!channel&gt;" in str(blocks)


def test_a_digest_beyond_block_kit_is_cut_with_a_count_and_the_project_link():
    many = [
        late(n, name="An overdue task with a fairly long name, " + "x" * 60) for n in range(900)
    ]
    blocks = digest_blocks(digest(many, summary="Lots is late.", summary_source="model"))
    assert len(blocks) <= 50 and validate_blocks(blocks) == []
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    shown = sum(
        b["text"]["text"].count("\n• ") + b["text"]["text"].startswith("• ")
        for b in blocks
        if b["type"] == "section" and b["block_id"].startswith("digest_overdue")
    )
    cut = blocks[-1]
    assert cut["block_id"] == "digest_cut"
    note = cut["elements"][0]["text"]
    left_out = int(re.search(r"(\d+) more line", note).group(1))
    assert shown + left_out == 900  # every overdue task is shown or counted
    assert f"<{PROJECT_URL}|Platform>" in note


def test_without_a_usable_model_summary_the_rules_write_one():
    d = digest([late(1), late(2, tags=("blocked",))], summary_source="rules")
    text = render_message({"blocks": digest_blocks(d)})
    assert rules_summary(d) in text
    assert "1 task is blocked, first “Late task 2”." in rules_summary(d)
    assert "Summary written by rules" in text
    # Without a model at all, there is no prose, and nothing says so.
    assert "Summary" not in render_message({"blocks": digest_blocks(digest([late(1)]))})
