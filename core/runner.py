"""Isolated measurement: each target lives in a worker process with a timeout.

A compiler that segfaults, a runtime that hangs or a device that drops the
connection kills only its worker; the parent records a failed measurement with
the reason, starts a fresh worker and goes on.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import traceback
from dataclasses import dataclass
from typing import Any

from hwnas.errors import HwnasError
from hwnas.timing import Measurement, TimingProtocol
from hwnas.workload import Workload, from_recipe

# Fresh allocations page-fault heavily on small VMs; keep freed memory mapped while timing.
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}


@dataclass(frozen=True)
class TargetInfo:
    """What a worker reports about its target once it is up."""

    name: str
    fingerprint: dict[str, Any]
    fingerprint_key: str


def _worker_main(conn, name: str, options: dict[str, Any]) -> None:
    """Worker process: create the target, then measure recipes until told to stop."""
    from hwnas.manager import get_plugin_manager

    try:
        target = get_plugin_manager().create("target", name, **options)
        conn.send(("ready", TargetInfo(name, target.fingerprint(), target.fingerprint_key())))
    except Exception as exc:
        conn.send(("error", str(exc) if isinstance(exc, HwnasError) else repr(exc)))
        return
    try:
        while True:
            message = conn.recv()
            if message is None:
                break
            recipe, protocol = message
            try:
                measurement = target.measure(from_recipe(recipe), protocol)
            except Exception:
                measurement = Measurement.failed("worker error: " + traceback.format_exc(limit=3))
            conn.send(("done", measurement))
    finally:
        target.close()


class IsolatedTarget:
    """A target running in its own process; :meth:`measure` never raises for device faults.

    ``timeout_s`` bounds one compile-and-time of one workload; on timeout or
    crash the worker is killed, a failed :class:`Measurement` is returned and
    the next call starts a new worker.
    """

    def __init__(
        self, name: str, options: dict[str, Any] | None = None, timeout_s: float = 600.0
    ) -> None:
        self.name = name
        self.options = dict(options or {})
        self.timeout_s = timeout_s
        self.info: TargetInfo | None = None
        self._process: mp.Process | None = None
        self._conn = None

    def start(self) -> TargetInfo:
        """Start the worker (if needed) and return its target's fingerprint."""
        if self._process is not None and self._process.is_alive():
            return self.info
        context = mp.get_context("spawn")
        parent, child = context.Pipe()
        saved = {k: os.environ.get(k) for k in WORKER_ENV}
        os.environ.update(WORKER_ENV)  # inherited by the spawned interpreter at start-up
        try:
            self._process = context.Process(
                target=_worker_main, args=(child, self.name, self.options), daemon=True
            )
            self._process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        child.close()
        self._conn = parent
        status, payload = self._receive(timeout=max(self.timeout_s, 120.0))
        if status != "ready":
            self.stop()
            raise HwnasError(f"target {self.name!r} failed to start: {payload}")
        self.info = payload
        return payload

    def _receive(self, timeout: float) -> tuple[str, Any]:
        if not self._conn.poll(timeout):
            return "timeout", f"no answer within {timeout:.0f} s"
        try:
            return self._conn.recv()
        except (EOFError, ConnectionResetError, OSError):
            self._process.join(5)
            return "crashed", f"worker died (exit code {self._process.exitcode})"

    def measure(self, workload: Workload, protocol: TimingProtocol) -> Measurement:
        """Compile and time ``workload`` in the worker (needs ``workload.recipe``)."""
        if workload.recipe is None:
            raise ValueError(f"workload {workload.key} has no recipe; it cannot be isolated")
        self.start()
        try:
            self._conn.send((workload.recipe, protocol))
        except (BrokenPipeError, OSError):
            self.stop()
            return Measurement.failed("worker died before the workload was sent")
        status, payload = self._receive(self.timeout_s)
        if status == "done":
            return payload
        self.stop()
        if status == "timeout":
            return Measurement.failed(f"timeout: {payload} (compile or run hung)")
        return Measurement.failed(f"crash: {payload}")

    def stop(self) -> None:
        """Stop the worker (politely, then by force)."""
        if self._process is None:
            return
        if self._process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send(None)
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None

    def __enter__(self) -> IsolatedTarget:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
