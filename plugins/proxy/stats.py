"""Spearman rank correlation (SRCC) with a confidence statement.

With k target samples the SRCC between proxy and target is only an estimate.
:func:`estimate_srcc` reports it with two intervals:

- **Fisher z**: ``atanh(r)`` is roughly normal with standard error
  ``sqrt(1.06 / (k - 3))`` for Spearman's rho (Fieller, Hartley and Pearson,
  Biometrika 1957); the interval is mapped back with ``tanh``. The same
  approximation gives the probability that the true SRCC clears a threshold
  (a flat-prior reading of the interval, not a frequentist p-value).
- **bootstrap**: percentile interval over resampled (proxy, target) pairs.

Both are wide at k = 10 (an estimate of 0.95 has a 95 % Fisher interval of
roughly 0.80-0.99), which is why the strategy decides on the point estimate by
default and reports the interval beside it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm, rankdata, spearmanr

from hwnas.errors import HwnasError

FISHER_SPEARMAN_VARIANCE = 1.06  # Fieller, Hartley & Pearson (1957)


def spearman(a, b) -> float:
    """Spearman SRCC of two vectors (``nan`` when one is constant)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) != len(b):
        raise ValueError(f"spearman: lengths differ ({len(a)} vs {len(b)})")
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    ra, rb = rankdata(a), rankdata(b)
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass(frozen=True)
class SrccEstimate:
    """An SRCC estimated from ``n`` paired samples, with its intervals."""

    srcc: float
    n: int
    confidence: float
    fisher_ci: tuple[float, float]
    bootstrap_ci: tuple[float, float]
    threshold: float | None = None
    p_above_threshold: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (NaN stays NaN; the CLI turns it into null)."""
        out = asdict(self)
        out["fisher_ci"] = list(self.fisher_ci)
        out["bootstrap_ci"] = list(self.bootstrap_ci)
        out["method"] = (
            f"Spearman on {self.n} paired samples; Fisher z interval with "
            f"var(atanh r) = {FISHER_SPEARMAN_VARIANCE}/(n-3); percentile bootstrap"
        )
        return out

    def statement(self) -> str:
        """One readable line, e.g. ``SRCC 0.93 (95% CI 0.74-0.98 Fisher z; ...)``."""
        lo, hi = self.fisher_ci
        blo, bhi = self.bootstrap_ci
        text = (
            f"SRCC {self.srcc:.3f} from {self.n} samples "
            f"({self.confidence:.0%} CI {lo:.2f}-{hi:.2f} Fisher z, "
            f"{blo:.2f}-{bhi:.2f} bootstrap)"
        )
        if self.threshold is not None and self.p_above_threshold is not None:
            text += f"; P(SRCC >= {self.threshold:g}) ~ {self.p_above_threshold:.2f}"
        return text


def fisher_interval(r: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Fisher z interval of a Spearman SRCC ``r`` from ``n`` pairs (``(-1, 1)`` if n <= 3)."""
    if n <= 3 or not math.isfinite(r):
        return (-1.0, 1.0)
    z = math.atanh(min(max(r, -0.9999), 0.9999))
    half = norm.ppf(0.5 + confidence / 2) * math.sqrt(FISHER_SPEARMAN_VARIANCE / (n - 3))
    return (min(math.tanh(z - half), r), max(math.tanh(z + half), r))


def probability_above(r: float, n: int, threshold: float) -> float:
    """Approximate probability that the true SRCC is at least ``threshold`` (Fisher z)."""
    if n <= 3 or not math.isfinite(r):
        return float("nan")
    z = math.atanh(min(max(r, -0.9999), 0.9999))
    zt = math.atanh(min(max(threshold, -0.9999), 0.9999))
    return float(1.0 - norm.cdf((zt - z) / math.sqrt(FISHER_SPEARMAN_VARIANCE / (n - 3))))


def bootstrap_interval(
    a, b, confidence: float = 0.95, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the SRCC of paired samples (degenerate draws skipped)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = len(a)
    if n < 3:
        return (-1.0, 1.0)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    values = []
    for rows in draws:
        x, y = a[rows], b[rows]
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        values.append(spearmanr(x, y).statistic)
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return (-1.0, 1.0)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return (float(lo), float(hi))


def estimate_srcc(
    proxy,
    target,
    threshold: float | None = None,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> SrccEstimate:
    """SRCC of paired proxy/target latencies with Fisher z and bootstrap intervals."""
    proxy, target = np.asarray(proxy, dtype=float), np.asarray(target, dtype=float)
    if len(proxy) != len(target):
        raise HwnasError(f"SRCC needs paired samples, got {len(proxy)} and {len(target)}")
    if not 0 < confidence < 1:
        raise HwnasError(f"confidence must be in (0, 1), got {confidence}", "e.g. 0.95")
    r = spearman(proxy, target)
    n = len(proxy)
    return SrccEstimate(
        srcc=r,
        n=n,
        confidence=confidence,
        fisher_ci=fisher_interval(r, n, confidence),
        bootstrap_ci=bootstrap_interval(proxy, target, confidence, resamples, seed),
        threshold=threshold,
        p_above_threshold=None if threshold is None else probability_above(r, n, threshold),
    )
