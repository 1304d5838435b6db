"""Kernel-level latency predictor: an ensemble of XGBoost regressors on log latency.

One predictor per target fingerprint, trained on the ``ok`` kernel rows the
:class:`~hwnas.store.LatencyStore` holds for it (an op at one input shape; rows
of whole networks are ignored). Each ensemble member is fitted on a bootstrap
resample of the measurements with its own seed:

- a ridge regression of log latency on the family one-hot and the log sizes
  (FLOPs, params, memory traffic, input and output elements; see
  :mod:`hwnas.predict.features`) gives a trend that extrapolates to shapes no
  measurement covers, and
- XGBoost (``xgboost.train``) fits the residual of that trend.

The prediction is the geometric mean over members (``exp`` of the mean log
prediction); the *spread* is the standard deviation of the members' log
predictions, i.e. a relative uncertainty (0.1 = about +-10%). It grows off the
training distribution because the bootstrapped trends disagree more the
further a point lies from the data.

Models are saved as JSON beside the store (``<store>.predictors/<fp>.json``,
boosters in XGBoost's own JSON format, plus ``<fp>.meta.json``); nothing is
pickled. A saved model reloads to bit-identical predictions.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.predict.features import (
    feature_matrix,
    feature_names,
    is_kernel_row,
    trend_columns,
    vocabulary,
)

FORMAT = "hwnas-kernel-predictor"
VERSION = 1


def xgboost_module():
    """The ``xgboost`` module (a one-line error naming the package if it is missing)."""
    try:
        import xgboost
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise HwnasError(
            "latency predictors need xgboost", "pip install xgboost-cpu (or xgboost)"
        ) from exc
    return xgboost


@dataclass(frozen=True)
class PredictorParams:
    """Hyper-parameters of the ensemble (defaults tuned for tens to hundreds of workloads)."""

    members: int = 8
    rounds: int = 300
    max_depth: int = 2
    eta: float = 0.05
    min_child_weight: float = 1.0
    colsample_bynode: float = 0.8
    reg_lambda: float = 1.0
    ridge: float = 1.0
    trend: bool = True
    op_onehot: bool = False  # one-hot of the op name (beside the family one-hot)
    shape_onehot: bool = False  # one-hot of the layer-shape class
    trend_ops: bool = False
    loss: str = "l1"  # "squared" | "l1" | "huber" (l1/huber: robust to outlier measurements)
    huber: float = 0.1  # log units where the Huber loss turns linear
    point: str = "full"  # "full": a model on all data gives the point; "ensemble": the mean
    seed: int = 0
    nthread: int = 1

    def xgb_params(self, seed: int) -> dict[str, Any]:
        """The ``xgboost.train`` parameters of one member."""
        objective = {
            "squared": "reg:squarederror",
            "l1": "reg:absoluteerror",
            "huber": "reg:pseudohubererror",
        }[self.loss]
        return {
            "objective": objective,
            "huber_slope": self.huber,
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.eta,
            "min_child_weight": self.min_child_weight,
            "colsample_bynode": self.colsample_bynode,
            "lambda": self.reg_lambda,
            "base_score": 0.0,
            "seed": seed,
            "nthread": self.nthread,
            "verbosity": 0,
        }


@dataclass
class LogTrend:
    """Ridge regression of log latency on standardised trend columns (intercept not penalised)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, ridge: float, huber: float | None = None
    ) -> LogTrend:
        """Ridge fit; with ``huber`` a Huber loss by iteratively reweighted least squares."""
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale < 1e-12] = 1.0
        z = np.column_stack([np.ones(len(x)), (x - mean) / scale])
        penalty = ridge * np.eye(z.shape[1])
        penalty[0, 0] = 0.0
        w = np.ones(len(y))
        for _ in range(20 if huber else 1):
            zw = z * w[:, None]
            beta = np.linalg.solve(z.T @ zw + penalty, zw.T @ y)
            if not huber:
                break
            r = np.abs(y - z @ beta)
            w_new = np.minimum(1.0, huber / np.maximum(r, 1e-12))
            if np.allclose(w_new, w, atol=1e-4):
                break
            w = w_new
        return cls(mean, scale, beta[1:], float(beta[0]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LogTrend:
        return cls(
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["scale"], dtype=np.float64),
            np.asarray(d["coef"], dtype=np.float64),
            float(d["intercept"]),
        )


@dataclass(frozen=True)
class KernelPrediction:
    """Predicted latency (ms) and relative spread (std of log latency) per workload."""

    ms: np.ndarray
    spread: np.ndarray

    @property
    def low_ms(self) -> np.ndarray:
        """``ms * exp(-spread)`` (about the 16th percentile if the spread were Gaussian)."""
        return self.ms * np.exp(-self.spread)

    @property
    def high_ms(self) -> np.ndarray:
        """``ms * exp(+spread)``."""
        return self.ms * np.exp(self.spread)


@dataclass
class KernelPredictor:
    """Ensemble of (ridge trend + XGBoost residual) models of log latency over workload features.

    ``fit(features, ms)`` trains; ``predict(features)`` returns a
    :class:`KernelPrediction`; ``save``/``load`` write and read JSON.
    ``trained_keys`` records which workload keys it was trained on (when given).
    """

    params: PredictorParams = field(default_factory=PredictorParams)
    vocab: tuple[str, ...] = ()
    trained_keys: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    _members: list[tuple[LogTrend | None, Any]] = field(default_factory=list, repr=False)

    @property
    def fitted(self) -> bool:
        """Whether the ensemble has been trained (or loaded)."""
        return bool(self._members)

    # -- training ------------------------------------------------------------
    def fit(
        self,
        features: Sequence[Mapping[str, Any]],
        ms: Sequence[float],
        keys: Sequence[str] | None = None,
    ) -> KernelPredictor:
        """Train on workloads' feature dicts and their measured latencies (ms > 0)."""
        xgb = xgboost_module()
        y_ms = np.asarray(ms, dtype=np.float64)
        if len(features) != len(y_ms):
            raise ValueError("features and ms must have the same length")
        if len(y_ms) < 2:
            raise HwnasError(
                f"a latency predictor needs at least 2 measured workloads, got {len(y_ms)}",
                "measure more workloads first (hwnas profile)",
            )
        if np.any(~np.isfinite(y_ms)) or np.any(y_ms <= 0):
            raise ValueError("latencies must be positive and finite")
        p = self.params
        self.vocab = vocabulary(features, ops=p.op_onehot, shapes=p.shape_onehot)
        x = feature_matrix(features, self.vocab)
        y = np.log(y_ms)
        cols = trend_columns(self.vocab, p.trend_ops)
        huber = p.huber if p.loss != "squared" else None
        n = len(y)
        members = []
        # member 0 sees all the data (the point prediction when point == "full");
        # members 1.. are bootstrap resamples (their disagreement is the spread)
        for m in range(p.members + (p.point == "full")):
            rng = np.random.default_rng(p.seed * 1000 + m)
            full = p.point == "full" and m == 0
            sample = np.arange(n) if full or p.members == 1 else rng.integers(0, n, n)
            xs, ys = x[sample], y[sample]
            trend = LogTrend.fit(xs[:, cols], ys, p.ridge, huber) if p.trend else None
            base = trend.predict(xs[:, cols]) if trend else np.zeros(len(ys))
            dtrain = xgb.DMatrix(xs, label=ys - base, feature_names=self._names())
            booster = xgb.train(p.xgb_params(p.seed * 1000 + m), dtrain, p.rounds)
            members.append((trend, booster))
        self._members = members
        self.trained_keys = tuple(keys) if keys is not None else ()
        self.info = {
            "trained_on": n,
            "trained_at": time.time(),
            "xgboost": xgb.__version__,
            "median_ms": float(np.median(y_ms)),
        }
        return self

    def _names(self) -> list[str]:
        return [n.replace("=", "_").replace("[", "(").replace("]", ")") for n in self._raw_names()]

    def _raw_names(self) -> list[str]:
        return feature_names(self.vocab)

    # -- prediction ----------------------------------------------------------
    def member_log_predictions(self, features: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """``(members, n)`` log-latency predictions of every member."""
        if not self.fitted:
            raise HwnasError("the latency predictor is not trained", "fit it or load a saved one")
        xgb = xgboost_module()
        x = feature_matrix(features, self.vocab)
        cols = trend_columns(self.vocab, self.params.trend_ops)
        dmat = xgb.DMatrix(x, feature_names=self._names())
        out = np.empty((len(self._members), len(x)))
        for i, (trend, booster) in enumerate(self._members):
            base = trend.predict(x[:, cols]) if trend else 0.0
            out[i] = base + booster.predict(dmat)
        return out

    def predict(self, features: Sequence[Mapping[str, Any]]) -> KernelPrediction:
        """Latency (ms) and spread (std of the bootstrap members' log latency) per workload.

        The point is the all-data member (``point="full"``) or the geometric
        mean of the members (``point="ensemble"``).
        """
        if len(features) == 0:
            return KernelPrediction(np.zeros(0), np.zeros(0))
        logs = self.member_log_predictions(features)
        if self.params.point == "full":
            point, boot = logs[0], logs[1:]
        else:
            point, boot = logs.mean(axis=0), logs
        spread = boot.std(axis=0) if len(boot) > 1 else np.zeros(logs.shape[1])
        return KernelPrediction(np.exp(point), spread)

    # -- persistence ---------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The whole ensemble as a JSON-able dict (boosters in XGBoost's JSON format)."""
        if not self.fitted:
            raise HwnasError("cannot save an untrained predictor")
        return {
            "format": FORMAT,
            "version": VERSION,
            "params": self.params.__dict__,
            "vocab": list(self.vocab),
            "feature_names": self._raw_names(),
            "trained_keys": list(self.trained_keys),
            "info": self.info,
            "members": [
                {
                    "trend": trend.to_dict() if trend else None,
                    "booster": json.loads(bytes(booster.save_raw(raw_format="json"))),
                }
                for trend, booster in self._members
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KernelPredictor:
        """Inverse of :meth:`to_json`."""
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise HwnasError(
                f"not an hwnas kernel predictor (format {data.get('format')!r} "
                f"version {data.get('version')!r})",
                "retrain it with 'hwnas predict train'",
            )
        xgb = xgboost_module()
        predictor = cls(
            params=PredictorParams(**data["params"]),
            vocab=tuple(data["vocab"]),
            trained_keys=tuple(data.get("trained_keys", ())),
            info=dict(data.get("info", {})),
        )
        members = []
        for member in data["members"]:
            booster = xgb.Booster()
            booster.load_model(bytearray(json.dumps(member["booster"]).encode()))
            trend = LogTrend.from_dict(member["trend"]) if member["trend"] else None
            members.append((trend, booster))
        predictor._members = members
        return predictor

    def save(self, path: str | Path) -> Path:
        """Write the model JSON to ``path`` (atomically: write, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json()), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> KernelPredictor:
        """Read a model written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HwnasError(f"cannot read latency predictor {path}: {exc}") from exc
        return cls.from_json(data)


# ---------------------------------------------------------------------------
# Training from the store, saved beside it
# ---------------------------------------------------------------------------


def training_rows(store, fingerprint: str) -> tuple[list[str], list[dict], np.ndarray]:
    """Keys, feature dicts and median ms of the ``ok`` kernel rows of ``fingerprint``."""
    keys, feats, ms = [], [], []
    for row in sorted(store.measurements(fingerprint), key=lambda r: r.workload):
        m = row.measurement
        if m.ok and m.median_ms and m.median_ms > 0 and is_kernel_row(row.features):
            keys.append(row.workload)
            feats.append(row.features)
            ms.append(m.median_ms)
    return keys, feats, np.asarray(ms, dtype=np.float64)


def predictor_dir(store) -> Path:
    """``<store path>.predictors``: where a store's predictors live."""
    return Path(str(store.path) + ".predictors")


def predictor_path(store, fingerprint: str) -> Path:
    """The model JSON of ``fingerprint`` beside ``store``."""
    return predictor_dir(store) / f"{fingerprint}.json"


def _keys_digest(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]


def save_predictor(store, fingerprint: str, predictor: KernelPredictor) -> Path:
    """Save ``predictor`` beside ``store`` with its metadata JSON; returns the model path."""
    path = predictor.save(predictor_path(store, fingerprint))
    target = store.targets().get(fingerprint, {})
    meta = {
        "fingerprint_key": fingerprint,
        "target": target.get("name"),
        "fingerprint": target.get("details"),
        "model": path.name,
        "format": FORMAT,
        "version": VERSION,
        "trained_on": len(predictor.trained_keys),
        "trained_keys_digest": _keys_digest(predictor.trained_keys),
        "vocab": list(predictor.vocab),
        "params": predictor.params.__dict__,
        "info": predictor.info,
    }
    meta_path = path.with_name(f"{fingerprint}.meta.json")
    from hwnas.files import jsonable

    text = json.dumps(jsonable(meta), indent=2, default=str, allow_nan=False)
    meta_path.write_text(text, encoding="utf-8")
    return path


def load_predictor(store, fingerprint: str) -> KernelPredictor | None:
    """The saved predictor of ``fingerprint`` beside ``store``, or ``None``."""
    path = predictor_path(store, fingerprint)
    return KernelPredictor.load(path) if path.exists() else None


def train_predictor(
    store,
    fingerprint: str,
    params: PredictorParams | None = None,
    exclude: set[str] | None = None,
    save: bool = True,
) -> KernelPredictor:
    """Train on every ``ok`` kernel row of ``fingerprint`` (minus ``exclude``); save beside it."""
    keys, feats, ms = training_rows(store, fingerprint)
    if exclude:
        keep = [i for i, k in enumerate(keys) if k not in exclude]
        keys, feats, ms = [keys[i] for i in keep], [feats[i] for i in keep], ms[keep]
    if len(keys) < 2:
        raise HwnasError(
            f"the store {store.path} holds {len(keys)} measured workloads for target "
            f"{fingerprint}; a predictor needs at least 2",
            "measure some first: hwnas profile --target T --measure N --fill predict",
        )
    predictor = KernelPredictor(params or PredictorParams()).fit(feats, ms, keys)
    if save:
        save_predictor(store, fingerprint, predictor)
    return predictor


def ensure_predictor(
    store, fingerprint: str, params: PredictorParams | None = None
) -> KernelPredictor:
    """The saved predictor if it was trained on exactly the store's current rows, else retrain."""
    saved = load_predictor(store, fingerprint)
    keys, _, _ = training_rows(store, fingerprint)
    fresh = saved is not None and set(saved.trained_keys) == set(keys)
    if fresh and (params is None or saved.params == params):
        return saved
    return train_predictor(store, fingerprint, params)
