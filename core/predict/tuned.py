"""Tuned-latency predictor: what MetaSchedule would make of a workload, from its rule-based latency.

Tuning every workload of a search space takes hours; building it with the
rule-based schedules takes a second. :class:`TunedLatencyPredictor` learns
the *tuning speed-up* (tuned ms / rules ms) from the workloads that were
tuned, as a function of the workload's features (the same features and
model as :class:`~hwnas.predict.kernel.KernelPredictor`: a ridge trend on log
sizes plus an XGBoost residual), and predicts an untuned workload's tuned
latency as its measured rule-based latency times the predicted speed-up. The
rule-based measurement carries what the features cannot see (this CPU, this
shape's code); the model carries how much tuning gains per op family and size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwnas.predict.kernel import KernelPredictor, PredictorParams


@dataclass
class TunedLatencyPredictor:
    """Predicts tuned latency = rule-based latency x predicted tuning speed-up."""

    params: PredictorParams = field(default_factory=PredictorParams)
    _speedup: KernelPredictor | None = field(default=None, repr=False)

    def fit(
        self,
        features: Sequence[Mapping[str, Any]],
        rules_ms: Sequence[float],
        tuned_ms: Sequence[float],
    ) -> TunedLatencyPredictor:
        """Train on tuned workloads: their features, rule-based and tuned latencies (ms > 0)."""
        rules = _positive(rules_ms, "rules_ms")
        tuned = _positive(tuned_ms, "tuned_ms")
        if len(rules) != len(tuned) or len(rules) != len(features):
            raise ValueError("features, rules_ms and tuned_ms must have the same length")
        self._speedup = KernelPredictor(params=self.params).fit(features, tuned / rules)
        return self

    def speedup(self, features: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted tuned/rules latency ratio of each workload."""
        if self._speedup is None:
            raise ValueError("the tuned-latency predictor is not trained; call fit first")
        return self._speedup.predict(features).ms

    def predict(
        self, features: Sequence[Mapping[str, Any]], rules_ms: Sequence[float]
    ) -> np.ndarray:
        """Predicted tuned latency (ms) of workloads measured with the rule-based schedule."""
        return _positive(rules_ms, "rules_ms") * self.speedup(features)


def _positive(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if np.any(~np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be positive and finite")
    return array
