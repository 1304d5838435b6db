"""Tests for the example strategy; copy and adapt them for a new strategy.

Run from the repository root::

    python -m pytest examples/hwnas-strategy-example/tests

The tests marked ``needs_install`` go through the entry point (and the
``hwnas`` command line in a subprocess), so they need the package installed:
``pip install -e examples/hwnas-strategy-example``.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hwnas.accuracy import AccuracySource
from hwnas.errors import HwnasError
from hwnas.latency import Latency, LatencyModel
from hwnas.manager import PluginManager
from hwnas.problem import Evaluation, Problem
from hwnas.space import Position, SearchSpace
from hwnas.testing import assert_one_line_error, check_strategy_contract, run_cli

try:
    from hwnas_strategy_example.strategy import LocalSearch, improves, neighbours
except ImportError:  # not installed: import it from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hwnas_strategy_example.strategy import LocalSearch, improves, neighbours

DIST = "hwnas-strategy-example"
STRATEGY = "local-search"
COMMAND = "local-search-neighbours"
ARCH = "|none~0|+|none~0|none~1|+|avg_pool_3x3~0|nor_conv_3x3~1|avg_pool_3x3~2|"


def _installed() -> bool:
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_install = pytest.mark.skipif(
    not _installed(),
    reason=f"{DIST} is not installed (pip install -e examples/hwnas-strategy-example), "
    "so its entry point cannot be discovered",
)


@pytest.fixture(scope="module")
def pm() -> PluginManager:
    """A plugin manager that loads entry points, as the CLI does (or the module, uninstalled)."""
    manager = PluginManager(load_external=True)
    if not _installed():
        manager.register_module("hwnas_strategy_example.plugin", package=DIST)
    return manager


@pytest.fixture(scope="module")
def truth():
    from hwnas.arena import ground_truth

    return ground_truth("nb201", "raspi4")


def nb201_problem(truth, budget: int, seed: int = 0, limit: float | None = None) -> Problem:
    return Problem(
        truth.space, truth.latency, truth.accuracy, budget, seed=seed, latency_limit_ms=limit
    )


# -- discovery through the entry point ------------------------------------------------


@needs_install
def test_discovered_through_entry_point():
    pm = PluginManager(load_external=True)
    info = pm.registry().get(("strategy", STRATEGY))
    assert info is not None, f"{STRATEGY} not in registry; broken plugins: {pm.broken}"
    assert info.package == DIST and info.available, info.reason
    command = pm.registry().get(("command", COMMAND))
    assert command is not None and command.package == DIST and command.available


@needs_install
def test_listed_by_hwnas_plugins():
    result = run_cli("plugins", "--kind", "strategy", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows[STRATEGY]["package"] == DIST
    assert rows[STRATEGY]["available"] is True


# -- hwnas search ----------------------------------------------------------------------


@needs_install
def test_search_end_to_end(tmp_path):
    result = run_cli(
        "search", "--strategy", STRATEGY, "--target", "nb201/raspi4", "--evals", "50",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "local search: 3 climbs" in result.stdout  # the strategy's summary line
    assert (tmp_path / "front.png").stat().st_size > 0
    report = json.loads((tmp_path / "result.json").read_text())
    assert report["strategy"] == STRATEGY and report["evaluations"] == 50
    assert report["front"] and report["best"] is not None
    assert report["summary"][0].startswith("local search:")
    assert report["extra"]["local_search"]["restarts"] == 3
    assert report["truth"]["hv_ratio"] > 0


@needs_install
@pytest.mark.parametrize("flag", [["--restarts", "2"], ["-s", "restarts=2"]])
def test_restarts_option(tmp_path, flag):
    result = run_cli(
        "search", "--strategy", STRATEGY, "--target", "nb201/raspi4", "--evals", "40",
        "--latency-ms", "20", "--out", str(tmp_path), *flag,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "result.json").read_text())
    assert report["strategy_options"]["restarts"] == 2
    assert report["extra"]["local_search"]["restarts"] == 2
    assert {c["share"] for c in report["extra"]["local_search"]["climbs"]} == {0, 1}
    assert report["best"]["latency_ms"] <= 20
    assert "best under 20 ms" in result.stdout


@needs_install
@pytest.mark.parametrize("value", ["0", "two"])  # more bad values: test_bad_restarts_raise
def test_bad_restarts_is_one_line(tmp_path, value):
    result = run_cli(
        "search", "--strategy", STRATEGY, "--target", "nb201/raspi4", "--evals", "10",
        "--out", str(tmp_path), "--restarts", value,
    )  # fmt: skip
    assert_one_line_error(result, "restarts must be an integer >= 1", "--restarts 3")
    assert not (tmp_path / "result.json").exists()


# -- hwnas local-search-neighbours ---------------------------------------------------------


@needs_install
def test_command_in_help():
    result = run_cli("--help")
    assert result.returncode == 0 and COMMAND in result.stdout


@needs_install
def test_neighbours_command():
    result = run_cli(COMMAND, "--space", "nb201", ARCH, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["arch"] == ARCH and len(report["neighbours"]) == 6 * 4
    assert len({row["arch"] for row in report["neighbours"]}) == 24
    assert all(row["from"] != row["to"] for row in report["neighbours"])


@needs_install
def test_neighbours_command_scores_moves():
    result = run_cli(COMMAND, "--space", "nb201", ARCH, "--target", "nb201/raspi4", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = report["neighbours"]
    assert report["target"] == "nb201/raspi4" and report["cap_ms"] == report["latency_ms"]
    assert report["improving"] == sum(r["improves"] for r in rows) > 0
    for row in rows[: report["improving"]]:  # improving moves come first
        assert row["improves"] and row["latency_ms"] <= report["cap_ms"]
        assert row["accuracy"] >= report["accuracy"]
    table = run_cli(COMMAND, "--space", "nb201", ARCH, "--target", "nb201/raspi4")
    assert table.returncode == 0 and "improve on" in table.stdout


@needs_install
def test_neighbours_command_bad_arch_is_one_line():
    assert_one_line_error(run_cli(COMMAND, "--space", "nb201", "|none~0|+|"), "nb201")


# -- the strategy itself (no install needed) -------------------------------------------


@pytest.mark.parametrize("value", [0, -3, "two", 1.5, True, None])
def test_bad_restarts_raise(value):
    with pytest.raises(HwnasError, match="restarts must be an integer >= 1") as excinfo:
        LocalSearch(restarts=value)
    assert excinfo.value.fix and "\n" not in str(excinfo.value)


def test_neighbours_differ_at_one_position(truth):
    space = truth.space
    arch = space.parse(ARCH)
    found = neighbours(space, arch)
    assert len(found) == len(set(found)) == sum(len(p.choices) - 1 for p in space.positions)
    for other in found:
        assert sum(a != b for a, b in zip(arch.choices, other.choices, strict=True)) == 1
        space.architecture(other.choices)  # valid


def test_improves_rules():
    def e(ms, acc):
        return Evaluation(None, ms, "recorded", acc, 0)

    assert improves(e(5, 70), e(12, 90), cap_ms=10)  # feasible beats infeasible
    assert not improves(e(12, 90), e(5, 70), cap_ms=10)
    assert improves(e(9, 71), e(5, 70), cap_ms=10)  # more accurate under the cap
    assert improves(e(4, 70), e(5, 70), cap_ms=10)  # as accurate, faster
    assert not improves(e(5, 70), e(5, 70), cap_ms=10)  # no sideways moves
    assert improves(e(11, 50), e(12, 90), cap_ms=10)  # both over: faster wins


@pytest.mark.parametrize("budget", [1, 2, 7, 60])
def test_spends_exactly_the_budget(truth, budget):
    problem = nb201_problem(truth, budget)
    result = LocalSearch(restarts=3).search(problem)
    assert result.evaluations == budget
    assert len({e.arch for e in result.history}) == budget  # never pays twice for one arch


def test_deterministic_per_seed(truth):
    def run(seed):
        return [e.arch for e in LocalSearch().search(nb201_problem(truth, 80, seed)).history]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_climbs_respect_the_latency_limit(truth):
    limit = float(truth.budgets_ms[1])
    result = LocalSearch(restarts=4).search(nb201_problem(truth, 200, seed=1, limit=limit))
    info = result.extra["local_search"]
    assert result.best is not None and result.best.latency_ms <= limit
    assert all(c["cap_ms"] == limit for c in info["climbs"])
    for climb in info["climbs"]:  # once under the limit, a climb stays under it
        latencies = [ms for ms, _ in climb["path"]]
        first = next((i for i, ms in enumerate(latencies) if ms <= limit), len(latencies))
        assert all(ms <= limit for ms in latencies[first:])


def test_beats_random_search_on_nb201(truth):
    from hwnas.arena import score
    from hwnas.plugins.random_search import RandomSearch

    ratios = {"local": [], "random": []}
    for seed in range(2):
        local = LocalSearch().search(nb201_problem(truth, 300, seed))
        rand = RandomSearch().search(nb201_problem(truth, 300, seed))
        ratios["local"].append(score(local, truth)["hv_ratio"])
        ratios["random"].append(score(rand, truth)["hv_ratio"])
    assert np.mean(ratios["local"]) > max(0.85, np.mean(ratios["random"])), ratios


class TinySpace(SearchSpace):
    name = "tiny"

    def __init__(self):
        super().__init__([Position("a", ("x", "y")), Position("b", ("x", "y"))])


class IndexLatency(LatencyModel):
    name, space = "tiny/index", "tiny"

    def latency(self, arch):
        return Latency(1.0 + sum(c == "y" for c in arch.choices), "predicted")


class IndexAccuracy(AccuracySource):
    space = "tiny"

    def accuracy(self, arch):
        return 50.0 + 10 * sum(c == "y" for c in arch.choices)


def test_stops_when_the_space_is_exhausted():
    problem = Problem(TinySpace(), IndexLatency(), IndexAccuracy(), budget=50)
    result = LocalSearch(restarts=2).search(problem)
    assert result.evaluations == 4  # every architecture once, then it stops
    assert {e.arch for e in result.history} == {e.arch for e in result.front}


def test_summary_and_plot(truth):
    from matplotlib.figure import Figure

    strategy = LocalSearch()
    result = strategy.search(nb201_problem(truth, 60, limit=float(truth.budgets_ms[2])))
    lines = strategy.summary(result)
    assert lines[0].startswith("local search: ") and lines[1].startswith("best under ")
    ax = Figure().subplots()
    assert strategy.plot(result, ax).startswith("local search: ")
    assert ax.lines  # the climbs were drawn
    assert strategy.summary(type(result)(STRATEGY, [], [])) == []


# -- the core conformance suite --------------------------------------------------------


def test_strategy_contract(pm):
    """The contract every strategy must pass (also run by hwnas's tests/test_strategies.py)."""
    report = check_strategy_contract(pm, STRATEGY, {"restarts": 2})
    assert report.skipped is None and report.runs == 3
    assert report.summary and report.summary[0].startswith("local search:")
    assert report.limited.best.latency_ms <= report.latency_limit_ms
