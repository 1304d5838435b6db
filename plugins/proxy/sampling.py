"""Which k architectures to measure on the target.

``spread``: k architectures at evenly spaced
quantiles of the proxy's latency over a candidate pool: the pool sorted by
proxy latency is cut into k equal slices and one architecture is drawn from
the central half of each slice (near the quantile (i + 0.5) / k). The samples
cover fast and slow architectures alike without the extreme tails (on NB201
the fastest cells are degenerate ones, such as all-``none``, whose latency is
100x below the rest and which make poor anchors for a fit). On NB201 with
HELP's 13 proxies this gave a 10-sample adapted SRCC of 0.966 against 0.958
for a draw from each whole slice (mean of HELP's 6 devices, seeds 0..4; a
uniform draw from the whole pool: 0.966).

``uniform``: k distinct architectures drawn uniformly from the pool (the
few-shot benchmark protocol of benchmarks/PROTOCOLS.md, which draws
``rng.choice(pool, k, replace=False)``).

With several proxies, ``spread`` sorts by the mean of the proxies' log
latencies standardised per proxy.

:func:`sampling_rule` (the strategy's ``sampling="auto"``) picks, for k
samples, the rule with the higher leave-one-device-out mean over NB201's and
FBNet's 27 settings at the nearest benchmarked N (part E of
``benchmarks/proxy_transfer.py``): uniform at 5 (0.919 vs 0.909, mean of the
two spaces), spread at 10 (0.951 vs 0.950), uniform at 20 (0.959 vs 0.956).
"""

from __future__ import annotations

import itertools

import numpy as np

from hwnas.errors import HwnasError

SAMPLING = ("spread", "uniform")


def proxy_score(proxy_ms: np.ndarray) -> np.ndarray:
    """One sort key per architecture from (n x proxies) latencies (standardised mean log)."""
    proxy_ms = np.asarray(proxy_ms, dtype=float)
    if proxy_ms.ndim == 1:
        return proxy_ms
    logs = np.log(np.maximum(proxy_ms, 1e-12))
    sd = logs.std(axis=0)
    sd[sd == 0] = 1.0
    return ((logs - logs.mean(axis=0)) / sd).mean(axis=1)


def select_samples(
    proxy_ms: np.ndarray, k: int, rng: np.random.Generator, mode: str = "spread"
) -> np.ndarray:
    """Indices of ``k`` distinct pool rows to measure on the target."""
    n = len(proxy_ms)
    if mode not in SAMPLING:
        raise HwnasError(f"unknown sampling {mode!r}", f"use one of: {', '.join(SAMPLING)}")
    if not 1 <= k <= n:
        raise HwnasError(f"cannot pick {k} samples from a pool of {n}", f"use 1..{n} samples")
    if mode == "uniform":
        return np.asarray(rng.choice(n, size=k, replace=False), dtype=np.int64)
    order = np.argsort(proxy_score(proxy_ms), kind="stable")
    edges = np.linspace(0, n, k + 1).round().astype(int)
    picks = []
    for lo, hi in itertools.pairwise(edges.tolist()):
        quarter = (hi - lo) // 4
        a, b = lo + quarter, max(hi - quarter, lo + quarter + 1)
        picks.append(order[a + int(rng.integers(b - a))])
    return np.asarray(picks, dtype=np.int64)


#: The rule with the higher leave-one-device-out mean SRCC (NB201 and FBNet, 27 settings each,
#: seeds 0..4; benchmarks/proxy_transfer.py part E) at each benchmarked N.
RULE_BY_N = {5: "uniform", 10: "spread", 20: "uniform"}


def sampling_rule(k: int) -> str:
    """The sampling rule for ``k`` samples: :data:`RULE_BY_N` at the nearest benchmarked N."""
    nearest = min(RULE_BY_N, key=lambda n: (abs(n - k), n))
    return RULE_BY_N[nearest]
