"""``TorchThreadsTarget``: times workloads with PyTorch eager on the host CPU.

A vendor replaces the three marked steps: ``compile`` runs the vendor
compiler, ``time`` uploads the artifact to the device and times it there,
``fingerprint`` names the device, SDK/compiler versions and flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwnas.errors import HwnasError
from hwnas.target import Target, cpu_model
from hwnas.timing import Measurement, TimingProtocol, time_callable
from hwnas.workload import Workload


@dataclass(frozen=True)
class Compiled:
    """What ``compile`` hands to ``time``: here a module and its input.

    A vendor would hold the compiled binary or a loaded device session instead.
    """

    module: Any
    example_input: Any


class TorchThreadsTarget(Target):
    """PyTorch eager execution on the host CPU with ``threads`` intra-op threads."""

    name = "example-torch"

    def __init__(self, threads: int = 1) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise HwnasError(
                f"example-torch: threads must be an integer >= 1, got {threads!r}",
                "pass threads=1 (or more)",
            )
        self.threads = threads

    def available(self) -> str | None:
        """Why this target cannot run here, or ``None``.

        A vendor checks the device here (is the board connected, is the driver loaded).
        """
        try:
            import torch  # noqa: F401
        except ImportError:
            return "needs torch: pip install torch"
        return None

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the latency, and nothing that changes from run to run.

        A vendor lists the board model, firmware, SDK and compiler versions and flags.
        """
        import torch

        return {
            "target": self.name,
            "runtime": "torch-eager",
            "torch": torch.__version__,
            "device": "cpu",
            "cpu": cpu_model(),
            "threads": self.threads,
        }

    def compile(self, workload: Workload) -> Compiled:
        """Build the eval-mode module and its input.

        A vendor exports ``workload.build()`` (e.g. to ONNX), runs the vendor
        compiler on it and returns the artifact (or a handle to it on the device).
        """
        return Compiled(workload.build(), workload.example_input())

    def time(self, compiled: Compiled, protocol: TimingProtocol) -> Measurement:
        """Time the module under ``protocol`` with ``self.threads`` threads.

        A vendor uploads the artifact and times it on the device, ideally with
        the device's own timer, and returns ``Measurement.from_repeats(...)``.
        """
        import torch

        module, x = compiled.module, compiled.example_input
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                return time_callable(lambda: module(x), protocol, threads=self.threads)
        finally:
            torch.set_num_threads(previous)
