"""Benchmark: do separately timed primitive kernels add up to an op's latency?

nn-Meter predicts a model as the sum of its kernels' latencies. hwnas's
instance-level additive model (:mod:`hwnas.predict.primitives`) assumes the
same of a HURRICANE op and its primitive instances (pointwise and depthwise
convs, SE blocks, a combine step), but fits the instance times from measured
ops. Timing the primitives directly would pin them down without that fit.
This script checks whether that is possible on this machine's runtimes.

Protocol (benchmarks/PROTOCOLS.md "Primitive sums"): the input is the JSON of
``benchmarks/kernel_transfer.py --primitives`` (run A and run B tables, each
holding the 224 layer ops and their 124 primitive instances, every
primitive compiled and timed alone as conv+BN or SE). Per target, on all 224
ops (in-sample, so every figure is an upper bound for a predictor that uses it):

- ``raw sum``: share of ops within +-10% of the sum of their primitives;
- ``calibrated sum``: the same after the best fit of
  ``op = a * sum - o * primitives + c[combine mode]`` (least squares on
  relative error; ``a >= 0``, the per-call overhead ``o`` and the combine
  intercepts free);
- ``instances from ops``: the additive model with instance times fitted on
  the ops themselves (non-negative least squares on relative error), i.e. the
  in-graph primitive costs;
- the repeatability ceiling (run B vs run A) and the seconds spent measuring
  the primitives and the ops.

    nice python benchmarks/kernel_transfer.py --store-dir /tmp/kt --primitives --measure-only \
        --out benchmarks/results/kernel_transfer_primitives.json
    python benchmarks/primitive_sum.py --tables benchmarks/results/kernel_transfer_primitives.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.optimize import lsq_linear, nnls

from hwnas.predict.metrics import within
from hwnas.predict.primitives import primitives
from hwnas.spaces.hurricane.ops import OP_NAMES
from hwnas.spaces.hurricane.primitive_workloads import op_primitive_keys
from hwnas.spaces.hurricane.space import HurricaneSpace

console = Console(width=150)
TOLERANCE = 0.1


def layer_ops() -> list:
    """The distinct layer workloads of the hurricane space (small profile, batch 1)."""
    space = HurricaneSpace()
    cells = [space.layer_workload(i, op) for i in range(len(space.layers)) for op in OP_NAMES]
    return list({w.key: w for w in cells}.values())


def count_matrix(rows: list[list], index: dict) -> np.ndarray:
    """How often each op (row) runs each item of ``index`` (column)."""
    out = np.zeros((len(rows), len(index)))
    for i, row in enumerate(rows):
        for item in row:
            out[i, index[item]] += 1
    return out


def fidelity(table: dict, ops: list) -> dict:
    """The three in-sample figures for one target's run-A table."""
    keys = [op_primitive_keys(w.features) for w in ops]
    names = sorted({k for row in keys for k in row})
    counts = count_matrix(keys, {k: j for j, k in enumerate(names)})
    y = np.array([table[w.key] for w in ops])
    total = counts @ np.array([table[k] for k in names])
    parts = [primitives(w.features) for w in ops]
    modes = np.array([row[-1].kind for row in parts])  # the combine step closes every op
    design = np.column_stack(
        [total, -counts.sum(axis=1), *[modes == m for m in sorted(set(modes))]]
    ).astype(float)
    lower = np.r_[0.0, np.full(design.shape[1] - 1, -np.inf)]
    fit = lsq_linear(design / y[:, None], np.ones(len(y)), bounds=(lower, np.inf))
    instances = [[p.key for p in row] for row in parts]
    index = {k: j for j, k in enumerate(sorted({k for row in instances for k in row}, key=str))}
    x = count_matrix(instances, index)
    times, _ = nnls(x / y[:, None], np.ones(len(y)))
    return {
        "raw_sum": within(total, y, TOLERANCE),
        "calibrated_sum": within(design @ fit.x, y, TOLERANCE),
        "calibration": dict(zip(("a", "overhead_ms"), map(float, fit.x[:2]), strict=True)),
        "instances_from_ops": within(x @ times, y, TOLERANCE),
        "median_op_over_sum": float(np.median(y / total)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", required=True, help="kernel_transfer.py --primitives JSON")
    parser.add_argument("--out", default="benchmarks/results/primitive_sum.json")
    args = parser.parse_args()
    saved = json.loads(Path(args.tables).read_text())
    ops = layer_ops()
    rows: dict = {}
    table = Table(
        "target",
        "raw sum",
        "calibrated sum",
        "instances from ops",
        "ceiling B vs A",
        "op / sum (median)",
        "seconds: primitives / ops",
        title="In-sample share of the 224 ops within +-10% (upper bounds)",
    )
    for label, runs in saved["tables"].items():
        run_a, run_b = runs["a"], runs.get("b", {})
        needed = {w.key for w in ops} | {k for w in ops for k in op_primitive_keys(w.features)}
        if not needed <= set(run_a):
            console.print(f"[yellow]{label}: primitives not measured; skipped[/yellow]")
            continue
        row = fidelity(run_a, ops)
        both = [w.key for w in ops if w.key in run_b]
        row["ceiling"] = within([run_b[k] for k in both], [run_a[k] for k in both], TOLERANCE)
        seconds = saved.get("measure_seconds", {}).get(label, {})
        row["seconds"] = {"primitives": seconds.get("a_primitives"), "ops": seconds.get("a")}
        rows[label] = row
        table.add_row(
            label,
            *(f"{100 * row[k]:.1f}%" for k in ("raw_sum", "calibrated_sum", "instances_from_ops")),
            f"{100 * row['ceiling']:.1f}%",
            f"{row['median_op_over_sum']:.2f}",
            " / ".join(f"{s:.0f}" if s else "-" for s in row["seconds"].values()),
        )
    console.print(table)
    out = Path(args.out)
    out.write_text(
        json.dumps({"protocol": __doc__, "source": args.tables, "targets": rows}, indent=2)
    )
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
