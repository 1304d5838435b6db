"""Conformance tests for the example target; copy and adapt them for a new target.

Run from the repository root::

    python -m pytest examples/hwnas-target-example/tests
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import pytest
import torch

from hwnas.errors import HwnasError
from hwnas.manager import PluginManager
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.timing import TimingProtocol
from hwnas.workload import Workload

try:
    from hwnas_target_example.target import TorchThreadsTarget
except ImportError:  # not installed: import it from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hwnas_target_example.target import TorchThreadsTarget

DIST = "hwnas-target-example"
TARGET = "example-torch"
FAST = TimingProtocol(warmup=1, repeats=5, min_repeat_ms=5)


def _installed() -> bool:
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_install = pytest.mark.skipif(
    not _installed(),
    reason=f"{DIST} is not installed (pip install -e examples/hwnas-target-example), "
    "so its entry point cannot be discovered",
)


@pytest.fixture(scope="module")
def pm() -> PluginManager:
    """A plugin manager that loads entry points, as the CLI does."""
    return PluginManager(load_external=True)


@pytest.fixture(scope="module")
def space() -> HurricaneSpace:
    """The small HURRICANE space (28x28x1): cheap layers, fast tests."""
    return HurricaneSpace()


@needs_install
def test_discovered_through_entry_point(pm):
    info = pm.registry().get(("target", TARGET))
    assert info is not None, f"{TARGET} not in registry; broken plugins: {pm.broken}"
    assert info.package == DIST
    assert info.available, info.reason


@needs_install
def test_measures_a_workload(pm, space):
    target = pm.create("target", TARGET, threads=1)
    m = target.measure(space.layer_workload(0, "MB_k3_e6"), FAST)
    assert m.status == "ok", m.reason
    assert m.median_ms > 0
    assert len(m.repeats_ms) == 5
    assert m.threads == 1
    assert m.number >= 1
    assert m.compile_s is not None and m.compile_s >= 0


@needs_install
def test_heavier_op_is_slower(pm, space):
    heavy, light = (0, "MB_k7_e6"), (19, "SEP_k3")
    # Precondition: a >= 10x FLOPs gap, so ordering survives a noisy shared VM.
    assert space.layer_cost(*heavy).flops >= 10 * space.layer_cost(*light).flops
    target = pm.create("target", TARGET, threads=1)
    m_heavy = target.measure(space.layer_workload(*heavy), FAST)
    m_light = target.measure(space.layer_workload(*light), FAST)
    assert m_heavy.ok and m_light.ok
    # Compare the fastest repeats: interference only ever makes a repeat slower.
    assert min(m_heavy.repeats_ms) > min(m_light.repeats_ms)


def test_thread_count_restored(space):
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1
    target = TorchThreadsTarget(threads=other)
    torch.set_num_threads(before)
    try:
        compiled = target.compile(space.layer_workload(19, "SEP_k3"))
        m = target.time(compiled, FAST)
        assert m.ok and m.threads == other
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


def test_build_error_is_a_failed_measurement():
    def broken_build():
        raise RuntimeError("vendor compiler rejected the graph")

    workload = Workload(
        key="test/broken",
        space="test",
        input_shape=(1, 3, 8, 8),
        label="broken",
        build=broken_build,
    )
    m = TorchThreadsTarget().measure(workload, FAST)
    assert m.status == "failed"
    assert not m.ok and m.median_ms is None
    assert "vendor compiler rejected the graph" in m.reason


@pytest.mark.parametrize("threads", [0, -1])
def test_bad_threads_raise(threads):
    with pytest.raises(HwnasError) as excinfo:
        TorchThreadsTarget(threads=threads)
    assert excinfo.value.fix


@needs_install
def test_bad_threads_through_manager(pm):
    with pytest.raises(HwnasError):
        pm.create("target", TARGET, threads=0)


def test_target_contract(space):
    """The core conformance suite every target must pass."""
    from hwnas import testing

    target = TorchThreadsTarget(threads=1)
    result = testing.check_target_contract(target, space.layer_workload(19, "SEP_k3"))
    assert result.threads == 1


def test_available_here():
    assert TorchThreadsTarget().available() is None


def test_fingerprint():
    a, b = TorchThreadsTarget(threads=1), TorchThreadsTarget(threads=1)
    fp = a.fingerprint()
    assert json.loads(json.dumps(fp)) == fp
    assert fp == b.fingerprint()
    assert a.fingerprint_key() == b.fingerprint_key()
    assert fp["threads"] == 1 and fp["runtime"] == "torch-eager" and fp["device"] == "cpu"
    two = TorchThreadsTarget(threads=2)
    assert two.fingerprint() != fp
    assert two.fingerprint_key() != a.fingerprint_key()
