"""Pareto tools: dominance, non-dominated sorting, exact 2-D hypervolume, true fronts, regret.

Conventions: array functions take points whose columns are all *minimised*
(pass ``-accuracy`` or an error to minimise it). :func:`pareto_front` works on
:class:`~hwnas.problem.Evaluation` s: minimise ``latency_ms``, maximise
``accuracy``.

The arena protocol (benchmarks/PROTOCOLS.md) is implemented by :class:`Normaliser`:
latency scaled to [0, 1] by the space's min and max on the device, error =
100 - accuracy scaled so that the best error in the space maps to 0 and the
median error to 1 (clipped to 1), reference point (1, 1).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hwnas.problem import Evaluation

# ---------------------------------------------------------------------------
# dominance and sorting
# ---------------------------------------------------------------------------


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether ``a`` dominates ``b`` (all objectives minimised): no worse anywhere, better once."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(a <= b) and np.any(a < b))


def _as_points(points) -> np.ndarray:
    points = np.asarray(points, dtype=float)
    if points.ndim != 2:
        raise ValueError(f"points must be a 2-D array (n x objectives), got shape {points.shape}")
    return points


def non_dominated_sort(points) -> np.ndarray:
    """Front rank of every point (0 = non-dominated), all objectives minimised.

    Two objectives: O(n log n) (sort, then place each point in the first front
    whose best second objective it does not reach). Identical points share a
    rank. More objectives: vectorised pairwise comparisons, front by front.
    """
    points = _as_points(points)
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    ranks_unique = _sort_2d(unique) if unique.shape[1] == 2 else _sort_nd(unique)
    return ranks_unique[inverse]


def _sort_2d(unique: np.ndarray) -> np.ndarray:
    # np.unique sorted the rows lexicographically: by x, then y. Among distinct
    # points, q precedes p and q.y <= p.y  <=>  q dominates p.
    ranks = np.empty(len(unique), dtype=np.int64)
    front_min_y: list[float] = []  # non-decreasing over fronts
    for i, y in enumerate(unique[:, 1].tolist()):
        k = bisect.bisect_right(front_min_y, y)
        if k == len(front_min_y):
            front_min_y.append(y)
        else:
            front_min_y[k] = y
        ranks[i] = k
    return ranks


def _sort_nd(unique: np.ndarray, chunk: int = 2048) -> np.ndarray:
    ranks = np.full(len(unique), -1, dtype=np.int64)
    remaining = np.arange(len(unique))
    rank = 0
    while len(remaining):
        pts = unique[remaining]
        dominated = np.zeros(len(pts), dtype=bool)
        for start in range(0, len(pts), chunk):
            block = pts[start : start + chunk]
            le = np.all(pts[:, None, :] <= block[None, :, :], axis=2)
            lt = np.any(pts[:, None, :] < block[None, :, :], axis=2)
            dominated[start : start + chunk] = np.any(le & lt, axis=0)
        ranks[remaining[~dominated]] = rank
        remaining = remaining[dominated]
        rank += 1
    return ranks


def non_dominated_mask(points) -> np.ndarray:
    """Boolean mask of the non-dominated points (all objectives minimised)."""
    return non_dominated_sort(points) == 0


def pareto_front(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """Non-dominated evaluations in (min ``latency_ms``, max ``accuracy``), sorted by latency.

    Repeats of one architecture appear once (the first evaluation); distinct
    architectures with identical objectives are all kept.
    """
    seen: dict = {}
    for evaluation in evaluations:
        seen.setdefault(evaluation.arch, evaluation)
    unique = list(seen.values())
    if not unique:
        return []
    points = np.array([(e.latency_ms, -e.accuracy) for e in unique], dtype=float)
    mask = non_dominated_mask(points)
    front = [e for e, keep in zip(unique, mask, strict=True) if keep]
    return sorted(front, key=lambda e: (e.latency_ms, -e.accuracy, e.index))


# ---------------------------------------------------------------------------
# hypervolume
# ---------------------------------------------------------------------------


def hypervolume_2d(points, reference: Sequence[float]) -> float:
    """Exact hypervolume dominated by ``points`` (both minimised) up to ``reference``.

    Points not strictly better than the reference in both objectives add
    nothing; dominated points and duplicates are handled.
    """
    points = _as_points(points) if len(points) else np.zeros((0, 2))
    if points.shape[1] != 2:
        raise ValueError("hypervolume_2d needs 2 objectives")
    rx, ry = float(reference[0]), float(reference[1])
    inside = points[(points[:, 0] < rx) & (points[:, 1] < ry)]
    if not len(inside):
        return 0.0
    order = np.lexsort((inside[:, 1], inside[:, 0]))
    volume, best_y = 0.0, ry
    xs, ys = inside[order, 0], inside[order, 1]
    # sweep left to right; each new record-low y adds a slab up to the next x
    for i in range(len(xs)):
        if ys[i] < best_y:
            volume += (rx - xs[i]) * (best_y - ys[i])
            best_y = ys[i]
    return float(volume)


# ---------------------------------------------------------------------------
# the arena's normalisation, fronts of full tables, regret
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Normaliser:
    """Maps (latency ms, accuracy %) to the protocol's minimised unit square.

    ``lat_min``/``lat_max``: the space's latency range on the device;
    ``err_best``/``err_median``: best and median error (100 - accuracy) over the
    space. Normalised error is clipped to at most 1; the reference point is
    ``(1, 1)``.
    """

    lat_min: float
    lat_max: float
    err_best: float
    err_median: float
    reference: tuple[float, float] = (1.0, 1.0)

    @classmethod
    def from_table(cls, latencies, accuracies) -> Normaliser:
        """From the full table: latency range and best / median error of ``accuracies``."""
        lat, err = np.asarray(latencies, float), 100.0 - np.asarray(accuracies, float)
        return cls(float(lat.min()), float(lat.max()), float(err.min()), float(np.median(err)))

    def points(self, latencies, accuracies) -> np.ndarray:
        """``n x 2`` normalised (latency, error) points, both minimised."""
        lat = (np.asarray(latencies, float) - self.lat_min) / (self.lat_max - self.lat_min)
        err = (100.0 - np.asarray(accuracies, float) - self.err_best) / (
            self.err_median - self.err_best
        )
        return np.column_stack([lat, np.minimum(err, 1.0)])

    def hypervolume(self, latencies, accuracies) -> float:
        """Hypervolume of the normalised points with the reference point."""
        if len(np.atleast_1d(latencies)) == 0:
            return 0.0
        return hypervolume_2d(self.points(latencies, accuracies), self.reference)


def true_front(latencies, accuracies) -> np.ndarray:
    """Indices of the Pareto-optimal rows of a table (min latency, max accuracy), by latency."""
    lat, acc = np.asarray(latencies, float), np.asarray(accuracies, float)
    idx = np.flatnonzero(non_dominated_mask(np.column_stack([lat, -acc])))
    return idx[np.lexsort((-acc[idx], lat[idx]))]


def latency_budgets(latencies, quantiles=(0.2, 0.35, 0.5, 0.65, 0.8)) -> np.ndarray:
    """Latency budgets at ``quantiles`` of the device's latency over the space."""
    return np.quantile(np.asarray(latencies, float), quantiles)


def best_under_budget(latencies, accuracies, budget_ms: float) -> float:
    """Highest accuracy with latency <= ``budget_ms`` (``nan`` when nothing is feasible)."""
    lat, acc = np.asarray(latencies, float), np.asarray(accuracies, float)
    feasible = lat <= budget_ms
    return float(acc[feasible].max()) if feasible.any() else float("nan")


def pick_under_budget(latencies, search_accuracies, budget_ms: float) -> int | None:
    """Index of the highest search-visible accuracy with latency <= budget (first on ties)."""
    lat, acc = np.asarray(latencies, float), np.asarray(search_accuracies, float)
    feasible = np.flatnonzero(lat <= budget_ms)
    if not len(feasible):
        return None
    return int(feasible[np.argmax(acc[feasible])])


def regret(
    latencies, search_accuracies, report_accuracies, budget_ms: float, true_best: float
) -> float:
    """``true_best`` minus the report accuracy of the pick under ``budget_ms``.

    The pick is the evaluated architecture with the highest *search-visible*
    accuracy among those with latency <= budget; ``nan`` when none was feasible.
    """
    pick = pick_under_budget(latencies, search_accuracies, budget_ms)
    if pick is None:
        return float("nan")
    return float(true_best - np.asarray(report_accuracies, float)[pick])
