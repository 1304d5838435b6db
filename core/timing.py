"""Measurement protocol: warm-up, calibrated repeats, median and spread, re-measure if noisy."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class TimingProtocol:
    """How to time one workload.

    ``warmup`` untimed calls, then ``repeats`` timed repeats; each repeat runs
    the workload ``number`` times, with ``number`` calibrated so one repeat
    lasts at least ``min_repeat_ms`` (as TVM's ``time_evaluator``). A result
    whose coefficient of variation exceeds ``max_cv`` is measured again, up to
    ``max_attempts`` times; the least noisy attempt is kept and flagged noisy
    if it still exceeds the threshold.

    ``steady`` (host timers only): before each repeat, wait up to
    ``steady_wait_s`` until a short host probe runs within 10 % of the fastest
    probe this process has seen (:func:`wait_for_steady_host`). On a virtual
    machine whose speed jumps from one tenth of a second to the next, this
    times the kernel only while the host runs at full speed
    (``benchmarks/timing_statistics.py``).
    """

    warmup: int = 3
    repeats: int = 15
    min_repeat_ms: float = 20.0
    max_cv: float = 0.10
    max_attempts: int = 3
    steady: bool = False
    steady_wait_s: float = 1.0

    def __post_init__(self) -> None:
        if self.repeats < 3 or self.warmup < 0 or self.min_repeat_ms < 0 or self.max_attempts < 1:
            raise ValueError("timing protocol needs repeats >= 3, warmup >= 0, max_attempts >= 1")


@dataclass(frozen=True)
class Measurement:
    """The result of timing one workload on one target (milliseconds per call).

    ``status`` is ``"ok"`` or ``"failed"`` (then ``reason`` says why and the
    times are ``None``). ``repeats_ms`` keeps every raw repeat of the kept
    attempt; ``source`` is ``"measured"`` for anything a device timed.
    """

    status: str
    median_ms: float | None = None
    iqr_ms: float | None = None
    cv: float | None = None
    repeats_ms: tuple[float, ...] = ()
    number: int = 0
    attempts: int = 0
    noisy: bool = False
    threads: int | None = None
    compile_s: float | None = None
    reason: str | None = None
    source: str = "measured"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the workload was timed."""
        return self.status == "ok"

    @classmethod
    def failed(cls, reason: str, compile_s: float | None = None) -> Measurement:
        """A failure record (compile error, crash, timeout, device error)."""
        return cls(status="failed", reason=reason, compile_s=compile_s)

    @classmethod
    def from_repeats(cls, repeats_ms, number: int, **kwargs) -> Measurement:
        """Summarise raw per-call repeat times (ms) into median, IQR and CV."""
        values = np.asarray(repeats_ms, dtype=float)
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        mean = float(values.mean())
        cv = float(values.std(ddof=1) / mean) if mean > 0 and len(values) > 1 else 0.0
        return cls(
            status="ok",
            median_ms=float(median),
            iqr_ms=float(q3 - q1),
            cv=cv,
            repeats_ms=tuple(float(v) for v in values),
            number=number,
            **kwargs,
        )

    def with_(self, **changes) -> Measurement:
        """A copy with some fields changed."""
        return replace(self, **changes)


def calibrate_number(fn: Callable[[], object], min_repeat_ms: float) -> int:
    """How many calls make one repeat last at least ``min_repeat_ms``."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed_ms = (time.perf_counter() - start) * 1e3
        if elapsed_ms >= min_repeat_ms or number >= 1 << 20:
            return number
        scale = min_repeat_ms / max(elapsed_ms, 1e-3)
        number = max(number * 2, int(number * scale * 1.1) + 1)


def measure_repeats(
    run: Callable[[int, int], Sequence[float]],
    number: int,
    protocol: TimingProtocol,
    threads: int | None = None,
) -> Measurement:
    """Apply the noise rule of ``protocol`` to any timer.

    ``run(number, repeats)`` performs ``repeats`` repeats of ``number`` calls
    and returns the milliseconds per call of each repeat: a host loop, TVM's
    ``time_evaluator`` on a remote board, or a device's own profiler.
    """
    best: Measurement | None = None
    for attempt in range(1, protocol.max_attempts + 1):
        result = Measurement.from_repeats(
            run(number, protocol.repeats), number, attempts=attempt, threads=threads
        )
        if best is None or result.cv < best.cv:
            best = result
        if result.cv <= protocol.max_cv:
            break
    return best.with_(attempts=attempt, noisy=best.cv > protocol.max_cv)


def time_callable(
    fn: Callable[[], object], protocol: TimingProtocol, threads: int | None = None
) -> Measurement:
    """Time ``fn`` (one call = one inference) on the host under ``protocol``."""
    for _ in range(protocol.warmup):
        fn()

    def run(number: int, repeats: int) -> list[float]:
        times = []
        for _ in range(repeats):
            if protocol.steady:
                wait_for_steady_host(protocol.steady_wait_s)
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - start) * 1e3 / number)
        return times

    return measure_repeats(run, calibrate_number(fn, protocol.min_repeat_ms), protocol, threads)


_FASTEST_PROBE_MS: list[float] = []


def wait_for_steady_host(max_wait_s: float, tolerance: float = 0.1) -> float:
    """Spin a short probe until it runs within ``tolerance`` of the fastest seen; seconds waited.

    The fastest probe is remembered for the process (its first call probes for
    0.3 s to find it). Returns after ``max_wait_s`` even if the host stays slow.
    """
    from hwnas.host_speed import SHORT_PROBE_LOOP, probe, short_probe_ms

    if not _FASTEST_PROBE_MS:
        _FASTEST_PROBE_MS.append(probe(0.3, SHORT_PROBE_LOOP)[0])
    start = time.perf_counter()
    while True:
        ms = short_probe_ms()
        if ms < _FASTEST_PROBE_MS[0]:
            _FASTEST_PROBE_MS[0] = ms
        waited = time.perf_counter() - start
        if ms <= (1 + tolerance) * _FASTEST_PROBE_MS[0] or waited >= max_wait_s:
            return waited
