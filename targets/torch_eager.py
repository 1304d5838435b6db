"""Target ``torch``: PyTorch eager execution of ``workload.build()`` (no ONNX) on CPU or CUDA.

Timing hygiene: on hosts where fresh allocations page-fault heavily (this VM
among them), eager PyTorch, which allocates every intermediate tensor on each
call, can look several times slower than it is unless glibc keeps freed
memory mapped, e.g. ``MALLOC_MMAP_THRESHOLD_=1000000000
MALLOC_TRIM_THRESHOLD_=1000000000`` in the measuring process's environment.
This module does not set them (environment variables must be set before the
process starts); the CLI sets them for its worker processes.

Listing plugins does not import torch: it is imported inside the methods.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hwnas
from hwnas.errors import HwnasError
from hwnas.target import Target
from hwnas.targets._host import check_threads, host_fingerprint, missing_runtime, torch_threads
from hwnas.timing import Measurement, TimingProtocol, time_callable
from hwnas.workload import Workload

_DEVICE = re.compile(r"^(cpu|cuda)(:\d+)?$")


@dataclass(frozen=True)
class TorchCompiled:
    """What :meth:`TorchEagerTarget.compile` returns: the module and its input on the device."""

    module: Any
    example_input: Any


class TorchEagerTarget(Target):
    """PyTorch eager on ``device`` with ``threads`` intra-op CPU threads.

    Options:

    - ``device`` (default ``"cpu"``): ``cpu``, ``cuda`` or ``cuda:N``; CUDA is
      unavailable (with the reason) unless ``torch.cuda.is_available()``.
    - ``threads`` (default 1): torch's intra-op thread count while timing;
      the previous count is restored afterwards.

    Timing runs under ``torch.inference_mode()``; on CUDA every timed call
    ends with ``torch.cuda.synchronize`` so kernels are counted, not just launched.
    See the module docstring for the allocator settings that eager timing needs.
    """

    name = "torch"

    def __init__(self, device: str = "cpu", threads: int = 1) -> None:
        normalised = device.strip().lower() if isinstance(device, str) else ""
        if not _DEVICE.match(normalised):
            raise HwnasError(
                f"torch: unsupported device {device!r}", "pass device='cpu', 'cuda' or 'cuda:N'"
            )
        self.device = normalised
        self.threads = check_threads("torch", threads)

    @property
    def is_cuda(self) -> bool:
        """Whether ``device`` is a CUDA device."""
        return self.device.startswith("cuda")

    def available(self) -> str | None:
        """Why torch or the CUDA device is missing here, or ``None``."""
        reason = missing_runtime("torch")
        if reason or not self.is_cuda:
            return reason
        import torch

        if not torch.cuda.is_available():
            build = (
                f"built with CUDA {torch.version.cuda}, but no NVIDIA GPU/driver is visible"
                if torch.version.cuda
                else "a CPU-only build: install a CUDA build of torch on a machine with an "
                "NVIDIA GPU"
            )
            return f"CUDA is not available to torch {torch.__version__} ({build})"
        index = int(self.device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            return f"{self.device} does not exist: torch sees {torch.cuda.device_count()} GPU(s)"
        return None

    def fingerprint(self) -> dict[str, Any]:
        """Name, torch version, device (and GPU name for CUDA), threads, CPU model."""
        import torch

        fields: dict[str, Any] = {"torch": torch.__version__, "device": self.device}
        if self.is_cuda:
            fields["cuda"] = torch.version.cuda
            fields["gpu"] = (
                torch.cuda.get_device_name(self.device) if torch.cuda.is_available() else None
            )
        return host_fingerprint(self.name, "torch-eager", self.threads, **fields)

    def compile(self, workload: Workload) -> TorchCompiled:
        """Build the eval-mode module and its example input on ``device`` (no compilation)."""
        module = workload.build().eval().to(self.device)
        return TorchCompiled(module, workload.example_input().to(self.device))

    def time(self, compiled: TorchCompiled, protocol: TimingProtocol) -> Measurement:
        """Time one forward pass under ``inference_mode`` with ``threads`` torch threads."""
        import torch

        module, x = compiled.module, compiled.example_input
        if self.is_cuda:
            device = torch.device(self.device)

            def call() -> None:
                module(x)
                torch.cuda.synchronize(device)
        else:

            def call() -> None:
                module(x)

        with torch_threads(self.threads), torch.inference_mode():
            return time_callable(call, protocol, threads=self.threads)

    def run(self, compiled: TorchCompiled, x: Any):
        """Run the module on ``x`` (torch tensor or array); returns the output as numpy."""
        import torch

        with torch.inference_mode():
            out = compiled.module(torch.as_tensor(x, device=self.device))
        return out.detach().cpu().numpy()


@hwnas.hookimpl
def hwnas_targets() -> Iterator[hwnas.TargetSpec]:
    """Declare the ``torch`` target (options: device, threads)."""
    yield hwnas.TargetSpec(
        name="torch",
        summary="PyTorch eager on the host CPU or a CUDA GPU (options device, threads)",
        factory=TorchEagerTarget,
        requires=("torch",),
    )
