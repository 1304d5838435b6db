"""TVM targets: host CPU (default, MetaSchedule), AArch64 over RPC, CUDA and Hexagon compiles."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")

import torch  # noqa: E402
from conftest import randomise_batchnorm  # noqa: E402

from hwnas.errors import PluginUnavailableError  # noqa: E402
from hwnas.export import export_onnx  # noqa: E402
from hwnas.manager import PluginManager  # noqa: E402
from hwnas.spaces.hurricane.space import HurricaneSpace  # noqa: E402
from hwnas.targets.tvm.arm import TvmArmTarget  # noqa: E402
from hwnas.targets.tvm.common import EM_AARCH64, EM_HEXAGON, elf_machine  # noqa: E402
from hwnas.targets.tvm.cpu import TvmCpuTarget  # noqa: E402
from hwnas.targets.tvm.cuda import TvmCudaTarget  # noqa: E402
from hwnas.targets.tvm.hexagon import TvmHexagonTarget  # noqa: E402
from hwnas.targets.tvm.local_farm import LocalDeviceFarm, free_port  # noqa: E402
from hwnas.testing import QUICK_PROTOCOL, check_target_contract, tiny_workload  # noqa: E402

TVM_TARGETS = ("tvm-arm", "tvm-cpu", "tvm-cuda", "tvm-hexagon")
RPC_KEY = "hwnas-test-host"


@pytest.fixture(scope="module")
def layer_workload():
    """A hurricane small-profile layer (128 channels at 4x4, MobileNet block k3 e3)."""
    return HurricaneSpace().layer_workload(19, "MB_k3_e3")


@pytest.fixture(scope="module")
def rpc_farm():
    """A TVM RPC tracker plus one host RPC server registered under ``RPC_KEY``."""
    with LocalDeviceFarm(RPC_KEY, servers=1) as farm:
        yield farm


@pytest.fixture(scope="module")
def rpc_tracker(rpc_farm):
    """The local tracker's port."""
    return rpc_farm.port


# -- registry ----------------------------------------------------------------


def test_tvm_targets_are_registered():
    pm = PluginManager()
    infos = {info.name: info for info in pm.infos("target")}
    for name in TVM_TARGETS:
        assert name in infos, name
        assert infos[name].available, infos[name].reason
        assert infos[name].spec.extra == "tvm" and infos[name].spec.requires == ("tvm",)


def test_cuda_and_hexagon_say_what_is_missing():
    pm = PluginManager()
    with pytest.raises(PluginUnavailableError, match="CUDA"):
        pm.create("target", "tvm-cuda")
    with pytest.raises(PluginUnavailableError, match="HEXAGON_SDK_ROOT"):
        pm.create("target", "tvm-hexagon")
    assert "Android device" in pm.create("target", "tvm-hexagon", check_available=False).available()


def test_listing_plugins_does_not_import_tvm():
    code = (
        "import sys; from hwnas.manager import PluginManager; "
        "PluginManager().infos(); assert 'tvm' not in sys.modules, 'tvm imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_bad_option_is_reported_with_valid_options():
    from hwnas.errors import HwnasError

    with pytest.raises(HwnasError, match="bad options"):
        PluginManager().create("target", "tvm-cpu", mod="tuned")
    with pytest.raises(HwnasError, match="unknown mode"):
        TvmCpuTarget(mode="fast")


# -- tvm-cpu -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["rules", "default"])
def test_cpu_passes_the_target_contract(mode):
    result = check_target_contract(TvmCpuTarget(mode=mode))
    assert result.extra["tvm"]["mode"] == mode
    assert result.threads == TvmCpuTarget().threads


def test_cpu_mode_defaults_to_rules():
    assert TvmCpuTarget().mode == "rules" and TvmCpuTarget().fingerprint()["mode"] == "rules"


def test_cpu_fingerprint_names_mcpu_threads_and_version():
    fingerprint = TvmCpuTarget(threads=1).fingerprint()
    assert fingerprint["threads"] == 1 and fingerprint["tvm"] == tvm.__version__
    assert tvm.target.codegen.llvm_get_system_cpu() in fingerprint["llvm_target"]
    assert "trials" not in fingerprint
    tuned = TvmCpuTarget(mode="tuned", trials=8).fingerprint()
    assert tuned["mode"] == "tuned" and tuned["trials"] == 8


def test_cpu_default_measures_a_hurricane_layer(layer_workload):
    target = TvmCpuTarget()
    result = target.measure(layer_workload, QUICK_PROTOCOL)
    assert result.ok, result.reason
    assert result.median_ms > 0 and len(result.repeats_ms) == QUICK_PROTOCOL.repeats
    assert result.compile_s < 10


@pytest.mark.parametrize("mode", ["rules", "default"])
def test_cpu_matches_torch(layer_workload, tmp_path, mode):
    # workload.build() draws fresh random weights each call, so compile an ONNX
    # file exported from the very module we compare against.
    module = randomise_batchnorm(layer_workload.build())
    x = layer_workload.example_input()
    path = export_onnx(module, x, tmp_path / "layer.onnx")
    target = TvmCpuTarget(mode=mode)
    compiled = target.compile_onnx(path, x.numpy())
    with torch.no_grad():
        expected = module(x).numpy()
    np.testing.assert_allclose(target.run(compiled), expected, rtol=1e-4, atol=1e-4)


def test_cpu_tuned_database_is_reused(tmp_path):
    workload = tiny_workload()
    work_dir = tmp_path / "tuning"
    first = TvmCpuTarget(mode="tuned", trials=4, work_dir=work_dir)
    compiled = first.compile(workload)
    report = compiled.info["tuning"]
    assert report["ran"] and report["tasks_tuned"] >= 1 and report["tasks_untuned"] == 0
    # Every tuned task started from its rule-based schedule, measured by MetaSchedule.
    assert report["tasks_seeded"] == report["tasks_tuned"]
    assert 0 <= report["tasks_rules_best"] <= report["tasks_seeded"]
    assert (work_dir / "database_tuning_record.json").stat().st_size > 0
    result = first.time(compiled, QUICK_PROTOCOL)
    assert result.ok and result.extra["tvm"]["tuning"]["ran"]

    # A second instance (as in a new run) finds every task in the database.
    second = TvmCpuTarget(mode="tuned", trials=4, work_dir=work_dir)
    result = second.measure(workload, QUICK_PROTOCOL)
    assert result.ok, result.reason
    report = result.extra["tvm"]["tuning"]
    assert not report["ran"] and report["tasks_reused"] == report["tasks"] >= 1
    assert report["tune_s"] < compiled.info["tuning"]["tune_s"]

    # Records are keyed by operator shape, not weights: other weights reuse them, correctly.
    module = randomise_batchnorm(workload.build())
    x = workload.example_input()
    compiled = second.compile_onnx(export_onnx(module, x, tmp_path / "tiny.onnx"), x.numpy())
    assert not compiled.info["tuning"]["ran"]
    with torch.no_grad():
        expected = module(x).numpy()
    np.testing.assert_allclose(second.run(compiled), expected, rtol=1e-4, atol=1e-4)


# -- tvm-arm -----------------------------------------------------------------


def host_arm_target(port: int, key: str = RPC_KEY) -> TvmArmTarget:
    """tvm-arm aimed at this host: the same export/upload/load/time path, host triple and g++."""
    codegen = tvm.target.codegen
    return TvmArmTarget(
        tracker_port=port,
        key=key,
        mtriple=codegen.llvm_get_system_triple(),
        mcpu=codegen.llvm_get_system_cpu(),
        cc="g++",
    )


def test_arm_through_the_tracker_passes_the_target_contract(rpc_farm, rpc_tracker):
    target = host_arm_target(rpc_tracker)
    try:
        assert target.available() is None
        result = check_target_contract(target)
        assert result.extra["tvm"]["library"].endswith(".so")
    finally:
        target.close()
    deadline = time.monotonic() + 10
    while rpc_farm.free_devices() < 1:  # close() gives the board back to the tracker
        assert time.monotonic() < deadline, "the board is still busy after close()"
        time.sleep(0.2)


def test_arm_without_tracker_or_device_is_unavailable(rpc_tracker):
    port = free_port()
    target = TvmArmTarget(tracker_port=port)
    reason = target.available()
    assert reason and f"127.0.0.1:{port}" in reason
    failed = target.measure(tiny_workload(), QUICK_PROTOCOL)  # fails fast, no 60 s retry loop
    assert failed.status == "failed" and f"127.0.0.1:{port}" in failed.reason
    reason = host_arm_target(rpc_tracker, key="no-such-board").available()
    assert reason and "no-such-board" in reason and "no device registered" in reason


def test_arm_cross_compiles_an_aarch64_library(tmp_path):
    target = TvmArmTarget(mcpu="cortex-a76")
    library = target.compile_only(tiny_workload(), tmp_path / "model.so")
    assert elf_machine(library) == EM_AARCH64


# -- tvm-cuda and tvm-hexagon compile paths ----------------------------------


def test_cuda_compile_produces_device_code():
    target = TvmCudaTarget(arch="sm_80")
    compiled = target.compile(tiny_workload())
    assert "__global__" in target.cuda_source(compiled)
    if target.available():
        failed = target.measure(tiny_workload(), QUICK_PROTOCOL)
        assert failed.status == "failed" and "cannot time here" in failed.reason


def test_hexagon_compile_produces_a_hexagon_shared_object(tmp_path):
    target = TvmHexagonTarget()
    library = target.compile_only(tiny_workload(), tmp_path / "model.so")
    assert elf_machine(library) == EM_HEXAGON
    with open(library, "rb") as handle:
        assert handle.read(18)[16] == 3  # e_type ET_DYN: a shared object
