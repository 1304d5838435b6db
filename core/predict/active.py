"""Active measurement: spend a budget of N measurements where the predictor is least sure.

Given the candidate workloads of a space (every distinct (layer, op) workload
plus the fixed layers) and a budget ``N`` of *new* measurements (workloads the
store already holds are reused for free and never counted):

1. **Coverage seed** (about ``seed_fraction`` of N): the fixed layers (every
   architecture contains them), then one workload of every op family not yet
   measured (the one with the median FLOPs of its family), then farthest-point
   sampling in standardised feature space (op one-hot, kernel, expansion, SE,
   stride, log sizes) so shapes and ops are spread out.
2. **Rounds**: train the ensemble (:class:`~hwnas.predict.kernel.KernelPredictor`)
   on everything measured, score every unmeasured workload by
   ``spread x predicted ms x multiplicity`` - the ensemble's relative
   uncertainty times the workload's expected contribution to the latency of a
   uniformly random architecture (its predicted time times the number of
   (layer, op) cells that share its key) - and measure the best-scoring batch.
   Within a batch, picking a workload halves the score of the others with the
   same op and shape class, so one round does not spend itself on near-copies.
3. The returned predictor is retrained on everything measured.

Measurement is a callback (``measure(workloads) -> {key: ms}``, failures
omitted), so :func:`active_profile` can measure on a live target through
:func:`~hwnas.profile.profile_workloads` and a benchmark can replay a
complete measurement as an oracle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwnas.predict.features import derived, family_vocabulary, is_kernel_row
from hwnas.predict.kernel import KernelPredictor, PredictorParams
from hwnas.workload import Workload

Measure = Callable[[Sequence[Workload]], Mapping[str, float]]


@dataclass
class ActiveRound:
    """One round of active measurement: why and what was measured."""

    index: int
    kind: str  # "coverage" | "uncertainty"
    keys: list[str]
    measured: int
    failed: int
    mean_spread: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "round": self.index,
            "kind": self.kind,
            "chosen": len(self.keys),
            "measured_ok": self.measured,
            "failed": self.failed,
            "mean_spread_before": self.mean_spread,
        }


@dataclass
class ActiveResult:
    """What active measurement chose and measured, and the predictor trained on it."""

    chosen: list[str] = field(default_factory=list)
    measured: dict[str, float] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    rounds: list[ActiveRound] = field(default_factory=list)
    predictor: KernelPredictor | None = None

    @property
    def new_measurements(self) -> int:
        """How many workloads were sent for measurement (the budget spent)."""
        return len(self.chosen)


def multiplicities(workloads: Sequence[Workload]) -> dict[str, int]:
    """How many of ``workloads`` (e.g. all (layer, op) cells) share each workload key."""
    counts: dict[str, int] = {}
    for w in workloads:
        counts[w.key] = counts.get(w.key, 0) + 1
    return counts


def _op_name(w: Workload) -> str:
    return str(w.features.get("op", w.features.get("family", w.key)))


def _coverage_matrix(workloads: Sequence[Workload]) -> np.ndarray:
    """Standardised features for farthest-point sampling (op one-hot weighs like one size)."""
    ops = sorted({_op_name(w) for w in workloads})
    families = family_vocabulary(w.features for w in workloads)
    rows = []
    for w in workloads:
        d = derived(w.features)
        rows.append(
            [
                *(float(_op_name(w) == op) for op in ops),
                *(float(w.features.get("family") == f) for f in families),
                d["kernel"],
                d["expand"],
                d["se"],
                d["stride"],
                d["log_flops"],
                d["log_memory"],
                d["log_in_elems"],
                d["log_out_elems"],
            ]
        )
    x = np.asarray(rows, dtype=np.float64)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    return (x - x.mean(axis=0)) / scale


def coverage_seed(
    candidates: Sequence[Workload],
    measured: set[str],
    size: int,
    must: Sequence[str] = (),
) -> list[str]:
    """Keys to measure first: ``must`` keys, one per uncovered family, then farthest points."""
    by_key = {w.key: w for w in candidates}
    chosen: list[str] = [k for k in must if k in by_key and k not in measured][:size]
    covered = {str(by_key[k].features.get("family")) for k in measured | set(chosen) if k in by_key}
    families: dict[str, list[Workload]] = {}
    for w in candidates:
        families.setdefault(str(w.features.get("family")), []).append(w)
    for family in sorted(families):
        if len(chosen) >= size or family in covered:
            continue
        pool = [w for w in families[family] if w.key not in measured]
        if pool:
            pool.sort(key=lambda w: (float(w.features.get("flops", 0)), w.key))
            chosen.append(pool[len(pool) // 2].key)
    if len(chosen) >= size:
        return chosen[:size]
    x = _coverage_matrix(candidates)
    index = {w.key: i for i, w in enumerate(candidates)}
    anchors = [index[k] for k in measured | set(chosen) if k in index]
    if anchors:
        dist = np.min(((x[:, None, :] - x[None, anchors, :]) ** 2).sum(-1), axis=1)
    else:
        dist = ((x - x.mean(axis=0)) ** 2).sum(-1)
    taken = set(anchors)
    while len(chosen) < size:
        dist_masked = np.where([i in taken for i in range(len(x))], -1.0, dist)
        i = int(np.argmax(dist_masked))
        if dist_masked[i] < 0:
            break
        chosen.append(candidates[i].key)
        taken.add(i)
        dist = np.minimum(dist, ((x - x[i]) ** 2).sum(-1))
    return chosen


def uncertainty_batch(
    candidates: Sequence[Workload],
    predictor: KernelPredictor,
    weight: Mapping[str, float],
    exclude: set[str],
    size: int,
) -> tuple[list[str], float]:
    """The ``size`` unmeasured keys with the largest spread x predicted ms x weight.

    Returns the keys and the mean spread over the unmeasured candidates.
    """
    pool = [w for w in candidates if w.key not in exclude]
    if not pool or size <= 0:
        return [], 0.0
    pred = predictor.predict([w.features for w in pool])
    score = pred.spread * pred.ms * np.array([weight.get(w.key, 1.0) for w in pool])
    score = np.maximum(score, 1e-12)
    chosen: list[str] = []
    for _ in range(min(size, len(pool))):
        i = int(np.argmax(score))
        if score[i] <= 0:
            break
        chosen.append(pool[i].key)
        picked = pool[i]
        score[i] = 0.0
        for j, w in enumerate(pool):
            if score[j] > 0 and _op_name(w) == _op_name(picked):
                score[j] *= 0.5
            if score[j] > 0 and w.features.get("height") == picked.features.get("height"):
                score[j] *= 0.8
    return chosen, float(pred.spread.mean())


def active_sample(
    candidates: Sequence[Workload],
    budget: int,
    measure: Measure,
    known: Mapping[str, tuple[Mapping[str, Any], float]] | None = None,
    weight: Mapping[str, float] | None = None,
    must: Sequence[str] = (),
    rounds: int = 4,
    seed_fraction: float = 0.4,
    params: PredictorParams | None = None,
    failed: set[str] | None = None,
    on_round: Callable[[ActiveRound, int], None] | None = None,
) -> ActiveResult:
    """Choose and measure at most ``budget`` new workloads among ``candidates``; train on all.

    ``known`` maps already-measured keys to ``(features, ms)`` (training data
    that costs nothing; it may include workloads outside ``candidates``).
    ``weight`` is each key's contribution weight (default 1: pass
    :func:`multiplicities`). ``must`` keys are measured first (fixed layers).
    ``failed`` keys are never chosen. ``on_round(round, total_rounds)`` is
    called before each round is measured.
    """
    candidates = list({w.key: w for w in candidates}.values())
    by_key = {w.key: w for w in candidates}
    data: dict[str, tuple[Mapping[str, Any], float]] = dict(known or {})
    result = ActiveResult(failed=set(failed or ()))
    weight = weight or {}
    budget = max(0, int(budget))
    unmeasured = [w for w in candidates if w.key not in data and w.key not in result.failed]
    budget = min(budget, len(unmeasured))
    must_set = set(must)
    n_families = len({w.features.get("family") for w in candidates if w.key not in must_set})
    seed_size = min(budget, max(n_families + len(must), math.ceil(seed_fraction * budget)))
    rest = budget - seed_size
    n_rounds = min(rounds, rest) if rest > 0 else 0
    total_rounds = 1 + n_rounds if seed_size else n_rounds
    params = params or PredictorParams()

    def run(kind: str, keys: list[str], spread: float | None) -> None:
        rnd = ActiveRound(len(result.rounds) + 1, kind, keys, 0, 0, spread)
        if on_round:
            on_round(rnd, total_rounds)
        got = measure([by_key[k] for k in keys]) if keys else {}
        for k in keys:
            result.chosen.append(k)
            ms = got.get(k)
            if ms is not None and ms > 0 and math.isfinite(ms):
                data[k] = (by_key[k].features, float(ms))
                result.measured[k] = float(ms)
                rnd.measured += 1
            else:
                result.failed.add(k)
                rnd.failed += 1
        result.rounds.append(rnd)

    def train() -> KernelPredictor | None:
        usable = {k: v for k, v in data.items() if is_kernel_row(v[0])}
        if len(usable) < 2:
            return None
        keys = sorted(usable)
        return KernelPredictor(params).fit(
            [usable[k][0] for k in keys], [usable[k][1] for k in keys], keys
        )

    if seed_size:
        keys = coverage_seed(
            [w for w in candidates if w.key not in result.failed], set(data), seed_size, must
        )
        run("coverage", keys, None)
    for r in range(n_rounds):
        left = budget - len(result.chosen)
        if left <= 0:
            break
        size = math.ceil(left / (n_rounds - r))
        predictor = train()
        exclude = set(data) | result.failed
        if predictor is None:
            keys = coverage_seed(
                [w for w in candidates if w.key not in exclude], set(data), size, must
            )
            spread = None
        else:
            keys, spread = uncertainty_batch(candidates, predictor, weight, exclude, size)
        if not keys:
            break
        run("uncertainty", keys, spread)
    result.predictor = train()
    return result


def active_profile(
    target: str,
    options: dict[str, Any],
    candidates: Sequence[Workload],
    store,
    budget: int,
    protocol=None,
    workers: int = 1,
    timeout_s: float = 600.0,
    weight: Mapping[str, float] | None = None,
    must: Sequence[str] = (),
    rounds: int = 4,
    params: PredictorParams | None = None,
    show_progress: bool = True,
    console=None,
    info=None,
) -> tuple[ActiveResult, Any]:
    """Active measurement on a live target: measure via ``profile_workloads`` into ``store``.

    Everything the store already holds for the target (every ``ok`` kernel
    row, not only ``candidates``) is training data; stored failures are not
    retried. Returns the :class:`ActiveResult` and the target's
    :class:`~hwnas.runner.TargetInfo` (pass ``info`` from
    :func:`~hwnas.profile.probe_target` to skip probing again).
    """
    from hwnas.predict.kernel import training_rows
    from hwnas.profile import probe_target, profile_workloads

    info = info or probe_target(target, options)
    fp = info.fingerprint_key
    store.register_target(fp, target, info.fingerprint)
    keys, feats, ms = training_rows(store, fp)
    known = {k: (f, float(m)) for k, f, m in zip(keys, feats, ms, strict=True)}
    failed = {
        row.workload
        for row in store.measurements(fp)
        if not row.measurement.ok and row.workload in {w.key for w in candidates}
    }

    def measure(workloads: Sequence[Workload]) -> dict[str, float]:
        result = profile_workloads(
            target,
            options,
            workloads,
            store,
            protocol,
            workers=workers,
            timeout_s=timeout_s,
            show_progress=show_progress,
        )
        return {k: m.median_ms for k, m in result.results.items() if m.ok}

    def announce(rnd: ActiveRound, total: int) -> None:
        if console is not None and show_progress:
            why = (
                "coverage of every op family and shape"
                if rnd.kind == "coverage"
                else "largest uncertainty x contribution"
            )
            console.print(
                f"[bold]active round {rnd.index}/{total}[/bold]: measuring {len(rnd.keys)} "
                f"workloads ({why})",
                highlight=False,
            )

    result = active_sample(
        candidates,
        budget,
        measure,
        known=known,
        weight=weight,
        must=must,
        rounds=rounds,
        params=params,
        failed=failed,
        on_round=announce,
    )
    return result, info


def coverage_sample(workloads: Sequence[Workload], n: int, seed: int = 0) -> list[str]:
    """``n`` workload keys that together contain the most primitive instances (greedy).

    Ops share primitive kernels (:mod:`hwnas.predict.primitives`); the
    instance-level additive model learns an instance's time from any measured
    op containing it. Each step takes the workload whose not yet covered
    instances are shared by the most workloads (an instance many ops contain
    pins down many predictions); once every instance is covered the cover
    starts again, so instances get a second measurement. Ties go to a
    ``seed``-shuffled order.
    """
    from collections import Counter

    from hwnas.predict.primitives import primitives

    parts = {w.key: {p.key for p in primitives(w.features)} for w in workloads}
    share = Counter(k for keys in parts.values() for k in keys)
    order = {key: i for i, key in enumerate(np.random.default_rng(seed).permutation(list(parts)))}
    remaining, chosen, covered = set(parts), [], set()
    while remaining and len(chosen) < n:
        gain = {key: sum(share[k] for k in parts[key] - covered) for key in remaining}
        best = max(remaining, key=lambda key: (gain[key], -order[key]))
        if gain[best] == 0:
            covered = set()
            continue
        chosen.append(best)
        remaining.discard(best)
        covered |= parts[best]
    return chosen


#: Prior variance of a primitive kind's shared cost level, in units of one instance's own.
KIND_VARIANCE = 1.0
#: Noise variance of one measured op, in units of one instance's prior variance, per instance.
DESIGN_NOISE = 0.1


def design_sample(workloads: Sequence[Workload], n: int, seed: int = 0) -> list[str]:
    """``n`` workload keys that leave the instance model least unsure of every workload.

    A greedy Bayesian V-optimal design for the instance-level additive model
    (:mod:`hwnas.predict.primitives`: an op's time is the sum of its primitive
    instances' times). A priori each instance's time varies on its own
    (variance 1) and with its kind's cost level (variance
    :data:`KIND_VARIANCE`, shared by all instances of the kind); a
    measurement adds noise (:data:`DESIGN_NOISE`). Each step measures the
    workload that most lowers the summed posterior variance of all
    workloads' times (each relative to its number of instances). That both
    reaches instances no measured op contains and separates instances that
    measured ops only contain together (a squeeze-and-excitation block and
    the block around it). Ties go to a ``seed``-shuffled order.
    """
    from hwnas.predict.primitives import instance_counts, primitives

    order = np.random.default_rng(seed).permutation(len(workloads))
    instances, counts = instance_counts([primitives(workloads[i].features) for i in order])
    kinds = sorted({p.kind for p in instances.values()})
    by_kind = np.array([[p.kind == k for k in kinds] for p in instances.values()], float)
    per_kind = counts @ by_kind
    covariance = counts @ counts.T + KIND_VARIANCE * per_kind @ per_kind.T
    size = counts.sum(axis=1)
    weight, noise = 1.0 / size**2, DESIGN_NOISE * size**2
    chosen: list[int] = []
    while len(chosen) < min(n, len(workloads)):
        gain = (weight[:, None] * covariance**2).sum(axis=0) / (noise + np.diag(covariance))
        gain[chosen] = -np.inf
        best = int(np.argmax(gain))
        chosen.append(best)
        column_best = covariance[:, best].copy()
        covariance -= np.outer(column_best, column_best) / (noise[best] + column_best[best])
    return [workloads[order[i]].key for i in chosen]
