"""The host-runtime targets: onnxruntime, openvino and torch (eager)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

from hwnas.errors import HwnasError, PluginUnavailableError
from hwnas.manager import PluginManager
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.targets.onnx_runtime import OnnxRuntimeTarget
from hwnas.targets.openvino_runtime import VPU_REASON, OpenVinoTarget
from hwnas.targets.torch_eager import TorchEagerTarget
from hwnas.testing import check_target_contract
from hwnas.timing import TimingProtocol
from hwnas.workload import Workload

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

NAMES = ("onnxruntime", "openvino", "torch")
CLASSES = {"onnxruntime": OnnxRuntimeTarget, "openvino": OpenVinoTarget, "torch": TorchEagerTarget}
FAST = TimingProtocol(warmup=1, repeats=5, min_repeat_ms=2.0, max_attempts=1)


@pytest.fixture(scope="module")
def pm() -> PluginManager:
    return PluginManager()


@pytest.fixture(scope="module")
def space() -> HurricaneSpace:
    return HurricaneSpace()  # small profile: 28x28x1


def seeded(workload: Workload, seed: int = 0) -> Workload:
    """``workload`` with deterministic weights (``build()`` draws fresh random ones each call)."""

    def build():
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return workload.build()

    return dataclasses.replace(workload, key=f"{workload.key}/seed{seed}", build=build)


def test_listed_available_from_hwnas(pm):
    infos = {info.name: info for info in pm.infos("target")}
    for name in NAMES:
        assert name in infos, f"{name} not listed; broken plugins: {pm.broken}"
        assert infos[name].package == "hwnas"
        assert infos[name].available, infos[name].reason
    assert infos["onnxruntime"].spec.extra == "onnxruntime"
    assert infos["openvino"].spec.extra == "openvino"
    assert infos["torch"].spec.extra is None


def test_listing_imports_no_runtime():
    code = (
        "import sys; from hwnas.manager import PluginManager; PluginManager().infos('target'); "
        "print([m for m in ('onnxruntime', 'openvino') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", NAMES)
def test_contract_and_hurricane_layer(pm, space, name):
    target = pm.create("target", name)
    assert target.available() is None
    assert check_target_contract(target).threads == 1
    m = target.measure(space.layer_workload(5, "MB_k3_e6"), FAST)
    assert m.status == "ok", m.reason
    assert m.median_ms > 0 and m.compile_s is not None
    target.close()


@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
@pytest.mark.parametrize(("index", "op"), [(4, "MB_k5_e6_SE"), (10, "Choice_x")])
def test_numerics_match_torch(space, name, index, op):
    workload = seeded(space.layer_workload(index, op))
    target = CLASSES[name]()
    x = workload.example_input()
    with torch.no_grad():
        expected = workload.build()(x).numpy()
    got = target.run(target.compile(workload), x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("device", ["MYRIAD", "HDDL", "myriad"])
def test_openvino_vpu_unavailable(device):
    reason = OpenVinoTarget(device=device).available()
    assert reason and VPU_REASON in reason
    assert "openvino <= 2022.3" in reason and "openvino==2022.3.*" in reason


def test_openvino_npu_and_gpu_unavailable_with_reason():
    import openvino as ov

    devices = ov.Core().available_devices
    if "NPU" not in devices:
        reason = OpenVinoTarget(device="NPU").available()
        assert reason and "NPU" in reason and "driver" in reason
        assert "CPU" in reason  # lists what is available
    if not any(d.startswith("GPU") for d in devices):
        reason = OpenVinoTarget(device="GPU").available()
        assert reason and "OpenCL" in reason
        reason = OpenVinoTarget(device="AUTO:GPU,CPU").available()
        assert reason and "'GPU'" in reason and "OpenCL" in reason
    assert OpenVinoTarget(device="AUTO:CPU").available() is None


def test_manager_refuses_unavailable_device(pm):
    with pytest.raises(PluginUnavailableError, match=r"2022\.3"):
        pm.create("target", "openvino", device="MYRIAD")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this host has CUDA")
def test_torch_cuda_unavailable(pm):
    reason = TorchEagerTarget(device="cuda").available()
    assert reason and "CUDA" in reason
    with pytest.raises(PluginUnavailableError):
        pm.create("target", "torch", device="cuda")


def test_onnxruntime_missing_provider_says_why():
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this host has the CUDA provider")
    target = OnnxRuntimeTarget(providers=("cuda", "cpu"))
    assert target.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    reason = target.available()
    assert reason and "CUDAExecutionProvider" in reason and "onnxruntime-gpu" in reason


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("threads", [0, -2, 1.5, True])
def test_bad_threads_raise(pm, name, threads):
    with pytest.raises(HwnasError) as excinfo:
        CLASSES[name](threads=threads)
    assert excinfo.value.fix
    if threads == 0:
        with pytest.raises(HwnasError):
            pm.create("target", name, threads=0)


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (OnnxRuntimeTarget, {"graph_optimization": "max"}),
        (OnnxRuntimeTarget, {"providers": ("warp-drive",)}),
        (OnnxRuntimeTarget, {"providers": ()}),
        (OpenVinoTarget, {"hint": "fast"}),
        (OpenVinoTarget, {"precision": "int3"}),
        (TorchEagerTarget, {"device": "tpu"}),
    ],
)
def test_bad_options_raise(cls, options):
    with pytest.raises(HwnasError) as excinfo:
        cls(**options)
    assert excinfo.value.fix


def test_torch_restores_thread_count(space):
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1
    target = TorchEagerTarget(threads=other)
    try:
        m = target.time(target.compile(space.layer_workload(19, "SEP_k3")), FAST)
        assert m.ok and m.threads == other
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", NAMES)
def test_fingerprint(name):
    one, same, two = CLASSES[name](threads=1), CLASSES[name](threads=1), CLASSES[name](threads=2)
    fp = one.fingerprint()
    assert fp == same.fingerprint() and one.fingerprint_key() == same.fingerprint_key()
    assert fp["target"] == name and fp["threads"] == 1 and fp["cpu"]
    assert two.fingerprint() != fp and two.fingerprint_key() != one.fingerprint_key()


def test_fingerprint_fields():
    import onnxruntime as ort
    import openvino as ov

    fp = OnnxRuntimeTarget().fingerprint()
    assert fp["onnxruntime"] == ort.__version__
    assert fp["providers"] == ["CPUExecutionProvider"] and fp["graph_optimization"] == "all"
    assert OnnxRuntimeTarget(graph_optimization="basic").fingerprint() != fp
    fp = OpenVinoTarget().fingerprint()
    assert fp["openvino"] == ov.get_version() and fp["device"] == "CPU"
    assert fp["device_name"] == ov.Core().get_property("CPU", "FULL_DEVICE_NAME")
    assert fp["hint"] == "LATENCY"
    assert OpenVinoTarget(hint="throughput").fingerprint() != fp
    fp = TorchEagerTarget().fingerprint()
    assert fp["torch"] == torch.__version__ and fp["device"] == "cpu"
