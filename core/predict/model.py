"""Architecture latency on a live target: measured-or-predicted layers, fixed layers, overhead.

:class:`StoreLatencyModel` precomputes a ``(layer x op)`` latency matrix from
the :class:`~hwnas.store.LatencyStore` (the measured median where the store
has an ``ok`` row for the workload, else the kernel predictor's value) plus a
boolean *measured* mask, and the latency of the fixed layers (stem and head).
An architecture's latency is then a vectorised gather-and-sum::

    parts(arch)   = sum_l table[l, choice_l] + sum(fixed)
    latency(arch) = scale * parts(arch) + offset

where ``scale``/``offset`` is the :class:`Overhead` calibrated on K whole
architectures measured end to end (one session per network instead of one per
layer, fusion across layers, cache effects).

**Provenance rule.** ``Latency.source`` is ``"layer-sum"`` only when every part
(every chosen layer workload and every fixed layer) was measured on this
device *and* no overhead model is applied (``Overhead.kind == "none"``);
otherwise it is ``"predicted"``. (``"measured"`` is kept for whole networks
timed end to end.) ``measured_fraction`` is the share of the
summed per-part milliseconds (before the overhead) that comes from
measurements. Thus a number built only from measurements but corrected by a
fitted overhead is reported as ``predicted`` with ``measured_fraction == 1``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.latency import Latency, LatencyModel
from hwnas.predict.kernel import KernelPredictor, ensure_predictor
from hwnas.space import Architecture, LayeredSpace, SearchSpace

OVERHEAD_KINDS = ("none", "offset", "ratio", "affine")


@dataclass(frozen=True)
class Overhead:
    """``latency = scale * sum_of_parts + offset``, fitted on whole measured architectures."""

    kind: str = "none"
    scale: float = 1.0
    offset: float = 0.0
    archs: int = 0
    loo_error: float | None = None  # mean |log(pred / measured)| in leave-one-out
    errors: dict[str, float] | None = None

    def apply(self, parts_ms: np.ndarray | float) -> np.ndarray | float:
        """Whole-network latency from the sum of parts."""
        return self.scale * parts_ms + self.offset

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


def _fit(kind: str, parts: np.ndarray, whole: np.ndarray) -> tuple[float, float]:
    if kind == "none":
        return 1.0, 0.0
    if kind == "offset":
        return 1.0, float(np.median(whole - parts))
    if kind == "ratio":
        return float(np.exp(np.median(np.log(whole / parts)))), 0.0
    a = np.vstack([parts, np.ones_like(parts)]).T
    (scale, offset), *_ = np.linalg.lstsq(a, whole, rcond=None)
    return float(scale), float(offset)


def fit_overhead(
    parts_ms: Sequence[float],
    whole_ms: Sequence[float],
    kinds: Sequence[str] | None = None,
    min_parts_ms: float | None = None,
) -> Overhead:
    """Choose and fit the overhead model by leave-one-out error on the calibration archs.

    Candidates: ``none`` (the plain sum of parts), ``offset`` (median of
    whole - parts), ``ratio`` (geometric median of whole / parts) and, with at
    least 5 archs, ``affine`` (least squares). The kind with the smallest
    leave-one-out mean absolute log error wins, so noisy end-to-end
    measurements cannot make the model worse than the plain sum on them.
    ``min_parts_ms`` (the smallest summed parts in the space) rules out a fit
    that extrapolates badly: no kind may take away more than half of it (a
    negative offset fitted on mid-size networks would otherwise give the
    fastest ones a latency near or below zero). A fit whose scale is not
    positive is ruled out too: it would rank slower networks as faster.
    """
    parts = np.asarray(parts_ms, dtype=np.float64)
    whole = np.asarray(whole_ms, dtype=np.float64)
    n = len(parts)
    if n == 0:
        return Overhead()
    if kinds is None:
        kinds = ("none", "offset", "ratio", "affine") if n >= 5 else ("none", "offset", "ratio")
    errors: dict[str, float] = {}
    for kind in kinds:
        if n == 1:
            errors[kind] = 0.0 if kind != "none" else abs(float(np.log(parts[0] / whole[0])))
            continue
        errs = []
        for i in range(n):
            keep = np.arange(n) != i
            scale, offset = _fit(kind, parts[keep], whole[keep])
            pred = max(scale * parts[i] + offset, 1e-9)
            errs.append(abs(np.log(pred / whole[i])))
        errors[kind] = float(np.mean(errs))
    fits = {kind: _fit(kind, parts, whole) for kind in errors}
    # a slower sum of parts never makes a faster network: a non-positive scale
    # (affine on a few noisy networks of similar size) would invert the ranking
    fits = {k: (a, b) for k, (a, b) in fits.items() if a > 0}
    if min_parts_ms is not None:
        floor = 0.5 * min_parts_ms
        fits = {
            k: (a, b) for k, (a, b) in fits.items() if k == "none" or a * min_parts_ms + b >= floor
        }
    best = min(fits, key=errors.get)
    scale, offset = fits[best]
    return Overhead(best, scale, offset, n, errors[best], errors)


def index_matrix(space: SearchSpace, archs: Sequence[Architecture]) -> np.ndarray:
    """``(len(archs), positions)`` int matrix of choice indices (fast when choices are shared)."""
    n_pos = len(space.positions)
    if not archs:
        return np.zeros((0, n_pos), dtype=np.int64)
    if archs[0].space != space.name:
        space.indices(archs[0])  # raises the space's own error
    first = space.positions[0].choices
    if all(p.choices == first for p in space.positions):
        lookup = {c: i for i, c in enumerate(first)}
        try:
            flat = [lookup[c] for a in archs for c in a.choices]
        except KeyError:
            return np.stack([space.indices(a) for a in archs])
        out = np.fromiter(flat, dtype=np.int64, count=len(flat))
        if out.size != len(archs) * n_pos:
            return np.stack([space.indices(a) for a in archs])
        return out.reshape(len(archs), n_pos)
    return np.stack([space.indices(a) for a in archs])


class StoreLatencyModel(LatencyModel):
    """Latency of a layered space's architectures on one live target, from the store.

    ``space`` is a :class:`~hwnas.space.LayeredSpace`. Cells without an ``ok``
    measurement are filled by ``predictor`` (default: the predictor saved beside
    the store, retrained if the store changed). ``overhead`` maps the sum of
    parts to the whole network.
    """

    free = True  # answers from stored measurements and a predictor; never measures

    def __init__(
        self,
        space: SearchSpace,
        store,
        fingerprint: str,
        predictor: KernelPredictor | None = None,
        overhead: Overhead | None = None,
        batch: int = 1,
        exclude: set[str] | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(space, LayeredSpace):
            raise HwnasError(
                f"space {space.name!r} has no per-layer workloads",
                "use a layered space such as hurricane, or a recorded target",
            )
        self.search_space = space
        self.space = space.name
        self.store = store
        self.fingerprint_key = fingerprint
        self.batch = batch
        self.overhead = overhead or Overhead()
        target = store.targets().get(fingerprint, {})
        self.target_name = target.get("name") or fingerprint
        mode = target.get("details", {}).get("mode")
        #: How a measured cell's source reads: "measured-<mode>" for targets with modes.
        self.measured_source = f"measured-{mode}" if mode else "measured"
        self.name = name or f"{self.target_name}/{space.name}"
        #: What :func:`~hwnas.predict.reference.fill_unmeasured` did to the table, if it ran.
        self.fill_report: dict[str, Any] | None = None
        self._exclude = set(exclude or ())
        positions = space.positions
        self.choices = [p.choices for p in positions]
        self.cells = {
            (i, c): space.layer_workload(i, c, batch)
            for i, p in enumerate(positions)
            for c in p.choices
        }
        fixed = space.fixed_workloads(batch)
        self.fixed = dict(fixed)
        workloads = {w.key: w for w in [*self.cells.values(), *self.fixed.values()]}
        measured = {}
        for row in store.measurements(fingerprint):
            m = row.measurement
            if row.workload in workloads and row.workload not in self._exclude and m.ok:
                measured[row.workload] = float(m.median_ms)
        missing = [w for k, w in workloads.items() if k not in measured]
        predicted: dict[str, tuple[float, float]] = {}
        if missing:
            if predictor is None:
                predictor = ensure_predictor(store, fingerprint)
            pred = predictor.predict([w.features for w in missing])
            predicted = {
                w.key: (float(ms), float(s))
                for w, ms, s in zip(missing, pred.ms, pred.spread, strict=True)
            }
        self.predictor = predictor
        width = max(len(c) for c in self.choices)
        self.table = np.zeros((len(positions), width), dtype=np.float64)
        self.measured = np.zeros((len(positions), width), dtype=bool)
        self.spread = np.zeros((len(positions), width), dtype=np.float64)
        column = [{c: j for j, c in enumerate(choices)} for choices in self.choices]
        for (i, c), w in self.cells.items():
            j = column[i][c]
            if w.key in measured:
                self.table[i, j], self.measured[i, j] = measured[w.key], True
            else:
                self.table[i, j], self.spread[i, j] = predicted[w.key]
        self.fixed_ms = np.array(
            [measured.get(w.key, predicted.get(w.key, (0.0, 0.0))[0]) for w in fixed.values()]
        )
        self.fixed_measured = np.array([w.key in measured for w in fixed.values()], dtype=bool)
        self._measured_keys = set(measured)
        self._rows = np.arange(len(positions))
        self._measured_ms = np.where(self.measured, self.table, 0.0)

    # -- vectorised core -----------------------------------------------------
    def parts_indices(self, idx: np.ndarray) -> np.ndarray:
        """Sum of per-part ms (layers + fixed, before the overhead) for an index matrix."""
        idx = np.asarray(idx)
        return self.table[self._rows, idx].sum(axis=-1) + self.fixed_ms.sum()

    def latencies_indices(self, idx: np.ndarray) -> np.ndarray:
        """Latency (ms) of every row of an ``(n, positions)`` int matrix of choice indices."""
        return self.overhead.apply(self.parts_indices(idx))

    def measured_fractions_indices(self, idx: np.ndarray) -> np.ndarray:
        """Share of each architecture's summed part ms that was measured."""
        idx = np.asarray(idx)
        measured = self._measured_ms[self._rows, idx].sum(axis=-1) + float(
            self.fixed_ms[self.fixed_measured].sum()
        )
        return measured / self.parts_indices(idx)

    def all_measured_indices(self, idx: np.ndarray) -> np.ndarray:
        """Whether every part of each architecture was measured."""
        idx = np.asarray(idx)
        return self.measured[self._rows, idx].all(axis=-1) & bool(self.fixed_measured.all())

    # -- LatencyModel API ----------------------------------------------------
    def latency(self, arch: Architecture) -> Latency:
        """Latency of ``arch`` with provenance (see the module's provenance rule)."""
        idx = self.search_space.indices(arch)
        ms = float(self.latencies_indices(idx))
        fraction = float(self.measured_fractions_indices(idx))
        all_measured = bool(self.all_measured_indices(idx))
        source = "layer-sum" if all_measured and self.overhead.kind == "none" else "predicted"
        return Latency(ms, source, fraction)

    def latencies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Latencies (ms) of many architectures (one gather-and-sum)."""
        return self.latencies_indices(index_matrix(self.search_space, archs))

    def breakdown(self, arch: Architecture) -> list[dict[str, Any]]:
        """Per part: layer or fixed name, workload key, ms, source, spread (predicted only)."""
        idx = self.search_space.indices(arch)
        rows = []
        for part, w in self.fixed.items():
            if part == "stem":
                rows.append(self._fixed_row(part, w))
        for i, (c, j) in enumerate(zip(arch.choices, idx, strict=True)):
            rows.append(
                {
                    "part": f"layer{i}",
                    "op": c,
                    "key": self.cells[(i, c)].key,
                    "ms": float(self.table[i, j]),
                    "source": "measured" if self.measured[i, j] else "predicted",
                    "spread": None if self.measured[i, j] else float(self.spread[i, j]),
                }
            )
        for part, w in self.fixed.items():
            if part != "stem":
                rows.append(self._fixed_row(part, w))
        return rows

    def _fixed_row(self, part: str, w) -> dict[str, Any]:
        k = list(self.fixed).index(part)
        return {
            "part": part,
            "op": part,
            "key": w.key,
            "ms": float(self.fixed_ms[k]),
            "source": "measured" if self.fixed_measured[k] else "predicted",
            "spread": None,
        }

    # -- overhead ------------------------------------------------------------
    def calibrate(
        self, archs: Sequence[Architecture], whole_ms: Sequence[float], kinds=None
    ) -> Overhead:
        """Fit the overhead on architectures measured end to end; returns (and keeps) it."""
        parts = self.parts_indices(index_matrix(self.search_space, archs))
        self.overhead = fit_overhead(parts, whole_ms, kinds, self.min_parts_ms())
        return self.overhead

    def min_parts_ms(self) -> float:
        """The smallest summed parts of any architecture (fastest op per layer, plus fixed)."""
        rows = [self.table[i, : len(c)].min() for i, c in enumerate(self.choices)]
        return float(sum(rows) + self.fixed_ms.sum())

    def calibrate_from_store(self, archs: Sequence[Architecture], kinds=None) -> Overhead:
        """Calibrate on those of ``archs`` whose whole-network measurement is in the store."""
        pairs = []
        for arch in archs:
            row = self.store.get(
                self.fingerprint_key, self.search_space.arch_workload(arch, self.batch).key
            )
            if row is not None and row.measurement.ok:
                pairs.append((arch, row.measurement.median_ms))
        if not pairs:
            raise HwnasError(
                "none of the calibration architectures is measured end to end in the store",
                "measure a few whole architectures first (calibrate_overhead)",
            )
        return self.calibrate([a for a, _ in pairs], [ms for _, ms in pairs], kinds)

    def stored_whole_archs(self) -> dict[Architecture, float]:
        """Architectures of this space measured end to end in the store (``ok`` rows)."""
        probe = self.search_space.arch_workload(
            self.search_space.sample(np.random.default_rng(0)), self.batch
        ).key
        prefix, _, rest = probe.partition("/arch/")
        suffix = "/" + rest.rsplit("/", 1)[1]
        out = {}
        for row in self.store.measurements(self.fingerprint_key):
            key = row.workload
            if key.startswith(prefix + "/arch/") and key.endswith(suffix) and row.measurement.ok:
                text = key[len(prefix) + 6 : -len(suffix)]
                try:
                    arch = self.search_space.parse(text)
                except HwnasError:
                    continue
                if self.search_space.arch_workload(arch, self.batch).key == key:
                    out[arch] = float(row.measurement.median_ms)
        return out

    # -- description ---------------------------------------------------------
    def summary(self, samples: int = 10000, seed: int = 0) -> dict[str, Any]:
        """Measured share of cells and workloads, expected measured fraction, overhead, speed."""
        rng = np.random.default_rng(seed)
        widths = np.array([len(c) for c in self.choices])
        idx = (rng.random((samples, len(widths))) * widths).astype(np.int64)
        start = time.perf_counter()
        self.latencies_indices(idx)
        rate = samples / max(time.perf_counter() - start, 1e-9)
        keys = {w.key for w in self.cells.values()} | {w.key for w in self.fixed.values()}
        cells = sum(len(c) for c in self.choices)
        return {
            "model": self.name,
            "target": self.target_name,
            "fingerprint_key": self.fingerprint_key,
            "space": self.space,
            "cells": cells,
            "cells_measured": int(
                sum(self.measured[i, : len(c)].sum() for i, c in enumerate(self.choices))
            ),
            "workloads": len(keys),
            "workloads_measured": len(keys & self._measured_keys),
            "fixed_measured": bool(self.fixed_measured.all()),
            "mean_measured_fraction": float(self.measured_fractions_indices(idx).mean()),
            "share_all_measured": float(self.all_measured_indices(idx).mean()),
            "overhead": self.overhead.as_dict(),
            "predictor": None
            if self.predictor is None
            else {"trained_on": len(self.predictor.trained_keys), **self.predictor.info},
            "queries_per_s": rate,
            "provenance_rule": "source='layer-sum' only if every part was measured and no "
            "overhead model applies; measured_fraction = measured share of the summed part ms",
        }

    def fingerprint(self) -> dict[str, Any]:
        """Target fingerprint key, space, predictor size and overhead."""
        return {
            "model": self.name,
            "space": self.space,
            "fingerprint_key": self.fingerprint_key,
            "overhead": self.overhead.as_dict(),
            "predictor_trained_on": None
            if self.predictor is None
            else len(self.predictor.trained_keys),
        }


def calibrate_overhead(
    model: StoreLatencyModel,
    target: str,
    options: dict[str, Any],
    archs: Sequence[Architecture],
    protocol=None,
    workers: int = 1,
    show_progress: bool = True,
) -> Overhead:
    """Measure ``archs`` end to end on ``target`` and fit ``model``'s overhead to them."""
    from hwnas.live_latency import measure_whole

    whole = measure_whole(
        target,
        options,
        model.search_space,
        archs,
        model.store,
        protocol,
        workers=workers,
        show_progress=show_progress,
        batch=model.batch,
    )
    if not whole:
        raise HwnasError("no calibration architecture could be measured end to end")
    return model.calibrate(list(whole), list(whole.values()))


def sample_indices(space: SearchSpace, n: int, seed: int = 0) -> np.ndarray:
    """``n`` uniformly random architectures as an index matrix (for batch queries)."""
    rng = np.random.default_rng(seed)
    widths = np.array([len(p.choices) for p in space.positions])
    return (rng.random((n, len(widths))) * widths).astype(np.int64)


def archs_from_indices(space: SearchSpace, idx: np.ndarray) -> list[Architecture]:
    """Architectures of an index matrix."""
    return [
        Architecture(space.name, tuple(space.positions[i].choices[j] for i, j in enumerate(row)))
        for row in np.asarray(idx)
    ]
