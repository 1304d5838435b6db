"""The TVM RPC tracker from the client side: a fast availability probe and device sessions.

``TrackerSession`` from ``tvm.rpc`` retries a refused connection for a
minute and has no read timeout; :func:`tracker_summary` speaks the same
protocol on a socket with a short timeout so ``available()`` stays fast.
"""

from __future__ import annotations

import socket
import struct
from typing import Any


def tracker_summary(host: str, port: int, timeout: float = 2.0) -> dict[str, Any]:
    """The tracker's summary (``queue_info`` per key, ``server_info``); OSError if unreachable."""
    from tvm.rpc import base

    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
        magic = struct.unpack("<i", base.recvall(sock, 4))[0]
        if magic != base.RPC_TRACKER_MAGIC:
            raise OSError(f"{host}:{port} is not a TVM RPC tracker")
        base.sendjson(sock, [base.TrackerCode.SUMMARY])
        value = base.recvjson(sock)
    if value[0] != base.TrackerCode.SUCCESS:
        raise OSError(f"tracker {host}:{port} answered {value!r}")
    return value[1]


def probe_device(host: str, port: int, key: str, timeout: float = 2.0) -> tuple[str, str | None]:
    """``("free", None)``, or ``("busy" | "missing" | "unreachable", reason)`` for ``key``.

    ``missing``: nothing registered under the key; ``busy``: every
    registered device is in use; ``unreachable``: no tracker at ``host:port``.
    """
    try:
        summary = tracker_summary(host, port, timeout)
    except (OSError, ValueError) as exc:
        return "unreachable", f"RPC tracker {host}:{port} is unreachable ({exc})"
    servers = [s for s in summary.get("server_info", []) if s.get("key") == f"server:{key}"]
    queue = summary.get("queue_info", {}).get(key, {})
    if queue.get("free"):
        return "free", None
    if not servers:
        known = ", ".join(sorted(summary.get("queue_info", {}))) or "none"
        return "missing", (
            f"no device registered under key {key!r} at RPC tracker {host}:{port} "
            f"(keys there: {known})"
        )
    return "busy", (
        f"all {len(servers)} device(s) under key {key!r} at {host}:{port} are busy "
        f"({queue.get('pending', 0)} request(s) pending)"
    )


def device_unavailable(host: str, port: int, key: str, timeout: float = 2.0) -> str | None:
    """Why no device under ``key`` can be had now from the tracker at ``host:port``, or ``None``.

    Reasons: the tracker is unreachable, nothing is registered under the
    key, or every registered device is busy.
    """
    return probe_device(host, port, key, timeout)[1]


def request_session(
    host: str,
    port: int,
    key: str,
    session_timeout: float,
    session_constructor_args: list | None = None,
):
    """Request a device session from the tracker (waits while the device is busy)."""
    from tvm import rpc

    tracker = rpc.connect_tracker(host, port)
    try:
        return tracker.request(
            key,
            priority=1,
            session_timeout=session_timeout,
            session_constructor_args=session_constructor_args,
        )
    finally:
        tracker.close()


class RemoteRunner:
    """Upload a shared library to a tracker-managed device, load it in a Relax VM and time it.

    Holds one session per instance (re-requested when it breaks or times
    out): ``time_library`` uploads, loads and times one library with
    :func:`hwnas.targets.tvm.common.time_vm`. ``device`` picks the remote
    device from the session (default ``remote.cpu()``);
    ``session_constructor_args`` selects a special session (the Hexagon RPC
    session, for instance) and ``session_setup(remote)`` runs once on each
    new session.
    """

    def __init__(
        self,
        host: str,
        port: int,
        key: str,
        session_timeout: float,
        device=None,
        session_constructor_args: list | None = None,
        session_setup=None,
    ) -> None:
        self.host, self.port, self.key = host, int(port), key
        self.session_timeout = session_timeout
        self.device = device or (lambda remote: remote.cpu())
        self.session_constructor_args = session_constructor_args
        self.session_setup = session_setup
        self._remote = None

    def unavailable(self) -> str | None:
        """Why no session can be had now, or ``None`` (always ``None`` while one is held)."""
        if self._remote is not None:
            return None
        return device_unavailable(self.host, self.port, self.key)

    def session(self):
        """The held RPC session, requested from the tracker on first use (waits while busy)."""
        if self._remote is None:
            state, reason = probe_device(self.host, self.port, self.key)
            if state in ("unreachable", "missing"):  # a request would hang; "busy" just queues
                raise ConnectionError(reason)
            remote = request_session(
                self.host, self.port, self.key, self.session_timeout, self.session_constructor_args
            )
            if self.session_setup is not None:
                self.session_setup(remote)
            self._remote = remote
        return self._remote

    def close(self) -> None:
        """Drop the session (the tracker then lists the device as free again)."""
        self._remote = None  # the RPC session closes when its last reference goes

    def time_library(self, library, example_input, protocol, threads: int | None, check=None):
        """Upload ``library``, load it in a Relax VM on the device and time ``main``.

        ``check(output)`` (optional) gets the numpy output of one call on the
        device before timing; what it returns goes to ``extra["output_check"]``
        (it raises to fail the measurement). A failure on a session held from
        earlier (expired, server restarted) is retried once on a fresh session.
        """
        from pathlib import Path

        from hwnas.targets.tvm import common

        args = (Path(library), example_input, protocol, threads, check, common)
        reused = self._remote is not None
        try:
            return self._time_once(*args)
        except Exception as exc:
            if not reused or isinstance(exc, common.OutputMismatch):
                raise
            return self._time_once(*args)

    def _time_once(self, library, example_input, protocol, threads, check, common):
        import tvm
        from tvm import relax

        remote = self.session()
        try:
            remote.upload(str(library))
            module = remote.load_module(library.name)
            device = self.device(remote)
            if threads is not None:
                common.config_threads(threads, remote.get_function)
            vm = relax.VirtualMachine(module, device)
            inputs = [tvm.runtime.tensor(example_input, device)]
            checked = None
            if check is not None:
                output = vm["main"](*inputs)
                if not hasattr(output, "numpy"):  # a tuple of outputs: the first one
                    output = output[0]
                checked = check(output.numpy())
            result = common.time_vm(vm, device, inputs, protocol, threads)
            if checked is not None:
                result = result.with_(extra={**result.extra, "output_check": checked})
            return result
        except Exception:
            self.close()
            raise
