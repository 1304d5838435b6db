"""Test helpers for hwnas and its plugins: a ``plugin_manager`` fixture and contract checks.

Installed as a pytest plugin (entry point ``pytest11``), so plugin packages
get the fixture without a conftest. :func:`check_target_contract` is the
conformance suite every target, built-in or third-party, must pass.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwnas.manager import PluginManager
from hwnas.target import Target
from hwnas.timing import Measurement, TimingProtocol
from hwnas.workload import Workload, seeded

QUICK_PROTOCOL = TimingProtocol(warmup=1, repeats=5, min_repeat_ms=2.0, max_attempts=1)


def run_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``python -m hwnas ARGS`` as a user would; captures text stdout/stderr."""
    return subprocess.run(
        [sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """The CLI's bad-input contract: exit 2, one stderr line naming the problem, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def plugin_manager() -> PluginManager:
    """A fresh plugin manager with the built-ins and every installed entry point."""
    return PluginManager()


def tiny_workload(channels: int = 8, size: int = 16) -> Workload:
    """A small conv-BN-ReLU workload that any CPU-capable target can run in microseconds."""

    def build():
        from torch import nn

        return nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        ).eval()

    return Workload(
        key=f"testing/conv3x3/c{channels}/hw{size}",
        space="testing",
        input_shape=(1, channels, size, size),
        label="tiny conv",
        build=seeded(build),
        recipe=(f"{__name__}:tiny_workload", {"channels": channels, "size": size}),
    )


def _broken_workload(workload: Workload) -> Workload:
    def fail():
        raise RuntimeError("deliberately broken workload")

    return Workload(
        key=workload.key + "/broken",
        space=workload.space,
        input_shape=workload.input_shape,
        label="broken",
        build=fail,
    )


def check_target_contract(target: Target, workload: Workload | None = None) -> Measurement:
    """Assert the rules of :class:`hwnas.target.Target` on ``target``; returns the measurement.

    Checks that ``available()`` returns ``None`` or a reason string, that the
    fingerprint is JSON-serialisable and stable, that measuring ``workload``
    (default :func:`tiny_workload`) gives a positive median with the
    protocol's raw repeats, and that a workload which fails to build becomes
    a failed measurement, not an error.
    """
    workload = workload or tiny_workload()
    reason = target.available()
    assert reason is None or (isinstance(reason, str) and reason), "available() -> None or reason"
    fingerprint = target.fingerprint()
    assert json.loads(json.dumps(fingerprint)) == fingerprint, "fingerprint must be JSON"
    assert target.fingerprint() == fingerprint, "fingerprint must be stable"
    assert len(target.fingerprint_key()) == 16
    result = target.measure(workload, QUICK_PROTOCOL)
    assert result.ok, result.reason
    assert result.source == "measured"
    assert result.median_ms > 0
    assert len(result.repeats_ms) == QUICK_PROTOCOL.repeats
    assert result.number >= 1 and result.cv >= 0 and result.iqr_ms >= 0
    failed = target.measure(_broken_workload(workload), QUICK_PROTOCOL)
    assert failed.status == "failed" and "deliberately broken" in failed.reason
    return result
