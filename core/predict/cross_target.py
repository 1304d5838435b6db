"""Kernel latency on a new target from a few of its measurements and other targets' tables.

A new target rarely behaves like nothing seen before: the same op at the same
shape is measured on onnxruntime, OpenVINO, torch or TVM already, and kernel
latencies on different runtimes of the same machine (or of similar machines)
are strongly related, though not by one constant: each runtime has its own
per-op-family efficiency and its own fixed cost per call. The proxy idea of
:mod:`hwnas.plugins.proxy`, applied per kernel.

:class:`CrossTargetPredictor` is given the references' measured tables
(``{target: {workload key: ms}}``) and trained on the workloads measured on
the new target. In log space it considers

- ``ratio:<ref>``: one reference times the median ratio (one constant);
- ``linear+shape``: a ridge regression on every reference's log latency, the
  op family one-hot and log sizes (the ridge trend of
  :class:`~hwnas.predict.kernel.KernelPredictor`);
- ``additive``: the op as the sum of its primitive kernels
  (:mod:`hwnas.predict.primitives`), one linear cost per primitive kind,
  non-negative least squares on relative error; ``additive+refs`` adds each
  reference's latency as one more non-negative term;
- ``additive-shaped``: the additive model whose cost per MFLOP of pointwise
  and depthwise convs is a piecewise-linear function of one size each
  (:func:`~hwnas.predict.primitives.shaped_matrix`); which sizes (of twelve
  pairs, none included) is chosen by an inner cross-validation on the
  training measurements;
- ``instances``: the op as the sum of its exact primitive instances, whose
  times are fitted on the measured ops that share them and shrunk toward the
  kind's linear cost (ops share instances, so a few measured ops pin down
  many others); ``instances+size`` refits that prior on the instances' kind
  and sizes once more;
- ``ref-instances:<ref>`` / ``ref-instances``: the instance model whose
  prior is one reference's (or every reference's) own instance times, fitted
  on its whole table, scaled per primitive group (needs ``workloads``, the
  features of the references' workloads by key);
- ``<base>+xgb``: one of these plus an XGBoost residual on the workload
  features and the references' log latencies;
- ``per-target``: :class:`~hwnas.predict.kernel.KernelPredictor` on the
  features alone (no reference; also the answer for a workload some
  reference has not measured),

and chooses by cross-validation on the new target's measurements only,
reporting ``choice`` and ``cv_error``; one more choice, ``blend``, averages
the three best candidates' log predictions. With about twenty candidates the
lowest cross-validation error is partly luck, so the structural model
(:data:`PREFERRED`) is kept unless the best beats it by more than
:data:`ONE_SE_RULE` standard errors of the paired per-workload differences
(the one-standard-error rule of model selection). The cross-validation error is the
mean absolute log error with each error capped at :data:`CV_ERROR_CAP`, so a
candidate is not chosen for avoiding one wild miss but for being close on
most workloads (what "within +-10%" rewards). With few measurements
(:data:`LEAVE_ONE_OUT_UP_TO`) it leaves one out: a 5-fold split would remove
a fifth of the sizes a structural model (``additive-shaped``, the instance
models) needs, and judge it harder than the full fit it will answer with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwnas.predict.features import feature_matrix, trend_columns, vocabulary
from hwnas.predict.kernel import KernelPredictor, LogTrend, PredictorParams, xgboost_module
from hwnas.predict.primitives import (
    KINDS,
    Primitive,
    instance_counts,
    primitive_matrix,
    primitives,
    shaped_matrix,
    shaped_rows,
)

#: Fewest measured workloads before anything but ``ratio`` and ``per-target`` is tried.
MIN_FOR_LINEAR = 8
#: Weight pulling each primitive instance's time toward its kind's linear cost.
INSTANCE_SHRINK = 0.03
#: Largest absolute log error one cross-validated workload counts for (a 50 % miss).
CV_ERROR_CAP = float(np.log(1.5))
#: Up to this many testable measurements, cross-validation leaves one out.
LEAVE_ONE_OUT_UP_TO = 30
#: The candidate that averages (in log space) the ``BLEND_SIZE`` best by cross-validation.
BLEND, BLEND_SIZE = "blend", 3
#: The candidate kept unless another beats it clearly (it needs no reference, has few knobs).
PREFERRED = "instances-shaped"
#: How many standard errors of the paired CV differences another candidate must win by.
ONE_SE_RULE = 2.0
#: The primitive groups ``ref-instances`` scales references' instance times by.
GROUPS: tuple[str, ...] = ("pw", "dw", "se", "combine", "dense")
#: Instance times of reference tables (:func:`reference_instance_times`), by table.
_REFERENCE_TIMES: dict[tuple, dict[tuple, float]] = {}
#: The (pointwise, depthwise) size pairs ``additive-shaped`` chooses from.
SHAPE_CHOICES: tuple[dict[str, str], ...] = tuple(
    {group: axis for group, axis in (("pw", pw), ("dw", dw)) if axis}
    for pw in (None, "reduction", "out_channels", "width")
    for dw in (None, "channels", "width")
)

Predict = Callable[[np.ndarray, np.ndarray, Sequence[Mapping[str, Any]]], np.ndarray]


@dataclass
class CrossTargetPredictor:
    """Predicts a target's kernel latency from its own few measurements and reference tables.

    ``references`` maps a name to ``{workload key: ms}``; ``workloads`` maps
    workload keys to their features, so the references' tables can be
    decomposed into primitive instances (``ref-instances``; optional).
    """

    references: Mapping[str, Mapping[str, float]]
    seed: int = 0
    folds: int = 5
    ridge: float = 1.0
    workloads: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    params: PredictorParams = field(
        default_factory=lambda: PredictorParams(members=1, rounds=200, trend=False)
    )
    choice: str | None = None
    cv_error: dict[str, float] = field(default_factory=dict)
    blend: list[str] = field(default_factory=list)
    used_references: tuple[str, ...] = ()
    _model: Predict | None = field(default=None, repr=False)
    _trained_on: tuple = field(default=(), repr=False)  # (keys, features, ms) for the fallback
    _fallback: KernelPredictor | None = field(default=None, repr=False)

    def fit(
        self, keys: Sequence[str], features: Sequence[Mapping[str, Any]], ms: Sequence[float]
    ) -> CrossTargetPredictor:
        """Train on the workloads measured on the new target: keys, feature dicts, ms (> 0)."""
        y = np.log(_positive(ms))
        if not len(keys) == len(features) == len(y):
            raise ValueError("keys, features and ms must have the same length")
        self.used_references = tuple(
            name
            for name, table in sorted(self.references.items())
            if all(_ok(table.get(k)) for k in keys)
        )
        refs = self._reference_logs(keys)
        candidates = self._candidates(len(y))
        per_workload, self.blend = self._cross_validate(candidates, refs, y, list(features))
        self.cv_error = {name: float(np.mean(e)) for name, e in per_workload.items()}
        self.choice = _choose(per_workload)
        members = self.blend if self.choice == BLEND else [self.choice]
        models = [candidates[name](refs, y, features) for name in members]
        self._model = lambda r, _y, f: np.mean([m(r, None, f) for m in models], axis=0)
        self._trained_on, self._fallback = (list(keys), list(features), np.exp(y)), None
        return self

    def predict(self, keys: Sequence[str], features: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted ms per workload (per-target model where a used reference lacks the key)."""
        if self._model is None:
            raise ValueError("the cross-target predictor is not trained; call fit first")
        out = np.empty(len(keys))
        if not len(keys):
            return out
        covered = np.array(
            [all(_ok(self.references[r].get(k)) for r in self.used_references) for k in keys]
        )
        if covered.any():
            idx = np.flatnonzero(covered)
            refs = self._reference_logs([keys[i] for i in idx])
            out[idx] = np.exp(self._model(refs, None, [features[i] for i in idx]))
        if (~covered).any():
            idx = np.flatnonzero(~covered)
            out[idx] = self._per_target_fallback().predict([features[i] for i in idx]).ms
        return out

    def _per_target_fallback(self) -> KernelPredictor:
        """The features-only ensemble for keys a used reference lacks (trained on first need)."""
        if self._fallback is None:
            keys, features, ms = self._trained_on
            self._fallback = KernelPredictor(PredictorParams(seed=self.seed)).fit(
                features, ms, keys
            )
        return self._fallback

    def summary(self) -> dict[str, Any]:
        """What was chosen and why (JSON-friendly)."""
        return {
            "choice": self.choice,
            "cv_error": self.cv_error,
            "blend": self.blend if self.choice == BLEND else [],
            "references": list(self.used_references),
        }

    # -- internals -----------------------------------------------------------
    def _reference_logs(self, keys: Sequence[str]) -> np.ndarray:
        return np.log(
            np.array(
                [[self.references[r][k] for r in self.used_references] for k in keys],
                dtype=np.float64,
            ).reshape(len(keys), len(self.used_references))
        )

    def _candidates(self, n: int) -> dict[str, Callable[..., Predict]]:
        out: dict[str, Callable[..., Predict]] = {"per-target": self._per_target}
        for j, name in enumerate(self.used_references):
            out[f"ratio:{name}"] = _ratio(j)
        if n < MIN_FOR_LINEAR:
            return out
        out["additive"] = _additive(refs=False)
        out["additive+xgb"] = self._boosted(_additive(refs=False))
        out["additive-shaped"] = _additive_shaped(self.folds, self.seed)
        out["additive-shaped+xgb"] = self._boosted(_additive_shaped(self.folds, self.seed))
        out["instances"] = _instances(INSTANCE_SHRINK, passes=1)
        out["instances+size"] = _instances(INSTANCE_SHRINK, passes=2)
        out["instances-shaped"] = _instances(INSTANCE_SHRINK, 1, (self.folds, self.seed))
        times = self._reference_times()
        for name, table in times.items():
            out[f"ref-instances:{name}"] = _reference_instances([table])
        if len(times) > 1:
            out["ref-instances"] = _reference_instances(list(times.values()))
        if self.used_references:
            out["additive+refs"] = _additive(refs=True)
            out["additive+refs+xgb"] = self._boosted(_additive(refs=True))
            out["linear+shape"] = self._linear
            out["linear+shape+xgb"] = self._boosted(self._linear)
        return out

    def _reference_times(self) -> dict[str, dict[tuple, float]]:
        """Each used reference's instance times, when ``workloads`` gives its features."""
        if not self.workloads:
            return {}
        return {
            name: reference_instance_times(self.references[name], self.workloads)
            for name in self.used_references
        }

    def _cross_validate(self, candidates, refs, y, features) -> tuple[dict[str, np.ndarray], list]:
        """Capped |log error| per held-out workload of every candidate (and of the best's blend).

        Only the new target's measurements are used. A workload with a
        primitive kind no other measured workload has (the stem, the head) is
        never held out: nothing could predict it, and the workloads the model
        is asked about later are not like it. Returns the errors and the
        blend's members.
        """
        testable = _shared_kinds(features)
        if len(testable) < 2:
            testable = np.arange(len(y))
        folds = len(testable) if len(testable) <= LEAVE_ONE_OUT_UP_TO else self.folds
        folds = min(folds, len(testable))
        if folds < 2:
            return {name: np.zeros(1) for name in list(candidates)[:1]}, []
        order = np.random.default_rng(self.seed).permutation(testable)
        predicted = {name: np.empty(len(order)) for name in candidates}
        position = {i: j for j, i in enumerate(order)}
        for train, test in _folds(order, len(y), folds):
            train_features = [features[i] for i in train]
            test_features = [features[i] for i in test]
            slots = [position[i] for i in test]
            for name, make in candidates.items():
                model = make(refs[train], y[train], train_features)
                predicted[name][slots] = model(refs[test], None, test_features)
        actual = y[order]
        errors = {name: _capped_errors(p, actual) for name, p in predicted.items()}
        blend = sorted(errors, key=lambda name: errors[name].mean())[:BLEND_SIZE]
        if len(blend) > 1:
            mean = np.mean([predicted[name] for name in blend], axis=0)
            errors[BLEND] = _capped_errors(mean, actual)
        return errors, blend

    def _per_target(self, refs, y, features) -> Predict:
        model = KernelPredictor(PredictorParams(members=1, seed=self.seed)).fit(features, np.exp(y))
        return lambda _r, _y, f: np.log(model.predict(f).ms)

    def _linear(self, refs, y, features) -> Predict:
        """Ridge on the references' log latencies, the family one-hot and log sizes."""
        vocab = vocabulary(features, ops=False)
        cols = trend_columns(vocab, ops=False)

        def design(r, f):
            return np.column_stack([r, feature_matrix(f, vocab)[:, cols]])

        trend = LogTrend.fit(design(refs, features), y, self.ridge, huber=0.1)
        return lambda r, _y, f: trend.predict(design(r, f))

    def _boosted(self, base: Callable[..., Predict]) -> Callable[..., Predict]:
        """``base`` plus an XGBoost residual on the features and the reference logs."""

        def make(refs, y, features) -> Predict:
            xgb = xgboost_module()
            first = base(refs, y, features)
            vocab = vocabulary(features, ops=True)

            def matrix(r, f):
                return xgb.DMatrix(np.column_stack([feature_matrix(f, vocab), r]))

            booster = xgb.train(
                self.params.xgb_params(self.seed),
                xgb.DMatrix(
                    np.column_stack([feature_matrix(features, vocab), refs]),
                    label=y - first(refs, None, features),
                ),
                self.params.rounds,
            )
            return lambda r, _y, f: first(r, None, f) + booster.predict(matrix(r, f))

        return make


def _capped_errors(predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Absolute log error per workload, capped at :data:`CV_ERROR_CAP`."""
    return np.minimum(np.abs(predicted - actual), CV_ERROR_CAP)


def _choose(errors: Mapping[str, np.ndarray]) -> str:
    """The lowest mean CV error, unless :data:`PREFERRED` is within the one-SE rule of it."""
    best = min(errors, key=lambda name: errors[name].mean())
    if PREFERRED not in errors or best == PREFERRED:
        return best
    gap = errors[PREFERRED] - errors[best]
    if len(gap) < 2:
        return best
    noise = gap.std(ddof=1) / np.sqrt(len(gap))
    return PREFERRED if gap.mean() <= ONE_SE_RULE * noise else best


def _nnls_relative(a: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """Non-negative coefficients c minimising the relative error of ``a @ c`` against ``ms``."""
    from scipy.optimize import nnls

    scale = a.max(axis=0)
    scale[scale <= 0] = 1.0
    coef, _ = nnls((a / scale) / ms[:, None], np.ones(len(ms)))
    return coef / scale


def _additive(refs: bool) -> Callable[..., Predict]:
    """Sum of primitive kinds' linear costs (+ each reference as a term), NNLS on relative error."""

    def design(r, f):
        parts = [np.ones((len(f), 1)), primitive_matrix(f)]
        return np.column_stack([*parts, np.exp(r)] if refs else parts)

    def make(r, y, features) -> Predict:
        ms = np.exp(y)
        coef = _nnls_relative(design(r, features), ms)
        floor = 0.5 * float(ms.min())
        return lambda r2, _y, f: np.log(np.maximum(design(r2, f) @ coef, floor))

    return make


def _additive_shaped(folds: int, seed: int) -> Callable[..., Predict]:
    """The shaped additive model whose sizes (:data:`SHAPE_CHOICES`) minimise inner CV error."""

    def make(_r, y, features) -> Predict:
        ms = np.exp(y)
        axes, design = _best_shape([primitives(f) for f in features], ms, folds, seed)
        coef = _nnls_relative(design, ms)
        floor = 0.5 * float(ms.min())
        return lambda _r2, _y, f: np.log(np.maximum(shaped_matrix(f, axes) @ coef, floor))

    return make


def _best_shape(parts, ms: np.ndarray, folds: int, seed: int) -> tuple[dict[str, str], np.ndarray]:
    """The :data:`SHAPE_CHOICES` entry whose shaped additive model cross-validates best.

    ``parts`` are the measured workloads' primitives; returns the sizes and
    their design.
    """
    designs = [shaped_rows(parts, axes) for axes in SHAPE_CHOICES]
    best = int(np.argmin([_nnls_cv_error(x, ms, folds, seed) for x in designs]))
    return SHAPE_CHOICES[best], designs[best]


def _nnls_cv_error(design: np.ndarray, ms: np.ndarray, folds: int, seed: int) -> float:
    """Mean capped |log error| of :func:`_nnls_relative` on ``design`` under k-fold CV.

    Capped at :data:`CV_ERROR_CAP` like the outer cross-validation, so one
    wild miss in a fold does not decide which sizes the cost follows.
    """
    order = np.random.default_rng(seed).permutation(len(ms))
    errors = []
    for train, test in _folds(order, len(ms), folds):
        coef = _nnls_relative(design[train], ms[train])
        predicted = np.maximum(design[test] @ coef, 0.5 * float(ms[train].min()))
        errors.append(_capped_errors(np.log(predicted), np.log(ms[test])))
    return float(np.mean(np.concatenate(errors)))


def _folds(order: np.ndarray, n: int, folds: int):
    """(train, test) index arrays: every ``folds``-th of ``order`` held out in turn, of ``n``."""
    for k in range(min(folds, len(order))):
        test = order[k::folds]
        yield np.setdiff1d(np.arange(n), test), test


def _instances(
    shrink: float, passes: int, shaped: tuple[int, int] | None = None
) -> Callable[..., Predict]:
    """Sum of primitive instances' times, each shrunk toward a prior from its kind and size.

    Non-negative least squares on relative error over the measured ops plus
    one row per instance pulling its time toward the prior (weight
    ``shrink``). The first prior is the kind's linear cost; after each pass the
    prior is refitted as a log-linear model of the instance's kind and sizes on
    the fitted times, and the next pass (``passes`` > 1) shrinks toward it. An
    instance no measured op contains takes the last refitted prior: it borrows
    from instances of its kind and similar size. With ``shaped`` = (folds,
    seed) the prior is the shaped additive model instead (sizes chosen as in
    ``additive-shaped``), kept for unseen instances too.
    """

    def make(_r, y, features) -> Predict:
        rows, ms = [primitives(f) for f in features], np.exp(y)
        if shaped:
            axes = _best_shape(rows, ms, *shaped)[0]
            design, refit = (lambda p: p.shaped_design(axes)), False
        else:
            design, refit = Primitive.design, True
        fitted = _fit_instances(rows, ms, design, passes, refit, shrink)
        return _instance_predictor(*fitted)

    return make


def _fit_instances(
    rows, ms: np.ndarray, design, passes: int = 1, refit: bool = False, shrink=INSTANCE_SHRINK
) -> tuple:
    """(learned instance times by key, prior for unseen instances, floor).

    The first prior is ``design(primitive) @ coef``, ``coef`` fitted on the
    measured ops (NNLS, relative error); with ``refit`` each pass refits it
    as :func:`_size_prior` on the fitted times.
    """
    coef = _nnls_relative(np.array([sum(design(p) for p in row) for row in rows]), ms)
    floor = 0.01 * float(ms.min())
    shapes, counts = instance_counts(rows)

    def linear_prior(ps):
        return np.array([max(float(design(p) @ coef), floor) for p in ps])

    prior_of = linear_prior
    for _ in range(passes):
        times = _instance_times(counts, ms, prior_of(list(shapes.values())), shrink)
        if refit:
            prior_of = _size_prior(list(shapes.values()), np.maximum(times, floor), floor)
    return dict(zip(shapes, times, strict=True)), prior_of, floor


def reference_instance_times(
    table: Mapping[str, float], workloads: Mapping[str, Mapping[str, Any]]
) -> dict[tuple, float]:
    """A reference's time (ms) for each primitive instance of its measured workloads.

    Its whole table is fitted by the ``instances-shaped`` model (the
    workloads' features from ``workloads``, by key); workloads without
    features are left out. Cached per table.
    """
    keys = tuple(sorted(k for k in table if k in workloads and _ok(table[k])))
    cache_key = tuple((k, float(table[k])) for k in keys)
    if cache_key not in _REFERENCE_TIMES:
        if len(_REFERENCE_TIMES) >= 32:
            _REFERENCE_TIMES.clear()
        rows = [primitives(workloads[k]) for k in keys]
        ms = np.array([table[k] for k in keys], dtype=np.float64)
        axes = _best_shape(rows, ms, 5, 0)[0]
        _REFERENCE_TIMES[cache_key] = _fit_instances(rows, ms, lambda p: p.shaped_design(axes))[0]
    return _REFERENCE_TIMES[cache_key]


def _group(kind: str) -> int:
    for j, prefix in enumerate(GROUPS):
        if kind.startswith(prefix):
            return j
    return len(GROUPS) - 1


def _reference_instances(times: Sequence[Mapping[tuple, float]]) -> Callable[..., Predict]:
    """Instances whose prior is the references' instance times, scaled per primitive group.

    The prior of an instance of group g is ``c_g + sum_r s_gr * t_r``: ``t_r``
    its time on reference r (:func:`reference_instance_times`), ``c_g`` and
    ``s_gr`` non-negative, fitted on the measured ops (the op = the sum of its
    instances' priors, relative error). Then the instance times are fitted
    as in ``instances`` and shrunk toward that prior, which also answers
    every instance no measured op contains. A reference thus lends its
    size-dependent costs (code paths, cache effects) per instance, and the
    new target only sets a few group scales.
    """
    width = len(GROUPS) * (1 + len(times))

    def row_of(p: Primitive) -> np.ndarray:
        row, g = np.zeros(width), _group(p.kind)
        row[g] = 1.0
        for r, table in enumerate(times):
            row[len(GROUPS) * (1 + r) + g] = table.get(p.key, 0.0)
        return row

    def make(_r, y, features) -> Predict:
        rows = [primitives(f) for f in features]
        return _instance_predictor(*_fit_instances(rows, np.exp(y), row_of))

    return make


def _instance_times(
    counts: np.ndarray, ms: np.ndarray, prior: np.ndarray, shrink: float
) -> np.ndarray:
    """Instance times whose sums fit ``ms`` (relative error), each pulled toward its prior."""
    from scipy.optimize import nnls

    times, _ = nnls(
        np.vstack([counts / ms[:, None], shrink * np.diag(1 / prior)]),
        np.r_[np.ones(len(ms)), np.full(len(prior), shrink)],
    )
    return times


def _instance_predictor(learned: dict, prior_of, floor: float) -> Predict:
    """Log ms of each op as the sum of its instances' learned times (the prior for unseen ones)."""

    def predict(_r, _y, f) -> np.ndarray:
        parts = [primitives(x) for x in f]
        unseen = list({p.key: p for row in parts for p in row if p.key not in learned}.values())
        guess = dict(zip((p.key for p in unseen), prior_of(unseen), strict=True))
        total = [sum(learned.get(p.key, guess.get(p.key, floor)) for p in row) for row in parts]
        return np.log(np.maximum(total, floor))

    return predict


def _size_prior(shapes, times: np.ndarray, floor: float):
    """A log-linear model of an instance's time on its kind and log sizes, fitted on ``times``."""

    def design(ps):
        x = np.zeros((len(ps), len(KINDS) + 2))
        for i, p in enumerate(ps):
            x[i, KINDS.index(p.kind)] = 1.0
            x[i, -2:] = (np.log1p(p.mflops), np.log1p(p.memory))
        return x

    trend = LogTrend.fit(design(shapes), np.log(times), 0.1)
    return lambda ps: np.maximum(np.exp(trend.predict(design(ps))), floor) if ps else np.zeros(0)


def _ratio(j: int) -> Callable[..., Predict]:
    def make(refs, y, features) -> Predict:
        offset = float(np.median(y - refs[:, j]))
        return lambda r, _y, f: r[:, j] + offset

    return make


def _shared_kinds(features: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Indices of the workloads whose every primitive kind another workload also has.

    A ``dense`` primitive (a workload without a known plan) is a kind of its own.
    """
    kinds = [{p.key if p.kind == "dense" else p.kind for p in primitives(f)} for f in features]
    count: dict = {}
    for row in kinds:
        for kind in row:
            count[kind] = count.get(kind, 0) + 1
    return np.array([i for i, row in enumerate(kinds) if all(count[k] > 1 for k in row)], int)


def _ok(value: float | None) -> bool:
    return value is not None and np.isfinite(value) and value > 0


def _positive(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if np.any(~np.isfinite(array)) or np.any(array <= 0):
        raise ValueError("latencies must be positive and finite")
    return array
