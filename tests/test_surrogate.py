"""The ``surrogate`` strategy: free latencies, its hypervolume gain, and that the model helps.

The contract itself runs in ``tests/test_strategies.py`` (every registered
strategy); here: what ``surrogate`` promises beyond it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwnas.accuracy import AccuracySource, default_accuracy
from hwnas.errors import HwnasError
from hwnas.latency import Latency, LatencyModel
from hwnas.pareto import hypervolume_2d
from hwnas.plugins.surrogate import hv_improvement, one_hot
from hwnas.problem import Problem


class MeasuredToy(LatencyModel):
    """Latency = 1 + sum of choice indices, as if measured (not free)."""

    def __init__(self, space):
        self.space, self._space = space.name, space

    def latency(self, arch):
        return Latency(1.0 + float(self._space.indices(arch).sum()), "measured")


class ToyAccuracy(AccuracySource):
    """Accuracy grows with the choice indices, with diminishing returns."""

    def __init__(self, space):
        self.space, self._space = space.name, space

    def accuracy(self, arch):
        return 50.0 + 10.0 * float(np.sqrt(self._space.indices(arch).sum()))


def test_latency_of_is_free_on_a_recorded_device(truth):
    problem = Problem(truth.space, truth.latency, truth.accuracy, budget=5)
    archs = list(truth.archs[:100])
    assert problem.latency_is_free
    assert np.allclose(problem.latency_of(archs), truth.lat[:100])
    assert problem.evaluations == 0 and problem.remaining == 5  # nothing spent


def test_latency_of_refuses_a_measuring_model(pm):
    space = pm.create("space", "nb201")
    problem = Problem(space, MeasuredToy(space), ToyAccuracy(space), budget=5)
    assert not problem.latency_is_free
    with pytest.raises(HwnasError, match="not free"):
        problem.latency_of([space.sample(problem.rng)])


points = st.lists(st.tuples(st.floats(0.0, 10.0), st.floats(0.0, 100.0)), min_size=0, max_size=12)


@settings(max_examples=200, deadline=None)
@given(front=points, new=points.filter(len))
def test_hv_improvement_is_the_exact_gain(front, new):
    """Each candidate's gain equals HV(front + it) - HV(front) (``hypervolume_2d``)."""
    front = np.array(front, dtype=float).reshape(-1, 2)
    new = np.array(new, dtype=float)
    ref = (10.0, 20.0)
    as_min = (ref[0], -ref[1])

    def hv(p):
        return hypervolume_2d(np.column_stack([p[:, 0], -p[:, 1]]), as_min)

    gains = hv_improvement(new[:, 0], new[:, 1], front, ref)
    for point, gain in zip(new, gains, strict=True):
        expected = hv(np.vstack([front, point])) - hv(front)
        assert gain == pytest.approx(expected, rel=1e-9, abs=1e-7)


def test_one_hot_matches_the_base_encoding(pm):
    from hwnas.space import SearchSpace

    space = pm.create("space", "ofa")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(20)]
    idx = np.array([space.indices(a) for a in archs])
    assert np.array_equal(
        one_hot(space, idx), np.array([SearchSpace.encode(space, a) for a in archs])
    )


def test_beats_random_search_on_nb201(pm, truth):
    """100 evaluations on raspi4: the surrogate's HV ratio beats random search's, seeds 0 and 1."""
    from hwnas.arena import score

    def hv(name, seed):
        problem = Problem(truth.space, truth.latency, truth.accuracy, 100, seed)
        result = pm.create("strategy", name).search(problem)
        return score(result, truth)

    runs = [hv("surrogate", seed) for seed in range(2)]
    random = np.mean([hv("random", seed)["hv_ratio"] for seed in range(2)])
    surrogate = np.mean([r["hv_ratio"] for r in runs])
    assert all(r["evaluations"] == r["unique"] == 100 for r in runs)  # nothing evaluated twice
    assert surrogate > random + 0.05, (surrogate, random)
    assert surrogate > 0.85


def test_latency_limit_keeps_every_evaluation_feasible(pm, truth):
    limit = float(truth.budgets_ms[1])
    problem = Problem(truth.space, truth.latency, truth.accuracy, 60, 0, latency_limit_ms=limit)
    result = pm.create("strategy", "surrogate").search(problem)
    assert all(e.latency_ms <= limit for e in result.history)
    assert result.best is not None and result.best.accuracy >= np.quantile(
        truth.search_acc[truth.lat <= limit], 0.95
    )


def test_runs_on_ofa_with_its_accuracy_predictor(pm):
    """A space too large to enumerate: sampled and mutated pools, predicted GPU latency."""
    space = pm.create("space", "ofa")
    latency = pm.create("target", "ofa/titan_rtx_1", predict_missing=True)
    problem = Problem(space, latency, default_accuracy("ofa", pm), budget=40, seed=0)
    result = pm.create("strategy", "surrogate", init=10, batch=10, pool=300).search(problem)
    assert result.evaluations == 40 == len({e.arch for e in result.history})
    for e in result.history:
        space.architecture(e.arch.choices)  # valid
    first = max(e.accuracy for e in result.history[:10])
    assert max(e.accuracy for e in result.history[10:]) > first  # the model found better ones


@pytest.mark.parametrize("space_name", ["fbnet", "hurricane"])
def test_models_latency_when_it_is_not_free(pm, space_name):
    """Latency that costs evaluations is modelled too; the budget is spent exactly, no repeats."""
    space = pm.create("space", space_name)
    problem = Problem(space, MeasuredToy(space), ToyAccuracy(space), budget=45, seed=2)
    strategy = pm.create("strategy", "surrogate", init=15, pool=200)
    result = strategy.search(problem)
    assert result.evaluations == 45 == len({e.arch for e in result.history})
    assert result.front and all(e.latency_source == "measured" for e in result.history)
    assert "latency modelled" in strategy.summary(result)[0]


def test_bad_options_are_one_line_errors(pm):
    with pytest.raises(HwnasError, match="init >= 2"):
        pm.create("strategy", "surrogate", init=1)
    with pytest.raises(HwnasError, match="explore"):
        pm.create("strategy", "surrogate", explore=1.5)
