import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.render.text import escape
from bot.surfaces.slack.blocks.common import (
    MAX_BLOCKS,
    MAX_TEXT,
    decision_text,
    link,
    page_blocks,
    priority_blocks,
    slack_date,
)


def view(n: int, name: str = "Task") -> dict:
    return {
        "kind": "prioritize",
        "project": {
            "gid": "1",
            "name": "Platform <Backlog>",
            "permalink": "https://app.asana.com/0/1",
        },
        "model": "m",
        "counts": {"tasks": n, "by_source": {"model": n}},
        "refused": [],
        "missing_fields": [],
        "rows": [
            {
                "rank": i + 1,
                "gid": str(i),
                "name": f"{name} {i}" * 20,
                "score": 90 - i * 0.1,
                "rules_score": 50,
                "confidence": 0.8,
                "rationale": "Because " * 60,
                "sprint": "Next",
                "assignee": "Ana <@U999>",
                "assignee_email": None,
                "permalink": f"https://app.asana.com/0/1/{i}",
                "source": "model",
                "note": "",
            }
            for i in range(n)
        ],
    }


def all_texts(blocks):
    raw = json.dumps(blocks)
    return raw, [len(b["text"]["text"]) for b in blocks if b.get("text") and b["type"] == "section"]


def test_any_backlog_size_fits_block_kit():
    for n in (1, 20, 21, 500, 5000):
        blocks = priority_blocks(view(n), "p1", proposed_by="U0LEAD")
        assert len(blocks) <= MAX_BLOCKS
        _, lengths = all_texts(blocks)
        assert max(lengths) <= MAX_TEXT
        for page in range(20, n, 40):
            pb = page_blocks(view(n), "p1", page)
            assert len(pb) <= MAX_BLOCKS
            assert max(all_texts(pb)[1]) <= MAX_TEXT


def test_more_tasks_are_counted_and_reachable():
    blocks = priority_blocks(view(500), "p1", proposed_by="U0LEAD")
    raw = json.dumps(blocks)
    assert "and 480 more" in raw
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [
        "proposal_approve",
        "proposal_reject",
        "proposal_page",
    ]
    assert buttons[2]["value"] == "p1:20"


def test_hostile_names_are_escaped():
    v = view(1, name="<!channel> <@U123> <http://evil|click>")
    raw = json.dumps(priority_blocks(v, "p1", proposed_by="U0LEAD"))
    assert "<!channel>" not in raw and "<@U123>" not in raw and "<http://evil" not in raw
    assert "&lt;!channel&gt;" in raw
    assert "<@U999>" not in raw  # the assignee's name is escaped too


def test_link_only_for_plain_urls():
    assert link("https://app.asana.com/0/1/2", "a|b") == "<https://app.asana.com/0/1/2|a|b>"
    assert link("javascript:alert(1)", "x") == "x"
    assert link("https://x.com/a>b", "x") == "x"
    assert escape("a & <b>") == "a &amp; &lt;b&gt;"


def test_decision_text_lists_skips_and_failures():
    text = decision_text(
        {
            "status": "partial",
            "by": "U0LEAD",
            "at": datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
            "written": 58,
            "skipped": [{"label": "Fix <!here>", "reason": "conflict: Manual Override changed"}],
            "failed": [{"label": "Ship", "reason": "Asana unreachable"}],
        }
    )
    assert "<@U0LEAD>" in text and "58 tasks written" in text
    assert "Fix &lt;!here&gt;" in text and "Retry" in text
    assert "<!date^" in text


def test_a_slack_date_falls_back_to_the_moment_in_utc_whatever_its_zone():
    new_york = datetime(2026, 11, 27, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert slack_date(new_york) == (
        "<!date^1795788000^{date_short_pretty} at {time}|2026-11-27 14:00 UTC>"
    )
    assert slack_date(new_york.astimezone(UTC)) == slack_date(new_york)
