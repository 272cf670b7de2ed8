"""bench/storypoints.py: both file formats, the chronological split, the JSON lines it prints."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "storypoints.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_storypoints", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_storypoints"] = module
    spec.loader.exec_module(module)
    return module


def _fit_points(n: int) -> list[float]:
    return [float((1, 2, 3)[i % 3]) for i in range(n)]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """30 Deep-SE rows and 25 Tawosi rows; every test row (by the protocol) has 100 points.

    The titles carry no words (bare numbers are not words) and the descriptions are the same
    everywhere (no task is more similar than another) and the val rows are too few to tune on:
    the estimate is the median of the fitted rows, 2, and every error is exactly 98.
    """
    with (tmp_path / "alpha.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["issuekey", "title", "description", "storypoint", "split_mark"])
        points = [*_fit_points(23), *[100] * 7]
        for i, p in enumerate(points):
            # split_mark deliberately disagrees with the protocol: it must not be used.
            w.writerow([f"AL-{i}", f"#{i}", 'multi\nline, "quoted" x', int(p), "train"])
    (tmp_path / "tawosi").mkdir()
    with (tmp_path / "tawosi" / "BETA_deep-se.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        w.writerow(["issuekey", "created", "title", "description", "storypoint"])
        points = [*_fit_points(19), *[100] * 6]
        # Written newest first: the split must follow ``created``, not the file order.
        for i, p in reversed(list(enumerate(points))):
            w.writerow([f"BE-{i}", f"01/{i + 1:02d}/2020 10:00:00", f"#{i}", "", p])
    (tmp_path / "README.md").write_text("not a CSV")
    return tmp_path


def test_the_split_is_the_original_scripts_60_20_20_with_its_off_by_one(bench):
    train, val, test = bench.split(30)
    assert (train, val, test) == (slice(0, 17), slice(17, 23), slice(23, 30))
    train, val, test = bench.split(25)
    assert (train, val, test) == (slice(0, 14), slice(14, 19), slice(19, 25))


def test_json_lines_per_project_in_both_formats(bench, directory: Path, capsys):
    assert bench.main([str(directory), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["project"], r["set"], r["n_test"]) for r in lines] == [
        ("alpha", "deep-se", 7),
        ("BETA_deep-se", "tawosi", 6),
    ]
    for r in lines:
        assert {"project", "set", "n_test", "mae", "mdae", "seconds"} <= set(r)
        # Only fitted rows can be predicted: none of them has 100 points.
        assert (r["mae"], r["mdae"]) == (98.0, 98.0)
        assert r["seconds"] >= 0
    alpha = lines[0]
    assert (alpha["n_train"], alpha["n_val"]) == (17, 6)
    # Random guessing: each test issue's points against every fitted issue's points.
    mean_fit = sum(_fit_points(23)) / 23
    assert alpha["sa"] == pytest.approx((1 - 98 / (100 - mean_fit)) * 100, abs=0.01)


def test_the_table_and_summary(bench, directory: Path, capsys):
    assert bench.main([str(directory)]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "BETA_deep-se" in out
    assert "MAE <= Median baseline on 0/0 projects" in out


def test_a_file_without_the_columns_is_skipped_with_a_reason(bench, tmp_path: Path, capsys):
    (tmp_path / "broken.csv").write_text("issuekey,title\nX-1,hello\n", encoding="utf-8")
    assert bench.main([str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "skipped broken.csv: broken.csv: missing column(s) description, storypoint" in (
        captured.err
    )


def test_a_bad_created_date_is_skipped_with_its_row(bench, tmp_path: Path, capsys):
    (tmp_path / "tawosi").mkdir()
    (tmp_path / "tawosi" / "X_deep-se.csv").write_text(
        "issuekey,created,title,description,storypoint\nX-1,2020-01-01,a,b,3\n", encoding="utf-8"
    )
    assert bench.main([str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "skipped X_deep-se.csv: X_deep-se.csv, row 2:" in captured.err


def test_a_missing_directory_is_a_clear_error(bench, tmp_path: Path, capsys):
    assert bench.main([str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err
