"""Proxy transfer library: SRCC statistics, monotonicity matrix, same-hardware rules, adaptation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from hwnas.errors import HwnasError
from hwnas.plugins.proxy.features import arch_features
from hwnas.plugins.proxy.fewshot import fit_adaptation
from hwnas.plugins.proxy.monotonicity import (
    allowed_proxies,
    analyze,
    best_proxies,
    device_table,
    hardware_of,
    recorded_table,
    same_hardware,
    srcc_matrix,
)
from hwnas.plugins.proxy.sampling import select_samples
from hwnas.plugins.proxy.stats import estimate_srcc, fisher_interval, spearman


@pytest.fixture(scope="module")
def nb201():
    return recorded_table("nb201")


def test_srcc_matrix_symmetric_unit_diagonal(nb201):
    rho = srcc_matrix(nb201.latencies)
    assert rho.shape == (27, 27)
    assert np.allclose(rho, rho.T)
    assert np.allclose(np.diag(rho), 1.0)
    assert np.all((rho >= -1) & (rho <= 1))
    i, j = nb201.names.index("pixel3"), nb201.names.index("raspi4")
    assert rho[i, j] == pytest.approx(spearman(nb201.column("pixel3"), nb201.column("raspi4")))
    assert rho[i, j] > 0.95


def test_hardware_rules():
    assert hardware_of("titan_rtx_256") == hardware_of("nb201/titan_rtx_1") == "titan_rtx"
    assert hardware_of("fbnet/2080ti_64") == "2080ti"
    assert hardware_of("essential_ph_1") == "essential_ph_1"  # a phone, not batch size 1
    assert not same_hardware("titanx_1", "titanxp_1")
    assert not same_hardware("gold_6226", "gold_6240")
    assert allowed_proxies("titan_rtx_256", ["titan_rtx_1", "titan_rtx_32", "2080ti_256"]) == [
        "2080ti_256"
    ]


def test_best_proxy_excludes_same_hardware(nb201):
    rho = srcc_matrix(nb201.latencies)
    best = best_proxies(rho, nb201.names)
    for device, pick in best.items():
        assert pick is not None and not same_hardware(device, pick["proxy"])
    # A synthetic matrix where the same hardware correlates best is still skipped.
    names = ["titan_rtx_1", "titan_rtx_32", "eyeriss"]
    matrix = np.array([[1.0, 0.99, 0.5], [0.99, 1.0, 0.4], [0.5, 0.4, 1.0]])
    picks = best_proxies(matrix, names)
    assert picks["titan_rtx_1"]["proxy"] == "eyeriss"
    assert picks["eyeriss"] == {"proxy": "titan_rtx_1", "srcc": 0.5}
    # Only settings of one hardware: no allowed proxy at all.
    assert best_proxies(np.eye(2), ["titanx_1", "titanx_32"]) == {
        "titanx_1": None,
        "titanx_32": None,
    }


def test_analyze_subset_and_errors():
    report = analyze(device_table("nb201", ["pixel3", "nb201/raspi4", "eyeriss"]))
    assert report["devices"] == ["pixel3", "raspi4", "eyeriss"]
    assert report["best_proxy"]["raspi4"]["proxy"] == "pixel3"
    assert report["shared_architectures"] == 15625
    with pytest.raises(HwnasError, match="no shared architectures"):
        device_table("nb201", ["pixel3", "fbnet/raspi4"])
    with pytest.raises(HwnasError, match="unknown target"):
        device_table("nb201", ["pixel3", "nosuchdevice"])


def test_srcc_estimate_intervals():
    rng = np.random.default_rng(0)
    x = rng.random(10)
    est = estimate_srcc(x, x + 0.3 * rng.random(10), threshold=0.9)
    assert 0.7 < est.srcc < 1.0
    lo, hi = est.fisher_ci
    assert lo < est.srcc < hi <= 1.0
    assert est.bootstrap_ci[0] <= est.bootstrap_ci[1]
    assert 0.0 < est.p_above_threshold < 1.0
    assert "SRCC" in est.statement() and "Fisher" in est.statement()
    narrow = fisher_interval(0.9, 100)
    wide = fisher_interval(0.9, 10)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert fisher_interval(0.9, 3) == (-1.0, 1.0)


def test_spread_sampling_covers_the_latency_range():
    ms = np.exp(np.linspace(0.0, 3.0, 1000))[::-1]
    picks = select_samples(ms, 10, np.random.default_rng(0), "spread")
    assert len(set(picks.tolist())) == 10
    values = np.sort(np.log(ms[picks]))
    assert values[0] < 0.3 and values[-1] > 2.7  # both ends of the range
    assert np.diff(values).max() < 2 * 3.0 / 10  # no large hole
    again = select_samples(ms, 10, np.random.default_rng(0), "spread")
    assert picks.tolist() == again.tolist()  # seeded by the caller's generator
    uniform = select_samples(ms, 10, np.random.default_rng(0), "uniform")
    assert len(set(uniform.tolist())) == 10
    with pytest.raises(HwnasError):
        select_samples(ms, 1001, np.random.default_rng(0))


def test_spread_sampling_follows_the_proxies_main_direction():
    rng = np.random.default_rng(1)
    speed = rng.uniform(0.0, 2.0, 500)  # what the proxies share
    proxies = np.exp(np.column_stack([speed + 0.05 * rng.normal(size=500) for _ in range(4)]))
    picks = select_samples(proxies, 8, np.random.default_rng(0), "spread")
    values = np.sort(speed[picks])
    assert len(set(picks.tolist())) == 8
    assert values[0] < 0.3 and values[-1] > 1.7
    tiny = select_samples(np.ones((5, 3)), 5, np.random.default_rng(0), "spread")
    assert sorted(tiny.tolist()) == [0, 1, 2, 3, 4]  # distinct even when all tie


def test_adaptation_raises_srcc_on_a_weak_pair(nb201):
    # eyeriss vs titan_rtx_1 is one of the weakest pairs of the matrix (SRCC ~0.36).
    from hwnas.spaces.nb201 import NB201Space

    proxy, target = nb201.column("titan_rtx_1"), nb201.column("eyeriss")
    feats = arch_features(NB201Space(), nb201.archs)
    n = len(target)
    gains = []
    for seed in range(3):
        rows = np.random.default_rng(seed).choice(n, 10, replace=False)
        rest = np.setdiff1d(np.arange(n), rows)
        before = spearman(proxy[rest], target[rest])
        adaptation = fit_adaptation(
            proxy[rows][:, None], target[rows], feats.rows(rows), ["titan_rtx_1"]
        )
        pred = adaptation.predict(proxy[rest][:, None], feats.rows(rest))
        after = np.corrcoef(rankdata(pred), rankdata(target[rest]))[0, 1]
        assert before < 0.5
        gains.append(after - before)
        assert {r["name"] for r in adaptation.table} >= {"nnls:proxies"}
    assert min(gains) > 0.3


def test_adaptation_single_candidate_and_errors():
    proxy = np.array([1.0, 2.0, 3.0])
    adaptation = fit_adaptation(proxy[:, None], 2 * proxy + 1, None, ["p"])
    assert adaptation.chosen == "nnls:proxies"
    assert np.allclose(adaptation.predict(proxy[:, None], None), 2 * proxy + 1)
    with pytest.raises(HwnasError):
        fit_adaptation(proxy[:1, None], proxy[:1])
    with pytest.raises(HwnasError):
        fit_adaptation(proxy[:, None], -proxy)


def test_principal_components_of_an_unlabelled_pool_help_with_many_proxies():
    # 24 proxies that are noisy mixtures of two latent device types; the target is
    # another mixture. With 8 samples one weight per proxy overfits the noise, the
    # two leading components of the (free, unlabelled) pool do not.
    rng = np.random.default_rng(0)
    n, m = 3000, 24
    latent = rng.normal(size=(n, 2))
    mix = rng.uniform(0.2, 1.0, size=(2, m))
    proxies = np.exp(latent @ mix + 0.5 * rng.normal(size=(n, m)))
    target = np.exp(latent @ np.array([0.9, 0.3]) + 0.02 * rng.normal(size=n))
    with_pool, without = [], []
    for seed in range(5):
        rows = np.random.default_rng(seed).choice(n, 8, replace=False)
        rest = np.setdiff1d(np.arange(n), rows)
        for pool, out in ((None, without), (proxies, with_pool)):
            adaptation = fit_adaptation(proxies[rows], target[rows], pool_proxy_ms=pool)
            out.append(spearman(adaptation.predict(proxies[rest], None), target[rest]))
        names = {r["name"] for r in adaptation.table}  # the fit with the pool
    assert {"pcr1:proxies", "pcr2:proxies"} <= names
    assert np.mean(with_pool) > np.mean(without) + 0.02


def test_principal_component_pool_must_match_the_proxies():
    proxy = np.exp(np.random.default_rng(1).normal(size=(6, 3)))
    with pytest.raises(HwnasError, match="expected \\(architectures, 3\\)"):
        fit_adaptation(proxy, proxy.sum(axis=1), pool_proxy_ms=np.ones((10, 2)))


def test_best_proxy_plus_features_candidate_needs_enough_samples():
    from hwnas.plugins.proxy.features import Features
    from hwnas.plugins.proxy.fewshot import BEST_PROXY_MARGIN, candidates

    feats = Features(np.zeros((1, 6)), tuple("abcdef"), {"ops": (0, 1, 2, 3), "blocks": (4, 5)})
    names = lambda n, proxies: {c.name for c in candidates(feats, n, proxies)}  # noqa: E731
    assert "ridge:best+ops" in names(4 + BEST_PROXY_MARGIN, 5)
    assert "ridge:best+ops" not in names(3 + BEST_PROXY_MARGIN, 5)
    assert "ridge:best+blocks" in names(2 + BEST_PROXY_MARGIN, 5)
    assert not any(n.startswith("ridge:best") for n in names(20, 1))  # one proxy: ridge:proxies


def test_best_proxy_plus_features_finds_the_one_related_proxy():
    # 15 unrelated proxies and one that, with per-op costs, makes the target.
    from hwnas.plugins.proxy.features import Features

    rng = np.random.default_rng(0)
    n = 400
    counts = rng.integers(0, 5, size=(n, 4)).astype(float)
    related = np.exp(rng.normal(size=n))
    proxies = np.column_stack([np.exp(rng.normal(size=(n, 15))), related])
    target = related + counts @ np.array([0.1, 0.4, 0.0, 0.2])
    feats = Features(counts, ("a", "b", "c", "d"), {"ops": (0, 1, 2, 3)})
    rows = rng.choice(n, 12, replace=False)
    rest = np.setdiff1d(np.arange(n), rows)
    adaptation = fit_adaptation(proxies[rows], target[rows], feats.rows(rows), list("p" * 16))
    table = {r["name"]: r for r in adaptation.table}
    assert "ridge:best+ops" in table
    assert spearman(adaptation.predict(proxies[rest], feats.rows(rest)), target[rest]) > 0.95
