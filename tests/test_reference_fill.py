"""Filling an expensive target's unmeasured cells from a cheap reference (fabricated rows)."""

from __future__ import annotations

import numpy as np
import pytest

from hwnas.errors import HwnasError
from hwnas.predict.build import layer_table
from hwnas.predict.kernel import KernelPredictor, PredictorParams
from hwnas.predict.model import StoreLatencyModel
from hwnas.predict.reference import fill_unmeasured
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.store import LatencyStore
from hwnas.timing import Measurement

CHEAP, EXPENSIVE = "c" * 16, "e" * 16


def _reference_ms(w) -> float:
    return 0.005 + 2e-8 * w.features["flops"] + 0.01 * w.features["se"]


def _stores(tmp_path, target_share: float, seed: int = 0):
    """Reference rows on every workload; target rows (= 0.4 x reference) on a share of them."""
    space = HurricaneSpace("tiny")
    store = LatencyStore(tmp_path / "fab.sqlite")
    store.register_target(CHEAP, "fab", {"kind": "test", "mode": "rules"})
    store.register_target(EXPENSIVE, "fab", {"kind": "test", "mode": "tuned"})
    cells = [space.layer_workload(i, op) for i, p in enumerate(space.positions) for op in p.choices]
    fixed = {w.key for w in space.fixed_workloads().values()}
    unique = list({w.key: w for w in [*cells, *space.fixed_workloads().values()]}.values())
    rng = np.random.default_rng(seed)
    for w in unique:
        ms = _reference_ms(w)
        store.put(CHEAP, w.key, Measurement.from_repeats([ms] * 3, 1), w.label, w.features)
        if rng.random() < target_share or w.key in fixed:
            tuned = Measurement.from_repeats([0.4 * ms] * 3, 1)
            store.put(EXPENSIVE, w.key, tuned, w.label, w.features)
    params = PredictorParams(members=2, rounds=20)
    fixed_rows = [w for w in unique if store.get(EXPENSIVE, w.key) is not None]
    kernel = KernelPredictor(params=params).fit(
        [w.features for w in fixed_rows], [0.4 * _reference_ms(w) for w in fixed_rows]
    )
    model = StoreLatencyModel(space, store, EXPENSIVE, predictor=kernel)
    cheap = StoreLatencyModel(space, store, CHEAP, predictor=kernel)
    return space, model, cheap


def test_unmeasured_cells_become_reference_times_the_learned_ratio(tmp_path):
    space, model, cheap = _stores(tmp_path, target_share=0.3)
    measured_before = model.table[model.measured].copy()
    report = fill_unmeasured(model, [cheap])
    cells = sum(len(c) for c in model.choices)
    assert report["cells_filled"] == cells - int(model.measured.sum()) > 0
    assert report["trained_on_workloads"] >= 4 and report["choice"] in report["cv_error"]
    assert report["reference_names"] == ["fab"]
    # measured cells are untouched; filled ones follow the 0.4 ratio of the rows
    assert np.array_equal(model.table[model.measured], measured_before)
    filled = ~model.measured & cheap.measured
    ratio = model.table[filled] / cheap.table[filled]
    assert np.allclose(ratio, 0.4, rtol=0.05)
    sources = {cell["source"] for cell in layer_table(model, space).values()}
    assert sources == {"measured-tuned", "predicted"}


def test_too_few_shared_cells_is_a_one_line_error(tmp_path):
    _, model, cheap = _stores(tmp_path, target_share=0.0)
    with pytest.raises(HwnasError, match="raise --measure"):
        fill_unmeasured(model, [cheap])
