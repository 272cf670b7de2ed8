"""bench/nrp.py runs every instance file of its directory and says which files it skipped, why."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "nrp.py"

# 3 requirements (costs 2, 3, 4), 2 before 3, two customers: 10 for {1}, 7 for {3}.
TINY = "1\r\n3\r\n2 3 4\r\n1\r\n2 3\r\n2\r\n10 1 1\r\n7 1 3\r\n"


@pytest.fixture(scope="module")
def nrp():
    spec = importlib.util.spec_from_file_location("bench_nrp", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_nrp"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    (tmp_path / "nrp-x1.txt").write_text(TINY)
    (tmp_path / "eclipse-small.dat").write_text(TINY.replace("\r\n", "\n"))  # any file name
    (tmp_path / "README.md").write_text("# NRP instances\nData files only.\n")
    (tmp_path / "optima.csv").write_text(
        "instance,cost_ratio,total_cost,budget_floor,optimum_floor,budget_round_half_up,"
        "optimum_round_half_up\nnrp-x1,0.7,9,6,10,6,10\n"
    )
    (tmp_path / "notes.txt").write_bytes("Profit of Customer\u2026".encode("gbk"))
    (tmp_path / "cut.txt").write_text("1\n3\n2 3")
    (tmp_path / "bad-id.txt").write_text("1\n2\n1 1\n0\n1\n5 1 9\n")
    return tmp_path


def test_every_file_that_parses_is_an_instance_and_the_rest_are_skipped_with_a_reason(
    nrp, directory
):
    instances, skipped = nrp.discover(directory)
    assert sorted(i.name for i in instances) == ["eclipse-small", "nrp-x1"]
    reasons = dict(skipped)
    assert set(reasons) == {"README.md", "optima.csv", "notes.txt", "cut.txt", "bad-id.txt"}
    assert "is not a non-negative integer" in reasons["README.md"]
    assert "not plain ASCII" in reasons["notes.txt"]
    assert "ends in the middle" in reasons["cut.txt"]
    assert "outside 1..2" in reasons["bad-id.txt"]
    tiny = next(i for i in instances if i.name == "nrp-x1")
    assert tiny.costs == (2, 3, 4) and tiny.prerequisites == {3: {2}}
    assert tiny.customers == ((10, (1,)), (7, (3,)))


def test_the_bench_runs_them_all_and_prints_what_it_skipped(nrp, directory, capsys):
    assert nrp.main([str(directory), "--json", "--ratios", "0.7"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["skipped"] for r in rows if "skipped" in r} == {
        "README.md",
        "optima.csv",
        "notes.txt",
        "cut.txt",
        "bad-id.txt",
    }
    planned = [r for r in rows if r.get("method") == "planner"]
    # Budget floor(0.7 x 9) = 6: customer 2 needs requirement 3 and its prerequisite 2 (cost
    # 7 > 6), so the best is customer 1 alone, worth 10, the optimum optima.csv gives.
    assert {r["instance"]: r["value"] for r in planned} == {"eclipse-small": 10, "nrp-x1": 10}
    assert {r["instance"]: r["optimum"] for r in planned} == {"eclipse-small": None, "nrp-x1": 10}
