"""The story-point estimator: similar finished tasks, tuned toward the median, honest ranges."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from bot.domain.estimate import MIN_CALIBRATION, FinishedTask, StoryPointEstimator, tokens

TOPICS = {
    # words that say what the work is -> the points such work usually takes
    1: "typo label tooltip wording colour icon",
    3: "endpoint validation error handling pagination filter",
    13: "migration schema rewrite architecture database sharding",
}
FILLER = "please team should need the update after review sprint customer issue report".split()


def _task(rng: random.Random, n: int, signal: bool) -> FinishedTask:
    points = rng.choice(list(TOPICS))
    words = TOPICS[points].split() if signal else TOPICS[rng.choice(list(TOPICS))].split()
    if rng.random() < 0.15:  # the team is not perfectly consistent
        points = {1: 2, 3: 5, 13: 8}[points]
    title = " ".join(rng.sample(words, 2))
    description = " ".join(rng.sample(words, 2) + rng.sample(FILLER, 4))
    return FinishedTask(f"T-{n}", title, description, float(points))


def history(size: int, *, seed: int = 7, signal: bool = True, start: int = 0) -> list[FinishedTask]:
    rng = random.Random(seed)
    return [_task(rng, start + n, signal) for n in range(size)]


def test_the_same_history_gives_the_same_answers_twice():
    tasks = history(200)
    queries = history(30, seed=99, start=1000)
    first = StoryPointEstimator.fit(tasks)
    second = StoryPointEstimator.fit(list(tasks))
    assert first.tuning == second.tuning
    answers = [first.predict(q.title, q.description) for q in queries]
    assert answers == [second.predict(q.title, q.description) for q in queries]
    assert answers == [first.predict(q.title, q.description) for q in queries]


def test_text_that_predicts_points_moves_the_estimate_away_from_the_median():
    tasks = history(200)
    estimator = StoryPointEstimator.fit(tasks)
    assert estimator.tuning.prior < 1.0
    assert estimator.tuning.holdout == 40
    assert estimator.tuning.holdout_mae < estimator.tuning.median_mae

    big = estimator.predict("Database schema migration", "rewrite the sharding architecture")
    small = estimator.predict("Tooltip typo", "wrong wording on the label")
    assert big is not None and small is not None
    assert (big.points, big.basis) == (13.0, "similar tasks")
    assert (small.points, small.basis) == (1.0, "similar tasks")

    fresh = history(300, seed=11, start=5000)
    median = statistics.median(t.points for t in tasks)
    mae = statistics.fmean(
        abs(estimator.predict(t.title, t.description).points - t.points) for t in fresh
    )
    assert mae < statistics.fmean(abs(median - t.points) for t in fresh)


def test_text_unrelated_to_points_leaves_the_estimate_at_the_median():
    # Seed 2: one (k, prior) pair gains 0.375 points of MAE on the holdout by luck alone.
    tasks = history(200, seed=2, signal=False)
    estimator = StoryPointEstimator.fit(tasks)
    assert estimator.tuning.prior == 1.0
    median = statistics.median_low(t.points for t in tasks)
    for q in history(20, seed=5, signal=False, start=900):
        estimate = estimator.predict(q.title, q.description)
        assert estimate is not None
        assert (estimate.points, estimate.basis) == (median, "project median")


def test_evidence_is_the_most_similar_finished_work_in_order():
    tasks = [
        FinishedTask("A", "Export invoices to PDF", "render the invoice layout as pdf", 8),
        FinishedTask("B", "Export invoices to CSV", "one row per invoice", 5),
        FinishedTask("C", "Login page colour", "the button is green", 1),
        FinishedTask("D", "Invoice numbering", "numbers must be sequential", 3),
        FinishedTask("E", "Dark mode", "", 2),
        FinishedTask("F", "Export invoices to CSV", "one row per invoice", 3),
    ]
    estimator = StoryPointEstimator.fit(tasks, evidence=4)
    estimate = estimator.predict("Export invoices to PDF", "render the invoice layout as pdf")
    assert estimate is not None
    ids = [e.id for e in estimate.evidence]
    # A is the same text; F and B are the same text as each other, F the more recent; D only
    # shares "invoice"; C and E share nothing and are never evidence.
    assert ids == ["A", "F", "B", "D"]
    assert estimate.evidence[0].similarity == pytest.approx(1.0)
    sims = [e.similarity for e in estimate.evidence]
    assert sims == sorted(sims, reverse=True) and sims[1] == sims[2] and sims[3] > 0
    assert [e.points for e in estimate.evidence] == [8, 3, 5, 3]


def test_the_stated_coverage_is_what_the_holdout_measured():
    tasks = history(200)
    estimator = StoryPointEstimator.fit(tasks, holdout=50, coverage=0.8)
    tuning = estimator.tuning
    assert tuning.measured_coverage is not None and tuning.measured_coverage >= 0.8
    # Re-estimate the holdout from the older tasks with the same tuning and count by hand.
    older = StoryPointEstimator.fit(tasks[:150], tuning=tuning)
    inside = 0
    for task in tasks[150:]:
        e = older.predict(task.title, task.description)
        assert e is not None and e.low <= e.points <= e.high
        inside += e.low <= task.points <= e.high
    assert inside / 50 == tuning.measured_coverage

    # On new work from the same process the range holds the truth about as often as stated.
    fresh = history(400, seed=3, start=7000)
    estimates = [estimator.predict(t.title, t.description) for t in fresh]
    share = sum(e.low <= t.points <= e.high for e, t in zip(estimates, fresh, strict=True)) / 400
    assert 0.7 <= share <= 0.95
    assert all(
        e.coverage == 0.8 and e.measured_coverage == tuning.measured_coverage for e in estimates
    )


def test_a_short_history_states_no_measured_coverage():
    tasks = history(MIN_CALIBRATION * 5 - 1)  # 20 % of it is below MIN_CALIBRATION
    estimator = StoryPointEstimator.fit(tasks)
    estimate = estimator.predict("schema migration", "")
    assert estimate is not None
    assert estimator.tuning.holdout == 0 and estimate.measured_coverage is None
    # Nothing shows that similar tasks beat the median, so the median it is, with evidence.
    assert estimate.points == statistics.median_low(t.points for t in tasks)
    assert estimate.basis == "project median" and len(estimate.evidence) == 3
    assert estimate.low <= estimate.points <= estimate.high


def test_no_history_gives_no_estimate():
    assert StoryPointEstimator.fit([]).predict("Anything", "at all") is None
    nothing_usable = [FinishedTask("X", "t", "", math.nan), FinishedTask("Y", "u", "", -1)]
    estimator = StoryPointEstimator.fit(nothing_usable)
    assert estimator.size == 0 and estimator.predict("t") is None


def test_one_finished_task_is_the_estimate_and_the_whole_range():
    estimator = StoryPointEstimator.fit([FinishedTask("only", "Set up CI pipeline", "", 5)])
    estimate = estimator.predict("CI pipeline for the mobile app")
    assert estimate is not None
    assert (estimate.points, estimate.low, estimate.high) == (5, 5, 5)
    assert [e.id for e in estimate.evidence] == ["only"]
    assert estimate.measured_coverage is None


def test_all_tasks_with_the_same_points():
    tasks = [FinishedTask(f"S-{i}", f"chore {w}", "", 2) for i, w in enumerate("abcdefghij" * 6)]
    estimator = StoryPointEstimator.fit(tasks)
    estimate = estimator.predict("chore something new")
    assert estimate is not None
    assert (estimate.points, estimate.low, estimate.high) == (2, 2, 2)
    assert estimator.tuning.measured_coverage == 1.0


def test_empty_descriptions_and_an_empty_query():
    tasks = [
        FinishedTask("1", "Fix login bug", "", 1),
        FinishedTask("2", "Rewrite billing engine", "", 13),
        FinishedTask("3", "Add billing export", "", 5),
    ]
    estimator = StoryPointEstimator.fit(tasks)
    billing = estimator.predict("billing engine rewrite", "")
    assert billing is not None and billing.evidence[0].id == "2"
    blank = estimator.predict("", "")
    assert blank is not None
    assert blank.evidence == () and blank.points == 5 and blank.basis == "project median"


def test_non_ascii_text_is_matched():
    tasks = [
        FinishedTask("de", "Größe der Schaltfläche ändern", "", 3),
        FinishedTask("ja", "ログイン画面 バグ", "", 5),
        FinishedTask("ru", "Ошибка входа в систему", "", 8),
        FinishedTask("en", "Update the README", "", 1),
    ]
    estimator = StoryPointEstimator.fit(tasks)
    assert tokens("GRÖSSE ändern") == ["grösse", "ändern"]
    for query, expected in [
        ("GRÖSSE der Schaltfläche", "de"),
        ("ログイン画面", "ja"),
        ("ошибка ВХОДА", "ru"),
    ]:
        estimate = estimator.predict(query)
        assert estimate is not None and estimate.evidence[0].id == expected


def test_a_model_suggestion_stays_inside_the_range():
    estimator = StoryPointEstimator.fit(history(200), coverage=0.95)
    estimate = estimator.predict("Tooltip typo", "wrong wording on the label")
    assert estimate is not None and (estimate.points, estimate.low, estimate.high) == (1, 1, 2)
    below = estimate.adjusted(-3)
    assert (below.points, below.adjusted_by_model) == (1, False)
    # Between two of the project's values: the nearer one, the lower on a tie.
    assert estimate.scale == (1, 2, 3, 5, 8, 13)
    assert estimate.adjusted(1.6).points == 2 and estimate.adjusted(1.5).points == 1
    too_big = estimate.adjusted(estimate.high * 10)
    assert (too_big.points, too_big.adjusted_by_model) == (estimate.high, True)
    assert estimate.adjusted(math.nan) == estimate
    same = estimate.adjusted(estimate.points)
    assert same.adjusted_by_model is False and same.evidence == estimate.evidence


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="coverage"):
        StoryPointEstimator.fit(history(20), coverage=1.5)
    with pytest.raises(ValueError, match="holdout"):
        StoryPointEstimator.fit(history(20), holdout=-1)
