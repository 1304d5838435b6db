"""``tvm-hexagon``: TVM for the Qualcomm Hexagon DSP (HVX), linked with ``ld.lld``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from hwnas.targets.tvm import common
from hwnas.targets.tvm.remote import RemoteLibraryTarget
from hwnas.targets.tvm.rpc import RemoteRunner
from hwnas.timing import Measurement, TimingProtocol

#: The remote session constructor of TVM's Hexagon RPC server (``hexagon_rpc`` on the device).
HEXAGON_SESSION = "tvm.contrib.hexagon.create_hexagon_session"


def _lld_shared(linker: str):
    """An ``fcompile`` for ``export_library`` that links Hexagon objects with ``ld.lld -shared``."""

    def link(output, objects, options=None, **_kwargs):
        command = [linker, "-shared", "-o", str(output), *map(str, objects), *(options or [])]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")

    link.output_format = "so"
    return link


class TvmHexagonTarget(RemoteLibraryTarget):
    """TVM for a Snapdragon Hexagon DSP: compile here, time through TVM's Hexagon RPC.

    ``compile`` uses the generic LLVM target ``{"kind": "llvm", "mtriple":
    "hexagon", "mcpu": hexagon_arch, "mattr": ["+hvx<arch>",
    "+hvx-length128b"]}`` (TVM's ``hexagon`` target kind fails or silently
    emits x86-64 code with this TVM) and links the objects with
    ``ld.lld -shared`` into a Hexagon ELF ``.so`` (e_machine 164); no SDK is
    needed for that, and it is tested here.

    ``time`` expects TVM's Hexagon launcher to be running for the phone
    (``tvm_rpc_android`` plus ``hexagon_rpc`` from a Hexagon-enabled TVM
    build, pushed with adb and registered at the tracker under ``key``): it
    requests a session with the ``create_hexagon_session`` constructor,
    uploads the library, loads it into a Relax VM on ``remote.hexagon()``
    and times it with ``time_evaluator``. **Untested here**: this machine has
    no Hexagon SDK, no phone, and the PyPI TVM wheel ships neither the
    launcher nor the Hexagon runtime. :meth:`available` therefore requires
    ``HEXAGON_SDK_ROOT`` (an existing directory), an Android device
    (``ANDROID_SERIAL`` or one listed by ``adb devices``) and a free device
    under ``key`` at the tracker, and names whatever is missing.

    Options: ``hexagon_arch`` (``v68``, ``v69``, ``v73``, ...), ``linker``
    (``ld.lld``), ``tracker_host``, ``tracker_port``, ``key``,
    ``session_timeout``, ``stack_size`` and ``receive_buffer_size`` (bytes,
    for the Hexagon session, as TVM's ``contrib.hexagon.Session`` passes them).
    """

    name = "tvm-hexagon"

    def __init__(
        self,
        hexagon_arch: str = "v68",
        linker: str = "ld.lld",
        tracker_host: str = "127.0.0.1",
        tracker_port: int = 9190,
        key: str = "hexagon",
        session_timeout: float = 600.0,
        stack_size: int = 128 * 1024,
        receive_buffer_size: int = 256 * 1024 * 1024,
    ) -> None:
        self.hexagon_arch = hexagon_arch.removeprefix("hexagon")
        self.linker = linker
        self.remote = RemoteRunner(
            tracker_host,
            tracker_port,
            key,
            session_timeout,
            device=lambda remote: remote.hexagon(0),
            session_constructor_args=[
                HEXAGON_SESSION,
                "hexagon-rpc",
                stack_size,
                os.environ.get("HEXAGON_SIM_ARGS", ""),
                receive_buffer_size,
            ],
            session_setup=_acquire_dsp,
        )
        self._target = None

    @property
    def tvm_target(self):
        """The generic LLVM Hexagon target with 128-byte HVX."""
        if self._target is None:
            import tvm

            arch = self.hexagon_arch
            self._target = tvm.target.Target(
                {
                    "kind": "llvm",
                    "mtriple": "hexagon",
                    "mcpu": f"hexagon{arch}",
                    "mattr": [f"+hvx{arch}", "+hvx-length128b"],
                }
            )
        return self._target

    def available(self) -> str | None:
        """Why this cannot time here: missing SDK, Android device, linker or tracker device."""
        missing = []
        sdk = os.environ.get("HEXAGON_SDK_ROOT", "")
        if not sdk or not Path(sdk).is_dir():
            missing.append("a Hexagon SDK (set HEXAGON_SDK_ROOT)")
        if not (os.environ.get("ANDROID_SERIAL") or _adb_devices()):
            missing.append("an Android device (set ANDROID_SERIAL or connect one for adb)")
        if shutil.which(self.linker) is None:
            missing.append(f"the linker {self.linker!r} (apt-get install lld)")
        if missing:
            return "needs " + ", ".join(missing)
        return self.remote.unavailable()

    def fcompile(self):
        """Link the device library (see :class:`RemoteLibraryTarget`)."""
        return _lld_shared(self.linker)

    def time(self, compiled: common.TvmCompiled, protocol: TimingProtocol) -> Measurement:
        """Time on the DSP through the Hexagon RPC session (untested here, see the class doc)."""
        reason = self.available()
        if reason:
            raise RuntimeError(f"tvm-hexagon cannot time here: {reason}")
        result = self.remote.time_library(compiled.library, compiled.example_input, protocol, None)
        return common.with_info(result, compiled)


def _acquire_dsp(remote) -> None:
    """Reserve the DSP's resources for a new Hexagon session (as TVM's Hexagon ``Session``)."""
    remote.get_function("device_api.hexagon.acquire_resources")()


def _adb_devices() -> list[str]:
    """Serial numbers of the devices ``adb`` sees (empty without adb)."""
    if shutil.which("adb") is None:
        return []
    try:
        out = subprocess.run(
            ["adb", "devices"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.split()[0] for line in out.splitlines()[1:] if line.strip().endswith("device")]
