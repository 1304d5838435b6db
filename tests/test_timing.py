"""The measurement protocol and the Target base class."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from hwnas.target import Target, cpu_model
from hwnas.testing import check_target_contract, tiny_workload
from hwnas.timing import (
    Measurement,
    TimingProtocol,
    calibrate_number,
    measure_repeats,
    time_callable,
)


def test_summary_statistics_of_raw_repeats():
    values = [1.0, 2.0, 3.0, 4.0, 100.0]
    m = Measurement.from_repeats(values, number=7, threads=2)
    assert m.ok and m.median_ms == 3.0 and m.number == 7 and m.threads == 2
    assert m.iqr_ms == pytest.approx(np.percentile(values, 75) - np.percentile(values, 25))
    assert m.cv == pytest.approx(np.std(values, ddof=1) / np.mean(values))
    assert m.repeats_ms == tuple(values)


def test_calibration_makes_each_repeat_long_enough():
    def sleep_half_ms():
        time.sleep(0.0005)

    number = calibrate_number(sleep_half_ms, min_repeat_ms=10.0)
    start = time.perf_counter()
    for _ in range(number):
        sleep_half_ms()
    assert (time.perf_counter() - start) * 1e3 >= 10.0
    assert number <= 40  # and not wildly more than needed (0.5 ms each -> ~20)


def test_noisy_results_are_measured_again_and_flagged():
    calls = []

    def wild(number, repeats):
        calls.append(number)
        return [1.0, 5.0] * (repeats // 2) + [1.0] * (repeats % 2)

    m = measure_repeats(wild, 3, TimingProtocol(repeats=5, max_cv=0.1, max_attempts=3))
    assert calls == [3, 3, 3] and m.attempts == 3 and m.noisy
    assert len(m.repeats_ms) == 5


def test_a_quiet_retry_ends_the_re_measurement():
    answers = itertools.chain([[1.0, 9.0, 1.0, 9.0, 1.0]], itertools.repeat([2.0] * 5))
    m = measure_repeats(lambda n, r: next(answers), 1, TimingProtocol(repeats=5, max_attempts=4))
    assert m.attempts == 2 and not m.noisy and m.median_ms == 2.0 and m.cv == 0.0


def test_time_callable_counts_warmup_and_repeats():
    calls = []
    protocol = TimingProtocol(warmup=2, repeats=4, min_repeat_ms=0.0, max_attempts=1)
    m = time_callable(lambda: calls.append(1), protocol, threads=1)
    assert m.ok and m.number == 1 and len(m.repeats_ms) == 4
    assert len(calls) == 2 + 1 + 4  # warm-up, one calibration call, repeats


def test_steady_protocol_gates_every_repeat(monkeypatch):
    import hwnas.timing as timing

    gates = []
    monkeypatch.setattr(timing, "wait_for_steady_host", lambda wait: gates.append(wait) or 0.0)
    protocol = TimingProtocol(warmup=0, repeats=5, min_repeat_ms=0.0, max_attempts=1)
    time_callable(lambda: None, protocol)
    assert gates == []
    time_callable(lambda: None, TimingProtocol(**{**protocol.__dict__, "steady": True}))
    assert gates == [1.0] * 5


def _probes(monkeypatch, values):
    import hwnas.host_speed as host_speed
    import hwnas.timing as timing

    feed = iter(values)
    monkeypatch.setattr(host_speed, "short_probe_ms", lambda: next(feed))
    monkeypatch.setattr(timing, "_FASTEST_PROBE_MS", [2.0])


def test_the_gate_waits_out_slow_probes(monkeypatch):
    from hwnas.timing import wait_for_steady_host

    _probes(monkeypatch, [3.5, 3.4, 2.1, 9.9])
    wait_for_steady_host(5.0)  # returns on the third probe, within 10 % of 2.0
    import hwnas.timing as timing

    assert timing._FASTEST_PROBE_MS == [2.0]
    _probes(monkeypatch, [1.5])
    wait_for_steady_host(5.0)  # a faster probe passes and becomes the reference
    assert timing._FASTEST_PROBE_MS == [1.5]


def test_the_gate_gives_up_after_its_wait(monkeypatch):
    from hwnas.timing import wait_for_steady_host

    _probes(monkeypatch, itertools.repeat(3.0))
    start = time.perf_counter()
    waited = wait_for_steady_host(0.05)
    assert 0.05 <= waited < 1.0 and time.perf_counter() - start < 1.0


def test_protocol_rejects_nonsense():
    with pytest.raises(ValueError):
        TimingProtocol(repeats=1)


class SleepTarget(Target):
    """A target whose 'device' is time.sleep: enough to test the base class."""

    def fingerprint(self):
        return {"device": "sleep", "cpu": cpu_model()}

    def compile(self, workload):
        module = workload.build()
        if workload.input_shape[1] > 100:
            raise RuntimeError("too many channels for this device")
        return module

    def time(self, compiled, protocol):
        return time_callable(lambda: time.sleep(0.0002), protocol)


def test_target_base_class_passes_the_contract():
    m = check_target_contract(SleepTarget())
    assert m.median_ms >= 0.2 and m.compile_s is not None


def test_compile_error_becomes_a_failed_measurement():
    m = SleepTarget().measure(tiny_workload(channels=128))
    assert m.status == "failed" and "too many channels" in m.reason and m.median_ms is None
