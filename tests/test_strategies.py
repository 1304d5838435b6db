"""Baseline strategies: budgets, determinism, any space, and sanity on NB201 ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from hwnas.accuracy import AccuracySource
from hwnas.errors import HwnasError
from hwnas.latency import Latency, LatencyModel
from hwnas.manager import get_plugin_manager
from hwnas.problem import Problem

STRATEGIES = ("random", "evolution", "nsga2")


class ToyLatency(LatencyModel):
    """Latency = weighted sum of choice indices (any space)."""

    def __init__(self, space):
        self.space = space.name
        self._space = space

    def latency(self, arch):
        return Latency(1.0 + float(self._space.indices(arch).sum()), "predicted")


class ToyAccuracy(AccuracySource):
    """Accuracy grows with choice indices, with diminishing returns."""

    def __init__(self, space):
        self.space = space.name
        self._space = space

    def accuracy(self, arch):
        return 50.0 + 10.0 * float(np.sqrt(self._space.indices(arch).sum()))


@pytest.fixture(scope="module")
def pm():
    return get_plugin_manager()


@pytest.fixture(scope="module")
def truth():
    from hwnas.arena import ground_truth

    try:
        return ground_truth("nb201", "raspi4")
    except HwnasError as exc:  # pragma: no cover
        pytest.skip(str(exc))


def toy_problem(pm, space_name: str, budget: int, seed: int, limit=None) -> Problem:
    space = pm.create("space", space_name)
    return Problem(
        space, ToyLatency(space), ToyAccuracy(space), budget, seed, latency_limit_ms=limit
    )


def test_registered_through_the_hooks(pm):
    infos = {i.name: i for i in pm.infos("strategy")}
    assert set(STRATEGIES) <= set(infos)
    assert infos["nsga2"].spec.extra == "optuna" and infos["nsga2"].spec.requires == ("optuna",)
    assert all(infos[n].package == "hwnas" and infos[n].available for n in STRATEGIES)


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("budget", [1, 7, 60])
def test_budget_is_respected_exactly(pm, name, budget):
    problem = toy_problem(pm, "fbnet", budget, seed=0)
    result = pm.create("strategy", name).search(problem)
    assert result.evaluations == problem.evaluations == budget
    assert [e.index for e in result.history] == list(range(budget))
    assert result.front and result.best is not None


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("space", ["nb201", "ofa", "hurricane"])
def test_deterministic_per_seed_on_any_space(pm, name, space):
    def run(seed):
        problem = toy_problem(pm, space, 70, seed)
        return [e.arch for e in pm.create("strategy", name).search(problem).history]

    first = run(3)
    assert first == run(3)
    assert first != run(4)


def test_evolution_mutates_one_position(pm):
    from hwnas.plugins.evolution import mutate

    space = pm.create("space", "ofa")
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = space.sample(rng)
        child = mutate(space, arch, rng)
        assert sum(a != b for a, b in zip(arch.choices, child.choices, strict=True)) == 1
        space.architecture(child.choices)  # valid


@pytest.mark.parametrize("name, budget, floor", [("random", 100, 0.6), ("evolution", 300, 0.8),
                                                 ("nsga2", 300, 0.8)])  # fmt: skip
def test_beats_sanity_floor_on_nb201(pm, truth, name, budget, floor):
    from hwnas.arena import score

    ratios = []
    for seed in range(2):
        problem = Problem(truth.space, truth.latency, truth.accuracy, budget, seed)
        ratios.append(score(pm.create("strategy", name).search(problem), truth)["hv_ratio"])
    assert np.mean(ratios) > floor, ratios


@pytest.mark.parametrize("name", ["evolution", "nsga2"])
def test_constraint_aware_search_finds_a_good_feasible_architecture(pm, truth, name):
    limit = float(truth.budgets_ms[1])
    true_best = float(truth.true_best[1])
    regrets = []
    for seed in range(2):
        problem = Problem(
            truth.space, truth.latency, truth.accuracy, 300, seed, latency_limit_ms=limit
        )
        result = pm.create("strategy", name).search(problem)
        assert result.best is not None and result.best.latency_ms <= limit
        feasible = np.mean([e.latency_ms <= limit for e in result.history[150:]])
        assert feasible > 0.5  # the search concentrates on the feasible region
        row = truth.rows([result.best.arch])[0]
        regrets.append(true_best - truth.report_acc[row])
    assert np.mean(regrets) < 1.5, regrets


def test_strategy_options_are_validated(pm):
    with pytest.raises(HwnasError, match="bad options"):
        pm.create("strategy", "evolution", colour="red")
    with pytest.raises(HwnasError, match="population"):
        pm.create("strategy", "evolution", population=0)
