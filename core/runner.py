"""Isolated measurement: each target lives in a worker process with a timeout.

A compiler that segfaults, a runtime that hangs or a device that drops the
connection kills only its worker; the parent records a failed measurement with
the reason, starts a fresh worker and goes on. A failure of the harness itself
(a worker ended by an interrupt or by its parent, a worker that died before it
got the workload) says nothing about the workload: :func:`runner_failure`
recognises it, and such rows are measured again instead of being reused.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import re
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any

from hwnas.errors import HwnasError
from hwnas.timing import Measurement, TimingProtocol
from hwnas.workload import Workload, from_recipe

# Fresh allocations page-fault heavily on small VMs; keep freed memory mapped while timing.
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}
#: Held while the parent's environment carries :data:`WORKER_ENV` for one worker's start:
#: a device farm starts its workers from several threads, and the environment is shared.
_SPAWN_LOCK = threading.Lock()


@dataclass(frozen=True)
class TargetInfo:
    """What a worker reports about its target once it is up."""

    name: str
    fingerprint: dict[str, Any]
    fingerprint_key: str


# Exit codes of a worker ended by the harness, not by the workload: 1 (an uncaught
# KeyboardInterrupt), SIGINT, SIGTERM (as a signal or as the exit code our handler gives).
_HARNESS_EXIT_CODES = {"None", "1", "-2", "-15", "130", "143"}
_CRASH = re.compile(r"crash: worker died \(exit code (-?\w+)\)")


def runner_failure(reason: str | None) -> bool:
    """Whether a failed measurement's ``reason`` is the runner's fault (never reuse such a row).

    True for a worker that died before it got the workload and for a worker
    ended by an interrupt or by its parent; a compiler's segfault (exit code
    -11), an abort, a timeout or an error raised by the target stay genuine.
    """
    reason = reason or ""
    if reason.startswith(("worker died before", "runner:")):
        return True
    match = _CRASH.match(reason)
    return bool(match) and match.group(1) in _HARNESS_EXIT_CODES


def _exit_on_sigterm(signum, _frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one (from the parent) must not
    sys.exit(128 + signum)  # unwinds: temporary export folders are removed


def _worker_main(conn, name: str, options: dict[str, Any]) -> None:
    """Worker process: create the target, then measure recipes until told to stop."""
    from hwnas.interrupt import ignore_in_worker
    from hwnas.manager import get_plugin_manager

    ignore_in_worker()  # Ctrl-C reaches the whole process group; the parent decides
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

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


def start_with_worker_env(process: Any) -> None:
    """``process.start()`` with :data:`WORKER_ENV` in the environment it inherits.

    The parent's environment is changed only for the start and restored
    after it, under :data:`_SPAWN_LOCK`, so workers started from several
    threads at once neither lose the variables nor leave them behind.
    """
    with _SPAWN_LOCK:
        saved = {k: os.environ.get(k) for k in WORKER_ENV}
        os.environ.update(WORKER_ENV)
        try:
            process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class IsolatedTarget:
    """A target running in its own process; :meth:`measure` never raises for device faults.

    ``timeout_s`` bounds one compile-and-time of one workload; on timeout or
    crash the worker is killed, a failed :class:`Measurement` is returned and
    the next call starts a new worker. A worker that dies without a word while
    starting (no error message, e.g. exit code 255 as its runtime loads) is
    started once more before the target is reported as failing to start.
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
        self._closed = False

    def start(self) -> TargetInfo:
        """Start the worker (if needed) and return its target's fingerprint."""
        if self._closed:
            raise HwnasError(f"target {self.name!r}: the runner was stopped")
        if self._process is not None and self._process.is_alive():
            return self.info
        status, payload = self._spawn()
        if status == "crashed":  # died without a word while loading its runtime: once more
            self.stop()
            status, payload = self._spawn()
        if status != "ready":
            self.stop()
            raise HwnasError(f"target {self.name!r} failed to start: {payload}")
        self.info = payload
        return payload

    def _spawn(self) -> tuple[str, Any]:
        """Start a worker process and wait for its first word (ready, error, crash)."""
        context = mp.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_worker_main, args=(child, self.name, self.options), daemon=True
        )
        start_with_worker_env(self._process)
        child.close()
        self._conn = parent
        return self._receive(timeout=max(self.timeout_s, 120.0))

    def _receive(self, timeout: float) -> tuple[str, Any]:
        conn, process = self._conn, self._process  # stop() may clear them from another thread
        try:
            if not conn.poll(timeout):
                return "timeout", f"no answer within {timeout:.0f} s"
            return conn.recv()
        except (EOFError, ConnectionResetError, OSError, ValueError, AttributeError):
            if process is None:
                return "crashed", "worker died (exit code None)"
            process.join(5)
            return "crashed", f"worker died (exit code {process.exitcode})"

    def measure(self, workload: Workload, protocol: TimingProtocol) -> Measurement:
        """Compile and time ``workload`` in the worker (needs ``workload.recipe``)."""
        if workload.recipe is None:
            raise ValueError(f"workload {workload.key} has no recipe; it cannot be isolated")
        self.start()
        try:
            self._conn.send((workload.recipe, protocol))
        except (BrokenPipeError, OSError, AttributeError):
            self.stop()
            return Measurement.failed("worker died before the workload was sent")
        status, payload = self._receive(self.timeout_s)
        if status == "done":
            return payload
        self.stop()
        if status == "timeout":
            return Measurement.failed(f"timeout: {payload} (compile or run hung)")
        return Measurement.failed(f"crash: {payload}")

    def stop(self, now: bool = False) -> None:
        """Stop the worker: politely (it finishes its workload), or ``now`` (SIGTERM, then kill).

        SIGTERM lets the worker unwind (its temporary files go) before it is
        killed 3 s later.
        """
        self._closed = self._closed or now  # an interrupt: no new worker after this
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is None:
            return
        if process.is_alive():
            if now:
                process.terminate()
            else:
                with contextlib.suppress(BrokenPipeError, OSError, ValueError):
                    conn.send(None)
            process.join(3 if now else 5)
            if process.is_alive():
                process.kill()
                process.join(5)
        if conn is not None:
            conn.close()

    def __enter__(self) -> IsolatedTarget:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
