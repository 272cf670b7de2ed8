"""The delivery forecast's burn-up chart, as PNG: work done per sprint, the scope, the range.

Drawn like the load chart (bot/render/chart.py): matplotlib's Agg canvas, no pyplot, one chart at
a time, fixed size and fonts, no date metadata, so the same forecast gives the same bytes.

What it shows: the cumulative work completed at the end of each past sprint of the history
(solid), the total to reach (done so far + the current sprint's open work counted first + the
scope; dashed), and from today the forecast range: lines from today's total to the P50 and the
P85 finish dates, the band between them shaded, both dates marked.
"""

from __future__ import annotations

import io
from datetime import date

from bot.domain.delivery import DeliveryForecast
from bot.render.chart import _DRAW_LOCK

DONE_COLOUR = "#4C78A8"
SCOPE_COLOUR = "#222222"
P50_COLOUR = "#54A24B"
P85_COLOUR = "#E45756"
BAND_COLOUR = "#FFE7A3"


def _label(d: date) -> str:
    return f"{d.day} {d:%b}"


def burnup_png(forecast: DeliveryForecast, *, title: str) -> bytes:
    """The burn-up with the forecast range; PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    history = list(reversed(forecast.history))  # oldest first
    today = forecast.today
    done_at: list[tuple[int, float]] = []
    total = 0.0
    if history:
        first_end = history[0].ended_on
        # The first sprint's start: one sprint before its end (as long as the gaps between ends).
        gap = (history[1].ended_on - first_end).days if len(history) > 1 else 14
        done_at.append(((first_end - today).days - gap, 0.0))
        for sprint in history:
            total += sprint.completed
            done_at.append(((sprint.ended_on - today).days, total))
    goal = total + forecast.ahead + forecast.scope
    ends = forecast.sprint_ends
    with _DRAW_LOCK:
        fig = Figure(figsize=(7.2, 4.2), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        if done_at:
            xs, ys = zip(*done_at, strict=True)
            ax.plot(xs, ys, color=DONE_COLOUR, linewidth=2.0, marker="o", markersize=3.5)
        left = min([x for x, _ in done_at] + [0])
        right = max([(d - today).days for d in ends] + [14])
        ax.hlines(goal, left, right, colors=SCOPE_COLOUR, linestyles="--", linewidth=1.2)
        ax.text(left, goal, f" to do: {goal:g} {forecast.unit.value}", va="bottom", fontsize=8)
        if forecast.p50_on is not None and forecast.p85_on is not None:
            x50, x85 = (forecast.p50_on - today).days, (forecast.p85_on - today).days
            # The range: from today's total, finishing between the P50 and the P85 date.
            ax.fill([0, x50, x85], [total, goal, goal], color=BAND_COLOUR, linewidth=0)
            ax.plot([0, x50], [total, goal], color=P50_COLOUR, linewidth=1.4)
            ax.plot([0, x85], [total, goal], color=P85_COLOUR, linewidth=1.4)
            marks = (
                [(x50, P85_COLOUR, f"P50 = P85 {_label(forecast.p50_on)}")]
                if x50 == x85
                else [
                    (x50, P50_COLOUR, f"P50 {_label(forecast.p50_on)}"),
                    (x85, P85_COLOUR, f"P85 {_label(forecast.p85_on)}"),
                ]
            )
            for k, (x, colour, name) in enumerate(marks):
                ax.vlines(x, 0, goal, colors=colour, linestyles=":", linewidth=1.0)
                ax.text(
                    x, goal * (0.04 + 0.07 * k), f"{name} ", color=colour, fontsize=8, ha="right"
                )
        ax.axvline(0, color="#999999", linewidth=0.8)
        ax.text(0, goal * 0.92 if goal else 0.9, " today", color="#666666", fontsize=8)
        past = {x for x, _ in done_at if x <= -4}  # a sprint that ended days ago: "today" says it
        ticks = sorted(past | {0} | {(d - today).days for d in ends})
        if len(ticks) > 12:  # keep the labels readable
            step = -(-len(ticks) // 12)
            ticks = ticks[::step] + ([ticks[-1]] if ticks[-1] not in ticks[::step] else [])
        ax.set_xticks(ticks)
        ax.set_xticklabels(
            [_label(date.fromordinal(today.toordinal() + t)) for t in ticks],
            fontsize=7,
            rotation=30,
            ha="right",
        )
        ax.set_xlim(left - 2, right + 4)
        ax.set_ylim(0, max(goal, 1.0) * 1.12)
        ax.set_ylabel(f"{forecast.unit.value} done", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(title, fontsize=11, loc="left")
        ax.grid(axis="y", color="#EEEEEE", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
