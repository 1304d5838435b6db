"""Architecture-level latency predictor on the recorded NB201 / FBNet / OFA tables."""

from __future__ import annotations

import numpy as np
import pytest

from hwnas.errors import HwnasError
from hwnas.manager import get_plugin_manager
from hwnas.targets.recorded.predictor import (
    NB201_FIXED_FLOPS,
    ArchPredictor,
    arch_features,
    few_shot,
    nb201_flops,
    ofa_flops,
)


def test_nb201_flops_match_the_published_extremes():
    counts = np.zeros((2, 5))
    counts[1, 3] = 6  # all nor_conv_3x3
    flops = nb201_flops(counts)
    assert flops[0] == NB201_FIXED_FLOPS
    # NAS-Bench-201 reports 220.11 M (multiply-accumulates) for the all-3x3 cell
    assert flops[1] / 2 / 1e6 == pytest.approx(220.11, abs=0.05)


def test_ofa_flops_grow_with_depth_kernel_expansion_and_resolution():
    small = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 160}
    big = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": 224}
    assert 0 < ofa_flops(small) < ofa_flops(dict(small, r=224)) < ofa_flops(big)
    # OFA MobileNetV3 w1.2 at 224: a few hundred M MACs
    assert 150e6 < ofa_flops(big) / 2 < 1.5e9


@pytest.mark.parametrize("device", ["raspi4", "titan_rtx_1"])
def test_nb201_predictor_beats_random_ranking_with_100_samples(device):
    result = few_shot("nb201", device, 100, seed=0)
    assert result["spearman"] > 0.7
    assert result["flops_spearman"] is not None and result["params_spearman"] is not None


def test_fbnet_and_ofa_few_shot_run():
    for space, device in (("fbnet", "pixel3"), ("ofa", "v100_1")):
        result = few_shot(space, device, 50, seed=1)
        assert result["spearman"] > 0.3


def test_predictor_is_deterministic():
    pm = get_plugin_manager()
    sp = pm.create("space", "fbnet")
    rng = np.random.default_rng(0)
    archs = [sp.sample(rng) for _ in range(60)]
    feats = arch_features("fbnet", archs)
    y = np.exp(np.random.default_rng(1).normal(size=60))
    a = ArchPredictor("fbnet").fit(feats, y).predict(feats)
    b = ArchPredictor("fbnet").fit(feats, y).predict(feats)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name", ["fbnet/raspi4", "ofa/v100_1"])
def test_recorded_target_predicts_missing_architectures_when_asked(name):
    pm = get_plugin_manager()
    model = pm.create("target", name, predict_missing=True)
    sp = pm.create("space", name.split("/")[0])
    missing = sp.architecture(
        ["skip"] * 22 if sp.name == "fbnet" else [3] * 40 + [2] * 5 + [128]
    )  # not among the 5,000
    known = model.table.archs[0]
    lat = model.latency(missing)
    assert lat.source == "predicted" and lat.measured_fraction == 0.0 and lat.ms > 0
    assert model.latency(known).source == "recorded"
    both = model.latencies([known, missing])
    assert both[0] == model.latency(known).ms and both[1] == pytest.approx(lat.ms)
    # the default still refuses
    with pytest.raises(HwnasError, match="not in the recorded table"):
        pm.create("target", name).latency(missing)
