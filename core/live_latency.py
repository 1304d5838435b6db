"""Latency of live targets: whole architectures measured end to end, and the target resolver.

:func:`measure_architectures` / :func:`measure_whole` time whole networks in
one run (the only place hwnas does). :func:`resolve_latency_model` turns a
target name into a :class:`~hwnas.latency.LatencyModel` of a space: a recorded
table, or a live target's measured model.

:class:`MeasuredLatencyModel` answers an architecture by compiling and timing
the *whole network* (``space.arch_workload``) on a live target through
:func:`hwnas.profile.profile_workloads` (isolated workers, every result
committed to the :class:`~hwnas.store.LatencyStore`, known ones reused).
Answers are ``source="measured"``. ``prefetch(archs)`` measures a batch in
one worker session (a worker start costs seconds); strategies call it
before evaluating a batch, so a batch costs no more target measurements
than evaluating its members one by one.

As a *proxy*, a measured model answers only what was measured:
``pool_archs()`` lists the architectures measured so far (or the ``pool``
given at construction), and the strategy restricts its candidate pool to them.
A proxy that answers every architecture of a live target cheaply is
:class:`hwnas.predict.StoreLatencyModel` (per-layer measurements plus kernel
predictors); :func:`resolve_latency_model` uses it for ``role="proxy"`` when
the store holds a layer table for the target.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.latency import Latency, LatencyModel
from hwnas.space import Architecture, LayeredSpace, SearchSpace


def measure_architectures(
    target: str,
    options: dict[str, Any],
    space: SearchSpace,
    archs: Sequence[Architecture],
    store,
    protocol=None,
    workers: int = 1,
    timeout_s: float = 600.0,
    show_progress: bool = True,
    batch: int = 1,
):
    """Measure whole architectures end to end (``arch_workload``) into ``store``, in one run.

    Known ones are read from the store. Returns ``(measurements, result)``:
    the ``ok`` :class:`~hwnas.timing.Measurement` of each architecture that
    has one, and the :class:`~hwnas.profile.ProfileResult` (what was measured
    now, reused, failed; the target's fingerprint).
    """
    from hwnas.profile import profile_workloads

    workloads = {a: space.arch_workload(a, batch) for a in dict.fromkeys(archs)}
    result = profile_workloads(
        target,
        options,
        list(workloads.values()),
        store,
        protocol,
        workers=workers,
        timeout_s=timeout_s,
        show_progress=show_progress,
    )
    measurements = {}
    for arch, workload in workloads.items():
        m = result.results.get(workload.key)
        if m is not None and m.ok:
            measurements[arch] = m
    return measurements, result


def measure_whole(*args, **kwargs) -> dict[Architecture, float]:
    """Median end-to-end latency (ms) of each architecture measured ``ok``.

    Takes the arguments of :func:`measure_architectures`.
    """
    measurements, _ = measure_architectures(*args, **kwargs)
    return {arch: float(m.median_ms) for arch, m in measurements.items()}


class MeasuredLatencyModel(LatencyModel):
    """End-to-end measured latency of ``space`` architectures on live ``target`` (ms)."""

    def __init__(
        self,
        target: str,
        space: SearchSpace,
        store,
        options: dict[str, Any] | None = None,
        protocol=None,
        workers: int = 1,
        timeout_s: float = 600.0,
        show_progress: bool = False,
        pool: Sequence[Architecture] | None = None,
        batch: int = 1,
    ) -> None:
        self.target = target
        self.name = target
        self.search_space = space
        self.space = space.name
        self.store = store
        self.options = dict(options or {})
        self.protocol = protocol
        self.workers = workers
        self.timeout_s = timeout_s
        self.show_progress = show_progress
        self.batch = batch
        self._pool = list(pool) if pool is not None else None
        self._ms: dict[Architecture, float] = {}
        self.measurements: dict[Architecture, Any] = {}  # arch -> hwnas.timing.Measurement
        self.new_measurements = 0
        self.reused = 0
        self.fingerprint_key: str | None = None

    def prefetch(self, archs: Sequence[Architecture]) -> None:
        """Measure (or read from the store) every architecture not answered yet, in one run."""
        todo = [a for a in dict.fromkeys(archs) if a not in self._ms]
        if not todo:
            return
        measurements, result = measure_architectures(
            self.target,
            self.options,
            self.search_space,
            todo,
            self.store,
            self.protocol,
            self.workers,
            self.timeout_s,
            self.show_progress,
            self.batch,
        )
        self.fingerprint_key = result.target.fingerprint_key
        self.new_measurements += result.measured
        self.reused += result.reused
        self.measurements.update(measurements)
        self._ms.update({arch: float(m.median_ms) for arch, m in measurements.items()})

    def latency(self, arch: Architecture) -> Latency:
        """Measured end-to-end latency (one-line error when the measurement failed)."""
        if arch not in self._ms:
            self.prefetch([arch])
        if arch not in self._ms:
            raise HwnasError(
                f"{self.target}: measuring {self.search_space.format(arch)[:60]}... failed",
                "see the store's failed rows ('hwnas store export')",
            )
        return Latency(self._ms[arch], "measured")

    def latencies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Measured latencies of many architectures (one measurement run for the new ones)."""
        self.prefetch(archs)
        return np.array([self.latency(a).ms for a in archs], dtype=float)

    def pool_archs(self) -> list[Architecture]:
        """The architectures this model can answer without measuring more."""
        if self._pool is not None:
            return list(self._pool)
        return list(self._ms)

    def fingerprint(self) -> dict[str, Any]:
        """Target name, space and store fingerprint key (once something was measured)."""
        return {
            "model": self.name,
            "space": self.space,
            "source": "measured end to end (arch_workload)",
            "fingerprint_key": self.fingerprint_key,
        }


def resolve_latency_model(
    name: str,
    space: SearchSpace,
    role: str = "target",
    data_dir: str | os.PathLike | None = None,
    store_path: str | os.PathLike | None = None,
    options: dict[str, Any] | None = None,
    plugin_manager=None,
) -> LatencyModel:
    """A :class:`LatencyModel` of ``space`` on target ``name`` (recorded or live).

    Recorded names (``nb201/pixel3``) give the recorded table; a recorded
    table of another space is a one-line error (no shared architectures). A
    live target gives, for ``role="target"``, a :class:`MeasuredLatencyModel`;
    for ``role="proxy"``, the store's :class:`~hwnas.predict.StoreLatencyModel`
    when the store has layer measurements of the target, else a measured model.
    """
    from hwnas.manager import get_plugin_manager

    pm = plugin_manager or get_plugin_manager()
    info = pm.get("target", name)
    options = dict(options or {})
    if getattr(info.spec, "recorded", False):
        if data_dir is not None:
            options.setdefault("data_dir", str(data_dir))
        model = pm.create("target", info.name, **options)
        if model.space != space.name:
            raise HwnasError(
                f"{info.name} answers {model.space} architectures, not {space.name}: "
                "no shared architectures",
                f"use a {space.name}/<device> target",
            )
        return model
    from hwnas.store import LatencyStore, default_store

    try:
        space.arch_workload(space.sample(np.random.default_rng(0)))
    except HwnasError:
        raise HwnasError(
            f"live target {info.name!r} cannot run {space.name} architectures "
            "(the space builds no network)",
            "use a space with a network builder, such as hurricane, or a recorded target",
        ) from None
    store = LatencyStore(store_path or default_store())
    if role == "proxy":
        from hwnas.profile import probe_target

        fp = probe_target(info.name, options, pm).fingerprint_key
        if isinstance(space, LayeredSpace) and store.keys(fp):
            from hwnas.predict.model import StoreLatencyModel

            try:
                model = StoreLatencyModel(space, store, fp, name=info.name)
            except HwnasError:
                model = None
            if model is not None:
                whole = model.stored_whole_archs()
                if whole:
                    model.calibrate(list(whole), list(whole.values()))
                return model
    return MeasuredLatencyModel(info.name, space, store, options)
