"""Commands of the TVM plugin: ``hwnas board emulate`` (an emulated AArch64 board)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from hwnas.cli.common import console
from hwnas.errors import HwnasError

board_app = typer.Typer(help="Boards for the tvm-arm target.", no_args_is_help=True)


def parse_tracker(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` -> ``(host, port)``; a bad value is one :class:`HwnasError`."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise HwnasError(f"--tracker {text!r} is not HOST:PORT", "e.g. --tracker 127.0.0.1:9190")
    return host, int(port)


@board_app.command("emulate")
def emulate(
    key: Annotated[str, typer.Option(help="Device key to register under.")] = "qemu-a72",
    tracker: Annotated[
        str, typer.Option(help="The TVM RPC tracker, HOST:PORT.")
    ] = "127.0.0.1:9190",
    start_tracker: Annotated[
        bool, typer.Option("--start-tracker", help="Start a tracker at --tracker first.")
    ] = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Where the board's AArch64 files live (default: the hwnas cache)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the board to register.")
    ] = 600.0,
) -> None:
    """Run an emulated AArch64 board (TVM RPC server under qemu-aarch64) until interrupted.

    The first start downloads Debian's arm64 Python and TVM's aarch64 wheels
    into the cache (about a minute); later starts reuse them. Profile on it with
    ``hwnas profile --target tvm-arm -t key=KEY -t tracker_port=PORT``: the code
    is real AArch64 and outputs are checked against torch, but the timings are
    an emulator's, not latencies (keys starting with ``qemu`` are marked
    ``emulated`` in the target's fingerprint; otherwise pass ``-t emulated=true``).
    """
    from hwnas.targets.tvm.emulated_board import EmulatedBoard

    if not key.strip():
        raise HwnasError("--key is empty", "e.g. --key qemu-a72")
    host, port = parse_tracker(tracker)

    def log(line: str) -> None:
        console.print(line, highlight=False, soft_wrap=True)
        console.file.flush()

    start = time.perf_counter()
    board = EmulatedBoard(key, host, port, cache_dir, start_tracker, timeout, log)
    stopped = False
    try:
        board.start()
        log(
            f"board {key!r} registered at {host}:{port} after {time.perf_counter() - start:.0f} s "
            f"(server log {board.log_path}); Ctrl-C stops it"
        )
        log(
            f"profile on it: hwnas profile --target tvm-arm -t key={key} -t tracker_host={host} "
            f"-t tracker_port={port} (emulated: outputs are checked, timings are not latencies)"
        )
        while board.running():
            time.sleep(1.0)
        stopped = True
        raise HwnasError(f"the emulated board stopped: {board.log_tail()}", f"see {board.log_path}")
    finally:
        board.stop(keep_log=stopped)
