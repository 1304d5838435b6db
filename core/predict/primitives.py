"""An op as the sum of its primitive kernels: the linear design of the additive latency model.

A runtime executes an op of the HURRICANE space as a short sequence of
primitive kernels (pointwise convs, depthwise convs of one kernel size,
squeeze-and-excitation blocks) plus a combine step (residual add, channel
split or concat). Following nn-Meter's kernel-level view, the op's latency is
modelled as the sum of its primitives' latencies, each linear in its count,
FLOPs and memory traffic; :func:`primitive_matrix` gives one row per workload
with, for every primitive type, ``[count, MFLOPs, memory in 1e4 elements]``
summed over the op's steps, then the combine mode and the elements it touches.
Workloads without a known plan (stem, head, other spaces) count as one
``dense`` primitive carrying all their FLOPs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hwnas.predict.features import derived

#: Primitive types, in column order.
PRIMITIVES: tuple[str, ...] = (
    "pw",
    "dw3",
    "dw5",
    "dw7",
    "dw3s2",
    "dw5s2",
    "dw7s2",
    "dw",
    "se",
    "dense",
)
#: Combine modes of an op's branches, in column order.
MODES: tuple[str, ...] = ("plain", "residual", "split", "concat")


def primitive_names() -> list[str]:
    """Column names of :func:`primitive_matrix`."""
    per = [f"{p}_{what}" for p in PRIMITIVES for what in ("count", "mflops", "memory")]
    return [*per, *(f"mode_{m}" for m in MODES), "combine_elements"]


def primitive_row(features: Mapping[str, Any]) -> np.ndarray:
    """One workload's additive design row (see :func:`primitive_names`)."""
    sums = {p: np.zeros(3) for p in PRIMITIVES}
    mode, combine = _plan_sums(features, sums)
    row = [value for p in PRIMITIVES for value in sums[p]]
    return np.array([*row, *(float(mode == m) for m in MODES), combine], dtype=np.float64)


def primitive_matrix(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``(len(rows), len(primitive_names()))`` additive design matrix."""
    return np.array([primitive_row(r) for r in rows], dtype=np.float64).reshape(
        len(rows), len(primitive_names())
    )


def _plan_sums(features: Mapping[str, Any], sums: dict[str, np.ndarray]) -> tuple[str, float]:
    """Add each step of the op's plan to ``sums``; return (combine mode, combined elements)."""
    try:
        from hwnas.spaces.hurricane.ops import OP_NAMES, SEStep, op_plan

        if features.get("op") not in OP_NAMES:
            raise KeyError(features.get("op"))
        cin, cout = int(features["in_channels"]), int(features["out_channels"])
        height, stride = int(features["height"]), int(features["stride"])
        width = int(features.get("width", height))
        plan = op_plan(str(features["op"]), cin, cout, stride)
    except (ImportError, KeyError, TypeError, ValueError):
        d = derived(features)
        sums["dense"] += [1.0, d["flops"] / 1e6, d["memory"] / 1e4]
        return "plain", 0.0
    batch = float(features.get("batch", 1) or 1)
    for branch in (plan.main, plan.proj):
        h, w = height, width
        for step in branch:
            if isinstance(step, SEStep):
                r = max(1, step.channels // 4)
                flops = 4.0 * step.channels * r * batch
                sums["se"] += [1.0, flops / 1e6, 2.0 * batch * step.channels * h * w / 1e4]
                continue
            ho = (h + 2 * (step.k // 2) - step.k) // step.stride + 1
            wo = (w + 2 * (step.k // 2) - step.k) // step.stride + 1
            flops = 2.0 * step.cout * (step.cin // step.groups) * step.k**2 * ho * wo * batch
            memory = batch * (step.cin * h * w + step.cout * ho * wo)
            kind = "pw" if step.groups == 1 else f"dw{step.k}" + ("s2" if step.stride > 1 else "")
            sums[kind if kind in sums else "dw"] += [1.0, flops / 1e6, memory / 1e4]
            h, w = ho, wo
    out_elements = batch * cout * -(-height // stride) * -(-width // stride)
    return plan.mode, (0.0 if plan.mode == "plain" else out_elements / 1e4)
