"""Architecture-level latency predictor for the recorded spaces (NB201, FBNet, OFA).

:class:`ArchPredictor` learns log latency of one device from N architectures
of that device alone (no other device is used as a proxy). Two stages:

1. a ridge regression on a few compact, physically meaningful features (the
   *trend*): NB201 op counts on all edges and on *effective* edges (those on
   an input->output path) and log FLOPs; FBNet block counts; OFA active-block
   kernel/expansion counts, depths, resolution and log FLOPs;
2. XGBoost on the residual, over the full encoding (one-hot op per position,
   concatenated with the compact features and FLOPs/params where known), used
   only when there are enough samples for it to help (see ``min_boost``).

Features (all computed here, documented for reproducibility):

- NB201 FLOPs are analytic, 2 per multiply-accumulate, for the CIFAR-10
  network (stem 3x3 conv 3->16 at 32x32; 3 stages of 5 cells at C=16/32/64
  and 32/16/8 px; two ResNet reduction blocks; classifier 64->10). Every
  stage has C^2 x H x W = 262,144, so a cell costs 2 x 262,144 x (9 n3 + n1)
  FLOPs for n3 ``nor_conv_3x3`` and n1 ``nor_conv_1x1`` edges, and
  ``flops = 15,566,080 + 15 x 524,288 x (9 n3 + n1)`` (220 M MACs for the
  all-3x3 cell, as NAS-Bench-201 reports). ``flops`` counts every edge (a
  PyTorch cell computes an edge even when a ``none`` cuts its path);
  ``flops_effective`` only effective edges. Params: ``params_mb`` of
  ``nb201/accuracy.csv``.
- OFA FLOPs are analytic for the MobileNetV3 w1.2 network whose operators
  OFA's Note10 table lists (:func:`hwnas.targets.recorded.note10_keys`): 2 x
  MACs of every conv and linear layer (expansion 1x1, depthwise kxk,
  projection 1x1, SE 1x1s, first/last convs, classifier).
- FBNet: no FLOPs (the HW-NAS-Bench FBNet macro layout is not in the data);
  block counts only.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.space import Architecture

RECORDED_SPACES = ("nb201", "fbnet", "ofa")

# NB201 CIFAR-10 network constants (see module docstring).
NB201_FIXED_FLOPS = 15_566_080
NB201_CELL_UNIT = 524_288  # 2 x C^2 x H x W, the same in all three stages
NB201_CELLS = 15


def _space(name: str):
    if name == "nb201":
        from hwnas.spaces.nb201 import NB201Space

        return NB201Space()
    if name == "fbnet":
        from hwnas.spaces.fbnet import FBNetSpace

        return FBNetSpace()
    if name == "ofa":
        from hwnas.spaces.ofa import OFASpace

        return OFASpace()
    raise HwnasError(
        f"no architecture-level predictor for space {name!r}",
        f"choose one of: {', '.join(RECORDED_SPACES)}",
    )


# ---------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------


def nb201_flops(counts_all: np.ndarray) -> np.ndarray:
    """Analytic FLOPs of NB201 cells from op counts (columns in ``nb201.OPS`` order)."""
    n1, n3 = counts_all[..., 2], counts_all[..., 3]
    return NB201_FIXED_FLOPS + NB201_CELLS * NB201_CELL_UNIT * (9 * n3 + n1)


_SHAPE = re.compile(r"input:(\d+)x(\d+)x(\d+)-output:(\d+)x(\d+)x(\d+)")


def _make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def ofa_flops(ofa: dict) -> int:
    """Analytic FLOPs (2 x MACs) of an OFA MobileNetV3 w1.2 subnet (``{"ks","e","d","r"}``)."""
    from hwnas.targets.recorded.models import note10_keys

    macs = 0
    for key in note10_keys(ofa):
        if key.startswith("AvgPool2D"):
            continue
        if key.startswith("Logits"):
            cin = int(key.split("input:")[1].split("-")[0].split("x")[-1])
            cout = int(key.rsplit(":", 1)[1])
            macs += cin * cout
            continue
        h, w, cin, ho, wo, cout = map(int, _SHAPE.search(key).groups())
        if key.startswith("Conv-"):
            macs += 9 * cin * cout * ho * wo
        elif key.startswith(("Conv_1", "Conv_2")):
            macs += cin * cout * ho * wo
        else:
            mid = int(re.search(r"expand:(\d+)", key).group(1))
            k = int(re.search(r"kernel:(\d+)", key).group(1))
            se = re.search(r"se:(\d)", key).group(1) == "1"
            if mid != cin:
                macs += cin * mid * h * w
            macs += mid * k * k * ho * wo
            if se:
                macs += 2 * mid * _make_divisible(mid // 4)
            macs += mid * cout * ho * wo
    return 2 * macs


@dataclass(frozen=True)
class ArchFeatures:
    """Feature matrices of architectures: ``full`` for trees, ``compact`` for the trend."""

    full: np.ndarray
    compact: np.ndarray
    full_names: tuple[str, ...]
    compact_names: tuple[str, ...]
    flops: np.ndarray | None = None
    params: np.ndarray | None = None


def arch_features(
    space_name: str, archs: Sequence[Architecture], params_mb: np.ndarray | None = None
) -> ArchFeatures:
    """Features of ``archs`` of a recorded space (see the module docstring)."""
    space = _space(space_name)
    onehot = np.stack([space.encode(a) for a in archs]).astype(np.float64)
    onehot_names = tuple(
        f"{p.name}={c}" for p in space.positions for c in p.choices
    )  # matches SearchSpace.encode for nb201/fbnet
    if space_name == "nb201":
        from hwnas.spaces.nb201 import OPS

        counts_all = np.stack(
            [np.array([a.choices.count(op) for op in OPS], dtype=np.float64) for a in archs]
        )
        counts_eff = np.stack([space.effective_op_counts(a) for a in archs]).astype(np.float64)
        flops = nb201_flops(counts_all).astype(np.float64)
        flops_eff = nb201_flops(counts_eff).astype(np.float64)
        compact = np.column_stack(
            [counts_all[:, 1:], counts_eff[:, 1:], np.log(flops), np.log(flops_eff)]
        )
        compact_names = (
            *(f"count_{op}" for op in OPS[1:]),
            *(f"effective_{op}" for op in OPS[1:]),
            "log_flops",
            "log_flops_effective",
        )
        extra = [compact]
        extra_names = list(compact_names)
        if params_mb is not None:
            extra.append(np.asarray(params_mb, dtype=np.float64)[:, None])
            extra_names.append("params_mb")
        full = np.column_stack([onehot, *extra])
        return ArchFeatures(
            full,
            compact,
            (*onehot_names, *extra_names),
            compact_names,
            flops,
            None if params_mb is None else np.asarray(params_mb, dtype=np.float64),
        )
    if space_name == "fbnet":
        from hwnas.spaces.fbnet import OPS

        counts = np.stack(
            [np.array([a.choices.count(op) for op in OPS], dtype=np.float64) for a in archs]
        )
        # Per third of the network (early layers run at higher resolution).
        thirds = np.stack(
            [
                np.array(
                    [sum(c != "skip" for c in a.choices[s : s + 8]) for s in (0, 8, 16)],
                    dtype=np.float64,
                )
                for a in archs
            ]
        )
        compact = np.column_stack([counts[:, :-1], thirds])
        compact_names = (
            *(f"count_{op}" for op in OPS[:-1]),
            "blocks_0_7",
            "blocks_8_15",
            "blocks_16_21",
        )
        full = np.column_stack([onehot, compact])
        return ArchFeatures(full, compact, (*onehot_names, *compact_names), compact_names)
    # OFA
    from hwnas.spaces.ofa import EXPANDS, KERNELS

    rows, flops = [], []
    for a in archs:
        ofa = space.to_ofa(a)
        active = space.active_blocks(a)
        ks = np.array(ofa["ks"])[active]
        es = np.array(ofa["e"])[active]
        rows.append(
            [
                *(float((ks == k).sum()) for k in KERNELS),
                *(float((es == e).sum()) for e in EXPANDS),
                *(float(d) for d in ofa["d"]),
                float(ofa["r"]),
                float(ofa["r"]) ** 2 / 224.0,
            ]
        )
        flops.append(ofa_flops(ofa))
    flops_arr = np.asarray(flops, dtype=np.float64)
    compact = np.column_stack([np.asarray(rows), np.log(flops_arr)])
    compact_names = (
        *(f"kernel{k}" for k in KERNELS),
        *(f"expand{e}" for e in EXPANDS),
        *(f"depth{s}" for s in range(5)),
        "resolution",
        "resolution_sq",
        "log_flops",
    )
    enc_names = tuple(
        [f"ks{b}={k}" for b in range(20) for k in KERNELS]
        + [f"e{b}={e}" for b in range(20) for e in EXPANDS]
        + [f"r_slot{i}" for i in range(8)]
    )
    full = np.column_stack([onehot, compact])
    return ArchFeatures(full, compact, (*enc_names, *compact_names), compact_names, flops_arr)


# ---------------------------------------------------------------------------
# The predictor
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchParams:
    """Hyper-parameters of :class:`ArchPredictor`."""

    ridge: float = 1.0
    rounds: int = 400
    max_depth: int = 3
    eta: float = 0.05
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bynode: float = 0.5
    reg_lambda: float = 1.0
    min_boost: int = 200  # fewer samples: the ridge trend alone (boosting did not help)
    seed: int = 0
    nthread: int = 1


@dataclass
class ArchPredictor:
    """Log-latency model of one device over a recorded space (ridge trend + XGBoost residual)."""

    space: str
    params: ArchParams = field(default_factory=ArchParams)
    _trend: Any = field(default=None, repr=False)
    _booster: Any = field(default=None, repr=False)
    trained_on: int = 0

    def fit(self, feats: ArchFeatures, ms: Sequence[float]) -> ArchPredictor:
        """Train on features of N architectures and their latencies (ms > 0)."""
        from hwnas.predict.kernel import LogTrend, xgboost_module

        y = np.log(np.asarray(ms, dtype=np.float64))
        p = self.params
        self._trend = LogTrend.fit(feats.compact, y, p.ridge)
        self._booster = None
        self.trained_on = len(y)
        if len(y) >= p.min_boost and p.rounds > 0:
            xgb = xgboost_module()
            resid = y - self._trend.predict(feats.compact)
            dtrain = xgb.DMatrix(feats.full, label=resid)
            self._booster = xgb.train(
                {
                    "objective": "reg:squarederror",
                    "max_depth": p.max_depth,
                    "eta": p.eta,
                    "min_child_weight": p.min_child_weight,
                    "subsample": p.subsample,
                    "colsample_bynode": p.colsample_bynode,
                    "lambda": p.reg_lambda,
                    "base_score": 0.0,
                    "seed": p.seed,
                    "nthread": p.nthread,
                    "verbosity": 0,
                },
                dtrain,
                p.rounds,
            )
        return self

    def predict(self, feats: ArchFeatures) -> np.ndarray:
        """Predicted latency (ms) of every row of ``feats``."""
        if self._trend is None:
            raise HwnasError("the architecture predictor is not trained")
        log = self._trend.predict(feats.compact)
        if self._booster is not None:
            from hwnas.predict.kernel import xgboost_module

            log = log + self._booster.predict(xgboost_module().DMatrix(feats.full))
        return np.exp(log)


# ---------------------------------------------------------------------------
# Recorded tables: features of all rows, few-shot evaluation, filling gaps
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def table_features(space_name: str, data_dir: str | None = None) -> ArchFeatures:
    """Features of every architecture in a recorded table (cached per process)."""
    from hwnas.targets.recorded import tables as data

    if space_name == "nb201":
        table = data.nb201_table(data_dir)
        return arch_features("nb201", table.archs, table.column("params_mb"))
    _space(space_name)
    table = data.sampled_table(space_name, data_dir)
    return arch_features(space_name, table.archs)


def _table(space_name: str, data_dir: str | None):
    from hwnas.targets.recorded import tables as data

    return (
        data.nb201_table(data_dir)
        if space_name == "nb201"
        else data.sampled_table(space_name, data_dir)
    )


def _subset(feats: ArchFeatures, rows: np.ndarray) -> ArchFeatures:
    return ArchFeatures(
        feats.full[rows],
        feats.compact[rows],
        feats.full_names,
        feats.compact_names,
        None if feats.flops is None else feats.flops[rows],
        None if feats.params is None else feats.params[rows],
    )


def few_shot(
    space_name: str,
    device: str,
    n: int,
    seed: int,
    data_dir: str | None = None,
    params: ArchParams | None = None,
) -> dict[str, Any]:
    """Few-shot protocol (benchmarks/PROTOCOLS.md): N samples of ``device``, SRCC on the rest.

    The samples are drawn with ``numpy.random.default_rng(seed)``.

    Also gives the FLOPs and params baselines (their Spearman on the same rest).
    """
    from hwnas.predict.metrics import spearman

    table = _table(space_name, data_dir)
    feats = table_features(space_name, None if data_dir is None else str(data_dir))
    y = table.column(device)
    if not 2 <= n <= len(y) - 2:
        raise HwnasError(
            f"-n {n}: the {space_name} table has {len(y)} architectures",
            f"choose -n from 2 to {len(y) - 2} (the rest is the test set)",
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    train, test = perm[:n], perm[n:]
    model = ArchPredictor(space_name, params or ArchParams()).fit(_subset(feats, train), y[train])
    pred = model.predict(_subset(feats, test))
    out = {"spearman": spearman(pred, y[test])}
    out["flops_spearman"] = None if feats.flops is None else spearman(feats.flops[test], y[test])
    out["params_spearman"] = None if feats.params is None else spearman(feats.params[test], y[test])
    return out


@functools.lru_cache(maxsize=32)
def _device_model(space_name: str, device: str, data_dir: str) -> ArchPredictor:
    table = _table(space_name, data_dir)
    feats = table_features(space_name, data_dir)
    return ArchPredictor(space_name).fit(feats, table.column(device))


def predict_recorded(
    space_name: str,
    device: str,
    archs: Sequence[Architecture],
    data_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Predict ``device`` latency (ms) of ``archs`` missing from a recorded table.

    The model is trained once per process on every recorded architecture of
    that device and cached; used by ``hwnas.targets.recorded.models`` for FBNet/OFA
    architectures outside the 5,000 sampled ones (answers marked ``predicted``).
    """
    from hwnas.targets.recorded import tables as data

    root = str(data.resolve_data_dir(data_dir))
    model = _device_model(space_name, device, root)
    if space_name == "nb201":  # every cell is tabulated (params come from the table)
        rows = _table("nb201", root).rows([data.canonical_key(a) for a in archs])
        return model.predict(_subset(table_features("nb201", root), rows))
    return model.predict(arch_features(space_name, list(archs)))
