"""Pareto tools: dominance, sorting, exact hypervolume, true fronts, regret."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwnas.pareto import (
    Normaliser,
    dominates,
    hypervolume_2d,
    non_dominated_mask,
    non_dominated_sort,
    pareto_front,
    regret,
    true_front,
)
from hwnas.problem import Evaluation
from hwnas.space import Architecture

# The published NB201 / CIFAR-10 normalisation anchors (benchmarks/PROTOCOLS.md).
NB201_C10_ERR_BEST = 5.627
NB201_C10_ERR_MEDIAN = 9.255


def reference_sort(points: np.ndarray) -> np.ndarray:
    """O(n^2) per front: peel off the non-dominated points."""
    ranks = np.full(len(points), -1)
    remaining = set(range(len(points)))
    rank = 0
    while remaining:
        front = {
            i for i in remaining if not any(dominates(points[j], points[i]) for j in remaining)
        }
        for i in front:
            ranks[i] = rank
        remaining -= front
        rank += 1
    return ranks


def brute_force_hv(points: np.ndarray, ref) -> float:
    """Area of the union of boxes [p, ref], summed over the grid the coordinates span."""
    pts = [p for p in points if p[0] < ref[0] and p[1] < ref[1]]
    xs = sorted({p[0] for p in pts} | {ref[0]})
    ys = sorted({p[1] for p in pts} | {ref[1]})
    area = 0.0
    for (x0, x1), (y0, y1) in itertools.product(itertools.pairwise(xs), itertools.pairwise(ys)):
        if any(p[0] <= x0 and p[1] <= y0 for p in pts):
            area += (x1 - x0) * (y1 - y0)
    return area


def test_dominates():
    assert dominates((1, 1), (2, 2)) and dominates((1, 2), (1, 3))
    assert not dominates((1, 1), (1, 1)) and not dominates((1, 3), (2, 2))


@pytest.mark.parametrize("dims, integer", [(2, False), (2, True), (3, True), (3, False)])
def test_non_dominated_sort_matches_reference(dims, integer):
    rng = np.random.default_rng(dims + 10 * integer)
    for _ in range(5):
        points = rng.integers(0, 6, size=(120, dims)) if integer else rng.random((150, dims))
        points = np.asarray(points, dtype=float)
        np.testing.assert_array_equal(non_dominated_sort(points), reference_sort(points))


def test_non_dominated_sort_is_fast_on_15625_points():
    points = np.random.default_rng(0).random((15_625, 2))
    ranks = non_dominated_sort(points)
    assert ranks.min() == 0 and ranks.max() > 10
    assert len(non_dominated_sort(np.zeros((0, 2)))) == 0


def test_hypervolume_hand_example():
    points = np.array([(0.2, 0.6), (0.4, 0.3), (0.7, 0.1)])
    # 0.8*0.4 + 0.6*0.3 + 0.3*0.2
    assert hypervolume_2d(points, (1, 1)) == pytest.approx(0.56)
    # dominated points, duplicates and points beyond the reference change nothing
    extra = np.vstack([points, [(0.5, 0.7), (0.4, 0.3), (1.2, 0.0), (0.0, 1.0)]])
    assert hypervolume_2d(extra, (1, 1)) == pytest.approx(0.56)
    assert hypervolume_2d(np.zeros((0, 2)), (1, 1)) == 0.0
    assert hypervolume_2d(np.array([(0.0, 0.0)]), (2, 3)) == pytest.approx(6.0)


def test_hypervolume_matches_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(20):
        points = rng.random((rng.integers(1, 40), 2)) * 1.2
        ref = (1.0, 1.1)
        assert hypervolume_2d(points, ref) == pytest.approx(brute_force_hv(points, ref), abs=1e-12)


def evaluation(choice: str, latency: float, accuracy: float, index: int) -> Evaluation:
    return Evaluation(Architecture("toy", (choice,)), latency, "recorded", accuracy, index)


def test_pareto_front_of_evaluations():
    history = [
        evaluation("a", 5.0, 90.0, 0),
        evaluation("b", 3.0, 85.0, 1),
        evaluation("c", 4.0, 84.0, 2),  # dominated by b
        evaluation("d", 9.0, 93.0, 3),
        evaluation("a", 5.0, 90.0, 4),  # repeat
        evaluation("e", 9.0, 93.0, 5),  # same objectives as d, another arch
    ]
    front = pareto_front(history)
    assert [e.arch.choices[0] for e in front] == ["b", "a", "d", "e"]
    assert pareto_front([]) == []


def test_normaliser_follows_the_protocol():
    norm = Normaliser(1.0, 11.0, NB201_C10_ERR_BEST, NB201_C10_ERR_MEDIAN)
    points = norm.points([1.0, 6.0, 11.0], [100 - 5.627, 100 - 9.255, 50.0])
    np.testing.assert_allclose(points, [[0, 0], [0.5, 1.0], [1.0, 1.0]], atol=1e-12)
    assert norm.hypervolume([1.0], [100 - 5.627]) == pytest.approx(1.0)


def test_true_front_and_regret():
    lat = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    acc = np.array([80.0, 85.0, 84.0, 90.0, 89.0])
    assert true_front(lat, acc).tolist() == [0, 1, 3]
    assert non_dominated_mask(np.column_stack([lat, -acc])).tolist() == [1, 1, 0, 1, 0]
    # pick = best *search* accuracy under the budget; regret in *report* accuracy
    search = np.array([70.0, 72.0, 75.0, 90.0, 91.0])
    assert regret(lat, search, acc, 2.5, true_best=85.0) == pytest.approx(1.0)  # picks idx 2
    assert np.isnan(regret(lat, search, acc, 0.5, true_best=80.0))


def test_protocol_constants_match_the_nb201_table():
    from hwnas.targets.recorded.tables import nb201_table

    table = nb201_table()
    err = 100 - table.columns["c10_test_acc"]
    assert err.min() == pytest.approx(NB201_C10_ERR_BEST, abs=1e-3)
    assert np.median(err) == pytest.approx(NB201_C10_ERR_MEDIAN, abs=1e-3)


def test_true_front_of_nb201_scores_hv_ratio_one():
    from hwnas.arena import ground_truth

    truth = ground_truth("nb201", "raspi4")
    assert truth.hypervolume(truth.true_front) / truth.true_hv == pytest.approx(1.0)
    everything = np.arange(len(truth.lat))
    assert truth.hypervolume(everything) == pytest.approx(truth.true_hv)
    assert 0.5 < truth.true_hv < 1.0
    assert len(truth.true_front) < 200
