"""Primitive kernels of the HURRICANE ops as workloads of their own (nn-Meter's kernel view).

An op of the pool runs as a few primitive kernels: pointwise and depthwise
convolutions (+BN, fused activation) and squeeze-and-excitation blocks
(:func:`hwnas.spaces.hurricane.ops.op_plan`, walked by
:func:`hwnas.predict.primitives.primitives`). The 224 layer workloads of the
small profile share 124 distinct primitive instances, so a target that has
timed the instances can price every op as their sum plus a combine step
(:mod:`hwnas.predict.primitives`). This module turns each instance into a
:class:`~hwnas.workload.Workload` any target can compile and time.
"""

from __future__ import annotations

from collections.abc import Iterable

from hwnas.predict.primitives import primitives
from hwnas.spaces.hurricane.ops import SqueezeExcite, conv_bn, output_size
from hwnas.workload import Workload, seeded

__all__ = [
    "make_primitive_workload",
    "op_primitive_keys",
    "primitive_key",
    "primitive_workloads",
]


def primitive_key(
    kind: str, cin: int, cout: int, k: int, stride: int, groups: int, size: tuple
) -> str:
    """Structural key of one primitive instance (``kind`` is ``conv`` or ``se``)."""
    height, width, batch = size
    if kind == "se":
        return f"hurricane-prim/se/c{cin}/hw{height}x{width}/b{batch}"
    return f"hurricane-prim/conv/c{cin}-{cout}/k{k}/s{stride}/g{groups}/hw{height}x{width}/b{batch}"


def make_primitive_workload(
    kind: str,
    cin: int,
    cout: int,
    k: int = 1,
    stride: int = 1,
    groups: int = 1,
    height: int = 1,
    width: int = 1,
    batch: int = 1,
) -> Workload:
    """One primitive instance: a conv+BN (``kind="conv"``) or an SE block (``kind="se"``)."""
    if kind not in ("conv", "se"):
        raise ValueError(f"unknown primitive kind {kind!r}; use conv or se")
    if kind == "se":

        def build():
            return SqueezeExcite(cin).eval()

        cout, k, stride, groups = cin, 1, 1, 1
        flops = 2.0 * batch * cin * height * width + 4.0 * batch * cin * max(1, cin // 4)
    else:

        def build():
            return conv_bn(cin, cout, k, stride, groups).eval()

        ho, wo = output_size(height, k, stride), output_size(width, k, stride)
        flops = 2.0 * batch * cout * (cin // groups) * k * k * ho * wo
    size = (height, width, batch)
    features = {
        "op": f"prim-{kind}" if kind == "se" else ("prim-pw" if groups == 1 else "prim-dw"),
        "family": "primitive",
        "kernel": k,
        "stride": stride,
        "in_channels": cin,
        "out_channels": cout,
        "groups": groups,
        "height": height,
        "width": width,
        "flops": flops,
        "batch": batch,
    }
    recipe_args = {
        "kind": kind,
        "cin": cin,
        "cout": cout,
        "k": k,
        "stride": stride,
        "groups": groups,
        "height": height,
        "width": width,
        "batch": batch,
    }
    return Workload(
        key=primitive_key(kind, cin, cout, k, stride, groups, size),
        space="hurricane-primitives",
        input_shape=(batch, cin, height, width),
        label=f"{kind} {cin}->{cout} k{k} s{stride} g{groups} @{height}x{width}",
        build=seeded(build),
        features=features,
        recipe=(f"{__name__}:make_primitive_workload", recipe_args),
    )


def _instances(features: dict) -> list[dict]:
    """Arguments of :func:`make_primitive_workload` for each primitive an op runs, in order.

    Read off the additive model's primitive instances (their keys carry the
    exact shapes); its combine steps are not kernels of their own and are left out.
    """
    out = []
    for p in primitives(features):
        if p.key[0] == "conv":
            _, cin, cout, k, stride, groups, height, width, batch = p.key
            conv = {"cin": cin, "cout": cout, "k": k, "stride": stride, "groups": groups}
            out.append({"kind": "conv", **conv, "height": height, "width": width, "batch": batch})
        elif p.key[0] == "se":
            _, channels, height, width, batch = p.key
            se = {"cin": channels, "cout": channels, "height": height, "width": width}
            out.append({"kind": "se", **se, "batch": batch})
    return out


def op_primitive_keys(features: dict) -> list[str]:
    """Keys of the primitive instances an op workload runs, in execution order."""
    return [make_primitive_workload(**args).key for args in _instances(features)]


def primitive_workloads(op_workloads: Iterable[Workload]) -> list[Workload]:
    """The distinct primitive instances of ``op_workloads`` (HURRICANE layer ops), as workloads."""
    out: dict[str, Workload] = {}
    for workload in op_workloads:
        for args in _instances(workload.features):
            made = make_primitive_workload(**args)
            out.setdefault(made.key, made)
    return list(out.values())
