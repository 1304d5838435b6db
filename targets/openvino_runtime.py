"""Target ``openvino``: OpenVINO compiled models on a CPU, GPU, NPU or virtual (AUTO, ...) device.

``compile`` is ``core.compile_model(core.read_model(onnx_file), device, config)``
on the workload's cached ONNX export; ``time`` times an ``InferRequest``'s
``infer`` on a pre-allocated input tensor. :meth:`OpenVinoTarget.available`
explains missing devices (Myriad/HDDL VPUs are gone since 2022.3; NPU and GPU
need hardware and drivers).

Listing plugins does not import openvino: it is imported inside the methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hwnas
from hwnas.errors import HwnasError
from hwnas.export import DEFAULT_OPSET
from hwnas.target import Target
from hwnas.targets._host import (
    as_numpy,
    check_choice,
    check_threads,
    host_fingerprint,
    import_runtime,
    missing_runtime,
    numpy_input,
)
from hwnas.timing import Measurement, TimingProtocol, time_callable
from hwnas.workload import Workload

EXTRA = "openvino"
HINTS = ("latency", "throughput", "cumulative_throughput", "none")
PRECISIONS = ("f32", "bf16", "f16", "default")
VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")
VPU_REASON = (
    "Myriad/HDDL VPUs need openvino <= 2022.3 (support ended with 2022.3), "
    "install openvino==2022.3.* in a separate environment"
)
NPU_REASON = "the NPU device needs Intel NPU hardware (Core Ultra) and the Intel NPU driver"
GPU_REASON = "the GPU device needs an Intel GPU with OpenCL (Intel compute-runtime, OpenCL ICD)"


def physical_devices(device: str) -> tuple[str, ...]:
    """The real devices named in ``device``: ``"AUTO:GPU,CPU"`` -> ``("GPU", "CPU")``.

    A bare virtual device (``"AUTO"``) names none: it picks among what is available.
    """
    base, _, listed = device.partition(":")
    if base.split(".")[0] in VIRTUAL_DEVICES:
        return tuple(d.strip() for d in listed.split(",") if d.strip())
    return (device,)


def _missing_device_reason(device: str, version: str) -> str:
    """Why ``device`` is not among OpenVINO's available devices (with the fix)."""
    family = device.split(".")[0]
    if family in ("MYRIAD", "HDDL"):
        if tuple(int(p) for p in version.split("-")[0].split(".")[:2]) <= (2022, 3):
            return "no Myriad/HDDL VPU found: plug it in and check its udev rules"
        return VPU_REASON
    if family in ("NPU", "VPUX"):
        renamed = " (VPUX is now called NPU)" if family == "VPUX" else ""
        return NPU_REASON + renamed
    if family == "GPU":
        return GPU_REASON
    return f"no OpenVINO plugin provides device {family!r} here"


@dataclass
class OvCompiled:
    """What :meth:`OpenVinoTarget.compile` returns: the compiled model, its request and input."""

    compiled_model: Any
    request: Any
    input_array: Any  # keeps the shared-memory input tensor alive
    execution_devices: list[str]
    precision: str | None


class OpenVinoTarget(Target):
    """OpenVINO on a local device.

    Options:

    - ``device`` (default ``"CPU"``): any OpenVINO device string: ``CPU``,
      ``GPU``/``GPU.1``, ``NPU``, ``AUTO``, ``AUTO:GPU,CPU``, ``HETERO:...``.
    - ``threads`` (default 1): ``INFERENCE_NUM_THREADS``, applied to every
      device that supports it (the CPU, also inside ``AUTO:...``/``HETERO:...``).
    - ``hint`` (default ``"LATENCY"``): ``PERFORMANCE_HINT`` (``LATENCY``,
      ``THROUGHPUT``, ``CUMULATIVE_THROUGHPUT``, or ``none`` for the device default).
    - ``precision`` (default ``"f32"``): ``INFERENCE_PRECISION_HINT`` where the
      device supports it; ``"default"`` keeps the device's choice. Note that
      OpenVINO's CPU default is bf16 on CPUs with AVX512-BF16/AMX (this VM's
      EPYC included), which does not match torch to 1e-4; f32 does.
    """

    name = "openvino"

    def __init__(
        self, device: str = "CPU", threads: int = 1, hint: str = "LATENCY", precision: str = "f32"
    ) -> None:
        if not isinstance(device, str) or not device.strip():
            raise HwnasError(f"openvino: bad device {device!r}", "pass device='CPU' (or NPU, ...)")
        self.device = device.strip().upper()
        self.threads = check_threads("openvino", threads)
        self.hint = check_choice("openvino", "hint", hint or "none", HINTS).upper()
        self.precision = check_choice("openvino", "precision", precision, PRECISIONS)
        self._core = None

    # -- runtime -----------------------------------------------------------
    @property
    def core(self):
        """The ``openvino.Core`` of this target (created on first use)."""
        if self._core is None:
            self._core = import_runtime("openvino", EXTRA).Core()
        return self._core

    def _supports(self, device: str, prop: str) -> bool:
        try:
            return prop in self.core.get_property(device, "SUPPORTED_PROPERTIES")
        except Exception:
            return False

    def _device_config(self, device: str) -> dict[str, Any]:
        """Threads and precision for one real device (only what it supports)."""
        config: dict[str, Any] = {}
        if self._supports(device, "INFERENCE_NUM_THREADS"):
            config["INFERENCE_NUM_THREADS"] = self.threads
        if self.precision != "default" and self._supports(device, "INFERENCE_PRECISION_HINT"):
            config["INFERENCE_PRECISION_HINT"] = self.precision
        return config

    def compile_config(self) -> dict[str, Any]:
        """The ``compile_model`` configuration for ``device`` (hint, threads, precision)."""
        config: dict[str, Any] = {}
        if self.hint != "NONE":
            config["PERFORMANCE_HINT"] = self.hint
        real = physical_devices(self.device)
        if real == (self.device,):
            config.update(self._device_config(self.device))
        else:
            # A virtual device forwards per-device settings through DEVICE_PROPERTIES.
            candidates = real or tuple(self.core.available_devices)
            per_device = {d: c for d in candidates if (c := self._device_config(d))}
            if per_device:
                import openvino.properties as props

                key, value = props.device.properties(per_device)
                config[key] = value
        return config

    # -- Target ------------------------------------------------------------
    def available(self) -> str | None:
        """Why ``device`` cannot be used here (missing openvino, device or driver), or ``None``."""
        reason = missing_runtime("openvino", EXTRA)
        if reason:
            return reason
        import openvino as ov

        present = list(self.core.available_devices)
        families = {d.split(".")[0] for d in present}
        base = self.device.partition(":")[0]
        wanted = physical_devices(self.device)
        if not wanted and base.split(".")[0] in VIRTUAL_DEVICES and not present:
            return f"openvino {ov.get_version()} sees no device for {base}"
        for device in wanted:
            if device in present or ("." not in device and device in families):
                continue
            sees = ", ".join(present) or "no devices"
            why = _missing_device_reason(device, ov.get_version())
            return f"OpenVINO device {device!r} is not available: {why} (available here: {sees})"
        return None

    def device_name(self) -> str | None:
        """``FULL_DEVICE_NAME`` of the device (of each real device for AUTO/HETERO/...)."""
        real = physical_devices(self.device) or tuple(self.core.available_devices)
        names = []
        for device in real:
            try:
                names.append(str(self.core.get_property(device, "FULL_DEVICE_NAME")))
            except Exception:
                names.append(f"{device} (unavailable)")
        return " + ".join(names) or None

    def fingerprint(self) -> dict[str, Any]:
        """Name, openvino version, device, its FULL_DEVICE_NAME, threads, hint, precision, CPU."""
        ov = import_runtime("openvino", EXTRA)
        return host_fingerprint(
            self.name,
            "openvino",
            self.threads,
            openvino=ov.get_version(),
            device=self.device,
            device_name=self.device_name(),
            hint=self.hint,
            precision=self.precision,
            onnx_opset=DEFAULT_OPSET,
        )

    def compile(self, workload: Workload) -> OvCompiled:
        """Read the workload's ONNX file and compile it for ``device``; pre-allocate the input."""
        from hwnas.onnx_cache import onnx_file

        ov = import_runtime("openvino", EXTRA)
        model = self.core.read_model(str(onnx_file(workload)))
        if len(model.inputs) != 1:
            raise HwnasError(
                f"openvino: {workload.label} has {len(model.inputs)} inputs; hwnas feeds one",
                "give the workload a single input tensor",
            )
        compiled = self.core.compile_model(model, self.device, self.compile_config())
        array = numpy_input(workload)
        request = compiled.create_infer_request()
        request.set_input_tensor(ov.Tensor(array, shared_memory=True))
        try:
            devices = [str(d) for d in compiled.get_property("EXECUTION_DEVICES")]
        except Exception:
            devices = []
        try:
            precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        except Exception:
            precision = None
        return OvCompiled(compiled, request, array, devices, precision)

    def time(self, compiled: OvCompiled, protocol: TimingProtocol) -> Measurement:
        """Time the request's synchronous ``infer`` (outputs shared, not copied)."""
        request = compiled.request
        result = time_callable(
            lambda: request.infer(share_outputs=True), protocol, threads=self.threads
        )
        return result.with_(
            extra={"execution_devices": compiled.execution_devices, "precision": compiled.precision}
        )

    def run(self, compiled: OvCompiled, x: Any):
        """Run the compiled model on ``x`` (torch tensor or array); returns the first output."""
        request = compiled.compiled_model.create_infer_request()
        request.infer({0: as_numpy(x)})
        return request.get_output_tensor(0).data.copy()

    def close(self) -> None:
        """Drop the OpenVINO core (compiled models keep their own references)."""
        self._core = None


@hwnas.hookimpl
def hwnas_targets() -> Iterator[hwnas.TargetSpec]:
    """Declare the ``openvino`` target (options: device, threads, hint, precision)."""
    yield hwnas.TargetSpec(
        name="openvino",
        summary="OpenVINO compiled model on CPU/GPU/NPU/AUTO "
        "(options device, threads, hint, precision)",
        factory=OpenVinoTarget,
        extra=EXTRA,
        requires=("openvino",),
    )
