"""Apache TVM targets: host CPU (untuned or MetaSchedule), AArch64 boards over RPC, CUDA, Hexagon.

This is the plugin module hwnas imports to *list* targets, so it must not
import TVM: the target classes (the factories, so ``pm.create`` can check
options against their signatures) import TVM only inside their methods.

Modules: :mod:`.common` (ONNX import, timing adapter, threads, ELF check),
:mod:`.tuning` (MetaSchedule with a persistent database), :mod:`.rpc`
(tracker probe and remote timing), :mod:`.parser_speedup` (a TVMScript
parsing fix MetaSchedule needs here), and one module per target.
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
