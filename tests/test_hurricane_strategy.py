"""The hurricane strategy: stage planning, budgets, the CLI run end to end, resume, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from hwnas.errors import HwnasError
from hwnas.plugins.hurricane.strategy import Hurricane, converged, split_budget, stage_seeds
from hwnas.testing import assert_one_line_error
from hwnas.testing import run_cli as hwnas

# A small but complete run: every stage trains, searches, and the winner is
# measured end to end, retrained and exported.
QUICK = [
    "search", "--strategy", "hurricane", "--target", "onnxruntime", "--evals", "8",
    "-s", "max_steps=10", "-s", "chunk_steps=5", "-s", "scratch_epochs=0.01",
    "-s", "val_images=100", "-s", "panel=2", "-s", "measure=24", "-s", "calibrate=1",
    "-s", "threads=1",
]  # fmt: skip


def test_stage_plan_and_budget_split():
    assert Hurricane(t=8)._plan(20) == [list(range(8, 20)), list(range(8))]
    assert Hurricane(t=0)._plan(20) == [list(range(20))]
    assert split_budget(201, 2) == [101, 100]
    with pytest.raises(HwnasError, match="at least one evaluation per stage"):
        split_budget(1, 2)
    with pytest.raises(HwnasError, match="t must be"):
        Hurricane(t=-1)


def test_convergence_rule():
    assert not converged([10.0], 1.0)
    assert not converged([10.0, 12.0], 1.0)
    assert not converged([10.0, 12.0, 12.5], 1.0)  # one flat chunk is not a plateau
    assert converged([10.0, 12.0, 12.5, 12.8], 1.0)  # two are
    assert converged([30.0, 29.0, 29.5], 1.0)
    assert not converged([30.0, 29.0, 31.2], 1.0)  # a dip, then a new best
    assert converged([40.0, 44.0, 43.0, 44.9], 1.0, patience=2)
    assert not converged([9.7, 11.7, 10.6, 10.9], 1.0, chance=10.0)  # a flat start is no plateau
    assert not converged([8.9, 10.9, 16.5, 16.9], 1.0, chance=10.0)  # a slow start goes on
    assert converged([9.7, 30.0, 30.2, 30.4], 1.0, chance=10.0)
    assert converged([9.7, 30.0, 30.2], 1.0, chance=10.0, patience=1)


class _OpIndexModel:
    """A layer model whose op j costs j + 1 ms in every layer (the first op is the fastest)."""

    def __init__(self, space):
        self.choices = [p.choices for p in space.positions]
        self.table = np.tile(np.arange(1.0, len(self.choices[0]) + 1), (len(self.choices), 1))
        self.measured = np.ones_like(self.table, dtype=bool)
        self.space = space

    def latencies(self, archs):
        return np.array(
            [self.table[range(len(a.choices)), self.space.indices(a)].sum() for a in archs]
        )


def test_each_stage_starts_from_a_feasible_architecture():
    from types import SimpleNamespace

    from hwnas.spaces.hurricane.space import HurricaneSpace

    space = HurricaneSpace("tiny")
    model = _OpIndexModel(space)
    heaviest = [p.choices[-1] for p in space.positions]
    n_ops = len(space.positions[0].choices)
    stage = SimpleNamespace(space=space, latency_limit_ms=20 * n_ops)
    assert [a.choices for a in stage_seeds(model, stage, heaviest)] == [tuple(heaviest)]
    stage.latency_limit_ms = 25.0  # the carried winner (a_win0's heavy ops) misses it
    carried, fastest = stage_seeds(model, stage, heaviest)
    assert carried.choices == tuple(heaviest)
    assert fastest.choices == tuple(p.choices[0] for p in space.positions)
    assert model.latencies([fastest])[0] == 20.0 <= stage.latency_limit_ms


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return str(tmp_path_factory.mktemp("hurricane") / "store.sqlite")


@pytest.mark.slow
def test_search_end_to_end_then_resume_after_a_kill(tmp_path, store):
    out = tmp_path / "run"
    args = [*QUICK, "--latency-ms", "1000", "--store", store, "--out", str(out)]
    first = subprocess.Popen(
        [sys.executable, "-m", "hwnas", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while not (out / "stage1.json").exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert (out / "stage1.json").exists()
    first.kill()  # interrupted during stage 2
    first.wait()
    stage1 = (out / "stage1.json").read_text()

    result = hwnas(*args, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (out / "stage1.json").read_text() == stage1  # resumed, not redone
    extra = report["extra"]
    s1, s2 = extra["stages"]
    assert s1["searched_layers"] == list(range(8, 20)) and s2["searched_layers"] == list(range(8))
    assert s1["winner"][:8] == extra["a_win0_used"][:8]
    assert s2["winner"][8:] == s1["winner"][8:]
    assert report["evaluations"] == 8 and s1["evaluations"] + s2["evaluations"] == 8
    near = extra["limit_calibration"]  # here every network is under the limit: the slowest 5
    assert len(set(near["archs"])) == 5 and all(ms > 0 for ms in near["measured_ms"])
    assert any(line.startswith("limit calibration: 5 networks") for line in report["summary"])
    final = extra["final"]
    assert final["arch"] == ",".join(s2["winner"])
    assert "measured end to end on onnxruntime" in final["latency_source"]
    assert final["latency_ms"] > 0 and 0 <= final["scratch"]["test_accuracy"] <= 100
    assert report["best"]["arch"] == final["arch"]
    candidates = final["candidates"]  # measured end to end; the most accurate one within the limit
    assert 1 <= len(candidates) <= 5 and all(c["measured_ms"] > 0 for c in candidates)
    assert final["chosen"]["arch"] == final["arch"] == candidates[0]["arch"]
    assert final["latency_ms"] == candidates[0]["measured_ms"]
    assert 0 < final["confirmed_latency_ms"] == candidates[0]["confirmed_ms"]  # measured twice
    assert report["latency_label"] == "predicted by the layer model (onnxruntime)"
    winner_line = next(line for line in report["summary"] if line.startswith("winner "))
    assert final["arch"] in winner_line and "[bold]" not in winner_line  # JSON: plain text
    host = extra["host"]
    assert host["torch_threads"] == 1 and host["device"] == "cpu" and host["wall_seconds"] > 0
    for name in ("result.json", "front.png", "winner.onnx", "space.json"):
        assert (out / name).exists(), name
    artifact = final["files"]["artifact"]
    assert artifact.endswith(".ort-optimized.onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(final["files"]["onnx"])
    assert session.get_inputs()[0].shape == [1, 1, 28, 28]

    again = hwnas(*args, "--json")  # everything is done: nothing trains or measures again
    assert again.returncode == 0, again.stderr
    repeat = json.loads(again.stdout)
    assert repeat["extra"]["final"]["arch"] == final["arch"]
    assert repeat["extra"]["target_measurements"] == 0


@pytest.mark.slow
def test_latency_limit_below_the_fastest_architecture(tmp_path, store):
    result = hwnas(*QUICK, "--latency-ms", "0.0001", "--store", store, "--out", str(tmp_path))
    assert_one_line_error(result, "below the fastest architecture", "raise --latency-ms")


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--latency-ms", "1", "--data-dir", "/nonexistent"], ["/nonexistent does not exist"]),
        ([], ["needs a latency limit"]),
        (["--latency-ms", "1", "--target", "nb201/raspi4"], ["no shared architectures"]),
        (["--latency-ms", "1", "-s", "t=-2"], ["t must be"]),
    ],
)
def test_bad_input_is_one_line(tmp_path, store, extra, fragments):
    result = hwnas(*QUICK, *extra, "--store", store, "--out", str(tmp_path))
    assert_one_line_error(result, *fragments)
