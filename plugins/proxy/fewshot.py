"""Adapt proxy latencies to a target from k target samples.

The target's latency (ms) is modelled linearly in the proxies' latencies (ms)
and in additive architecture features (:mod:`hwnas.plugins.proxy.features`). A
linear combination of additive per-operator latency tables is again one, so
this is a learned re-weighting of the proxies' per-operator decomposition
(AdaProxy's idea) plus per-operator corrections the proxies cannot express.

Candidates (all fitted on the k samples, proxies and target each divided by
their sample mean):

- ``nnls:proxies``: non-negative least squares on the proxies (with one proxy,
  an affine map with non-negative slope: the proxy's ranking, unadapted);
- ``ridge:proxies+<groups>``: ridge on standardised proxies and feature
  columns, unpenalised intercept, penalty chosen by exact leave-one-out
  (hat-matrix) error over ``RIDGE_GRID``; one candidate with every feature
  group and, when there are several groups, one per group.

The candidate with the smallest leave-one-out error of log latency (each
left-out sample predicted by a refit on the others, penalty choice included)
is used; ``criterion="srcc"`` picks the best leave-one-out Spearman SRCC
instead (ties broken by the error). With fewer than 4 samples only
``nnls:proxies`` is fitted.

Measured on NB201 (benchmarks/PROTOCOLS.md, 10 uniform samples, HELP's 13
meta-training devices as proxies, mean of HELP's 6 targets): ridge on the
proxies' log latency 0.951, NNLS on them 0.945, this selection 0.966 (0.968
with all allowed devices as proxies); ``benchmarks/proxy_transfer.py``
prints the current figures. With a single strong proxy the selection can
lose a little against the proxy's own ranking (mean 0.965 vs 0.971 over the
27 settings with each one's best proxy), which is why the strategy keeps the
proxy when the sample SRCC clears its threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from hwnas.errors import HwnasError
from hwnas.latency import Latency, LatencyModel
from hwnas.plugins.proxy.features import Features, arch_features
from hwnas.plugins.proxy.stats import spearman
from hwnas.space import Architecture, SearchSpace

RIDGE_GRID = tuple(float(x) for x in np.logspace(-3, 3, 13))
CRITERIA = ("mse", "srcc")
MIN_SAMPLES_FOR_SELECTION = 4

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


@dataclass(frozen=True)
class Candidate:
    """One adaptation model: ``kind`` (``nnls`` or ``ridge``) over proxies and feature groups."""

    name: str
    kind: str
    groups: tuple[str, ...] = ()

    def columns(self, features: Features) -> list[int]:
        """Feature columns this candidate uses."""
        return [c for g in self.groups for c in features.groups.get(g, ())]


def candidates(features: Features | None, n_samples: int) -> list[Candidate]:
    """The candidate models for ``n_samples`` samples and these feature groups."""
    out = [Candidate("nnls:proxies", "nnls")]
    if features is None or n_samples < MIN_SAMPLES_FOR_SELECTION:
        return out
    groups = [g for g, cols in features.groups.items() if cols]
    if not groups:
        return out
    out.append(Candidate("ridge:proxies+" + "+".join(groups), "ridge", tuple(groups)))
    if len(groups) > 1:
        out += [Candidate(f"ridge:proxies+{g}", "ridge", (g,)) for g in groups]
    return out


def _fit_candidate(
    candidate: Candidate, proxy_ms: np.ndarray, feats: np.ndarray, target_ms: np.ndarray
) -> tuple[Predictor, dict[str, Any]]:
    """Fit on samples (ms); the predictor maps (proxy ms, feature rows) -> target ms."""
    scale_p = proxy_ms.mean(axis=0)
    scale_p = np.where(scale_p > 0, scale_p, 1.0)
    scale_y = float(target_ms.mean()) or 1.0
    y = target_ms / scale_y
    if candidate.kind == "nnls":
        fit, info = fit_nnls(proxy_ms / scale_p, y)

        def predict(p: np.ndarray, f: np.ndarray) -> np.ndarray:
            return fit(p / scale_p) * scale_y

        return predict, info
    x = np.column_stack([proxy_ms / scale_p, feats])
    fit, info = fit_ridge(x, y)

    def predict(p: np.ndarray, f: np.ndarray) -> np.ndarray:
        return fit(np.column_stack([p / scale_p, f])) * scale_y

    return predict, info


def _log(ms: np.ndarray, floor: float) -> np.ndarray:
    return np.log(np.maximum(ms, floor))


# ---------------------------------------------------------------------------
# the adaptation
# ---------------------------------------------------------------------------


@dataclass
class Adaptation:
    """A fitted adaptation: which candidate won, every candidate's LOO figures, the predictor."""

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
            "candidates": [
                {k: v for k, v in row.items() if not k.startswith("_")} for row in self.table
            ],
            "fit": self.info,
        }


def fit_adaptation(
    proxy_ms: np.ndarray,
    target_ms: np.ndarray,
    features: Features | None = None,
    proxies: Sequence[str] = (),
    criterion: str = "mse",
    only: str | None = None,
) -> Adaptation:
    """Choose and fit the adaptation on k samples (rows of ``proxy_ms``, ``features``).

    ``proxy_ms``: (k, proxies) proxy latencies of the samples; ``target_ms``:
    (k,) their target latencies; ``features``: their features. ``only`` forces
    one candidate by name (no selection).
    """
    proxy_ms = np.asarray(proxy_ms, dtype=float)
    if proxy_ms.ndim == 1:
        proxy_ms = proxy_ms[:, None]
    target_ms = np.asarray(target_ms, dtype=float)
    k = len(target_ms)
    if criterion not in CRITERIA:
        raise HwnasError(f"unknown adaptation criterion {criterion!r}", f"use one of {CRITERIA}")
    if k < 2 or proxy_ms.shape[0] != k:
        raise HwnasError(
            f"adaptation needs at least 2 paired samples, got {k}", "measure more samples"
        )
    if np.any(target_ms <= 0) or np.any(proxy_ms <= 0):
        raise HwnasError("latencies must be positive to adapt a proxy")
    feats = features.values if features is not None else np.zeros((k, 0))
    names = list(features.names) if features is not None else []
    pool = candidates(features, k)
    if only is not None:
        pool = [c for c in pool if c.name == only]
        if not pool:
            valid = ", ".join(c.name for c in candidates(features, k))
            raise HwnasError(f"unknown adaptation candidate {only!r}", f"choose one of: {valid}")
    floor = float(target_ms.min()) / 4
    log_y = np.log(target_ms)
    table = []
    for candidate in pool:
        cols = candidate.columns(features) if features is not None else []
        row: dict[str, Any] = {"name": candidate.name}
        if len(pool) > 1:
            loo = np.empty(k)
            for i in range(k):
                keep = np.arange(k) != i
                predict, _ = _fit_candidate(
                    candidate, proxy_ms[keep], feats[keep][:, cols], target_ms[keep]
                )
                loo[i] = predict(proxy_ms[i : i + 1], feats[i : i + 1][:, cols])[0]
            row["loo_rmse_log"] = float(np.sqrt(np.mean((_log(loo, floor) - log_y) ** 2)))
            row["_loo_ms"] = loo
            row["loo_srcc"] = spearman(loo, target_ms)
        table.append(row)
    if len(pool) == 1:
        best = 0
    elif criterion == "mse":
        best = int(np.argmin([r["loo_rmse_log"] for r in table]))
    else:
        best = max(
            range(len(table)),
            key=lambda i: (
                np.nan_to_num(table[i]["loo_srcc"], nan=-2.0),
                -table[i]["loo_rmse_log"],
            ),
        )
    chosen = pool[best]
    cols = chosen.columns(features) if features is not None else []
    predictor, info = _fit_candidate(chosen, proxy_ms, feats[:, cols], target_ms)
    fitted = predictor(proxy_ms, feats[:, cols])
    info["fit_srcc"] = spearman(fitted, target_ms)
    return Adaptation(
        chosen=chosen.name,
        proxies=list(proxies) or [f"proxy{i}" for i in range(proxy_ms.shape[1])],
        feature_names=names,
        criterion=criterion,
        n_samples=k,
        table=table,
        info=info,
        predictor=predictor,
        columns=cols,
        floor_ms=floor,
    )


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
        proxy_ms = np.column_stack([np.asarray(p.latencies(archs), float) for p in self.proxies])
        return self.adaptation.predict(proxy_ms, arch_features(self.search_space, archs))

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


def adapt(
    proxies: Sequence[LatencyModel],
    space: SearchSpace,
    archs: Sequence[Architecture],
    target_ms: Sequence[float],
    criterion: str = "mse",
    only: str | None = None,
) -> AdaptedLatencyModel:
    """Fit an adaptation on measured ``archs`` and return the adapted latency model."""
    archs = list(archs)
    proxy_ms = np.column_stack([np.asarray(p.latencies(archs), float) for p in proxies])
    adaptation = fit_adaptation(
        proxy_ms,
        np.asarray(target_ms, float),
        arch_features(space, archs),
        [p.name for p in proxies],
        criterion,
        only,
    )
    return AdaptedLatencyModel(proxies, space, adaptation)
