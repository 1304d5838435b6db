"""A TVM RPC tracker and RPC servers on this host: a local stand-in for a device farm.

Real boards run ``python -m tvm.exec.rpc_server --tracker HOST:PORT --key KEY``
and register at a tracker; :class:`LocalDeviceFarm` starts the same programs on
127.0.0.1 so the whole remote path (cross-compile, upload, load, time through
the tracker) can be exercised and tested without hardware.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from hwnas.targets.tvm.rpc import tracker_summary


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kill_group(process: subprocess.Popen) -> None:
    """Stop a process started in its own session, with all its children."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


class LocalDeviceFarm:
    """A tracker on ``127.0.0.1`` with ``servers`` RPC servers under ``key``.

    Use as a context manager; ``port`` is the tracker's port. Every process
    runs in its own process group and is killed with its workers on exit.
    """

    def __init__(self, key: str, servers: int = 1, start_timeout: float = 60.0) -> None:
        self.key, self.servers, self.start_timeout = key, servers, start_timeout
        self.port = free_port()
        self._processes: list[subprocess.Popen] = []

    def __enter__(self) -> LocalDeviceFarm:
        commands = [
            [
                "tvm.exec.rpc_tracker",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--port-end",
                str(self.port + 1),
                "--silent",
            ]
        ]
        for _ in range(self.servers):
            port = free_port()
            commands.append(
                [
                    "tvm.exec.rpc_server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--port-end",
                    str(port + 1),
                    "--tracker",
                    f"127.0.0.1:{self.port}",
                    "--key",
                    self.key,
                ]
            )
        try:
            for command in commands:
                self._processes.append(
                    subprocess.Popen([sys.executable, "-m", *command], start_new_session=True)
                )
            self._wait_until_registered()
        except BaseException:
            self.__exit__()
            raise
        return self

    def free_devices(self) -> int:
        """How many servers under ``key`` the tracker lists as free (0 if it does not answer)."""
        try:
            queue = tracker_summary("127.0.0.1", self.port, timeout=1.0).get("queue_info", {})
        except OSError:
            return 0
        return int(queue.get(self.key, {}).get("free", 0))

    def _wait_until_registered(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.free_devices() >= self.servers:
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"{self.servers} RPC server(s) did not register within {self.start_timeout:.0f} s"
        )

    def __exit__(self, *exc_info) -> None:
        for process in reversed(self._processes):
            _kill_group(process)
        self._processes.clear()
