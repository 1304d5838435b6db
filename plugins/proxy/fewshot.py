"""Adapt proxy latencies to a target from k target samples.

The target's latency (ms) is modelled linearly in the proxies' latencies (ms)
and in additive architecture features (:mod:`hwnas.plugins.proxy.features`). A
linear combination of additive per-operator latency tables is again one, so
this is a learned re-weighting of the proxies' per-operator decomposition
(AdaProxy's idea) plus per-operator corrections the proxies cannot express.

Candidates (all fitted on the k samples, each column and the target divided
by their sample mean; :func:`candidates`):

- ``nnls:proxies``: non-negative least squares on the proxies (with one proxy,
  an affine map with non-negative slope: the proxy's ranking, unadapted);
- ``lognnls:proxies`` (several proxies): NNLS of the target's log latency on
  the proxies' log latency;
- ``ridge:proxies+<groups>``: ridge on standardised proxies and feature
  columns, unpenalised intercept, penalty chosen by exact leave-one-out
  (hat-matrix) error over ``RIDGE_GRID``; one candidate with every feature
  group and, when there are several groups, one per group (NB201: all-edge,
  used-edge and effective-edge op counts; FBNet: block counts);
- ``ridge:best+<group>`` (several proxies): the same ridge on one proxy, the
  one that ranks the samples best, plus one feature group; only when every
  leave-one-out refit keeps at least as many samples as coefficients
  (``BEST_PROXY_MARGIN``: NB201 from 7 samples, FBNet from 12). Leave one
  device out, N = 5/10/20, without it -> with it: NB201 0.9483/0.9699/0.9729
  -> 0.9483/0.9701/0.9732, FBNet 0.8895/0.9353/0.9458 -> 0.8895/0.9353/0.9461
  (without the sample margin FBNet lost 0.001 at N = 5 and 10);
- ``pcr<m>:proxies`` (when the proxies' latencies of unmeasured architectures
  are given, ``pool_proxy_ms``): principal-component regression, the target's
  log latency on the first m principal components (m = 1..4) of the proxies'
  standardised log latencies over that pool. The components come from
  unlabelled architectures only, so they cost no target measurement; they
  capture the few directions along which devices differ (GPU-like, CPU-like,
  accelerator-like) and need far fewer samples than one weight per proxy;
- without proxies, ``nnls:<group>``: non-negative per-operator costs.

**Selection, inside the k samples only.** Every candidate is refitted k times
leaving one sample out (penalty choice included). Default
(``criterion="bma"``): pseudo-Bayesian model averaging, the geometric mean
of the sane candidates' predictions weighted by their tempered leave-one-out
likelihood, ``mse ** (-BMA_POWER * k / 2)`` (mse: leave-one-out mean squared
error of log latency; weights below 0.01 dropped). ``BMA_POWER = 0.25``: with
k of 5-20 samples the leave-one-out errors are noisy and correlated, and the
untempered weights (power 1) put nearly all weight on whichever candidate was
lucky on the samples; on the leave-one-device-out means the tempered weights
were as good or better at every N of both spaces. It beat picking the single
candidate with the smallest leave-one-out error (``"mse"``) on the
leave-one-device-out mean at every N of both spaces, by 0.001-0.009;
``"srcc"`` picks the best leave-one-out SRCC. **Safety net:** a candidate whose
fit on the samples is constant or ranks them backwards is never chosen; when
every candidate is, the single column (proxy or feature) that ranks the
samples best is used, reversed if it ranks them backwards
(``rank:<column>``). With fewer than 4 samples only the first candidate is
fitted.

**Expected SRCC.** Every fit reports ``expected_srcc``: the Spearman SRCC of
the chosen model's leave-one-out predictions with the samples, and a 95 %
interval, the union of the percentile bootstrap over the samples and the
Fisher z interval. It is optimistic: on the leave-one-device-out fits it
covers the true SRCC in 64-92 % of fits, not 95 % (the benchmark prints the
share), and the misses are mostly true SRCCs below the interval. It is least
reliable at N=10 on NB201 (64 %), where the ``spread`` samples reach both
ends of the latency range and are easier to rank than the space as a whole.

Figures: ``benchmarks/proxy_transfer.py`` part E (leave one device out over
NB201's and FBNet's 27 settings, N = 5/10/20, same-run baselines) and part A
(HELP's 6); results in ``benchmarks/results/proxy_transfer_lodo.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls
from scipy.stats import rankdata

from hwnas.errors import HwnasError
from hwnas.latency import Latency, LatencyModel
from hwnas.plugins.proxy.features import Features, arch_features
from hwnas.plugins.proxy.stats import spearman
from hwnas.space import Architecture, SearchSpace

RIDGE_GRID = tuple(float(x) for x in np.logspace(-3, 3, 13))
BMA_POWER = 0.25
PCR_COMPONENTS = (1, 2, 3, 4)
POOL_SIZE = 2000
CRITERIA = ("bma", "mse", "srcc")
MIN_SAMPLES_FOR_SELECTION = 4
BEST_PROXY_MARGIN = 3
"""``ridge:best+<group>`` needs samples >= group columns + this (proxy, intercept, one out)."""

Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------
# the two fitters (inputs already normalised; outputs in normalised units)
# ---------------------------------------------------------------------------


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd[sd < 1e-12] = 1.0
    return mu, sd


def fit_ridge(x: np.ndarray, y: np.ndarray, grid: Sequence[float] = RIDGE_GRID):
    """Ridge with an unpenalised intercept; penalty by exact LOO error. Returns (predict, info)."""
    mu, sd = _standardise(x)
    z = np.column_stack([np.ones(len(y)), (x - mu) / sd])
    best = None
    for lam in grid:
        penalty = np.diag(np.r_[0.0, np.full(z.shape[1] - 1, lam)])
        inverse = np.linalg.pinv(z.T @ z + penalty)
        weights = inverse @ z.T @ y
        leverage = np.einsum("ij,jk,ik->i", z, inverse, z)
        residual = (y - z @ weights) / np.maximum(1.0 - leverage, 1e-6)
        error = float(np.mean(residual**2))
        if best is None or error < best[0] - 1e-15:
            best = (error, lam, weights)
    _, lam, weights = best

    def predict(xn: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(xn)), (xn - mu) / sd]) @ weights

    return predict, {"lambda": lam, "weights": (weights[1:] / sd).tolist()}


def fit_nnls(x: np.ndarray, y: np.ndarray):
    """Non-negative least squares on centred columns, free intercept. Returns (predict, info)."""
    mu, ym = x.mean(axis=0), float(y.mean())
    weights, _ = nnls(x - mu, y - ym)

    def predict(xn: np.ndarray) -> np.ndarray:
        return (xn - mu) @ weights + ym

    return predict, {"weights": weights.tolist()}


# ---------------------------------------------------------------------------
# candidates
# ---------------------------------------------------------------------------

PROXY_USE = ("all", "best", "none")


@dataclass(frozen=True)
class Candidate:
    """One adaptation model: ``kind`` (``nnls``/``ridge``) over proxies and feature groups.

    ``proxies``: ``all`` of them, the ``best`` one (highest SRCC on the
    samples the candidate is fitted on), or ``none``.
    """

    name: str
    kind: str
    proxies: str = "all"
    groups: tuple[str, ...] = ()

    def columns(self, features: Features | None) -> list[int]:
        """Feature columns this candidate uses."""
        if features is None:
            return []
        return [c for g in self.groups for c in features.groups.get(g, ())]


def candidates(
    features: Features | None, n_samples: int, n_proxies: int = 1, pool: bool = False
) -> list[Candidate]:
    """The candidate models for ``n_samples`` samples, ``n_proxies`` proxies and these features.

    With proxies: NNLS on the proxies (ms), NNLS of log latency on the
    proxies' log latency, and ridge on the proxies plus every feature group
    (one candidate with all groups, one per group), and on the best proxy
    plus one group when the samples allow it; with ``pool`` (proxy
    latencies of unmeasured architectures), principal-component regressions
    on 1..4 components (fewer than the proxies). Without proxies: NNLS on
    each feature group (non-negative per-operator costs). Fewer than
    ``MIN_SAMPLES_FOR_SELECTION`` samples: the first candidate only.
    """
    groups = []
    if features is not None:
        groups = [g for g, cols in features.groups.items() if cols]
    if not n_proxies:
        out = [Candidate(f"nnls:{g}", "nnls", "none", (g,)) for g in groups]
        return out if n_samples >= MIN_SAMPLES_FOR_SELECTION else out[:1]
    out = [Candidate("nnls:proxies", "nnls", "all")]
    if n_samples < MIN_SAMPLES_FOR_SELECTION:
        return out
    if n_proxies > 1:
        out.append(Candidate("lognnls:proxies", "lognnls", "all"))
    if groups:
        out.append(Candidate("ridge:proxies+" + "+".join(groups), "ridge", "all", tuple(groups)))
    if len(groups) > 1:
        out += [Candidate(f"ridge:proxies+{g}", "ridge", "all", (g,)) for g in groups]
    if pool:
        out += [
            Candidate(f"pcr{m}:proxies", f"pcr{m}", "all")
            for m in PCR_COMPONENTS
            if m < n_proxies and m + 2 <= n_samples
        ]
    if n_proxies > 1:  # every leave-one-out refit keeps >= as many samples as coefficients
        out += [
            Candidate(f"ridge:best+{g}", "ridge", "best", (g,))
            for g in groups
            if n_samples >= len(features.groups[g]) + BEST_PROXY_MARGIN
        ]
    return out


@dataclass(frozen=True)
class Components:
    """Principal components of the proxies' standardised log latency over unmeasured archs."""

    mean: np.ndarray
    scale: np.ndarray
    basis: np.ndarray  # (proxies, components), the leading right singular vectors

    @classmethod
    def of(cls, pool_proxy_ms: np.ndarray, most: int) -> Components:
        """The ``most`` leading components of the pool (rows: architectures)."""
        logs = np.log(np.maximum(np.asarray(pool_proxy_ms, float), 1e-12))
        mean, scale = _standardise(logs)
        _, _, vt = np.linalg.svd((logs - mean) / scale, full_matrices=False)
        return cls(mean, scale, vt[:most].T)

    def scores(self, proxy_ms: np.ndarray, m: int) -> np.ndarray:
        """Scores of architectures (rows of proxy ms) on the first ``m`` components."""
        logs = np.log(np.maximum(proxy_ms, 1e-12))
        return ((logs - self.mean) / self.scale) @ self.basis[:, :m]


def _column_srcc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman SRCC of every column of ``x`` with ``y`` (constant column: -2)."""
    rx, ry = rankdata(x, axis=0), rankdata(y)
    rx, ry = rx - rx.mean(axis=0), ry - ry.mean()
    den = np.sqrt((rx**2).sum(axis=0) * (ry**2).sum())
    ok = den > 1e-12
    return np.where(ok, (rx * ry[:, None]).sum(axis=0) / np.where(ok, den, 1.0), -2.0)


def _fit_candidate(
    candidate: Candidate,
    proxy_ms: np.ndarray,
    feats: np.ndarray,
    target_ms: np.ndarray,
    components: Components | None = None,
) -> tuple[Predictor, dict[str, Any]]:
    """Fit on samples (ms); the predictor maps (proxy ms, feature rows) -> target ms.

    ``feats`` holds the candidate's feature columns only.
    """
    if candidate.proxies == "all":
        pcols = list(range(proxy_ms.shape[1]))
    elif candidate.proxies == "best" and proxy_ms.shape[1]:
        pcols = [int(np.argmax(_column_srcc(proxy_ms, target_ms)))]
    else:
        pcols = []
    x = np.column_stack([proxy_ms[:, pcols], feats]) if pcols else np.asarray(feats, float)
    scale_x = np.abs(x).mean(axis=0)
    scale_x = np.where(scale_x > 1e-12, scale_x, 1.0)
    scale_y = float(target_ms.mean()) or 1.0
    if candidate.kind.startswith("pcr"):  # least squares of log latency on m PC scores
        m = int(candidate.kind[3:])
        z = np.column_stack([np.ones(len(target_ms)), components.scores(proxy_ms, m)])
        weights = np.linalg.lstsq(z, np.log(target_ms), rcond=None)[0]

        def predict_pcr(p: np.ndarray, f: np.ndarray) -> np.ndarray:
            return np.exp(np.column_stack([np.ones(len(p)), components.scores(p, m)]) @ weights)

        return predict_pcr, {"components": m, "weights": weights[1:].tolist()}
    if candidate.kind == "lognnls":  # log latency of the target on the proxies' log latency
        fit_log, info = fit_nnls(np.log(x), np.log(target_ms))
        info["proxy_columns"] = pcols

        def predict_log(p: np.ndarray, f: np.ndarray) -> np.ndarray:
            return np.exp(fit_log(np.log(np.maximum(p[:, pcols], 1e-12))))

        return predict_log, info
    fit, info = (fit_nnls if candidate.kind == "nnls" else fit_ridge)(
        x / scale_x, target_ms / scale_y
    )
    info["proxy_columns"] = pcols

    def predict(p: np.ndarray, f: np.ndarray) -> np.ndarray:
        xn = np.column_stack([p[:, pcols], f]) if pcols else np.asarray(f, float)
        return fit(xn / scale_x) * scale_y

    return predict, info


def _log(ms: np.ndarray, floor: float) -> np.ndarray:
    return np.log(np.maximum(ms, floor))


def _sane(fitted: np.ndarray, target_ms: np.ndarray) -> bool:
    """Not a constant and not ranking the samples backwards."""
    spread = np.ptp(fitted) > 1e-9 * max(float(np.abs(fitted).max()), 1e-12)
    return bool(spread and np.nan_to_num(spearman(fitted, target_ms), nan=-1.0) > 0)


# ---------------------------------------------------------------------------
# the adaptation
# ---------------------------------------------------------------------------


@dataclass
class Adaptation:
    """A fitted adaptation: which candidate won, every candidate's LOO figures, the predictor.

    ``expected_srcc``: the SRCC of the chosen model's leave-one-out predictions
    with the samples' latencies (``estimate``), and its percentile bootstrap
    interval (``low``, ``high``): what SRCC to expect on the architectures not
    measured.
    """

    chosen: str
    proxies: list[str]
    feature_names: list[str]
    criterion: str
    n_samples: int
    table: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    predictor: Predictor | None = field(default=None, repr=False)
    columns: list[int] = field(default_factory=list)
    floor_ms: float = 1e-6
    expected_srcc: dict[str, Any] = field(default_factory=dict)

    def predict(self, proxy_ms: np.ndarray, features: Features | np.ndarray | None) -> np.ndarray:
        """Target latency (ms) from proxy latencies (n x proxies) and features."""
        proxy_ms = np.asarray(proxy_ms, dtype=float)
        if proxy_ms.ndim == 1:
            proxy_ms = proxy_ms[:, None]
        values = features.values if isinstance(features, Features) else features
        f = (
            np.zeros((len(proxy_ms), 0))
            if values is None or not self.columns
            else np.asarray(values, dtype=float)[:, self.columns]
        )
        return np.maximum(self.predictor(proxy_ms, f), self.floor_ms)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no predictor)."""
        return {
            "chosen": self.chosen,
            "criterion": self.criterion,
            "n_samples": self.n_samples,
            "proxies": self.proxies,
            "features": [self.feature_names[c] for c in self.columns],
            "expected_srcc": self.expected_srcc,
            "candidates": [
                {k: v for k, v in row.items() if not k.startswith("_")} for row in self.table
            ],
            "fit": self.info,
        }

    def statement(self) -> str:
        """One readable line: the chosen model and the SRCC to expect."""
        e = self.expected_srcc
        text = f"{self.chosen} on {self.n_samples} samples"
        if e and e.get("estimate") is not None and np.isfinite(e["estimate"]):
            text += (
                f": leave-one-out SRCC {e['estimate']:.3f} "
                f"(95% interval {e['low']:.2f}-{e['high']:.2f})"
            )
        return text


def _expected(loo: np.ndarray | None, target_ms: np.ndarray, seed: int = 0) -> dict[str, Any]:
    from hwnas.plugins.proxy.stats import bootstrap_interval, fisher_interval

    if loo is None:
        return {"estimate": None, "low": -1.0, "high": 1.0, "method": "too few samples"}
    r = spearman(loo, target_ms)
    boot = bootstrap_interval(loo, target_ms, seed=seed)
    fisher = fisher_interval(r, len(target_ms))
    # The union: the percentile bootstrap alone under-covers at 5-20 samples.
    lo, hi = min(boot[0], fisher[0]), max(boot[1], fisher[1])
    if np.isfinite(r):
        lo, hi = min(lo, r), max(hi, r)
    floor = float(target_ms.min()) / 4
    rmse = float(np.sqrt(np.mean((_log(loo, floor) - np.log(target_ms)) ** 2)))
    return {
        "estimate": r,
        "low": lo,
        "high": hi,
        "bootstrap": list(boot),
        "fisher": list(fisher),
        "loo_rmse_log": rmse,
        "method": "Spearman SRCC of the chosen model's leave-one-out predictions with the "
        f"{len(target_ms)} samples; 95% interval: the union of the percentile bootstrap over "
        "the samples and the Fisher z interval",
    }


def fit_adaptation(
    proxy_ms: np.ndarray,
    target_ms: np.ndarray,
    features: Features | None = None,
    proxies: Sequence[str] = (),
    criterion: str = "bma",
    only: str | None = None,
    pool_proxy_ms: np.ndarray | None = None,
) -> Adaptation:
    """Choose and fit the adaptation on k samples (rows of ``proxy_ms``, ``features``).

    ``proxy_ms``: (k, proxies) proxy latencies of the samples (may have no
    column); ``target_ms``: (k,) their target latencies; ``features``: their
    features (or ``None``). ``only`` forces one candidate by name (no
    selection). ``pool_proxy_ms``: the proxies' latencies of unmeasured
    architectures (rows), e.g. the search pool; it adds the principal-component
    candidates. A candidate whose fit on the samples is constant or ranks them
    backwards is never chosen.
    """
    target_ms = np.asarray(target_ms, dtype=float)
    k = len(target_ms)
    proxy_ms = np.asarray(proxy_ms, dtype=float)
    if proxy_ms.size == 0:
        proxy_ms = np.zeros((k, 0))
    if proxy_ms.ndim == 1:
        proxy_ms = proxy_ms[:, None]
    if criterion not in CRITERIA:
        raise HwnasError(f"unknown adaptation criterion {criterion!r}", f"use one of {CRITERIA}")
    if k < 2 or proxy_ms.shape[0] != k:
        raise HwnasError(
            f"adaptation needs at least 2 paired samples, got {k}", "measure more samples"
        )
    if not (np.all(np.isfinite(target_ms)) and np.all(np.isfinite(proxy_ms))):
        raise HwnasError("latencies must be finite numbers to adapt a proxy")
    if np.any(target_ms <= 0) or np.any(proxy_ms <= 0):
        raise HwnasError("latencies must be positive to adapt a proxy")
    n_proxies = proxy_ms.shape[1]
    if features is not None and not any(features.groups.values()):
        features = None
    if n_proxies == 0 and features is None:
        raise HwnasError(
            "nothing to adapt from: no proxy and no architecture features",
            "pass at least one proxy device",
        )
    feats = features.values if features is not None else np.zeros((k, 0))
    names = list(features.names) if features is not None else []
    components = None
    if pool_proxy_ms is not None and n_proxies > 1:
        pool_proxy_ms = np.asarray(pool_proxy_ms, dtype=float)
        if pool_proxy_ms.ndim != 2 or pool_proxy_ms.shape[1] != n_proxies:
            raise HwnasError(
                f"the pool's proxy latencies have shape {pool_proxy_ms.shape}, expected "
                f"(architectures, {n_proxies})",
                "pass one column per proxy, in the samples' order",
            )
        components = Components.of(pool_proxy_ms, max(PCR_COMPONENTS))
    pool = candidates(features, k, n_proxies, components is not None)
    if only is not None:
        pool = [c for c in pool if c.name == only]
        if not pool:
            valid = ", ".join(
                c.name for c in candidates(features, k, n_proxies, components is not None)
            )
            raise HwnasError(f"unknown adaptation candidate {only!r}", f"choose one of: {valid}")
    floor = float(target_ms.min()) / 4
    log_y = np.log(target_ms)
    table = []
    for candidate in pool:
        cols = candidate.columns(features)
        row: dict[str, Any] = {"name": candidate.name}
        predict, info = _fit_candidate(candidate, proxy_ms, feats[:, cols], target_ms, components)
        fitted = predict(proxy_ms, feats[:, cols])
        row["sane"] = _sane(fitted, target_ms)
        row["_fit"] = (predict, info, fitted)
        if k >= MIN_SAMPLES_FOR_SELECTION:
            loo = np.empty(k)
            for i in range(k):
                keep = np.arange(k) != i
                p, _ = _fit_candidate(
                    candidate, proxy_ms[keep], feats[keep][:, cols], target_ms[keep], components
                )
                loo[i] = p(proxy_ms[i : i + 1], feats[i : i + 1][:, cols])[0]
            row["loo_rmse_log"] = float(np.sqrt(np.mean((_log(loo, floor) - log_y) ** 2)))
            row["_loo_ms"] = loo
            row["loo_srcc"] = spearman(loo, target_ms)
        table.append(row)
    usable = [i for i, r in enumerate(table) if r["sane"]] or list(range(len(table)))
    if len(table) == 1 or k < MIN_SAMPLES_FOR_SELECTION:
        best = usable[0]
    elif criterion in ("mse", "bma"):
        best = min(usable, key=lambda i: table[i]["loo_rmse_log"])
    else:
        best = max(
            usable,
            key=lambda i: (
                np.nan_to_num(table[i]["loo_srcc"], nan=-2.0),
                -table[i]["loo_rmse_log"],
            ),
        )
    chosen = pool[best]
    cols = chosen.columns(features)
    predictor, info, fitted = table[best]["_fit"]
    info = dict(info)
    loo_chosen = table[best].get("_loo_ms")
    if not table[best]["sane"]:
        predictor, info, fitted, chosen, cols = _fallback(proxy_ms, feats, target_ms)
        loo_chosen = None
        if k >= MIN_SAMPLES_FOR_SELECTION:
            loo_chosen = np.empty(k)
            for i in range(k):
                keep = np.arange(k) != i
                p, _, _, _, c = _fallback(proxy_ms[keep], feats[keep], target_ms[keep])
                loo_chosen[i] = p(proxy_ms[i : i + 1], feats[i : i + 1][:, c])[0]
    elif criterion == "bma" and len(table) > 1 and k >= MIN_SAMPLES_FOR_SELECTION:
        sane = [i for i in usable if table[i]["sane"]]
        mse = np.array([max(table[i]["loo_rmse_log"], 1e-9) ** 2 for i in sane])
        # pseudo-BMA: weight ~ tempered leave-one-out likelihood of Gaussian log errors
        logw = -0.5 * k * BMA_POWER * np.log(mse / mse.min())
        weights = np.exp(logw) / np.exp(logw).sum()
        keep = [(i, w) for i, w in zip(sane, weights, strict=True) if w >= 0.01]
        total = sum(w for _, w in keep)
        keep = [(i, w / total) for i, w in keep]
        members = [
            (table[i]["_fit"][0], pool[i].columns(features), w, pool[i].name) for i, w in keep
        ]
        all_cols = sorted({c for _, cs, _, _ in members for c in cs})
        where = {c: n for n, c in enumerate(all_cols)}

        def predictor(p: np.ndarray, f: np.ndarray, members=members, where=where) -> np.ndarray:
            out = np.zeros(len(p))
            for fit, cs, w, _ in members:
                out += w * np.log(np.maximum(fit(p, f[:, [where[c] for c in cs]]), floor))
            return np.exp(out)

        cols = all_cols
        fitted = predictor(proxy_ms, feats[:, cols])
        loo_chosen = np.exp(
            sum(w * np.log(np.maximum(table[i]["_loo_ms"], floor)) for i, w in keep)
        )
        name = " + ".join(f"{w:.2f} {pool[i].name}" for i, w in keep)
        chosen = Candidate(f"bma({name})" if len(keep) > 1 else pool[keep[0][0]].name, "bma")
        info = {"weights": {pool[i].name: float(w) for i, w in keep}}
        if not _sane(fitted, target_ms):  # the average of sane fits is sane; keep it certain
            predictor, info, fitted = table[best]["_fit"]
            chosen, cols, loo_chosen = (
                pool[best],
                pool[best].columns(features),
                table[best].get("_loo_ms"),
            )
    for row in table:
        row.pop("_fit", None)
    info["fit_srcc"] = spearman(fitted, target_ms)
    return Adaptation(
        chosen=chosen.name,
        proxies=list(proxies) or [f"proxy{i}" for i in range(n_proxies)],
        feature_names=names,
        criterion=criterion,
        n_samples=k,
        table=table,
        info=info,
        predictor=predictor,
        columns=cols,
        floor_ms=floor,
        expected_srcc=_expected(loo_chosen, target_ms),
    )


def _fallback(proxy_ms, feats, target_ms):
    """The single column (proxy or feature) that ranks the samples best, sign-corrected.

    Used when every candidate's fit is constant or ranks the samples backwards
    (adversarial samples): never constant unless every column is.
    """
    x = np.column_stack([proxy_ms, feats])
    rho = _column_srcc(x, target_ms)
    j = int(np.argmax(np.abs(np.where(rho < -1.5, 0.0, rho))))
    sign = -1.0 if rho[j] < 0 else 1.0
    n_proxies = proxy_ms.shape[1]
    label = f"proxy{j}" if j < n_proxies else f"feature{j - n_proxies}"
    col = x[:, j]
    lo, hi = float(col.min()), float(col.max())
    span = (hi - lo) or 1.0
    y_lo, y_hi = float(target_ms.min()), float(target_ms.max())

    def predict(p: np.ndarray, f: np.ndarray) -> np.ndarray:
        v = p[:, j] if j < n_proxies else f[:, j - n_proxies]
        u = (v - lo) / span
        u = u if sign > 0 else 1.0 - u
        return y_lo + u * (y_hi - y_lo)

    cols = list(range(feats.shape[1])) if j >= n_proxies else []
    fitted = predict(proxy_ms, feats[:, cols])
    candidate = Candidate(f"rank:{label}{'(reversed)' if sign < 0 else ''}", "rank", "none")
    info = {"column": label, "sign": sign, "column_srcc": float(rho[j])}
    return predict, info, fitted, candidate, cols


class AdaptedLatencyModel(LatencyModel):
    """A target's latency predicted from proxy latency models and an :class:`Adaptation`.

    Answers every architecture the proxies answer, with ``source="predicted"``
    and ``measured_fraction=0``; vectorised through the proxies' ``latencies``.
    """

    def __init__(
        self,
        proxies: Sequence[LatencyModel],
        space: SearchSpace,
        adaptation: Adaptation,
        name: str | None = None,
    ) -> None:
        self.proxies = list(proxies)
        self.search_space = space
        self.space = space.name
        self.adaptation = adaptation
        self.name = name or "adapted(" + ",".join(p.name for p in self.proxies) + ")"
        self._cache: dict[Architecture, float] = {}

    def latencies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Predicted latencies (ms) of many architectures at once."""
        archs = list(archs)
        if not archs:
            return np.zeros(0)
        return self.adaptation.predict(
            _proxy_ms(self.proxies, archs), arch_features(self.search_space, archs)
        )

    def latency(self, arch: Architecture) -> Latency:
        """Predicted latency of one architecture (cached)."""
        ms = self._cache.get(arch)
        if ms is None:
            ms = float(self.latencies([arch])[0])
            self._cache[arch] = ms
        return Latency(ms, "predicted", 0.0)

    def fingerprint(self) -> dict[str, Any]:
        """The proxies and the adaptation that produce the numbers."""
        return {
            "model": self.name,
            "space": self.space,
            "proxies": [p.fingerprint() for p in self.proxies],
            "adaptation": self.adaptation.as_dict(),
        }


def _proxy_ms(proxies: Sequence[LatencyModel], archs: Sequence[Architecture]) -> np.ndarray:
    """Latencies (ms) of ``archs`` on every proxy: (architectures, proxies)."""
    return np.column_stack([np.asarray(p.latencies(archs), float) for p in proxies])


def _default_pool(proxy: LatencyModel, space: SearchSpace) -> list[Architecture]:
    """Up to ``POOL_SIZE`` of the proxy's tabulated architectures, else random ones (seed 0)."""
    rng = np.random.default_rng(0)
    pool = proxy.pool_archs()
    if pool is None:
        return [space.sample(rng) for _ in range(POOL_SIZE)]
    pool = list(pool)
    if len(pool) <= POOL_SIZE:
        return pool
    return [pool[i] for i in rng.choice(len(pool), POOL_SIZE, replace=False)]


def adapt(
    proxies: Sequence[LatencyModel],
    space: SearchSpace,
    archs: Sequence[Architecture],
    target_ms: Sequence[float],
    criterion: str = "bma",
    only: str | None = None,
    pool: Sequence[Architecture] | None = None,
) -> AdaptedLatencyModel:
    """Fit an adaptation on measured ``archs`` and return the adapted latency model.

    ``pool``: unmeasured architectures whose proxy latencies give the
    principal components (default: up to 2,000 of the first proxy's tabulated
    architectures, else 2,000 random ones of the space, seed 0).
    """
    archs = list(archs)
    if pool is None and len(proxies) > 1:
        pool = _default_pool(proxies[0], space)
    adaptation = fit_adaptation(
        _proxy_ms(proxies, archs),
        np.asarray(target_ms, float),
        arch_features(space, archs),
        [p.name for p in proxies],
        criterion,
        only,
        _proxy_ms(proxies, pool) if pool else None,
    )
    return AdaptedLatencyModel(proxies, space, adaptation)
