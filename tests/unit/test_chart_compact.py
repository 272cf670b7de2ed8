"""The load chart made small enough to travel inside a Teams card (issue 12)."""

import io
from datetime import date, timedelta

from PIL import Image

from bot.render.chart import ChartPerson, compact_png, load_chart_png


def full_chart() -> bytes:
    people = [
        ChartPerson(f"Person number {i}", 40.0, tuple(30.0 + 7 * ((i * k) % 5) for k in range(6)))
        for i in range(12)
    ]
    weeks = [date(2026, 12, 7) + timedelta(weeks=k) for k in range(6)]
    return load_chart_png(people, weeks, threshold=1.2, title="Platform · weekly load")


def test_a_full_chart_shrinks_within_the_bytes_and_pixels_teams_takes() -> None:
    png = full_chart()
    assert len(png) > 30_000
    small = compact_png(png, max_bytes=10_000)
    assert small is not None and len(small) <= 10_000
    with Image.open(io.BytesIO(small)) as image:
        assert image.format == "PNG" and max(image.size) <= 1024
        assert image.width >= 320


def test_a_budget_no_readable_chart_fits_gives_none() -> None:
    assert compact_png(full_chart(), max_bytes=300) is None
