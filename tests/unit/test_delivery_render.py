"""The forecast's words: the Friday digest's line and what the forecast assumes."""

from __future__ import annotations

from datetime import date, timedelta

from bot.domain.delivery import ForecastUnit, SprintThroughput, forecast_delivery
from bot.render.delivery import assumptions, digest_line

TODAY = date(2027, 1, 4)  # Monday; one-week sprints end on Fridays 8, 15, 22 Jan …


def sprints(*completed: float, added: float = 0.0) -> list[SprintThroughput]:
    return [
        SprintThroughput(f"Week {i}", TODAY - timedelta(days=1 + 7 * i), c, added)
        for i, c in enumerate(completed)
    ]


def forecast(hist: list[SprintThroughput], scope: float, **kw: object):
    return forecast_delivery(
        hist,
        scope,
        today=TODAY,
        sprint_start=TODAY,
        sprint_days=7,
        **kw,  # type: ignore[arg-type]
    )


def test_digest_line_gives_p50_and_p85_dates() -> None:
    # 10 points in two weeks of three, 20 left: P(by week 2) = 4/9, P(by 3) = 20/27,
    # P(by 4) = 8/9 → P50 week 3 (Fri 22 Jan), P85 week 4 (Fri 29 Jan).
    fc = forecast(sprints(0, 10, 10), 20)
    assert (fc.p50_sprint, fc.p85_sprint) == (3, 4)
    assert digest_line("Next + Future", fc) == "Next + Future: P50 Fri 22 Jan, P85 Fri 29 Jan"


def test_digest_line_escapes_the_scope_label() -> None:
    fc = forecast(sprints(10), 10)
    assert (
        digest_line("<!channel> milestone", fc)
        == "&lt;!channel&gt; milestone: P50 Fri 8 Jan, P85 Fri 8 Jan"
    )


def test_digest_line_says_why_there_is_no_date() -> None:
    assert digest_line("Next", forecast([], 10)) == (
        "Next: no forecast yet (no finished sprint to learn from)"
    )
    assert "nothing was completed" in digest_line("Next", forecast(sprints(0, 0), 10))
    assert digest_line("Next", forecast(sprints(5), 0)) == "Next: nothing left to do"
    beyond = forecast(sprints(5, added=5), 10, scope_growth=True, max_sprints=52)
    assert digest_line("Next", beyond) == "Next: P50 beyond 52 sprints, P85 beyond 52 sprints"


def test_assumptions_name_the_history_and_the_growth() -> None:
    text = assumptions(forecast(sprints(8, 12, added=3), 40, scope_growth=True))
    assert "40 points left" in text
    assert "10,000 simulated runs" in text
    assert "last 2 sprints (8, 12, most recent first; mean 10.0)" in text
    assert "; scope grew by a mean of 3 points a sprint over the last 2 sprints; simulated" in text
    plain = assumptions(forecast(sprints(8, 12), 7, unit=ForecastUnit.TASKS))
    assert "7 tasks left" in plain and "tasks completed" in plain
    assert "; no scope growth seen in the last 2 sprints." in plain
    queued = assumptions(forecast(sprints(10), 20, ahead=6, unestimated=2))
    assert "20 points left" in queued
    assert "after the 6 points still open in the current sprint" in queued
    assert "2 tasks without an estimate are not counted." in queued


def test_assumptions_say_when_the_current_sprint_is_partly_gone() -> None:
    fc = forecast_delivery(
        sprints(10), 10, today=TODAY + timedelta(days=2), sprint_start=TODAY, sprint_days=7
    )
    assert "the current sprint counts for the 60% of its working days left" in assumptions(fc)


def test_assumptions_warn_when_runs_do_not_finish() -> None:
    fc = forecast(sprints(5, added=5), 10, scope_growth=True, max_sprints=52)
    assert "Only 0% of the runs finish within 52 sprints." in assumptions(fc)
    assert assumptions(forecast([], 10)).startswith("No finished sprint yet")
