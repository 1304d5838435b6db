"""An op as the sum of its primitive kernels: the designs of the additive latency models.

A runtime executes an op of the HURRICANE space as a short sequence of
primitive kernels (pointwise convs, depthwise convs of one kernel size and
stride, squeeze-and-excitation blocks) and a combine step (plain, residual
add, channel split or concat). Following nn-Meter's kernel-level view, the
op's latency is the sum of its primitives' latencies. Two designs follow:

- :func:`primitive_matrix`: per primitive *kind*, ``[count, MFLOPs, memory in
  1e4 elements]`` summed over the op's primitives (one linear cost model per
  kind: the type-level additive model);
- :func:`shaped_matrix`: the type-level design with each kind's cost per
  MFLOP a piecewise-linear function of log2 of one size (the reduction
  length, the channels, the output channels or the output width; hat
  functions at powers of two). Runtimes change code path with size: untuned
  TVM unrolls and vectorises short reduction loops only, and a schedule that
  vectorises along the width wastes lanes on a 7-wide map. Which size matters
  differs per runtime, so the predictor chooses it by cross-validation;
- :func:`primitives`: the exact primitive *instances* (kind and shape). Ops
  share instances (``MB_k7_e6`` and ``MB_k7_e6_SE`` run the same expansion,
  depthwise and projection convs), so measuring some ops pins down the
  instances of others (the instance-level additive model).

Workloads without a known plan (stem, head, other spaces) are one ``dense``
primitive carrying all their FLOPs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwnas.predict.features import derived

#: Primitive kinds, in column order.
KINDS: tuple[str, ...] = (
    "pw",
    *(f"dw{k}s{s}" for k in (3, 5, 7) for s in (1, 2)),
    "dw",
    "se",
    *(f"combine-{m}" for m in ("plain", "residual", "split", "concat")),
    "dense",
)
_COLUMN = {kind: i for i, kind in enumerate(KINDS)}
#: Sizes a kind's cost per MFLOP may vary along (see :func:`shaped_matrix`).
SHAPE_AXES: tuple[str, ...] = ("reduction", "channels", "out_channels", "width")
#: Knots of that piecewise-linear cost, in log2 of the size (2 .. 2048).
KNOTS = np.arange(1.0, 12.0)


@dataclass(frozen=True)
class Primitive:
    """One primitive kernel of an op: its kind, exact shape (``key``), MFLOPs and memory."""

    kind: str
    key: tuple
    mflops: float
    memory: float  # tensor elements read and written, in units of 1e4

    def design(self) -> np.ndarray:
        """This primitive's row of the type-level design (see :func:`primitive_names`)."""
        row = np.zeros(3 * len(KINDS))
        j = 3 * _COLUMN[self.kind]
        row[j : j + 3] = (1.0, self.mflops, self.memory)
        return row

    @property
    def group(self) -> str | None:
        """``"pw"`` or ``"dw"`` for convolutions (the groups :func:`shaped_matrix` shapes)."""
        if self.kind == "pw":
            return "pw"
        return "dw" if self.kind.startswith("dw") else None

    def size(self, axis: str) -> float:
        """A convolution's size along ``axis`` (one of :data:`SHAPE_AXES`)."""
        _, cin, cout, _k, stride, groups, _h, w, _b = self.key
        return {
            "reduction": cin // groups,
            "channels": cin,
            "out_channels": cout,
            "width": -(-w // stride),
        }[axis]

    def shaped_design(self, axes: Mapping[str, str]) -> np.ndarray:
        """This primitive's row of :func:`shaped_matrix` for ``axes`` ({group: axis})."""
        width = 2 + len(KNOTS)
        row = np.zeros(width * len(KINDS))
        j = width * _COLUMN[self.kind]
        row[j : j + 2] = (1.0, self.memory)
        axis = axes.get(self.group) if self.group else None
        if axis is None:
            row[j + 2] = self.mflops
        else:
            x = np.clip(np.log2(max(self.size(axis), 1)), KNOTS[0], KNOTS[-1])
            hats = np.clip(1.0 - np.abs(x - KNOTS), 0.0, 1.0)  # knots one octave apart
            row[j + 2 : j + width] = self.mflops * hats
        return row


def primitive_names() -> list[str]:
    """Column names of :func:`primitive_matrix`."""
    return [f"{kind}_{what}" for kind in KINDS for what in ("count", "mflops", "memory")]


def primitive_matrix(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``(len(rows), 3 * len(KINDS))`` type-level design: each op's primitives summed."""
    out = np.zeros((len(rows), 3 * len(KINDS)))
    for i, row in enumerate(rows):
        for p in primitives(row):
            out[i] += p.design()
    return out


def shaped_matrix(rows: Sequence[Mapping[str, Any]], axes: Mapping[str, str]) -> np.ndarray:
    """Type-level design whose cost per MFLOP varies with one size per convolution group.

    ``axes`` maps ``"pw"`` and/or ``"dw"`` to one of :data:`SHAPE_AXES`; per
    kind the columns are ``[count, memory, MFLOPs x hat_0 .. hat_10]`` (an
    unshaped kind puts all its MFLOPs in the first hat column). ``{}`` is the
    plain type-level model of :func:`primitive_matrix`, columns reordered.
    """
    unknown = {a for a in axes.values() if a not in SHAPE_AXES} | (set(axes) - {"pw", "dw"})
    if unknown:
        raise ValueError(f"unknown shape axes {sorted(unknown)}; groups: pw, dw; axes {SHAPE_AXES}")
    return shaped_rows([primitives(row) for row in rows], axes)


def shaped_rows(parts: Sequence[Sequence[Primitive]], axes: Mapping[str, str]) -> np.ndarray:
    """:func:`shaped_matrix` from each workload's :func:`primitives`, already decomposed."""
    out = np.zeros((len(parts), (2 + len(KNOTS)) * len(KINDS)))
    for i, row in enumerate(parts):
        for p in row:
            out[i] += p.shaped_design(axes)
    return out


def instance_counts(rows: Sequence[Sequence[Primitive]]) -> tuple[dict, np.ndarray]:
    """The distinct instances of ``rows`` ({key: primitive}) and each row's count of each."""
    shapes = {p.key: p for row in rows for p in row}
    index = {key: j for j, key in enumerate(shapes)}
    counts = np.zeros((len(rows), len(shapes)))
    for i, row in enumerate(rows):
        for p in row:
            counts[i, index[p.key]] += 1
    return shapes, counts


def primitives(features: Mapping[str, Any]) -> list[Primitive]:
    """The primitive kernels of one workload, in execution order."""
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
        key = tuple(sorted((k, str(v)) for k, v in features.items()))
        return [Primitive("dense", ("dense", key), d["flops"] / 1e6, d["memory"] / 1e4)]
    batch = int(features.get("batch", 1) or 1)
    out = []
    for branch in (plan.main, plan.proj):
        h, w = height, width
        for step in branch:
            if isinstance(step, SEStep):
                r = max(1, step.channels // 4)
                out.append(
                    Primitive(
                        "se",
                        ("se", step.channels, h, w, batch),
                        4.0 * step.channels * r * batch / 1e6,
                        2.0 * batch * step.channels * h * w / 1e4,
                    )
                )
                continue
            ho = (h + 2 * (step.k // 2) - step.k) // step.stride + 1
            wo = (w + 2 * (step.k // 2) - step.k) // step.stride + 1
            flops = 2.0 * step.cout * (step.cin // step.groups) * step.k**2 * ho * wo * batch
            kind = "pw" if step.groups == 1 else f"dw{step.k}s{step.stride}"
            out.append(
                Primitive(
                    kind if kind in _COLUMN else "dw",
                    ("conv", step.cin, step.cout, step.k, step.stride, step.groups, h, w, batch),
                    flops / 1e6,
                    batch * (step.cin * h * w + step.cout * ho * wo) / 1e4,
                )
            )
            h, w = ho, wo
    elements = batch * cout * -(-height // stride) * -(-width // stride) / 1e4
    combine = f"combine-{plan.mode}"
    key = (combine, cin, cout, height, width, stride, batch)
    out.append(Primitive(combine if combine in _COLUMN else "combine-plain", key, 0.0, elements))
    return out
