"""What the TVM targets share: ONNX -> Relax import, the compiled artifact,
``time_evaluator`` -> :func:`hwnas.timing.measure_repeats`, thread counts,
fingerprint fields and an ELF machine check.

Imports TVM lazily: this module is imported only by the target classes, never
by the plugin module, but keeping ``tvm`` out of module scope keeps
``import hwnas.targets.tvm.cpu`` cheap for tools that only inspect options.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError
from hwnas.timing import Measurement, TimingProtocol, measure_repeats

#: ELF ``e_machine`` values of the architectures these targets emit.
EM_X86_64 = 62
EM_AARCH64 = 183
EM_HEXAGON = 164  # QUALCOMM DSP6

#: Upper bound on calls per repeat (as :func:`hwnas.timing.calibrate_number`).
MAX_NUMBER = 1 << 20


@dataclass
class TvmCompiled:
    """What a TVM target's ``compile`` hands to its ``time``.

    ``executable`` is the in-process ``relax.VMExecutable`` (host and CUDA
    targets), ``library`` the exported shared object (RPC targets; either may
    be ``None``); ``example_input`` the numpy input; ``info`` facts about the
    compilation (target string, whether MetaSchedule ran, ...), copied into
    ``Measurement.extra["tvm"]``.
    """

    workload_key: str
    example_input: Any
    executable: Any = None
    library: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


class BuildDir:
    """A temporary directory for compiled libraries, removed by :meth:`close` or with its owner."""

    def __init__(self, owner: object, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._cleanup = weakref.finalize(owner, shutil.rmtree, str(self.path), True)

    def close(self) -> None:
        """Delete the directory now (idempotent)."""
        self._cleanup()


def import_onnx(path: str | Path, input_shape: tuple[int, ...] | None = None):
    """Import an ONNX file into a Relax ``IRModule`` with static shapes.

    ``input_shape`` pins the (single) graph input's shape when the file leaves
    a dimension symbolic (e.g. a dynamic batch); hwnas's own exports are
    already static.
    """
    import onnx
    from tvm.relax.frontend.onnx import from_onnx

    model = onnx.load(str(path))
    shape_dict = None
    if input_shape is not None:
        initializers = {init.name for init in model.graph.initializer}
        inputs = [i for i in model.graph.input if i.name not in initializers]
        dims = inputs[0].type.tensor_type.shape.dim if len(inputs) == 1 else ()
        if any(not d.HasField("dim_value") for d in dims):
            shape_dict = {inputs[0].name: list(input_shape)}
    return from_onnx(model, shape_dict=shape_dict)


def import_workload(workload) -> Any:
    """The Relax module of ``workload`` from its cached ONNX export (``onnx_cache.onnx_file``)."""
    from hwnas.onnx_cache import onnx_file

    return import_onnx(onnx_file(workload), workload.input_shape)


def example_numpy(workload):
    """The workload's deterministic example input as a float32 numpy array."""
    return workload.example_input().numpy().astype("float32")


def torch_output(workload):
    """Torch's output of ``workload`` on its example input (numpy; the workload is seeded)."""
    import torch

    with torch.no_grad():
        return workload.build()(workload.example_input()).numpy()


class OutputMismatch(RuntimeError):
    """A device's output differs from torch's beyond the tolerance."""


def output_check(output, expected, tolerance: float) -> dict[str, float]:
    """Compare a device's output with torch's: ``{"max_abs_error", "max_abs_torch"}``.

    Raises :class:`OutputMismatch` when the largest absolute difference exceeds
    ``tolerance`` times the output's scale (its largest magnitude, at least 1).
    """
    import numpy as np

    output, expected = np.asarray(output, dtype="float64"), np.asarray(expected, dtype="float64")
    if output.shape != expected.shape:
        raise OutputMismatch(f"output shape {output.shape} differs from torch's {expected.shape}")
    error = float(np.max(np.abs(output - expected))) if output.size else 0.0
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    if not error <= tolerance * max(1.0, scale):  # also catches NaN
        raise OutputMismatch(
            f"output differs from torch: max abs error {error:.3g} "
            f"(allowed {tolerance:g} x max(1, {scale:.3g}))"
        )
    return {"max_abs_error": error, "max_abs_torch": scale}


def check_threads(threads: int) -> int:
    """Validate a ``threads`` option (an integer >= 1) and return it."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise HwnasError(f"threads must be an integer >= 1, got {threads!r}", "pass threads=1")
    return threads


def host_threads(threads: int | None) -> int:
    """Resolve a ``threads`` option for the host: ``None`` means all physical cores.

    TVM's own default (``hardware_concurrency() / 2`` on x86, assuming SMT) is
    1 on a 2-vCPU VM, so it is never relied upon; ``$TVM_NUM_THREADS`` wins
    when set.
    """
    if threads is not None:
        return check_threads(threads)
    env = os.environ.get("TVM_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or 0
    except ImportError:
        physical = 0
    visible = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(physical or visible or 1, visible or 1))


#: TVM thread-pool affinity modes (``runtime.config_threadpool``).
_AFFINITY_BIG = 1
_AFFINITY_SHARE_ALL = -3


def config_threads(threads: int, get_function=None) -> int:
    """Set the TVM runtime thread pool to ``threads`` workers; returns TVM's thread count.

    ``get_function`` is ``remote.get_function`` for an RPC session: the board
    gets affinity mode "big cores" (the usual choice on big.LITTLE phones).
    Locally, mode "big" misdetects this VM (one big core: 1 thread, and it
    pins the *calling* Python thread to CPU 0), so the workers share exactly
    the CPUs this process may use, and the caller's affinity is restored.
    """
    import tvm

    if get_function is not None:
        get_function("runtime.config_threadpool")(_AFFINITY_BIG, threads)
        return int(get_function("runtime.NumThreads")())
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    configure = tvm.get_global_func("runtime.config_threadpool")
    if cpus:
        configure(_AFFINITY_SHARE_ALL, threads, [str(cpu) for cpu in cpus])
        os.sched_setaffinity(0, cpus)
    else:
        configure(_AFFINITY_BIG, threads)
    return int(tvm.runtime.num_threads())


def tvm_versions() -> dict[str, str]:
    """Versions of TVM and its FFI package (fingerprint fields)."""
    import tvm
    import tvm_ffi

    return {"tvm": tvm.__version__, "tvm_ffi": tvm_ffi.__version__}


def target_string(target) -> str:
    """A stable string for a ``tvm.target.Target`` (kind, mtriple, mcpu, mattr, host)."""
    return str(target)


def time_vm(vm, device, inputs, protocol: TimingProtocol, threads: int | None) -> Measurement:
    """Time ``vm["main"](*inputs)`` with TVM's ``time_evaluator`` under ``protocol``.

    Works for a local VM and one on an RPC remote alike: the inputs are bound
    once with ``set_input`` and every call is timed on the device by
    ``invoke_stateful``. ``protocol.warmup`` untimed calls run first; the call
    count per repeat is calibrated to ``protocol.min_repeat_ms``; the noise
    rule of :func:`hwnas.timing.measure_repeats` applies.
    """
    vm.set_input("main", *inputs)

    def evaluate(number: int, repeat: int) -> list[float]:
        timer = vm.time_evaluator(
            "invoke_stateful", device, number=number, repeat=repeat, min_repeat_ms=0
        )
        return [seconds * 1e3 for seconds in timer("main").results]

    if protocol.warmup:
        evaluate(protocol.warmup, 1)
    number = 1
    while number < MAX_NUMBER:
        per_call_ms = min(evaluate(number, 3))
        if per_call_ms * number >= protocol.min_repeat_ms:
            break
        wanted = math.ceil(protocol.min_repeat_ms / max(per_call_ms, 1e-6) * 1.1)
        number = min(max(number * 2, wanted), MAX_NUMBER)
    return measure_repeats(evaluate, number, protocol, threads)


def with_info(measurement: Measurement, compiled: TvmCompiled) -> Measurement:
    """Attach the compile facts of ``compiled`` to ``measurement.extra["tvm"]``."""
    return measurement.with_(extra={**measurement.extra, "tvm": dict(compiled.info)})


def elf_machine(path: str | Path) -> int:
    """The ELF ``e_machine`` field of ``path`` (183 AArch64, 164 Hexagon, 62 x86-64).

    Raises :class:`ValueError` if the file is not ELF.
    """
    with open(path, "rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise ValueError(f"{path} is not an ELF file")
    order = "<" if header[5] == 1 else ">"
    return struct.unpack(order + "H", header[18:20])[0]
