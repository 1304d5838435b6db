"""The target interface: a device plus the toolchain that compiles and times for it."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from abc import ABC, abstractmethod
from functools import cache
from pathlib import Path
from typing import Any

from hwnas.timing import Measurement, TimingProtocol
from hwnas.workload import Workload


class Target(ABC):
    """A device and its compiler/runtime, able to compile and time workloads.

    Implement :meth:`fingerprint`, :meth:`compile` and :meth:`time`;
    optionally :meth:`available` and :meth:`close`. Rules:

    - ``fingerprint()`` is stable across processes and runs: it keys the
      latency store, so it names device, runtime and compiler versions, flags
      and threads, and nothing that changes from run to run.
    - ``compile()`` may be slow and may raise; ``time()`` runs what
      ``compile()`` returned under a :class:`~hwnas.timing.TimingProtocol`.
      Neither may modify the workload.
    - An instance is used by one thread at a time; the core isolates
      crash-prone targets in worker processes.
    """

    name: str = "target"

    def available(self) -> str | None:
        """Why this target cannot run here (missing SDK, device, package), or ``None``."""
        return None

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Device, runtime and compiler versions, flags and threads (JSON-serialisable)."""

    @abstractmethod
    def compile(self, workload: Workload) -> Any:
        """Compile ``workload`` for the device; returns an opaque artifact for :meth:`time`."""

    @abstractmethod
    def time(self, compiled: Any, protocol: TimingProtocol) -> Measurement:
        """Time a compiled artifact under ``protocol``."""

    def save_artifact(self, onnx_path: Path, out_dir: Path) -> Path | None:
        """Compile a trained network's ONNX file and save the device artifact (None: none).

        Targets whose toolchain produces a deployable file (an optimised ONNX
        graph, a shared library) write it into ``out_dir`` and return its path.
        """
        return None

    def close(self) -> None:
        """Release sessions, connections or devices (no-op by default)."""

    def fingerprint_key(self) -> str:
        """Short stable hash of :meth:`fingerprint`, for cache keys."""
        blob = json.dumps(self.fingerprint(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def measure(self, workload: Workload, protocol: TimingProtocol | None = None) -> Measurement:
        """Compile and time ``workload``; any error becomes a failed measurement with its reason."""
        protocol = protocol or TimingProtocol()
        start = time.perf_counter()
        try:
            compiled = self.compile(workload)
        except Exception as exc:
            return Measurement.failed(f"compile error: {exc!r}", time.perf_counter() - start)
        compile_s = time.perf_counter() - start
        try:
            return self.time(compiled, protocol).with_(compile_s=compile_s)
        except Exception as exc:
            return Measurement.failed(f"run error: {exc!r}", compile_s)


@cache
def cpu_model() -> str:
    """The host CPU for fingerprints: model name, family/model/stepping and an ISA-flags digest.

    Virtual machines often report a bare "AMD EPYC"; the flags digest keeps
    hosts apart whose vector extensions (AVX-512, bf16, ...) change the code
    runtimes choose.
    """
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model", "stepping", "flags"):
                    fields.setdefault(key, value.strip())
                if not line.strip() and fields:
                    break
    except OSError:
        pass
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    flags = hashlib.sha256(" ".join(sorted(fields.get("flags", "").split())).encode())
    return (
        f"{fields['model name']} (family {fields.get('cpu family', '?')} model "
        f"{fields.get('model', '?')} stepping {fields.get('stepping', '?')}, "
        f"flags {flags.hexdigest()[:8]})"
    )
