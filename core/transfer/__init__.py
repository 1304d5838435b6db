"""Proxy transfer: one proxy device is enough when latency rankings agree (Lu et al., 2022).

- :mod:`~hwnas.transfer.stats`: Spearman SRCC with a confidence statement
  (Fisher z interval, bootstrap interval, probability of clearing a threshold).
- :mod:`~hwnas.transfer.monotonicity`: SRCC matrices between devices on their
  shared architectures, same-hardware rules, the best proxy of each device,
  the heatmap.
- :mod:`~hwnas.transfer.features`: architecture features for few-shot
  adaptation (NB201: op counts on all edges and on edges whose output is used).
- :mod:`~hwnas.transfer.fewshot`: adapt one or more proxies to a target from k
  target samples (candidate linear models, chosen by leave-one-out), and the
  :class:`~hwnas.transfer.fewshot.AdaptedLatencyModel` a search runs on.
- :mod:`~hwnas.transfer.sampling`: which k architectures to measure on the
  target (spread over the proxy's latency range, or uniform).
- :mod:`~hwnas.transfer.live`: latency models of live targets for transfer
  (whole architectures measured end to end).
"""

from hwnas.transfer.fewshot import Adaptation, AdaptedLatencyModel, adapt, fit_adaptation
from hwnas.transfer.monotonicity import (
    best_proxies,
    hardware_of,
    same_hardware,
    srcc_matrix,
)
from hwnas.transfer.sampling import select_samples
from hwnas.transfer.stats import SrccEstimate, estimate_srcc

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
