"""Story-point estimates from the project's own finished, estimated tasks (issue 13 §4).

The method, chosen for MAE (the literature's metric), whose optimal constant is the median:

* Each task's text (title + description) becomes a TF-IDF vector (sublinear term frequency,
  smoothed IDF, L2 norm; words are Unicode letter/digit runs, case-folded, NFKC-normalised). The
  title's words count twice, because titles are short and on topic. Nothing is downloaded: the
  vocabulary is the project's own history.
* A new task's ``k`` most similar finished tasks (cosine similarity above 0) form a local
  distribution of points, each weighted by its similarity. It is mixed with the project's global
  distribution of points (every finished task weighing the same), the global share being
  ``prior``. The estimate is the weighted median of that mixture: with ``prior`` = 1 it is the
  project's median, with ``prior`` = 0 it is the similarity-weighted median of the neighbours. The
  median of a mixture is always a value the project has used, so estimates are on its own scale
  (1, 2, 3, 5, 8, ... or whatever it uses) without any snapping step.
* ``k`` and ``prior`` are tuned on a chronological holdout: the most recent finished tasks
  (``holdout``; by default the last 20 %) are estimated from the older ones. A pair is chosen only
  if its gain in absolute error over the median clears two standard errors (a lower confidence
  bound); the pair with the best bound wins (ties go to the larger prior, then the smaller ``k``),
  and when none clears it the estimate stays the project's median. The estimator is then refitted
  on the whole history with that pair.
* The range: on the same holdout, the residuals log(1 + truth) - log(1 + estimate) give split-
  conformal quantiles; a range is the estimate times those factors, widened to the nearest scale
  values around it. Widening covers more by itself, so the quantile level is the lowest one (in
  steps of 2.5 points) whose widened ranges still hold ``coverage`` (default 80 %) of the holdout;
  ``measured_coverage`` is the share they hold. With fewer than ``MIN_CALIBRATION`` holdout tasks
  nothing is tuned: the estimate is the median, the range the 10th..90th percentile of the
  history's points, and ``measured_coverage`` is None. The holdout is the past: on later work the
  share can differ when a team changes how it estimates (the bench reports it on the test rows).

Everything is deterministic (stable sorts, ties broken by recency then position), needs no language
model, and is pure (numpy only). A configured model may nudge the estimate only inside the range
(``Estimate.adjusted``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

DEFAULT_COVERAGE = 0.8
MIN_CALIBRATION = 10
K_GRID = (3, 5, 10, 20, 40)
PRIOR_GRID = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0)
DEFAULT_K = 10
# Without a holdout long enough to show that similar tasks beat the median, the estimate is the
# median (the MAE-optimal constant); similar tasks are still shown as evidence.
DEFAULT_PRIOR = 1.0
# How many standard errors a (k, prior) pair's holdout gain over the median must clear.
GAIN_STANDARD_ERRORS = 2.0
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class FinishedTask:
    """A completed task with its estimate; ``id`` is whatever the caller links to (gid, key)."""

    id: str
    title: str
    description: str
    points: float


@dataclass(frozen=True)
class Evidence:
    id: str
    title: str
    points: float
    similarity: float


@dataclass(frozen=True)
class Estimate:
    """A point estimate, a range meant to hold the truth ``coverage`` of the time, and why.

    ``measured_coverage`` is the share of the holdout tasks whose points fell inside their own
    range (None when the history was too short to measure it); ``basis`` says whether similar tasks
    moved the estimate away from the project's median ("similar tasks") or not ("project median");
    ``scale`` is the point values the project has used, ascending.
    """

    points: float
    low: float
    high: float
    coverage: float
    measured_coverage: float | None
    evidence: tuple[Evidence, ...]
    basis: str
    scale: tuple[float, ...] = ()
    adjusted_by_model: bool = False

    def adjusted(self, model_points: float) -> Estimate:
        """The estimate a language model suggests, kept inside the calibrated range.

        The model's number is clamped to [low, high] and moved to the nearest value of the
        project's scale (the lower one on a tie): the range, measured on the project's own
        history, keeps its meaning whatever the model says.
        """
        if not math.isfinite(model_points):
            return self
        points = min(max(float(model_points), self.low), self.high)
        inside = [v for v in self.scale if self.low <= v <= self.high]
        if inside:
            points = min(inside, key=lambda v: (abs(v - points), v))
        return replace(self, points=points, adjusted_by_model=points != self.points)


@dataclass(frozen=True)
class Tuning:
    """What the holdout chose, and what it measured (for reports and the bench)."""

    k: int
    prior: float
    holdout: int
    holdout_mae: float | None
    median_mae: float | None
    log_residual_low: float | None
    log_residual_high: float | None
    measured_coverage: float | None


def tokens(text: str) -> list[str]:
    """Case-folded words of ``text``; one-character words and bare numbers carry no topic."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return [w for w in _WORD.findall(text) if len(w) > 1 and not w.isdigit()]


def _task_terms(title: str, description: str) -> Counter[str]:
    words = tokens(title)
    return Counter(words + words + tokens(description))


class _TfIdf:
    """An inverted index of sublinear-TF × smoothed-IDF vectors, L2-normalised."""

    def __init__(self, docs: Sequence[Counter[str]]) -> None:
        self.n = len(docs)
        vocab: dict[str, int] = {}
        df: list[int] = []
        for doc in docs:
            for term in doc:
                tid = vocab.setdefault(term, len(vocab))
                if tid == len(df):
                    df.append(0)
                df[tid] += 1
        self.vocab = vocab
        self.idf = np.log((1.0 + self.n) / (1.0 + np.asarray(df, dtype=float))) + 1.0
        self.unseen_idf = math.log(1.0 + self.n) + 1.0
        term_ids: list[int] = []
        doc_ids: list[int] = []
        weights: list[float] = []
        for d, doc in enumerate(docs):
            ids = [vocab[t] for t in doc]
            w = np.array([1.0 + math.log(c) for c in doc.values()]) * self.idf[ids]
            norm = float(np.sqrt(np.dot(w, w))) if len(w) else 0.0
            if norm > 0:
                term_ids.extend(ids)
                doc_ids.extend([d] * len(ids))
                weights.extend((w / norm).tolist())
        order = np.argsort(np.asarray(term_ids, dtype=np.int64), kind="stable")
        sorted_terms = np.asarray(term_ids, dtype=np.int64)[order]
        self.post_docs = np.asarray(doc_ids, dtype=np.int64)[order]
        self.post_w = np.asarray(weights, dtype=float)[order]
        self.starts = np.searchsorted(sorted_terms, np.arange(len(vocab) + 1))

    def similarities(self, terms: Counter[str]) -> np.ndarray:
        """Cosine similarity of a new text to every indexed document (unseen words count too)."""
        sims = np.zeros(self.n)
        if not terms:
            return sims
        known: list[tuple[int, float]] = []
        squared = 0.0
        for term, count in terms.items():
            tid = self.vocab.get(term)
            idf = self.unseen_idf if tid is None else float(self.idf[tid])
            w = (1.0 + math.log(count)) * idf
            squared += w * w
            if tid is not None:
                known.append((tid, w))
        if not known or squared <= 0:
            return sims
        norm = math.sqrt(squared)
        for tid, w in sorted(known):
            a, b = self.starts[tid], self.starts[tid + 1]
            # Each document appears once per term, so fancy-index += adds correctly.
            sims[self.post_docs[a:b]] += (w / norm) * self.post_w[a:b]
        return sims


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Smallest value whose cumulative weight reaches half (``values`` sorted ascending)."""
    cum = np.cumsum(weights)
    return float(values[int(np.searchsorted(cum, cum[-1] * 0.5 - 1e-12))])


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    cum = np.cumsum(weights)
    return float(values[min(int(np.searchsorted(cum, cum[-1] * q - 1e-12)), len(values) - 1)])


class _Core:
    """The index over one history and the neighbour search; no tuning."""

    def __init__(self, history: Sequence[FinishedTask]) -> None:
        self.history = list(history)
        self.points = np.array([t.points for t in self.history], dtype=float)
        self.scale = np.unique(self.points)
        self.point_index = np.searchsorted(self.scale, self.points)
        glob = np.bincount(self.point_index, minlength=len(self.scale)).astype(float)
        self.global_weights = glob / glob.sum()
        self.median = _weighted_median(self.scale, self.global_weights)
        self.index = _TfIdf([_task_terms(t.title, t.description) for t in self.history])

    def neighbours(self, title: str, description: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and similarities of the ``k`` most similar tasks with similarity above 0.

        Ties go to the more recent task (later in the history), which is the likelier to match
        the team's current way of estimating.
        """
        sims = self.index.similarities(_task_terms(title, description))
        positions = np.arange(len(sims))
        order = np.lexsort((-positions, -sims))[:k]
        order = order[sims[order] > 1e-12]
        return order, sims[order]

    def mixture(self, idx: np.ndarray, sims: np.ndarray, prior: float) -> np.ndarray:
        weights = prior * self.global_weights
        if len(idx) and prior < 1.0:
            local = np.bincount(self.point_index[idx], weights=sims, minlength=len(self.scale))
            weights = weights + (1.0 - prior) * local / local.sum()
        else:
            weights = self.global_weights
        return weights

    def point(self, idx: np.ndarray, sims: np.ndarray, prior: float) -> float:
        return _weighted_median(self.scale, self.mixture(idx, sims, prior))


def _conformal_bounds(residuals: np.ndarray, coverage: float) -> tuple[float, float]:
    """Split-conformal lower/upper residual quantiles (finite-sample corrected ranks)."""
    r = np.sort(residuals)
    n = len(r)
    alpha = 1.0 - coverage
    lo_rank = max(math.floor((n + 1) * alpha / 2) - 1, 0)
    hi_rank = min(math.ceil((n + 1) * (1 - alpha / 2)) - 1, n - 1)
    return float(r[lo_rank]), float(r[hi_rank])


def _widen(scale: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """The narrowest range of the project's scale values that contains [low, high]."""
    below = scale[scale <= low + 1e-9]
    above = scale[scale >= high - 1e-9]
    return (float(below[-1]) if len(below) else float(scale[0])), (
        float(above[0]) if len(above) else float(scale[-1])
    )


class StoryPointEstimator:
    """Fit once on finished tasks (oldest first), then ``predict`` new ones."""

    def __init__(
        self,
        core: _Core | None,
        tuning: Tuning,
        coverage: float,
        evidence: int,
    ) -> None:
        self._core = core
        self.tuning = tuning
        self.coverage = coverage
        self._evidence = evidence

    @classmethod
    def fit(
        cls,
        history: Sequence[FinishedTask],
        *,
        holdout: int | None = None,
        coverage: float = DEFAULT_COVERAGE,
        evidence: int = 3,
        tuning: Tuning | None = None,
    ) -> StoryPointEstimator:
        """Tune on the last ``holdout`` tasks of ``history`` (in completion order), then refit.

        Tasks whose points are not a finite number >= 0 are ignored. ``holdout`` None means the
        last 20 % of the history. A holdout shorter than ``MIN_CALIBRATION`` proves nothing: then
        nothing is tuned, the estimate is the median and the range is not calibrated. A given
        ``tuning`` (from an earlier fit) is reused as is and nothing is tuned.
        """
        if not 0.0 < coverage < 1.0:
            raise ValueError(f"coverage must be between 0 and 1, got {coverage}")
        usable = [
            t
            for t in history
            if isinstance(t.points, int | float) and math.isfinite(t.points) and t.points >= 0
        ]
        n = len(usable)
        if holdout is None:
            holdout = n // 5
        if holdout < 0:
            raise ValueError(f"holdout must be >= 0, got {holdout}")
        holdout = min(holdout, max(n - 1, 0))
        if tuning is None and holdout >= MIN_CALIBRATION:
            tuning = _tune(usable[: n - holdout], usable[n - holdout :], coverage)
        elif tuning is None:
            tuning = Tuning(DEFAULT_K, DEFAULT_PRIOR, 0, None, None, None, None, None)
        core = _Core(usable) if usable else None
        return cls(core, tuning, coverage, evidence)

    @property
    def size(self) -> int:
        return 0 if self._core is None else len(self._core.history)

    def predict(self, title: str, description: str = "") -> Estimate | None:
        """The estimate for a new task, or None when there is no finished estimated task."""
        core = self._core
        if core is None:
            return None
        t = self.tuning
        k_search = max(t.k, self._evidence)
        idx, sims = core.neighbours(title, description or "", k_search)
        used_idx, used_sims = idx[: t.k], sims[: t.k]
        weights = core.mixture(used_idx, used_sims, t.prior)
        point = _weighted_median(core.scale, weights)
        if t.log_residual_low is not None and t.log_residual_high is not None:
            low, high = _widen(
                core.scale,
                math.expm1(math.log1p(point) + t.log_residual_low),
                math.expm1(math.log1p(point) + t.log_residual_high),
            )
        else:
            half = (1.0 - self.coverage) / 2
            low = _weighted_quantile(core.scale, weights, half)
            high = _weighted_quantile(core.scale, weights, 1.0 - half)
        low, high = min(low, point), max(high, point)
        shown = [
            Evidence(
                id=core.history[i].id,
                title=core.history[i].title,
                points=float(core.points[i]),
                similarity=round(float(s), 4),
            )
            for i, s in zip(idx[: self._evidence], sims[: self._evidence], strict=True)
        ]
        return Estimate(
            points=point,
            low=low,
            high=high,
            coverage=self.coverage,
            measured_coverage=t.measured_coverage,
            evidence=tuple(shown),
            basis="project median" if point == core.median else "similar tasks",
            scale=tuple(float(v) for v in core.scale),
        )


def _tune(
    train: Sequence[FinishedTask], holdout: Sequence[FinishedTask], coverage: float
) -> Tuning:
    """Pick (k, prior) on the holdout and calibrate the range on its residuals.

    A pair must beat the project's median by more than its own noise: the score is the mean
    per-task gain in absolute error over the median minus two standard errors of that gain (a
    lower confidence bound, about 97.5 % one-sided). A small or unrepresentative holdout rarely
    proves a gain, so the estimator then stays at the median, the MAE-optimal constant, instead of
    chasing a lucky pair.
    """
    core = _Core(train)
    truth = np.array([t.points for t in holdout], dtype=float)
    found = [core.neighbours(t.title, t.description or "", max(K_GRID)) for t in holdout]
    median_pred = np.full(len(holdout), core.median)
    median_err = np.abs(median_pred - truth)
    best_key: tuple[float, float, int] = (0.0, 1.0, -DEFAULT_K)
    best_pred = median_pred
    for k in K_GRID:
        for prior in PRIOR_GRID:
            if prior >= 1.0:
                continue
            pred = np.array([core.point(i[:k], s[:k], prior) for i, s in found])
            gain = median_err - np.abs(pred - truth)
            spread = float(np.std(gain, ddof=1)) if len(gain) > 1 else 0.0
            score = float(np.mean(gain)) - GAIN_STANDARD_ERRORS * spread / math.sqrt(len(gain))
            # Higher score first; on a tie the larger prior (closer to the median), then smaller k.
            key = (round(score, 9), prior, -k)
            if score > 0 and key > best_key:
                best_key, best_pred = key, pred
    _, prior, neg_k = best_key
    mae = float(np.mean(np.abs(best_pred - truth)))
    lo = hi = measured = None
    if len(holdout) >= MIN_CALIBRATION:
        lo, hi, measured = _calibrate(core.scale, best_pred, truth, coverage)
    return Tuning(-neg_k, prior, len(holdout), mae, float(np.mean(median_err)), lo, hi, measured)


def _covered(scale: np.ndarray, pred: np.ndarray, truth: np.ndarray, lo: float, hi: float) -> float:
    inside = 0
    for p, y in zip(pred, truth, strict=True):
        a, b = _widen(scale, math.expm1(math.log1p(p) + lo), math.expm1(math.log1p(p) + hi))
        inside += int(min(a, p) - 1e-9 <= y <= max(b, p) + 1e-9)
    return inside / len(truth)


def _calibrate(
    scale: np.ndarray, pred: np.ndarray, truth: np.ndarray, coverage: float
) -> tuple[float, float, float]:
    """Residual bounds whose widened ranges hold ``coverage`` of the holdout, and that share.

    Widening to the scale's values adds coverage of its own (a range 3..5 holds every 3 and 5),
    so the conformal level is lowered step by step while the holdout stays covered.
    """
    residuals = np.log1p(truth) - np.log1p(pred)
    chosen = _conformal_bounds(residuals, coverage)
    measured = _covered(scale, pred, truth, *chosen)
    for step in range(1, 40):
        level = coverage - step * 0.025
        if level <= 0:
            break
        bounds = _conformal_bounds(residuals, level)
        share = _covered(scale, pred, truth, *bounds)
        if share < coverage:
            break
        chosen, measured = bounds, share
    return chosen[0], chosen[1], measured


class TextIndex:
    """Cosine similarity of a text to a fixed set of texts (the estimator's TF-IDF, public).

    Used for possible duplicates among open tasks: the same words, the same weighting, nothing
    downloaded, deterministic.
    """

    def __init__(self, texts: Sequence[tuple[str, str]]) -> None:
        self._index = _TfIdf([_task_terms(title, description) for title, description in texts])

    def similar(
        self, title: str, description: str = "", *, k: int = 3, at_least: float = 0.0
    ) -> list[tuple[int, float]]:
        """Positions and similarities of the ``k`` most similar texts above ``at_least``."""
        sims = self._index.similarities(_task_terms(title, description or ""))
        positions = np.arange(len(sims))
        order = np.lexsort((positions, -sims))[:k]
        return [(int(i), round(float(sims[i]), 4)) for i in order if sims[i] > at_least]
