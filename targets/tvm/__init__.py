"""Apache TVM targets: host CPU (untuned or MetaSchedule), AArch64 boards over RPC, CUDA, Hexagon.

This is the plugin module hwnas imports to *list* targets, so it must not
import TVM: the target classes (the factories, so ``pm.create`` can check
options against their signatures) import TVM only inside their methods.

Modules: :mod:`.common` (ONNX import, timing adapter, threads, ELF check),
:mod:`.tuning` (MetaSchedule with a persistent database), :mod:`.rpc`
(tracker probe and remote timing), :mod:`.parser_speedup` (a TVMScript
parsing fix MetaSchedule needs here), one module per target,
:mod:`.local_farm` (tracker and servers on this host) and
:mod:`.emulated_board` (an AArch64 board under qemu, ``hwnas board emulate``).
"""

from __future__ import annotations

from collections.abc import Iterator

import hwnas
from hwnas.targets.tvm.arm import TvmArmTarget
from hwnas.targets.tvm.cpu import TvmCpuTarget
from hwnas.targets.tvm.cuda import TvmCudaTarget
from hwnas.targets.tvm.hexagon import TvmHexagonTarget

_REQUIRES = ("tvm",)


@hwnas.hookimpl
def hwnas_targets() -> Iterator[hwnas.TargetSpec]:
    """Declare the four TVM targets (``pip install 'hwnas[tvm]'``)."""
    yield hwnas.TargetSpec(
        name="tvm-cpu",
        summary="TVM (Relax) on the host CPU: untuned default pipeline or MetaSchedule-tuned",
        factory=TvmCpuTarget,
        extra="tvm",
        requires=_REQUIRES,
    )
    yield hwnas.TargetSpec(
        name="tvm-arm",
        summary="TVM cross-compiled for AArch64, timed on a board through the TVM RPC tracker",
        factory=TvmArmTarget,
        extra="tvm",
        requires=_REQUIRES,
    )
    yield hwnas.TargetSpec(
        name="tvm-cuda",
        summary="TVM for NVIDIA GPUs with the default (dlight) GPU schedules",
        factory=TvmCudaTarget,
        extra="tvm",
        requires=_REQUIRES,
    )
    yield hwnas.TargetSpec(
        name="tvm-hexagon",
        summary="TVM for the Qualcomm Hexagon DSP (HVX), timed through TVM's Hexagon RPC",
        factory=TvmHexagonTarget,
        extra="tvm",
        requires=_REQUIRES,
    )


@hwnas.hookimpl
def hwnas_commands() -> Iterator[hwnas.CommandSpec]:
    """Declare ``hwnas board emulate`` (an emulated AArch64 board for ``tvm-arm``)."""
    yield hwnas.CommandSpec(
        name="board",
        summary="Boards for tvm-arm: an emulated AArch64 board (qemu) behind the RPC tracker",
        factory=_board_app,
        extra="tvm",
        requires=_REQUIRES,
    )


def _board_app():
    from hwnas.targets.tvm.board_commands import board_app

    return board_app
