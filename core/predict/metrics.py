"""Accuracy figures of latency predictors (benchmarks/PROTOCOLS.md, live targets)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr


def within(pred: Sequence[float], true: Sequence[float], tolerance: float) -> float:
    """Share of predictions with ``|pred / true - 1| <= tolerance``."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    if len(true) == 0:
        return float("nan")
    return float(np.mean(np.abs(pred / true - 1.0) <= tolerance + 1e-12))


def rmse_log(pred: Sequence[float], true: Sequence[float]) -> float:
    """Root mean square error of natural-log latency."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    if len(true) == 0:
        return float("nan")
    return float(np.sqrt(np.mean((np.log(pred) - np.log(true)) ** 2)))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (NaN for fewer than 3 points or constant input)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def accuracy_report(pred: Sequence[float], true: Sequence[float]) -> dict[str, float]:
    """``within_10``, ``within_5``, ``rmse_log``, ``spearman`` and ``n``."""
    return {
        "n": len(true),
        "within_10": within(pred, true, 0.10),
        "within_5": within(pred, true, 0.05),
        "rmse_log": rmse_log(pred, true),
        "spearman": spearman(pred, true),
    }
