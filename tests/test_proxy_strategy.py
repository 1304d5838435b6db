"""The ``proxy`` strategy and ``hwnas search`` / ``hwnas transfer analyze`` end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hwnas.errors import HwnasError
from hwnas.latency import LatencyModel
from hwnas.manager import get_plugin_manager
from hwnas.problem import Problem


class CountingLatency(LatencyModel):
    """Wraps the target and counts every latency it answers (each one is a measurement)."""

    def __init__(self, inner):
        self.inner, self.name, self.space, self.queries = inner, inner.name, inner.space, 0

    def latency(self, arch):
        self.queries += 1
        return self.inner.latency(arch)

    def latencies(self, archs):
        self.queries += len(archs)
        return self.inner.latencies(archs)


def run(truth, budget=100, seed=0, **options):
    pm = get_plugin_manager()
    target = CountingLatency(truth.latency)
    problem = Problem(truth.space, target, truth.accuracy, budget=budget, seed=seed)
    result = pm.create("strategy", "proxy", **options).search(problem)
    return result, target


def test_pixel3_to_raspi4_spends_k_then_retimes(truth):
    from hwnas.arena import score

    k = 10
    result, target = run(truth, proxy="nb201/pixel3", samples=k)
    extra = result.extra
    assert extra["measurements_before_retiming"] == k
    assert [truth.space.format(e.arch) for e in result.history[:k]] == extra["sample_archs"]
    assert extra["target_measurements"] == result.evaluations == target.queries
    assert extra["target_measurements"] == k + extra["retimed"] <= 100
    assert extra["retimed"] >= 1 and not extra["unmeasured_front"]
    assert extra["srcc_estimate"]["n"] == k and extra["srcc_estimate"]["srcc"] > 0.8
    assert extra["adapted"] is False and extra["clears_threshold"] is True
    assert all(e.latency_source == "recorded" for e in result.front)
    assert score(result, truth)["hv_ratio"] > 0.8


def test_weak_proxy_adapts_and_budget_caps_retiming(truth):
    result, target = run(truth, budget=15, proxy="nb201/titan_rtx_1", samples=10, evals=300)
    extra = result.extra
    assert extra["adapted"] is True and extra["adaptation"]["chosen"]
    assert result.evaluations == target.queries == 15
    assert extra["retimed"] == 5 and extra["unmeasured_front"]
    assert extra["retimed"] + len(extra["unmeasured_front"]) <= extra["proxy_front_size"]
    assert all(u["latency_source"] == "predicted" for u in extra["unmeasured_front"])


def test_strategy_bad_input(truth):
    with pytest.raises(HwnasError, match="target itself"):
        run(truth, proxy="nb201/raspi4")
    with pytest.raises(HwnasError, match="larger than the nb201 space"):
        run(truth, proxy="nb201/pixel3", samples=20000)
    with pytest.raises(HwnasError, match="no shared architectures"):
        run(truth, proxy="fbnet/pixel3")
    with pytest.raises(HwnasError, match="cannot run nb201"):
        run(truth, proxy="onnxruntime")
    with pytest.raises(HwnasError, match="needs a proxy"):
        get_plugin_manager().create("strategy", "proxy")


def hwnas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, timeout=300
    )


def test_hwnas_search_proxy_end_to_end(tmp_path):
    out = tmp_path / "run"
    result = hwnas(
        "search", "--strategy", "proxy", "--space", "nb201", "--proxy", "nb201/pixel3",
        "--target", "nb201/raspi4", "--samples", "10", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "result.json").read_text())
    assert (out / "front.png").stat().st_size > 10_000
    assert report["target"] == "nb201/raspi4" and report["strategy"] == "proxy"
    assert report["target_measurements"] == report["evaluations"] >= 10
    assert report["extra"]["measurements_before_retiming"] == 10
    est = report["extra"]["srcc_estimate"]
    assert len(est["fisher_ci"]) == 2 and len(est["bootstrap_ci"]) == 2
    assert "adapted" in report["extra"]
    expected = report["extra"]["expected_srcc"]
    assert -1 <= expected["low"] <= expected["estimate"] <= expected["high"] <= 1
    assert all(p["latency_source"] == "recorded" for p in report["front"])
    assert 0 < report["truth"]["hv_ratio"] <= 1


def test_hwnas_search_other_strategy(tmp_path):
    result = hwnas(
        "search", "--strategy", "random", "--target", "nb201/eyeriss", "--evals", "30",
        "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["evaluations"] == report["target_measurements"] == 30
    assert (tmp_path / "front.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--proxy", "nb201/raspi4"], "target itself"),
        (["--proxy", "nb201/pixel3", "--samples", "20000"], "larger than the nb201 space"),
        (["--proxy", "fbnet/pixel3"], "no shared architectures"),
    ],
)
def test_hwnas_search_bad_input_one_line_exit_2(tmp_path, args, message):
    result = hwnas(
        "search", "--strategy", "proxy", "--target", "nb201/raspi4", "--out", str(tmp_path), *args
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_transfer_analyze_cli(tmp_path):
    result = hwnas(
        "transfer", "analyze", "--space", "nb201", "--devices",
        "titan_rtx_256,titan_rtx_1,2080ti_256,eyeriss", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "srcc.json").read_text())
    assert report["best_proxy"]["titan_rtx_256"]["proxy"] == "2080ti_256"
    assert report["best_proxy"]["titan_rtx_1"]["proxy"] != "titan_rtx_256"
    assert (tmp_path / "srcc_heatmap.png").exists()
    assert "best proxy" in result.stdout


class PoolProxy(LatencyModel):
    """A live-like proxy that only answers a measured pool (like MeasuredLatencyModel)."""

    def __init__(self, space, pool):
        self.name, self.space, self.search_space, self.pool = "fake-ort", space.name, space, pool

    def latency(self, arch):
        from hwnas.latency import Latency

        assert arch in self.pool, "the strategy asked the proxy outside its measured pool"
        return Latency(1.0 + float(self.search_space.indices(arch)[:10].sum()), "measured")

    def pool_archs(self):
        return list(self.pool)


class LiveTarget(LatencyModel):
    """A live-like target: records prefetch batches, answers 'measured'."""

    def __init__(self, space):
        self.name, self.space, self.search_space, self.batches = "fake-torch", space.name, space, []

    def prefetch(self, archs):
        self.batches.append(len(archs))

    def latency(self, arch):
        from hwnas.latency import Latency

        return Latency(2.0 + float(self.search_space.indices(arch).sum()), "measured")


def test_strategy_on_a_live_like_pair():
    from hwnas.accuracy import AccuracySource

    class Acc(AccuracySource):
        space = "hurricane"

        def accuracy(self, arch):
            return 50.0 + float(np.sqrt(pm.create("space", "hurricane").indices(arch).sum()))

    pm = get_plugin_manager()
    space = pm.create("space", "hurricane")
    rng = np.random.default_rng(0)
    pool = list(dict.fromkeys(space.sample(rng) for _ in range(40)))
    target = LiveTarget(space)
    problem = Problem(space, target, Acc(), budget=30, seed=0)
    result = pm.create("strategy", "proxy", proxy=PoolProxy(space, pool), samples=10).search(
        problem
    )
    extra = result.extra
    assert extra["pool_size"] == len(pool) and extra["search"].startswith("exhaustive")
    assert target.batches[0] == 10 and extra["measurements_before_retiming"] == 10
    assert result.evaluations == extra["target_measurements"] <= 30
    assert all(e.latency_source == "measured" for e in result.front)
