"""Which k architectures to measure on the target.

``spread``: k architectures spread over the proxies' latency range. Every
pool architecture gets one score, its position along the first principal
component of the proxies' standardised log latencies (one proxy: its log
latency); 1-D k-means (k-means++ start, seeded by the caller's generator)
cuts the scores into k groups, and the architecture nearest each group's
centre is measured. Unlike equal-count quantile slices, the centres follow
the spread of the values, so the fast and slow ends are sampled too, which
is what a linear fit's slope needs. Leave-one-device-out mean SRCC
(``benchmarks/proxy_transfer.py`` part E, seeds 0-4) against the previous
rule (one draw from the central half of each of k equal-count slices of the
mean standardised log latency): NB201 0.943 / 0.970 / 0.974 vs
0.947 / 0.969 / 0.973 and FBNet 0.895 / 0.935 / 0.944 vs
0.871 / 0.933 / 0.938 at N = 5 / 10 / 20.

``uniform``: k distinct architectures drawn uniformly from the pool (the
few-shot benchmark protocol of benchmarks/PROTOCOLS.md, which draws
``rng.choice(pool, k, replace=False)``).

:func:`sampling_rule` (the strategy's ``sampling="auto"``) picks, for k
samples, the rule with the higher leave-one-device-out mean over NB201's and
FBNet's 27 settings at the nearest benchmarked N (part E of
``benchmarks/proxy_transfer.py``, mean of the two spaces): uniform at 5
(0.91886 vs 0.91891, a tie kept for the simpler rule), spread at 10
(0.9527 vs 0.9495), uniform at 20 (0.9597 vs 0.9590; NB201 alone would
pick spread, 0.975 vs 0.973, FBNet uniform, 0.946 vs 0.943).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.cluster.vq import kmeans2

from hwnas.errors import HwnasError
from hwnas.plugins.proxy.fewshot import Components

SAMPLING = ("spread", "uniform")


def proxy_score(proxy_ms: np.ndarray) -> np.ndarray:
    """One score per architecture: position on the proxies' first principal component.

    ``proxy_ms``: (n,) or (n x proxies) latencies. One proxy: its log latency.
    Several: the first principal component of the standardised log latencies,
    signed so that slower architectures score higher.
    """
    ms = np.asarray(proxy_ms, dtype=float)
    if ms.ndim == 1 or ms.shape[1] == 1:
        return np.log(np.maximum(ms.reshape(len(ms)), 1e-12))
    components = Components.of(ms, 1)
    sign = 1.0 if components.basis.sum() >= 0 else -1.0
    return sign * components.scores(ms, 1)[:, 0]


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
    score = proxy_score(proxy_ms)
    with warnings.catch_warnings():  # an empty group only means fewer distinct centres
        warnings.simplefilter("ignore")
        centres, _ = kmeans2(score[:, None], k, seed=int(rng.integers(2**31)), minit="++")
    picks: list[int] = []
    for centre in np.sort(centres[:, 0]):
        distance = np.abs(score - centre)
        distance[picks] = np.inf
        picks.append(int(np.argmin(distance)))
    return np.asarray(picks, dtype=np.int64)


#: The rule with the higher leave-one-device-out mean SRCC (NB201 and FBNet, 27 settings each,
#: seeds 0..4; benchmarks/proxy_transfer.py part E) at each benchmarked N.
RULE_BY_N = {5: "uniform", 10: "spread", 20: "uniform"}


def sampling_rule(k: int) -> str:
    """The sampling rule for ``k`` samples: :data:`RULE_BY_N` at the nearest benchmarked N."""
    nearest = min(RULE_BY_N, key=lambda n: (abs(n - k), n))
    return RULE_BY_N[nearest]
