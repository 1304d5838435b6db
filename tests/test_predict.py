"""Kernel-level latency predictor, active measurement, architecture latency model, CLI.

Real measurements: ~20 HURRICANE workloads timed once with ONNX Runtime
(quick protocol) in a module-scoped store. Fabricated rows are used only
for plumbing (save/load, gather-and-sum, provenance, overhead fit, speed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hwnas.predict import (
    KernelPredictor,
    Overhead,
    PredictorParams,
    StoreLatencyModel,
    active_sample,
    fit_overhead,
    load_predictor,
    multiplicities,
    predictor_path,
    train_predictor,
    training_rows,
)
from hwnas.predict.features import KNOWN_FAMILIES, feature_matrix, feature_names, vocabulary
from hwnas.predict.model import index_matrix, sample_indices
from hwnas.profile import profile_workloads
from hwnas.spaces.hurricane.ops import OP_NAMES
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.store import LatencyStore
from hwnas.testing import QUICK_PROTOCOL
from hwnas.timing import Measurement

SPACE = HurricaneSpace()
# Layers 0 (16ch 28px), 4 (stride 2), 5 (32ch 14px), 12 (64ch 7px), 17 (128ch 4px).
MEASURED = [
    (0, "SEP_k3"),
    (0, "MB_k3_e3"),
    (0, "MB_k5_e6_SE"),
    (0, "Choice_k3"),
    (4, "SEP_k5_SE"),
    (4, "MB_k3_e6"),
    (4, "Choice_x"),
    (5, "MB_k7_e1"),
    (5, "MB_k5_e3_SE"),
    (5, "Choice_k5_SE"),
    (12, "SEP_k7"),
    (12, "MB_k3_e6_SE"),
    (12, "Choice_k7"),
    (12, "Choice_x_SE"),
    (17, "MB_k3_e1_SE"),
    (17, "MB_k5_e6"),
    (17, "SEP_k3_SE"),
    (17, "Choice_k3"),
]


def _all_workloads():
    cells = [SPACE.layer_workload(i, op) for i in range(len(SPACE.layers)) for op in OP_NAMES]
    return cells, list(SPACE.fixed_workloads().values())


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """~20 real ONNX Runtime measurements (18 layer workloads + stem + head)."""
    pytest.importorskip("onnxruntime")
    store = LatencyStore(tmp_path_factory.mktemp("predict") / "ort.sqlite")
    workloads = [SPACE.layer_workload(i, op) for i, op in MEASURED]
    workloads += list(SPACE.fixed_workloads().values())
    run = profile_workloads(
        "onnxruntime", {}, workloads, store, QUICK_PROTOCOL, show_progress=False
    )
    assert run.failed == 0
    return store, run.target.fingerprint_key


def test_fixed_workloads_build_and_match_the_fixed_cost():
    fixed = SPACE.fixed_workloads()
    assert set(fixed) == {"stem", "head"}
    total = sum(w.features["flops"] for w in fixed.values())
    assert total == SPACE.fixed_cost().flops
    assert sum(w.features["params"] for w in fixed.values()) == SPACE.fixed_cost().params
    for w in fixed.values():
        out = w.build()(w.example_input())
        assert out.ndim in (2, 4)
        assert w.recipe is not None and w.key.startswith("hurricane/" + w.features["family"])


def test_features_cover_every_family_and_column():
    cells, fixed = _all_workloads()
    rows = [w.features for w in cells + fixed]
    vocab = vocabulary(rows)
    assert vocab[: len(KNOWN_FAMILIES)] == tuple(f"family={f}" for f in KNOWN_FAMILIES)
    assert len(vocab) == len(KNOWN_FAMILIES) + len(OP_NAMES) + 2  # + stem, head "ops"
    x = feature_matrix(rows, vocab)
    assert x.shape[1] == len(feature_names(vocab))
    assert np.isfinite(x).all()
    assert (x[:, : len(KNOWN_FAMILIES)].sum(axis=1) == 1).all()
    assert (x[:, len(KNOWN_FAMILIES) : len(vocab)].sum(axis=1) == 1).all()


def test_predictor_trains_saves_and_reloads_identically(measured):
    store, fp = measured
    predictor = train_predictor(store, fp, PredictorParams(members=4, rounds=80))
    keys, feats, ms = training_rows(store, fp)
    assert len(keys) == len(MEASURED) + 2 and predictor.trained_keys == tuple(keys)
    path = predictor_path(store, fp)
    assert path.exists() and path.with_name(f"{fp}.meta.json").exists()
    data = json.loads(path.read_text())  # plain JSON, boosters in XGBoost's JSON format
    assert data["format"] == "hwnas-kernel-predictor" and len(data["members"]) == 1 + 4
    reloaded = load_predictor(store, fp)
    cells, _ = _all_workloads()
    feats_all = [w.features for w in cells]
    a, b = predictor.predict(feats_all), reloaded.predict(feats_all)
    assert np.array_equal(a.ms, b.ms) and np.array_equal(a.spread, b.spread)
    # fits the measured points reasonably (log RMSE on the training set)
    fit = predictor.predict(feats)
    assert np.sqrt(np.mean(np.log(fit.ms / ms) ** 2)) < 0.5


def test_uncertainty_is_non_negative_and_larger_off_distribution(measured):
    store, fp = measured
    # 16 members: the std of 6 bootstrap members is itself ~30 % noisy, which
    # made the ratio below flaky on noisy measurements (typically 2-5x).
    predictor = train_predictor(store, fp, PredictorParams(members=16, rounds=80), save=False)
    cells, _ = _all_workloads()
    near = predictor.predict([w.features for w in cells])
    big = HurricaneSpace(profile="imagenet")  # 224 px, 4-10x wider: far outside the data
    far_w = [big.layer_workload(i, op) for i in (0, 4, 12) for op in OP_NAMES[::3]]
    far = predictor.predict([w.features for w in far_w])
    assert (near.spread >= 0).all() and (far.spread >= 0).all()
    assert np.median(far.spread) > 1.5 * np.median(near.spread)
    assert (near.low_ms <= near.ms).all() and (near.ms <= near.high_ms).all()


def test_active_sampling_covers_every_family_and_respects_the_budget():
    cells, fixed = _all_workloads()
    candidates = cells + fixed

    # Plumbing only: a made-up latency formula stands in for the device.
    def oracle(w):
        f = w.features
        return 0.01 + 1e-8 * f["flops"] * (1.3 if f["se"] else 1.0) + 0.002 * f["kernel"]

    calls: list[str] = []

    def measure(workloads):
        calls.extend(w.key for w in workloads)
        return {w.key: oracle(w) for w in workloads}

    known_w = cells[0]
    known = {known_w.key: (known_w.features, oracle(known_w))}
    result = active_sample(
        candidates,
        20,
        measure,
        known=known,
        weight=multiplicities(cells),
        must=[w.key for w in fixed],
        rounds=3,
        params=PredictorParams(members=3, rounds=40),
    )
    assert len(result.chosen) == 20 == len(set(result.chosen)) == len(calls)
    assert known_w.key not in result.chosen  # stored rows are free, never re-measured
    assert {w.key for w in fixed} <= set(result.chosen)
    by_key = {w.key: w for w in candidates}
    families = {by_key[k].features["family"] for k in result.chosen}
    assert families == set(KNOWN_FAMILIES)
    assert [r.kind for r in result.rounds] == [
        "coverage",
        "uncertainty",
        "uncertainty",
        "uncertainty",
    ]
    assert result.predictor is not None and len(result.predictor.trained_keys) == 21
    # budget larger than the pool: measures everything once
    small = active_sample(candidates[:10], 50, measure, params=PredictorParams(members=2, rounds=5))
    assert len(small.chosen) == 10


def _fabricated_store(tmp_path, measured_share=0.5, seed=0):
    """Plumbing only: fabricated rows with a simple latency formula."""
    store = LatencyStore(tmp_path / "fab.sqlite")
    fp = "f" * 16
    store.register_target(fp, "fabricated", {"kind": "test"})
    rng = np.random.default_rng(seed)
    cells, fixed = _all_workloads()
    unique = list({w.key: w for w in cells}.values())
    chosen = [w for w in unique if rng.random() < measured_share] + fixed
    for w in chosen:
        ms = 0.005 + 2e-8 * w.features["flops"] + 0.01 * w.features["se"]
        store.put(fp, w.key, Measurement.from_repeats([ms] * 3, 1), w.label, w.features)
    return store, fp


def test_latency_model_sums_provenance_and_measured_fraction(tmp_path):
    store, fp = _fabricated_store(tmp_path)
    model = StoreLatencyModel(SPACE, store, fp)
    rows = {r.workload: r.measurement.median_ms for r in store.measurements(fp)}
    pred = load_predictor(store, fp)  # trained and saved on first use
    assert pred is not None
    rng = np.random.default_rng(1)
    for _ in range(5):
        arch = SPACE.sample(rng)
        parts, measured_ms = [], 0.0
        for i, op in enumerate(arch.choices):
            w = SPACE.layer_workload(i, op)
            ms = rows.get(w.key)
            if ms is None:
                ms = float(pred.predict([w.features]).ms[0])
            else:
                measured_ms += ms
            parts.append(ms)
        fixed = [rows[w.key] for w in SPACE.fixed_workloads().values()]
        total = sum(parts) + sum(fixed)
        lat = model.latency(arch)
        assert lat.ms == pytest.approx(total, rel=1e-9)
        assert lat.measured_fraction == pytest.approx((measured_ms + sum(fixed)) / total)
        all_measured = all(
            SPACE.layer_workload(i, op).key in rows for i, op in enumerate(arch.choices)
        )
        assert lat.source == ("layer-sum" if all_measured else "predicted")
        breakdown = model.breakdown(arch)
        assert breakdown[0]["part"] == "stem" and breakdown[-1]["part"] == "head"
        assert sum(r["ms"] for r in breakdown) == pytest.approx(total)
    # an architecture of measured ops only is a "layer-sum" without overhead, "predicted" with
    measured_ops = []
    for i in range(len(SPACE.layers)):
        measured_ops.append(next(op for op in OP_NAMES if SPACE.layer_workload(i, op).key in rows))
    arch = SPACE.architecture(measured_ops)
    assert model.latency(arch).source == "layer-sum"
    assert model.latency(arch).measured_fraction == 1.0
    model.overhead = Overhead("offset", 1.0, -0.01, 3)
    lat = model.latency(arch)
    assert lat.source == "predicted" and lat.measured_fraction == 1.0
    summary = model.summary(samples=2000)
    assert 0 < summary["mean_measured_fraction"] < 1
    assert summary["workloads_measured"] < summary["workloads"]


def test_vectorised_queries_match_the_one_by_one_answers(tmp_path):
    # Their speed is a benchmark figure (benchmarks/predictor_accuracy.py), not a test.
    store, fp = _fabricated_store(tmp_path, measured_share=1.0)
    model = StoreLatencyModel(SPACE, store, fp)
    idx = sample_indices(SPACE, 100_000, seed=0)
    ms = model.latencies_indices(idx)
    rng = np.random.default_rng(2)
    archs = [SPACE.sample(rng) for _ in range(200)]
    np.testing.assert_allclose(model.latencies(archs), [model.latency(a).ms for a in archs])
    np.testing.assert_array_equal(index_matrix(SPACE, archs), [SPACE.indices(a) for a in archs])
    assert ms.shape == (100_000,) and (ms > 0).all()


def test_overhead_fit_recovers_a_known_relation():
    rng = np.random.default_rng(0)
    parts = rng.uniform(0.5, 2.0, 12)
    whole = 0.8 * parts + 0.1
    o = fit_overhead(parts, whole)
    assert o.kind == "affine" and o.scale == pytest.approx(0.8) and o.offset == pytest.approx(0.1)
    assert fit_overhead(parts[:3], parts[:3] - 0.05).kind == "offset"
    assert fit_overhead([], []).kind == "none"


def test_overhead_fit_never_takes_most_of_the_fastest_architecture():
    parts = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    whole = parts - 0.1  # one session instead of 22: a negative offset fits exactly
    assert fit_overhead(parts, whole).kind == "offset"
    # ...but would leave 0.02 ms of a space whose fastest network sums to 0.12 ms
    guarded = fit_overhead(parts, whole, min_parts_ms=0.12)
    assert guarded.kind != "offset"
    assert guarded.apply(0.12) >= 0.06 and guarded.errors["offset"] < guarded.loo_error


def test_overhead_fit_never_inverts_the_ranking():
    parts = np.array([0.80, 0.82, 0.84, 0.86, 0.88, 0.90])
    whole = 1.2 - 0.3 * parts  # noisy networks of one size: the best line slopes down
    o = fit_overhead(parts, whole)
    assert o.scale > 0 and o.kind != "affine" and o.errors["affine"] < o.loo_error
    assert o.apply(0.9) >= o.apply(0.8)


def test_profile_measure_fill_predict_end_to_end(measured, tmp_path):
    store, fp = measured
    csv_path = tmp_path / "rows.csv"
    store.export_csv(csv_path)
    copy = LatencyStore(tmp_path / "cli.sqlite")
    copy.import_csv(csv_path)
    copy.register_target(fp, "onnxruntime", store.targets()[fp]["details"])
    ops = "SEP_k3,MB_k3_e1,MB_k7_e6,Choice_k5"
    command = [
        sys.executable,
        "-m",
        "hwnas",
        "profile",
        "--target",
        "onnxruntime",
        "--layers",
        "0-1,4",
        "--ops",
        ops,
        "--measure",
        "3",
        "--fill",
        "predict",
        "--store",
        str(copy.path),
        "--repeats",
        "3",
        "--min-repeat-ms",
        "2",
        "--no-progress",
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["active"]["spent"] <= 3 and report["measured"] <= 3
    cells = [c for row in report["layers"] for c in row["ops"].values()]
    assert len(cells) == 12 and report["cells"] == 12
    assert all(c["source"] in ("measured", "predicted") for c in cells)
    assert report["cells_predicted"] > 0 and report["source"] == "measured+predicted"
    assert report["cells_measured"] + report["cells_predicted"] == 12
    for c in cells:
        if c["source"] == "predicted":
            assert c["predicted_ms"] > 0 and c["spread"] >= 0 and c["status"] == "missing"
    assert report["fixed"]["stem"]["source"] == "measured"  # already in the store
    assert os.path.exists(report["predictor"]["path"])
    # bad --fill is a one-line error
    bad = subprocess.run(
        [*command[:4], "--target", "onnxruntime", "--fill", "guess", "--store", str(copy.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "unknown --fill" in bad.stderr


def test_kernel_predictor_rejects_too_little_data():
    from hwnas.errors import HwnasError

    w = SPACE.layer_workload(0, "SEP_k3")
    with pytest.raises(HwnasError, match="at least 2"):
        KernelPredictor().fit([w.features], [0.1])
