"""The tuned-latency predictor: rule-based latency x a learned tuning speed-up."""

import numpy as np
import pytest

from hwnas.predict.tuned import TunedLatencyPredictor
from hwnas.spaces.hurricane.ops import OP_NAMES
from hwnas.spaces.hurricane.space import HurricaneSpace


def workloads():
    space = HurricaneSpace()
    return [space.layer_workload(layer.index, op) for layer in space.layers[::3] for op in OP_NAMES]


def speedup_of(features) -> float:
    """A made-up law tuning could follow: depthwise-heavy ops gain more at larger kernels."""
    return 0.9 if features["op"].startswith("SEP") else 0.4 + 0.02 * features["op"].count("k7")


def test_learns_a_speedup_that_differs_by_op_family():
    rng = np.random.default_rng(0)
    items = workloads()
    features = [w.features for w in items]
    rules_ms = rng.uniform(0.05, 2.0, len(items))
    tuned_ms = rules_ms * np.array([speedup_of(f) for f in features])
    order = rng.permutation(len(items))
    train, test = order[: len(items) // 3], order[len(items) // 3 :]
    model = TunedLatencyPredictor().fit(
        [features[i] for i in train], rules_ms[train], tuned_ms[train]
    )
    predicted = model.predict([features[i] for i in test], rules_ms[test])
    constant = rules_ms[test] * np.median(tuned_ms[train] / rules_ms[train])
    error = np.abs(predicted / tuned_ms[test] - 1)
    constant_error = np.abs(constant / tuned_ms[test] - 1)
    assert np.mean(error <= 0.10) >= 0.9
    assert np.mean(error) < np.mean(constant_error) / 3


def test_refuses_bad_latencies_and_an_untrained_model():
    features = [w.features for w in workloads()[:4]]
    with pytest.raises(ValueError, match="rules_ms"):
        TunedLatencyPredictor().fit(features, [1, 0, 1, 1], [1, 1, 1, 1])
    with pytest.raises(ValueError, match="not trained"):
        TunedLatencyPredictor().predict(features, [1, 1, 1, 1])


def test_falls_back_to_the_median_when_the_features_do_not_help():
    rng = np.random.default_rng(1)
    features = [w.features for w in workloads()[:40]]
    rules_ms = rng.uniform(0.05, 2.0, len(features))
    tuned_ms = rules_ms * rng.uniform(0.95, 1.05, len(features))  # noise around no gain
    model = TunedLatencyPredictor().fit(features, rules_ms, tuned_ms)
    assert model.choice == "median" and set(model.cv_error) == {"model", "median"}
    assert np.allclose(model.speedup(features), np.median(tuned_ms / rules_ms))
    few = TunedLatencyPredictor().fit(features[:5], rules_ms[:5], tuned_ms[:5])
    assert few.choice == "median" and few.cv_error == {}
