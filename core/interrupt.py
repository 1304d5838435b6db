"""Interrupts (Ctrl-C, SIGTERM): one exception, and what the one-line message says was kept.

:func:`install` (called by the ``hwnas`` entry point) turns SIGINT and SIGTERM
into :class:`Interrupted`, a ``BaseException`` that ``except Exception``
blocks do not swallow, so ``finally`` blocks end workers and roll back the
open transaction. Long commands say what survives: the latency store counts
every committed measurement (:func:`store_opened`, :func:`measurement_kept`)
and a search registers its state folder (:func:`state_kept`). The entry point
prints :func:`message` as one line and exits with status 130.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

EXIT_STATUS = 130

_stores: dict[str, int] = {}  # store path -> measurements committed by this process
_states: list[str] = []  # what else a rerun resumes from (a search's --out folder, a checkpoint)
_deferring = 0  # depth of deferred() blocks
_pending: int | None = None  # a signal that arrived inside one
_received: int | None = None  # the signal that interrupted this command, if any


class Interrupted(BaseException):
    """Raised in the main thread by SIGINT or SIGTERM once :func:`install` was called."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, _frame) -> None:
    # Further signals while cleaning up would only break the cleanup: ignore them.
    global _pending, _received
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    _received = signum
    if _deferring:
        _pending = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold an interrupt until the block ends (files that must change together, e.g. weights
    and the progress record that describes them)."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending is not None:
            signum, _pending = _pending, None
            raise Interrupted(signum)


def install() -> dict:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` in the main thread.

    Forgets what an earlier command in this process noted; returns the
    previous handlers (for :func:`restore`).
    """
    reset()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _raise)
    return previous


def restore(previous: dict) -> None:
    """Put back the handlers :func:`install` replaced (a command run inside another program).

    The command is over: a signal it received no longer stops anything.
    """
    global _received, _pending
    _received = _pending = None
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def received() -> int | None:
    """The signal that interrupted this command, or ``None``.

    A C extension that the interrupt fires inside may replace :class:`Interrupted`
    with its own error (numpy raises ``TypeError`` from a structured comparison);
    the entry point asks this to still report an interrupt, not a crash.
    """
    return _received


def raise_if_received() -> None:
    """Raise :class:`Interrupted` again if one arrived and was swallowed on the way up.

    Loops call it at safe points (every evaluation) so that a library that caught
    the interrupt cannot make the command run on after Ctrl-C.
    """
    if _received is not None and not _deferring:
        raise Interrupted(_received)


def ignore_in_worker() -> None:
    """For worker processes: leave Ctrl-C of the terminal's process group to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def store_opened(path: str | Path) -> None:
    """Note a latency store this command uses (its count starts at 0)."""
    _stores.setdefault(str(path), 0)


def measurement_kept(path: str | Path) -> None:
    """Count one measurement committed to the store at ``path``."""
    _stores[str(path)] = _stores.get(str(path), 0) + 1


def state_kept(description: str) -> None:
    """Note state a rerun resumes from, e.g. ``"search state in runs/pnag"``."""
    if description not in _states:
        _states.append(description)


def kept_measurements(path: str | Path) -> int:
    """Measurements committed to the store at ``path`` by this process."""
    return _stores.get(str(path), 0)


def message() -> str:
    """The one line printed on an interrupt: what was kept and how to resume."""
    parts = [
        f"{count} measurement{'s' * (count != 1)} kept in {path}" for path, count in _stores.items()
    ]
    parts += _states
    if not parts:
        return "interrupted (nothing to resume; run the command again)"
    return f"interrupted: {', '.join(parts)}; run the same command again to resume"


def reset() -> None:
    """Forget what was noted (for tests running several commands in one process)."""
    global _received, _pending
    _received = _pending = None
    _stores.clear()
    _states.clear()
