"""The weekly load chart: each person's forecast hours per week against their capacity, as PNG.

Drawn with matplotlib's Agg canvas directly (no pyplot, so no global figure state and no GUI
backend); the bytes are deterministic for the same input: fixed size, fonts and colours, and no
software/date metadata in the file.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

MAX_PEOPLE = 12
WEEK_COLOURS = ("#4C78A8", "#72B7B2", "#9ECAE9", "#BAB0AC", "#D4D4D4", "#E6E6E6")
OVER_COLOUR = "#E45756"
CAPACITY_COLOUR = "#222222"

# matplotlib's text layout and font cache are not thread-safe; listeners and the scheduler run
# on threads, so one chart is drawn at a time (it takes a few tens of milliseconds).
_DRAW_LOCK = threading.Lock()


@dataclass(frozen=True)
class ChartPerson:
    name: str
    capacity: float
    loads: tuple[float, ...]  # one per week, in the chart's week order


def select_people(people: Sequence[ChartPerson], *, threshold: float) -> list[ChartPerson]:
    """Keep the chart readable: overloaded people first, then the most loaded, at most 12."""

    def peak_ratio(p: ChartPerson) -> float:
        peak = max(p.loads, default=0.0)
        return peak / p.capacity if p.capacity > 0 else (float("inf") if peak > 0 else 0.0)

    def key(p: ChartPerson) -> tuple[bool, float, str]:
        over = any(load > threshold * p.capacity for load in p.loads)
        return (not over, -peak_ratio(p), p.name)

    return sorted(people, key=key)[:MAX_PEOPLE]


def load_chart_png(
    people: Sequence[ChartPerson],
    weeks: Sequence[date],
    *,
    threshold: float,
    title: str,
) -> bytes:
    """Grouped bars per person (one per week), capacity and alert line per person; PNG bytes."""
    # Imported here: matplotlib costs ~1 s to import, paid only by runs that draw a chart.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    shown = select_people(people, threshold=threshold)
    n_weeks = len(weeks)
    width = 0.8 / max(n_weeks, 1)
    with _DRAW_LOCK:
        fig = Figure(figsize=(max(6.0, 1.1 * len(shown) + 2.5), 4.6), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        top = 1.0
        for i, person in enumerate(shown):
            limit = threshold * person.capacity
            for k, load in enumerate(person.loads[:n_weeks]):
                x = i - 0.4 + width * (k + 0.5)
                colour = OVER_COLOUR if load > limit else WEEK_COLOURS[k % len(WEEK_COLOURS)]
                ax.bar(x, load, width=width * 0.92, color=colour, edgecolor="white", linewidth=0.5)
                top = max(top, load)
            ax.hlines(person.capacity, i - 0.45, i + 0.45, colors=CAPACITY_COLOUR, linewidth=1.6)
            ax.hlines(limit, i - 0.45, i + 0.45, colors=OVER_COLOUR, linewidth=1.0, linestyles="--")
            top = max(top, limit)
        ax.set_xlim(-0.6, max(len(shown), 1) - 0.4)
        ax.set_ylim(0, top * 1.3)  # headroom for the legend
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels([_short(p.name) for p in shown], fontsize=8, rotation=20, ha="right")
        ax.set_ylabel("hours", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(title, fontsize=11, loc="left")
        ax.grid(axis="y", color="#EEEEEE", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        handles = [
            Patch(color=WEEK_COLOURS[k % len(WEEK_COLOURS)], label=f"wk of {_day(w)}")
            for k, w in enumerate(weeks)
        ]
        handles += [
            Patch(color=OVER_COLOUR, label="over the alert line"),
            Line2D([], [], color=CAPACITY_COLOUR, linewidth=1.6, label="capacity"),
            Line2D(
                [],
                [],
                color=OVER_COLOUR,
                linewidth=1.0,
                linestyle="--",
                label=f"alert ({threshold:.0%})",
            ),
        ]
        ax.legend(handles=handles, fontsize=7, loc="upper right", ncol=2, frameon=False)
        if not shown:
            ax.text(0.5, 0.5, "nobody has dated work", transform=ax.transAxes, ha="center")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _day(moment: date) -> str:
    return f"{moment.day} {moment:%b}"


def _short(name: str) -> str:
    name = " ".join(name.split()) or "?"
    return name if len(name) <= 18 else name[:17] + "…"


def compact_png(png: bytes, *, max_bytes: int, max_side: int = 1024) -> bytes | None:
    """The chart small enough to travel inside a message: at most `max_side` pixels a side and
    `max_bytes` long (a 32-colour palette, then smaller steps); None when even 320 pixels wide
    would not fit. Flat colours and text survive a palette well."""
    from PIL import Image  # with matplotlib already; imported only where a chart is shrunk

    with Image.open(io.BytesIO(png)) as opened:
        image = opened.convert("RGB")
    scale = min(1.0, max_side / max(image.size))
    while True:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small = image.resize(size, Image.Resampling.LANCZOS) if scale < 1 else image
        buffer = io.BytesIO()
        small.quantize(colors=32).save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= max_bytes:
            return buffer.getvalue()
        if size[0] <= 320:
            return None
        scale *= 0.8
