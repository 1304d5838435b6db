"""Few-shot adaptation safety nets, the measurements CSV, ``hwnas transfer adapt`` end to end."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwnas.errors import HwnasError
from hwnas.plugins.proxy.features import arch_features
from hwnas.plugins.proxy.fewshot import fit_adaptation
from hwnas.plugins.proxy.measurements import (
    PredictedLatencyModel,
    parse_measurements,
    write_measurements,
)
from hwnas.plugins.proxy.monotonicity import recorded_table
from hwnas.plugins.proxy.stats import spearman
from hwnas.spaces.fbnet import FBNetSpace
from hwnas.spaces.nb201 import NB201Space

NB201 = NB201Space()
FBNET = FBNetSpace()


# ---------------------------------------------------------------------------
# the adaptation never returns a constant or a backwards model
# ---------------------------------------------------------------------------


def assert_sane(adaptation, proxy_ms, target_ms, features=None):
    fitted = adaptation.predict(proxy_ms, features)
    assert np.ptp(fitted) > 0, adaptation.chosen
    assert spearman(fitted, target_ms) > 0, adaptation.chosen
    e = adaptation.expected_srcc
    assert e["low"] <= e["high"]


@pytest.mark.parametrize("k", [4, 5, 10, 20])
def test_backwards_proxies_never_give_a_backwards_or_constant_fit(k):
    rng = np.random.default_rng(k)
    target = np.sort(rng.uniform(1, 10, k))
    # every proxy ranks the samples exactly backwards: NNLS gives all-zero weights
    proxies = np.column_stack([target[::-1] * s for s in (1.0, 2.0, 3.5)])
    adaptation = fit_adaptation(proxies, target, None, ["a", "b", "c"])
    assert_sane(adaptation, proxies, target)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(4, 12),
    n_proxies=st.integers(0, 4),
    seed=st.integers(0, 2**31 - 1),
    with_features=st.booleans(),
)
def test_random_adversarial_samples_give_a_sane_fit(k, n_proxies, seed, with_features):
    rng = np.random.default_rng(seed)
    archs = [NB201.sample(rng) for _ in range(k)]
    features = arch_features(NB201, archs) if with_features or n_proxies == 0 else None
    target = rng.permutation(np.linspace(1.0, 5.0, k))  # distinct latencies
    proxies = rng.uniform(0.5, 5.0, size=(k, n_proxies))
    if n_proxies:
        proxies[:, 0] = 6.0 - target  # one exactly backwards proxy
    if n_proxies == 0 and np.ptp(features.values, axis=0).max() == 0:
        return  # nothing varies: no model can rank anything
    adaptation = fit_adaptation(proxies, target, features)
    assert_sane(adaptation, proxies, target, features)


def test_no_proxies_and_no_features_is_an_error():
    with pytest.raises(HwnasError, match="nothing to adapt from"):
        fit_adaptation(np.zeros((5, 0)), np.arange(1.0, 6.0), None)


def test_fbnet_features_without_proxies():
    table = recorded_table("fbnet", ["pixel3"])
    rows = np.random.default_rng(0).choice(len(table.archs), 20, replace=False)
    features = arch_features(FBNET, table.archs)
    target = table.latencies[:, 0]
    adaptation = fit_adaptation(np.zeros((20, 0)), target[rows], features.rows(rows))
    assert adaptation.chosen.startswith("nnls:")
    pred = adaptation.predict(np.zeros((len(target), 0)), features)
    assert spearman(pred, target) > 0.5


# ---------------------------------------------------------------------------
# the measurements CSV parser
# ---------------------------------------------------------------------------

nb201_archs = st.tuples(*[st.sampled_from(p.choices) for p in NB201.positions]).map(
    lambda c: NB201.architecture(list(c))
)
fbnet_archs = st.tuples(*[st.sampled_from(p.choices) for p in FBNET.positions]).map(
    lambda c: FBNET.architecture(list(c))
)
latencies = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


def csv_text(space, rows, header=("arch", "latency_ms")) -> str:
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for arch, ms in rows:
        writer.writerow([space.format(arch) if not isinstance(arch, str) else arch, ms])
    return buf.getvalue()


@given(
    space=st.sampled_from([NB201, FBNET]),
    data=st.data(),
)
@settings(max_examples=80, deadline=None)
def test_parser_roundtrip(space, data, tmp_path_factory):
    archs = nb201_archs if space is NB201 else fbnet_archs
    rows = data.draw(st.dictionaries(archs, latencies, min_size=3, max_size=25))
    path = tmp_path_factory.mktemp("m") / "m.csv"
    write_measurements(path, space, rows.items())
    parsed = parse_measurements(path.read_text(), space)
    assert parsed == {a: float(ms) for a, ms in rows.items()}


@given(
    rows=st.dictionaries(nb201_archs, latencies, min_size=3, max_size=12),
    bad=st.sampled_from(["0", "-1", "nan", "inf", "-inf", "abc", "", "1e-400"]),
    where=st.integers(0, 11),
)
@settings(max_examples=80, deadline=None)
def test_parser_rejects_bad_latency(rows, bad, where):
    items = list(rows.items())
    i = where % len(items)
    items[i] = (items[i][0], bad)
    with pytest.raises(HwnasError, match=f"line {i + 2}"):
        parse_measurements(csv_text(NB201, items), NB201)


@given(rows=st.dictionaries(nb201_archs, latencies, min_size=3, max_size=12), dup=st.integers(0))
@settings(max_examples=50, deadline=None)
def test_parser_rejects_duplicates(rows, dup):
    items = list(rows.items())
    items.append(items[dup % len(items)])
    with pytest.raises(HwnasError, match="listed twice"):
        parse_measurements(csv_text(NB201, items), NB201)


@given(rows=st.dictionaries(nb201_archs, latencies, min_size=0, max_size=2))
@settings(max_examples=30, deadline=None)
def test_parser_rejects_fewer_than_three_rows(rows):
    with pytest.raises(HwnasError, match="at least 3"):
        parse_measurements(csv_text(NB201, rows.items()), NB201)


@given(
    rows=st.dictionaries(nb201_archs, latencies, min_size=3, max_size=8),
    junk=st.text(min_size=1, max_size=20).filter(lambda s: "|" not in s and s.strip()),
)
@settings(max_examples=50, deadline=None)
def test_parser_rejects_unknown_architectures(rows, junk):
    items = [(junk, 1.0), *rows.items()]
    with pytest.raises(HwnasError):
        parse_measurements(csv_text(NB201, items), NB201)


@given(
    header=st.lists(st.sampled_from(["arch", "latency", "ms", "latency_ms", "x"]), max_size=3),
    rows=st.dictionaries(nb201_archs, latencies, min_size=3, max_size=5),
)
@settings(max_examples=40, deadline=None)
def test_parser_rejects_wrong_header(header, rows):
    if [h.lower() for h in header] == ["arch", "latency_ms"]:
        return
    with pytest.raises(HwnasError):
        parse_measurements(csv_text(NB201, rows.items(), tuple(header)), NB201)


# ---------------------------------------------------------------------------
# hwnas transfer adapt end to end
# ---------------------------------------------------------------------------


def hwnas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def raspi4_run(tmp_path_factory):
    """20 raspi4 measurements -> hwnas transfer adapt with raspi4 hidden from the proxies."""
    folder = tmp_path_factory.mktemp("adapt")
    table = recorded_table("nb201", ["raspi4"])
    truth = table.column("raspi4")
    rows = np.random.default_rng(0).choice(len(truth), 20, replace=False)
    measurements = folder / "raspi4.csv"
    write_measurements(measurements, NB201, [(table.archs[i], truth[i]) for i in rows])
    pred = folder / "pred.csv"
    result = hwnas(
        "transfer", "adapt", "--space", "nb201", "--measurements", str(measurements),
        "--exclude", "raspi4", "--out", str(pred),
    )  # fmt: skip
    return folder, table, truth, rows, pred, result


def test_transfer_adapt_predicts_the_hidden_column(raspi4_run):
    _folder, table, truth, rows, pred, result = raspi4_run
    assert result.returncode == 0, result.stderr
    assert "chosen" in result.stdout and "leave-one-out SRCC" in result.stdout
    model = PredictedLatencyModel(pred, NB201)
    assert len(model.pool_archs()) == 15625
    assert len(model.measured()) == 20
    rest = np.setdiff1d(np.arange(len(truth)), rows)
    predicted = model.latencies([table.archs[i] for i in rest])
    assert spearman(predicted, truth[rest]) > 0.9
    assert model.latency(table.archs[rows[0]]).source == "measured"
    assert model.latency(table.archs[rest[0]]).source == "predicted"
    summary = json.loads(pred.with_suffix(".json").read_text())
    assert "raspi4" not in summary["proxies"]
    e = summary["expected_srcc"]
    assert -1 <= e["low"] <= e["estimate"] <= e["high"] <= 1
    with pred.open() as f:
        header = next(csv.reader(f))
    assert header == ["arch", "latency_ms", "low_ms", "high_ms", "source"]


def test_predictions_feed_hwnas_search_proxy(raspi4_run):
    folder, *_, pred, result = raspi4_run
    assert result.returncode == 0, result.stderr
    out = folder / "search"
    run = hwnas(
        "search", "--strategy", "proxy", "--space", "nb201", "--target", "nb201/raspi4",
        "--predictions", str(pred), "--evals", "15", "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "result.json").read_text())
    extra = report["extra"]
    assert extra["predictions"] == str(pred)
    assert extra["expected_srcc"]["estimate"] is not None
    assert report["target_measurements"] <= 15
    assert {u["latency_source"] for u in extra["unmeasured_front"]} <= {"predicted", "measured"}
    assert 0 < report["truth"]["hv_ratio"] <= 1


def test_transfer_adapt_fbnet(tmp_path):
    table = recorded_table("fbnet", ["pixel3"])
    truth = table.column("pixel3")
    rows = np.random.default_rng(1).choice(len(truth), 10, replace=False)
    measurements = write_measurements(
        tmp_path / "m.csv", FBNET, [(table.archs[i], truth[i]) for i in rows]
    )
    result = hwnas(
        "transfer", "adapt", "--space", "fbnet", "--measurements", str(measurements),
        "--exclude", "pixel3", "--out", str(tmp_path / "p.csv"), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["architectures"] == 5000 and "pixel3" not in summary["proxies"]
    model = PredictedLatencyModel(tmp_path / "p.csv", FBNET)
    assert spearman(model.latencies(table.archs), truth) > 0.8


GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"


def _rows(n: int, ms: str = "1.5") -> list[str]:
    rng = np.random.default_rng(n)
    archs = list(dict.fromkeys(NB201.format(NB201.sample(rng)) for _ in range(50)))[:n]
    return [f"{a},{ms}" for a in archs]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["arch,latency", *_rows(5)], "header"),
        (["arch,latency_ms", "|nope~0|,1.0", *_rows(4)], "not a nb201 architecture"),
        (["arch,latency_ms", f"{GOOD},0", *_rows(4)], "finite number > 0"),
        (["arch,latency_ms", f"{GOOD},nan", *_rows(4)], "finite number > 0"),
        (["arch,latency_ms", f"{GOOD},inf", *_rows(4)], "finite number > 0"),
        (["arch,latency_ms", f"{GOOD},1.0", f"{GOOD},2.0", *_rows(4)], "listed twice"),
        (["arch,latency_ms", *_rows(2)], "at least 3"),
    ],
)
def test_transfer_adapt_bad_csv_one_line_exit_2(tmp_path, lines, message):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    result = hwnas(
        "transfer", "adapt", "--space", "nb201", "--measurements", str(path),
        "--out", str(tmp_path / "p.csv"),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert not (tmp_path / "p.csv").exists()


def test_predicted_model_errors(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("arch,latency_ms,low_ms,high_ms,source\n" + f"{GOOD},1,1,1,guessed\n")
    with pytest.raises(HwnasError, match="source"):
        PredictedLatencyModel(path, NB201)
    path.write_text("arch,latency_ms,low_ms,high_ms,source\n" + f"{GOOD},1,1,1,predicted\n")
    model = PredictedLatencyModel(path, NB201)
    assert math.isclose(model.latency(NB201.parse(GOOD)).ms, 1.0)
    with pytest.raises(HwnasError, match="no latency"):
        model.latency(NB201.sample(np.random.default_rng(5)))
