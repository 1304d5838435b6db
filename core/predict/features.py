"""Workload features a kernel-level latency predictor learns from.

A workload's ``features`` dict (see :class:`hwnas.workload.Workload`, kept in
every store row) is turned into a fixed-length float vector: op family
(one-hot over a vocabulary saved with the model), kernel size, expansion,
stride, groups, SE flag, input H/W/C, output H/W/C, batch, FLOPs, params and an
estimate of memory traffic, plus log versions of the size terms (the log-linear
trend model uses those; the trees do not care about monotone transforms).

Memory traffic is an *estimate* in tensor elements: one read of the input, one
write of the output, the weights, and for an expanded block (``expand > 1``)
the hidden tensor written by the expansion and read by the depthwise conv
(both at input and output resolution). It is the same formula for every target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

#: Families known up front (HURRICANE's four op families and its two fixed parts).
KNOWN_FAMILIES: tuple[str, ...] = ("SEP", "MB", "Choice", "ChoiceX", "stem", "head")

#: Numeric columns after the family one-hot, in order.
NUMERIC: tuple[str, ...] = (
    "kernel",
    "expand",
    "stride",
    "groups",
    "se",
    "in_height",
    "in_width",
    "in_channels",
    "out_height",
    "out_width",
    "out_channels",
    "batch",
    "flops",
    "params",
    "memory",
    "log_flops",
    "log_params",
    "log_memory",
    "log_in_elems",
    "log_out_elems",
    # structure of the op's graph (HURRICANE ops; zeros when unknown)
    "n_conv",
    "n_depthwise",
    "n_pointwise",
    "n_se",
    "hidden_channels",
    "log_dw_flops",
    "log_pw_flops",
    "log_se_params",
    "log_hidden_elems",
    "combine",
)

#: Columns of the log-linear trend (a ridge regression on these plus the family one-hot).
TREND: tuple[str, ...] = (
    "log_flops",
    "log_params",
    "log_memory",
    "log_in_elems",
    "log_out_elems",
    "n_conv",
    "n_se",
    "log_dw_flops",
    "log_pw_flops",
    "log_se_params",
    "log_hidden_elems",
)


def is_kernel_row(features: Mapping[str, Any]) -> bool:
    """Whether a store row describes one kernel (op at a shape), not a whole network."""
    return "family" in features and "in_channels" in features and "height" in features


def _num(features: Mapping[str, Any], key: str, default: float) -> float:
    value = features.get(key, default)
    try:
        return float(default if value is None else value)
    except (TypeError, ValueError):
        return float(default)


def derived(features: Mapping[str, Any]) -> dict[str, float]:
    """The numeric columns of one workload (see :data:`NUMERIC`)."""
    kernel = _num(features, "kernel", 1)
    expand = _num(features, "expand", 1)
    stride = max(1.0, _num(features, "stride", 1))
    h = _num(features, "height", 1)
    w = _num(features, "width", h)
    cin = _num(features, "in_channels", 1)
    cout = _num(features, "out_channels", cin)
    batch = _num(features, "batch", 1)
    ho, wo = math.ceil(h / stride), math.ceil(w / stride)
    params = _num(features, "params", 0)
    flops = _num(features, "flops", 0)
    in_elems = batch * cin * h * w
    out_elems = batch * cout * ho * wo
    memory = in_elems + out_elems + params
    if expand > 1:
        memory += batch * cin * expand * (h * w + ho * wo)
    memory = _num(features, "memory", memory)
    return {
        **structure(features),
        "kernel": kernel,
        "expand": expand,
        "stride": stride,
        "groups": _num(features, "groups", 1),
        "se": _num(features, "se", 0),
        "in_height": h,
        "in_width": w,
        "in_channels": cin,
        "out_height": ho,
        "out_width": wo,
        "out_channels": cout,
        "batch": batch,
        "flops": flops,
        "params": params,
        "memory": memory,
        "log_flops": math.log1p(flops),
        "log_params": math.log1p(params),
        "log_memory": math.log1p(memory),
        "log_in_elems": math.log1p(in_elems),
        "log_out_elems": math.log1p(out_elems),
    }


_COMBINE = {"plain": 0.0, "residual": 1.0, "split": 2.0, "concat": 3.0}
_NO_STRUCTURE = {
    "n_conv": 0.0,
    "n_depthwise": 0.0,
    "n_pointwise": 0.0,
    "n_se": 0.0,
    "hidden_channels": 0.0,
    "log_dw_flops": 0.0,
    "log_pw_flops": 0.0,
    "log_se_params": 0.0,
    "log_hidden_elems": 0.0,
    "combine": -1.0,
}


def _dense_structure(features: Mapping[str, Any]) -> dict[str, float]:
    """Structure of an op without a known plan: dense convs/linears carrying all its FLOPs."""
    flops = _num(features, "flops", 0)
    if flops <= 0:
        return dict(_NO_STRUCTURE)
    batch = _num(features, "batch", 1)
    cout = _num(features, "out_channels", 1)
    h, stride = _num(features, "height", 1), max(1.0, _num(features, "stride", 1))
    ho, wo = math.ceil(h / stride), math.ceil(_num(features, "width", h) / stride)
    n_conv = 2.0 if features.get("family") == "head" else 1.0
    return {
        **_NO_STRUCTURE,
        "n_conv": n_conv,
        "n_pointwise": n_conv,
        "hidden_channels": cout,
        "log_pw_flops": math.log1p(flops),
        "log_hidden_elems": math.log1p(batch * cout * ho * wo),
        "combine": 0.0,
    }


def structure(features: Mapping[str, Any]) -> dict[str, float]:
    """Graph-structure features of a HURRICANE op (convs, depthwise/pointwise FLOPs, SE, hidden).

    Derived from the op's layer plan in :mod:`hwnas.spaces.hurricane.ops` (the
    same plan that builds the module), so they match what the runtime executes.
    Other workloads (stem, head, other spaces) count as dense convs carrying all their FLOPs.
    """
    op = features.get("op")
    try:
        from hwnas.spaces.hurricane.ops import OP_NAMES, SEStep, op_plan

        if op not in OP_NAMES:
            return _dense_structure(features)
        cin, cout = int(features["in_channels"]), int(features["out_channels"])
        h, w, stride = int(features["height"]), int(features["width"]), int(features["stride"])
        plan = op_plan(op, cin, cout, stride)
    except (ImportError, KeyError, TypeError, ValueError):
        return _dense_structure(features)
    batch = _num(features, "batch", 1)
    n_conv = n_dw = n_pw = n_se = 0
    dw_flops = pw_flops = se_params = hidden_elems = 0.0
    hidden = 0
    for branch in (plan.main, plan.proj):
        hh, ww = h, w
        for layer in branch:
            if isinstance(layer, SEStep):
                n_se += 1
                r = max(1, layer.channels // 4)
                se_params += 2 * layer.channels * r + layer.channels + r
                continue
            n_conv += 1
            hh, ww = (
                (hh + 2 * (layer.k // 2) - layer.k) // layer.stride + 1,
                (ww + 2 * (layer.k // 2) - layer.k) // layer.stride + 1,
            )
            macs = layer.cout * (layer.cin // layer.groups) * layer.k**2 * hh * ww * batch
            if layer.groups > 1:
                n_dw += 1
                dw_flops += 2 * macs
            else:
                n_pw += 1
                pw_flops += 2 * macs
            hidden = max(hidden, layer.cout)
            hidden_elems += batch * layer.cout * hh * ww
    return {
        "n_conv": float(n_conv),
        "n_depthwise": float(n_dw),
        "n_pointwise": float(n_pw),
        "n_se": float(n_se),
        "hidden_channels": float(hidden),
        "log_dw_flops": math.log1p(dw_flops),
        "log_pw_flops": math.log1p(pw_flops),
        "log_se_params": math.log1p(se_params),
        "log_hidden_elems": math.log1p(hidden_elems),
        "combine": _COMBINE.get(plan.mode, -1.0),
    }


def family_vocabulary(rows: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The known families plus any other family seen in ``rows`` (sorted, stable)."""
    seen = {str(r.get("family")) for r in rows if r.get("family") is not None}
    return KNOWN_FAMILIES + tuple(sorted(seen - set(KNOWN_FAMILIES)))


def shape_token(row: Mapping[str, Any]) -> str:
    """The layer-shape class of a workload (input C/H/W, output C, stride, batch)."""
    return "shape={}-{}/hw{}x{}/s{}/b{}".format(
        *(row.get(k) for k in ("in_channels", "out_channels", "height", "width", "stride")),
        row.get("batch", 1),
    )


def vocabulary(
    rows: Sequence[Mapping[str, Any]], ops: bool = True, shapes: bool = False
) -> tuple[str, ...]:
    """One-hot columns: ``family=F`` (known + seen), ``op=O`` and ``shape=S`` seen in ``rows``."""
    vocab = [f"family={f}" for f in family_vocabulary(rows)]
    if ops:
        vocab += [f"op={o}" for o in sorted({str(r["op"]) for r in rows if r.get("op")})]
    if shapes:
        vocab += sorted({shape_token(r) for r in rows})
    return tuple(vocab)


def feature_names(vocab: Sequence[str]) -> list[str]:
    """Column names of :func:`feature_matrix` for a vocabulary."""
    return list(vocab) + list(NUMERIC)


def feature_matrix(rows: Sequence[Mapping[str, Any]], vocab: Sequence[str]) -> np.ndarray:
    """``(len(rows), len(vocab) + len(NUMERIC))`` float64 matrix of workload features.

    A family or op outside the vocabulary gets an all-zero one-hot (the model
    then only sees its shape, structure and cost features).
    """
    column = {token: i for i, token in enumerate(vocab)}
    x = np.zeros((len(rows), len(vocab) + len(NUMERIC)), dtype=np.float64)
    for i, row in enumerate(rows):
        for token in (f"family={row.get('family')}", f"op={row.get('op')}", shape_token(row)):
            j = column.get(token)
            if j is not None:
                x[i, j] = 1.0
        d = derived(row)
        x[i, len(vocab) :] = [d[name] for name in NUMERIC]
    return x


def trend_columns(vocab: Sequence[str], ops: bool = True) -> np.ndarray:
    """Columns of the trend model: family/shape (and op) one-hot, log sizes and structure."""
    offset = len(vocab)
    onehot = [i for i, t in enumerate(vocab) if ops or not t.startswith("op=")]
    return np.array(
        [*onehot, *(offset + NUMERIC.index(name) for name in (*TREND, "se"))], dtype=np.int64
    )
