"""Proxy transfer: one proxy device is enough when latency rankings agree (Lu et al., 2022).

- :mod:`~hwnas.plugins.proxy.stats`: Spearman SRCC with a confidence statement
  (Fisher z interval, bootstrap interval, probability of clearing a threshold).
- :mod:`~hwnas.plugins.proxy.monotonicity`: SRCC matrices between devices on their
  shared architectures, same-hardware rules, the best proxy of each device,
  the heatmap.
- :mod:`~hwnas.plugins.proxy.features`: architecture features for few-shot
  adaptation (NB201: op counts on all edges and on edges whose output is used).
- :mod:`~hwnas.plugins.proxy.fewshot`: adapt one or more proxies to a target from k
  target samples (candidate linear models, chosen by leave-one-out), and the
  :class:`~hwnas.plugins.proxy.fewshot.AdaptedLatencyModel` a search runs on.
- :mod:`~hwnas.plugins.proxy.sampling`: which k architectures to measure on the
  target (spread over the proxy's latency range, or uniform).
- :mod:`~hwnas.live_latency`: latency models of live targets for transfer
  (whole architectures measured end to end).
"""

from hwnas.plugins.proxy.fewshot import Adaptation, AdaptedLatencyModel, adapt, fit_adaptation
from hwnas.plugins.proxy.monotonicity import (
    best_proxies,
    hardware_of,
    same_hardware,
    srcc_matrix,
)
from hwnas.plugins.proxy.sampling import select_samples
from hwnas.plugins.proxy.stats import SrccEstimate, estimate_srcc

__all__ = [
    "Adaptation",
    "AdaptedLatencyModel",
    "SrccEstimate",
    "adapt",
    "best_proxies",
    "estimate_srcc",
    "fit_adaptation",
    "hardware_of",
    "same_hardware",
    "select_samples",
    "srcc_matrix",
]
