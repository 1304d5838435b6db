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


#: /proc/cpuinfo flags naming instruction-set extensions (prefixes): the ones that change
#: the code a compiler or runtime picks. Other flags (hypervisor, TSC, power and
#: virtualisation features) vary between virtual machines on the same CPU and are left out.
ISA_FLAG_PREFIXES = (
    "mmx", "sse", "ssse", "pni", "avx", "fma", "f16c", "bmi", "adx", "aes", "vaes", "sha",
    "pclmul", "vpclmul", "gfni", "popcnt", "abm", "lzcnt", "movbe", "amx", "cx16", "neon",
    "asimd", "sve", "fp16", "bf16", "i8mm", "dotprod", "vsx", "altivec",
)  # fmt: skip


@cache
def cpu_model() -> str:
    """The host CPU for fingerprints (see :func:`describe_cpu`), read from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        text = ""
    return describe_cpu(text) or platform.processor() or platform.machine()


def describe_cpu(cpuinfo: str) -> str:
    """Model name, family/model/stepping and a digest of the ISA flags of a /proc/cpuinfo text.

    Virtual machines often report a bare "AMD EPYC"; the digest keeps hosts
    apart whose vector extensions (AVX-512, bf16, ...) change the code
    runtimes choose, and ignores flags outside :data:`ISA_FLAG_PREFIXES`, so
    the same CPU behind differently configured hypervisors keeps one
    fingerprint (and its measurements). Empty when the text names no model.
    """
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "cpu family", "model", "stepping", "flags", "Features"):
            fields.setdefault(key, value.strip())
        if not line.strip() and fields:
            break
    if "model name" not in fields:
        return ""
    words = (fields.get("flags") or fields.get("Features", "")).split()
    isa = sorted(w for w in set(words) if w.startswith(ISA_FLAG_PREFIXES))
    flags = hashlib.sha256(" ".join(isa).encode())
    return (
        f"{fields['model name']} (family {fields.get('cpu family', '?')} model "
        f"{fields.get('model', '?')} stepping {fields.get('stepping', '?')}, "
        f"isa {flags.hexdigest()[:8]})"
    )
