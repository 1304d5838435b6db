"""An emulated AArch64 board: TVM's RPC server running under ``qemu-aarch64`` on this host.

It registers with a TVM RPC tracker exactly like a real board, so ``tvm-arm``
cross-compiles, uploads and runs real AArch64 code on it: the outputs can be
checked against torch; the timings are those of an emulator, not latencies.

The board needs an AArch64 user space, assembled once under the hwnas cache
(``$HWNAS_CACHE/boards/...``) and reused afterwards:

- ``root/``: Debian's arm64 packages of Python 3.11 and the libraries it
  loads (``apt-get download`` + ``dpkg -x``; needs ``dpkg --add-architecture
  arm64`` once, which this module runs when it is root);
- ``site/``: the aarch64 wheels of TVM (same versions as on this host),
  numpy and the RPC server's dependencies (``pip download --platform``,
  unzipped);
- ``python-aarch64``: a host script that runs ``qemu-aarch64 -L root
  root/usr/bin/python3.11``. No binfmt_misc is needed: the RPC server is
  told that this script is its ``sys.executable``, so the worker processes
  it starts run under qemu too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

from hwnas.errors import HwnasError
from hwnas.targets.tvm.local_farm import _kill_group
from hwnas.targets.tvm.rpc import tracker_summary

#: Debian arm64 packages: Python 3.11 and the shared libraries it and its modules load.
DEBIAN_PACKAGES = (
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "python3.11",
    "libc6",
    "libexpat1",
    "zlib1g",
    "libssl3",
    "libffi8",
    "libstdc++6",
    "libgcc-s1",
    "libbz2-1.0",
    "liblzma5",
    "libsqlite3-0",
    "libncursesw6",
    "libtinfo6",
    "libreadline8",
    "libuuid1",
    "libdb5.3",
    "libgdbm6",
    "libnsl2",
    "libtirpc3",
    "libcrypt1",
    "media-types",  # architecture "all"
)
ARCH_INDEPENDENT = ("media-types",)
#: Wheel platform of the site folder (Debian 12 has glibc 2.36).
WHEEL_PLATFORM = "manylinux_2_28_aarch64"
QEMU = "qemu-aarch64"
QEMU_FIX = "install Debian's qemu-user: apt-get install qemu-user"


def wheels() -> tuple[str, ...]:
    """The aarch64 wheels of the board: TVM pinned to this host's versions (one RPC protocol)."""
    pins = []
    for name in ("apache-tvm", "apache-tvm-ffi"):
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError as exc:
            raise HwnasError("TVM is not installed here", "pip install 'hwnas[tvm]'") from exc
    return (*pins, "numpy", "psutil", "tornado", "cloudpickle")


def board_dir(cache_dir: str | Path | None = None) -> Path:
    """Where the board's files live: ``CACHE/boards/aarch64-py311-tvm<version>``."""
    from hwnas.onnx_cache import cache_dir as default_cache

    tvm_version = wheels()[0].split("==")[1]
    root = Path(cache_dir) if cache_dir is not None else default_cache()
    return root / "boards" / f"aarch64-py311-tvm{tvm_version}"


def _run(command: list[str], what: str, fix: str, cwd: Path | None = None) -> None:
    """Run ``command``; a failure is one :class:`HwnasError` with the tail of its output."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = " ".join((result.stderr or result.stdout).strip().splitlines()[-2:])
        raise HwnasError(f"{what} failed: {tail[-300:]}", fix)


def _ensure_arm64_architecture() -> None:
    """Make apt see arm64 packages (``dpkg --add-architecture arm64``; root only)."""
    foreign = subprocess.run(
        ["dpkg", "--print-foreign-architectures"], capture_output=True, text=True
    ).stdout.split()
    if "arm64" in foreign:
        return
    if os.geteuid() != 0:
        raise HwnasError(
            "apt does not list arm64 packages here",
            "as root, run once: dpkg --add-architecture arm64 && apt-get update",
        )
    _run(["dpkg", "--add-architecture", "arm64"], "dpkg --add-architecture arm64", "run as root")
    _run(
        ["apt-get", "update", "-qq"],
        "apt-get update",
        "check the network and /etc/apt/sources.list",
    )


def _apt_name(package: str) -> str:
    return package if package in ARCH_INDEPENDENT else f"{package}:arm64"


def assemble(folder: Path, log=print) -> None:
    """Build ``root/``, ``site/`` and ``python-aarch64`` in ``folder`` (about 450 MB unpacked)."""
    for tool, package in (("apt-get", "apt"), ("dpkg", "dpkg")):
        if shutil.which(tool) is None:
            raise HwnasError(
                f"{tool} not found: the board's AArch64 Python comes from Debian's archive",
                f"run on Debian/Ubuntu (package {package})",
            )
    _ensure_arm64_architecture()
    debs, root, site = folder / "debs", folder / "root", folder / "site"
    for path in (debs, root, site):
        path.mkdir(parents=True, exist_ok=True)
    log(f"downloading {len(DEBIAN_PACKAGES)} Debian arm64 packages (Python 3.11 and libraries)")
    _run(
        ["apt-get", "download", "-q", *(_apt_name(name) for name in DEBIAN_PACKAGES)],
        "apt-get download of the arm64 packages",
        "check the network; as root: dpkg --add-architecture arm64 && apt-get update",
        cwd=debs,
    )
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg", "-x", str(deb), str(root)], f"dpkg -x {deb.name}", "delete the cache folder")
    log(f"downloading aarch64 wheels: {', '.join(wheels())}")
    wheel_dir = folder / "wheels"
    pip = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check"]
    platform = ["--platform", WHEEL_PLATFORM, "--python-version", "3.11", "--implementation", "cp"]
    _run(
        [*pip, "--only-binary=:all:", *platform, "--dest", str(wheel_dir), *wheels()],
        "pip download of the aarch64 wheels",
        "check the network (PyPI)",
    )
    for wheel in sorted(wheel_dir.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    # Byte-compile here (CPython 3.11 bytecode does not depend on the machine): under qemu,
    # compiling the standard library and TVM on every start would take many seconds.
    for tree in (root / "usr" / "lib" / "python3.11", site):
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j", "0", str(tree)],
            capture_output=True,  # a few test files that do not compile are fine
        )
    shutil.rmtree(debs)
    shutil.rmtree(wheel_dir)
    python = folder / "python-aarch64"
    python.write_text(
        "#!/bin/sh\n"
        "# AArch64 Python 3.11 under qemu-user (written by hwnas board emulate).\n"
        'here="$(cd "$(dirname "$0")" && pwd)"\n'
        'exec qemu-aarch64 -L "$here/root" -E PYTHONPATH="$here/site" -U PYTHONHOME '
        '"$here/root/usr/bin/python3.11" "$@"\n'
    )
    python.chmod(0o755)


def prepare(cache_dir: str | Path | None = None, log=print) -> Path:
    """The board's folder, assembled on first use (atomically: a half-built one is never used)."""
    if shutil.which(QEMU) is None:
        raise HwnasError(f"{QEMU} not found", QEMU_FIX)
    folder = board_dir(cache_dir)
    if (folder / "python-aarch64").is_file():
        return folder
    if folder.exists():  # left by an older hwnas or a crash: start over
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix="partial-") as tmp:
        assemble(Path(tmp), log)
        with contextlib.suppress(OSError):  # another process may have finished first
            os.rename(tmp, folder)
            os.mkdir(tmp)  # so the context manager has something to remove
    return folder


def _server_code(python: Path, tracker_host: str, tracker_port: int, key: str) -> str:
    """What the emulated Python runs: TVM's RPC server, in this process.

    ``python -m tvm.exec.rpc_server`` would start the server in a second
    Python (a popen worker) that imports TVM again, which costs half a minute
    under qemu; the server loop is started here instead (through
    ``tvm.rpc.server._popen_start_rpc_server``, which that worker would run:
    private, but the board's TVM is pinned to the host's version, and a
    change shows up in the server log). ``sys.executable`` still points at
    the qemu wrapper, for anything TVM starts as a process. The server
    listens on 127.0.0.1: clients must run on this host.
    """
    tracker = (tracker_host, tracker_port)
    return (
        "import logging, sys\n"
        f"sys.executable = {str(python)!r}\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from tvm.rpc import server\n"
        f"port = server._popen_start_rpc_server('127.0.0.1', 9090, 9199, tracker_addr={tracker!r}, "
        f"key={key!r})\n"
        "print('RPC server on 127.0.0.1:%d' % port, flush=True)\n"
    )


class EmulatedBoard:
    """An AArch64 TVM RPC server under ``qemu-aarch64``, registered at a tracker under ``key``.

    ``start()`` assembles the user space if needed (:func:`prepare`), starts
    a tracker on ``tracker_host:tracker_port`` when ``start_tracker``, starts
    the server in its own process group and waits (up to ``start_timeout``
    seconds) until the tracker lists ``key``; ``stop()`` kills the groups.
    Use as a context manager. ``log`` receives progress lines; the server's
    own output goes to ``log_path`` (kept when the board fails).
    """

    def __init__(
        self,
        key: str = "qemu-a72",
        tracker_host: str = "127.0.0.1",
        tracker_port: int = 9190,
        cache_dir: str | Path | None = None,
        start_tracker: bool = False,
        start_timeout: float = 600.0,
        log=print,
    ) -> None:
        self.key, self.tracker_host, self.tracker_port = key, tracker_host, int(tracker_port)
        self.cache_dir, self.start_tracker = cache_dir, start_tracker
        self.start_timeout, self.log = start_timeout, log
        self.log_path: Path | None = None
        self._processes: list[subprocess.Popen] = []
        self._keep_log = False

    def start(self) -> EmulatedBoard:
        """Assemble (once), start the tracker if asked and the server; wait for registration."""
        if not self.start_tracker and not self._tracker_answers():
            raise HwnasError(
                f"no TVM RPC tracker answers at {self.tracker_host}:{self.tracker_port}",
                "start one (python -m tvm.exec.rpc_tracker) or pass --start-tracker",
            )
        if shutil.which(QEMU) is None:
            raise HwnasError(f"{QEMU} not found", QEMU_FIX)
        try:
            folder = prepare(self.cache_dir, self.log)
            if self.start_tracker:
                self._start_tracker()
            self._start_server(folder)
            self._wait_until_registered()
        except BaseException:
            self.stop(keep_log=True)
            raise
        return self

    def _start_tracker(self) -> None:
        host, port = self.tracker_host, str(self.tracker_port)
        ports = ["--port", port, "--port-end", str(self.tracker_port + 1)]
        command = [sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", host, *ports, "--silent"]
        tracker = subprocess.Popen(command, start_new_session=True)
        self._processes.append(tracker)
        deadline = time.monotonic() + self.start_timeout  # TVM's import alone takes 10-40 s here
        while not self._tracker_answers():
            if tracker.poll() is not None:
                raise HwnasError(
                    f"the RPC tracker on {host}:{port} exited at start (is the port taken?)",
                    "pick a free port with --tracker HOST:PORT",
                )
            if time.monotonic() > deadline:
                raise HwnasError(
                    f"no RPC tracker answer from {host}:{port} in {self.start_timeout:.0f} s",
                    "give it longer with --timeout",
                )
            time.sleep(0.5)

    def _tracker_answers(self) -> bool:
        try:
            tracker_summary(self.tracker_host, self.tracker_port, timeout=1.0)
        except (OSError, ValueError):
            return False
        return True

    def _start_server(self, folder: Path) -> None:
        python = folder / "python-aarch64"
        code = _server_code(python, self.tracker_host, self.tracker_port, self.key)
        handle, name = tempfile.mkstemp(prefix=f"hwnas-board-{self.key}-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(handle, "w") as out:
            self._processes.append(
                subprocess.Popen(
                    [str(python), "-c", code],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    def free(self) -> int:
        """How many servers under ``key`` the tracker lists as free (0 if it does not answer)."""
        try:
            summary = tracker_summary(self.tracker_host, self.tracker_port, timeout=1.0)
        except (OSError, ValueError):
            return 0
        return int(summary.get("queue_info", {}).get(self.key, {}).get("free", 0))

    def running(self) -> bool:
        """Whether the server (and the tracker, if started here) still run."""
        return bool(self._processes) and all(p.poll() is None for p in self._processes)

    def _wait_until_registered(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while self.free() < 1:
            if not self.running():
                raise HwnasError(
                    f"the emulated board exited before registering: {self.log_tail()}",
                    f"see {self.log_path}",
                )
            if time.monotonic() > deadline:
                raise HwnasError(
                    f"the emulated board did not register within {self.start_timeout:.0f} s",
                    f"see {self.log_path}; give it longer with --timeout",
                )
            time.sleep(0.5)

    def log_tail(self) -> str:
        """The last lines of the server's output (for error messages)."""
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except (OSError, AttributeError):
            return "no output"
        return " ".join(lines[-2:])[-300:] or "no output"

    def stop(self, keep_log: bool = False) -> None:
        """Kill the server's and the tracker's process groups (idempotent); delete the log.

        ``keep_log``: keep the server's output (for an error message that names it).
        """
        for process in reversed(self._processes):
            _kill_group(process)
        self._processes.clear()
        self._keep_log = self._keep_log or keep_log
        if not self._keep_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> EmulatedBoard:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
