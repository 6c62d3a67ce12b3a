"""The reconciliation benchmark's ``--repeat``: the children run without it, and each child's figures are read from
the line the benchmark prints."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_reconcile.py"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH.parent))  # the benchmark imports gen_recon from its folder when generating
    spec = importlib.util.spec_from_file_location("bench_reconcile_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(BENCH.parent))


def test_the_children_run_without_repeat(bench):
    argv = ["--lines", "10", "--repeat", "3", "--skip-excel", "--repeat=4", "--data", "d"]
    assert bench._without_repeat(argv) == ["--lines", "10", "--skip-excel", "--data", "d"]


def test_the_figures_are_read_from_the_printed_line(bench):
    line = "  files → result frames: 8.45 s, cpu 14.44 s; peak RSS 1,413 MB (load average 0.62 0.88 0.64)"
    found = bench._FIGURES.search(line)
    assert (found[1], found[2], found[3]) == ("8.45", "14.44", "1,413")
