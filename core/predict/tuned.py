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

Tuning often keeps the rule-based schedule (the speed-up is then 1), so a
model fitted on a handful of tuned workloads can do worse than the plain
median speed-up. ``fit`` therefore chooses between the two by 5-fold
cross-validation on the tuned workloads only (mean absolute log error) and
says which it chose (``choice``, ``cv_error``). The speed-up model has no
ridge trend on sizes (a ratio near 1 has none); XGBoost on the features only.
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

    params: PredictorParams = field(default_factory=lambda: PredictorParams(trend=False))
    #: Fewest tuned workloads for the feature model to be considered at all.
    min_for_model: int = 10
    folds: int = 5
    choice: str | None = None
    cv_error: dict[str, float] = field(default_factory=dict)
    _speedup: KernelPredictor | None = field(default=None, repr=False)
    _median: float = 1.0

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
        ratio = tuned / rules
        self._median = float(np.median(ratio))
        self.cv_error = self._cross_validate(list(features), ratio)
        self.choice = min(self.cv_error, key=self.cv_error.get) if self.cv_error else "median"
        self._speedup = (
            KernelPredictor(params=self.params).fit(features, ratio)
            if self.choice == "model"
            else None
        )
        return self

    def _cross_validate(self, features: list, ratio: np.ndarray) -> dict[str, float]:
        """Mean |log error| of the feature model and of the median, k-fold on the tuned set."""
        if len(ratio) < self.min_for_model:
            return {}
        order = np.random.default_rng(self.params.seed).permutation(len(ratio))
        errors: dict[str, list[float]] = {"model": [], "median": []}
        for k in range(self.folds):
            test = order[k :: self.folds]
            train = np.setdiff1d(order, test)
            model = KernelPredictor(params=self.params).fit(
                [features[i] for i in train], ratio[train]
            )
            predicted = model.predict([features[i] for i in test]).ms
            errors["model"].extend(np.abs(np.log(predicted / ratio[test])))
            errors["median"].extend(np.abs(np.log(np.median(ratio[train]) / ratio[test])))
        return {name: float(np.mean(values)) for name, values in errors.items()}

    def speedup(self, features: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted tuned/rules latency ratio of each workload."""
        if self.choice is None:
            raise ValueError("the tuned-latency predictor is not trained; call fit first")
        if self._speedup is None:
            return np.full(len(features), self._median)
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
