"""``tvm-arm``: cross-compile for AArch64 with TVM and time on a board through the RPC tracker."""

from __future__ import annotations

import shutil
from typing import Any

from hwnas.errors import HwnasError
from hwnas.targets.tvm import common
from hwnas.targets.tvm.remote import RemoteLibraryTarget
from hwnas.targets.tvm.rpc import RemoteRunner
from hwnas.timing import Measurement, TimingProtocol
from hwnas.workload import Workload


class TvmArmTarget(RemoteLibraryTarget):
    """TVM for an AArch64 board (Raspberry Pi, phone) reached through a TVM RPC tracker.

    ``compile`` builds an LLVM ``mtriple``/``mcpu``/``mattr`` target and
    links the library with the cross compiler ``cc``
    (:meth:`compile_only` writes it anywhere: that ``.so`` is what ships to
    the board); ``time`` requests a device under ``key`` from the tracker,
    uploads and loads the library there and times it with TVM's
    ``time_evaluator`` on ``remote.cpu()``.

    Options: ``tracker_host`` / ``tracker_port`` / ``key`` / ``session_timeout``
    (seconds the server keeps a session; it is re-requested when it expires);
    ``mtriple`` (default ``aarch64-linux-gnu``; tests pass the host triple
    and ``cc="g++"`` to run the same path against a local RPC server);
    ``mcpu`` (e.g. ``cortex-a76``; default generic); ``mattr`` (default
    ``["+neon"]`` for AArch64/ARM triples, none otherwise); ``cc``;
    ``threads`` (remote runtime threads; ``None`` leaves the board's default).
    ``mode``: ``"rules"`` (default) schedules the code with the rule-based
    schedules of :mod:`hwnas.targets.tvm.rules` (NEON: 4 float lanes);
    ``"default"`` is TVM's own, unscheduled pipeline.

    ``check`` (default on): before timing, run the library once on the board
    and compare its output with torch's (``extra["output_check"]`` holds the
    max abs error; beyond ``tolerance`` x max(1, max |torch output|) the
    measurement fails). ``emulated``: the board is an emulator (``hwnas board
    emulate``), so its timings are not latencies: ``"emulated": true`` goes
    into the fingerprint (the store never mixes them with a real board's)
    and into each measurement's ``extra``; default: keys starting with
    ``qemu``.
    """

    name = "tvm-arm"

    def __init__(
        self,
        tracker_host: str = "127.0.0.1",
        tracker_port: int = 9190,
        key: str = "arm",
        session_timeout: float = 600.0,
        mtriple: str = "aarch64-linux-gnu",
        mcpu: str | None = None,
        mattr: list[str] | tuple[str, ...] | None = None,
        cc: str = "aarch64-linux-gnu-g++",
        threads: int | None = None,
        check: bool | str = True,
        tolerance: float = 1e-4,
        emulated: bool | str | None = None,
        mode: str = "rules",
    ) -> None:
        if mattr is None:
            mattr = ("+neon",) if mtriple.startswith(("aarch64", "arm")) else ()
        self.mtriple, self.mcpu, self.mattr, self.cc = mtriple, mcpu, tuple(mattr), cc
        self.threads = None if threads is None else common.check_threads(threads)
        self.remote = RemoteRunner(tracker_host, tracker_port, key, session_timeout)
        self._target = None
        self.check = _flag("check", check)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
            raise HwnasError(f"tolerance must be a number, got {tolerance!r}", "e.g. 1e-4")
        if not 0 < tolerance <= 1:  # also NaN
            raise HwnasError(f"tolerance must be > 0 and <= 1, got {tolerance}", "e.g. 1e-4")
        self.tolerance = float(tolerance)
        default = key.strip().lower().startswith("qemu")
        self.emulated = default if emulated is None else _flag("emulated", emulated)
        if mode not in ("rules", "default"):
            raise HwnasError(f"tvm-arm: unknown mode {mode!r}", "choose one of: rules, default")
        self.mode = mode

    @property
    def tvm_target(self):
        """The LLVM cross target (``mtriple``, ``mcpu``, ``mattr``)."""
        if self._target is None:
            import tvm

            spec: dict[str, Any] = {"kind": "llvm", "mtriple": self.mtriple}
            if self.mcpu:
                spec["mcpu"] = self.mcpu
            if self.mattr:
                spec["mattr"] = list(self.mattr)
            self._target = tvm.target.Target(spec)
        return self._target

    def available(self) -> str | None:
        """Why not: no cross compiler, tracker unreachable, no free device under ``key``."""
        if shutil.which(self.cc) is None:
            return f"cross compiler {self.cc!r} not found (apt-get install g++-aarch64-linux-gnu)"
        return self.remote.unavailable()

    def fingerprint(self) -> dict[str, Any]:
        """Target, TVM versions, LLVM target, device key, threads (and ``emulated``: true)."""
        fingerprint = {**super().fingerprint(), "threads": self.threads}
        if self.emulated:
            fingerprint["emulated"] = True
        return fingerprint

    def compile(self, workload: Workload) -> common.TvmCompiled:
        """Cross-compile; with ``check``, also compute torch's output on the example input."""
        compiled = super().compile(workload)
        if self.check:
            compiled.expected = common.torch_output(workload)
        return compiled

    def fcompile(self):
        """Link the device library (see :class:`RemoteLibraryTarget`)."""
        import tvm

        return tvm.support.cc.cross_compiler(self.cc)

    def time(self, compiled: common.TvmCompiled, protocol: TimingProtocol) -> Measurement:
        """Upload, load and time on the board (``time_evaluator`` on ``remote.cpu()``)."""
        check = None
        if self.check and compiled.expected is not None:
            expected = compiled.expected

            def check(output):
                return common.output_check(output, expected, self.tolerance)

        result = self.remote.time_library(
            compiled.library, compiled.example_input, protocol, self.threads, check
        )
        if self.emulated:
            result = result.with_(extra={**result.extra, "emulated": True})
        return common.with_info(result, compiled)


def _flag(name: str, value: bool | str) -> bool:
    """A yes/no option given as a bool or as text (``-t emulated=true``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise HwnasError(f"{name} must be true or false, got {value!r}", f"e.g. {name}=true")
