"""Ground-truth arena on NAS-Bench-201 (and OFA): strategies against the true Pareto front.

Protocol: benchmarks/PROTOCOLS.md, "Pareto search quality" and "Best architecture
under a latency budget" (see ``hwnas.arena``). Devices raspi4, pixel3, eyeriss,
fpga, titan_rtx_1, gold_6226; budgets 100/300/1000 evaluations (repeats
count); seeds 0..9 for random, 0..4 for the others (``--seeds`` overrides).
Search sees CIFAR-10 validation accuracy; fronts are scored with test accuracy.

``--space ofa`` (device note10: OFA's per-operator lookup table, any subnet at
r = 160..224 step 16; accuracy from OFA's predictor, seen and reported alike)
cannot be tabulated: the front is the best known one, from a uniform sample of
5,000 subnets, ``--reference-seeds`` aging-evolution runs of ``--reference-evals``
evaluations and every scored run (``hwnas.arena``); there is no published
baseline to print beside it.

    python benchmarks/arena.py [--space nb201|ofa] [--devices raspi4,pixel3]
                               [--strategies random,evolution,nsga2,surrogate]
                               [--evals 100,300,1000] [--seeds N] [--out runs/arena]
                               [--data-dir PATH] [--reference-evals 10000]

Prints one table (our mean HV ratio over the devices next to the reference
baselines of the protocol, mean regret at the 5 latency budgets) and writes
``OUT/arena_summary.json`` plus ``OUT/<device>/arena.json`` and its PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from hwnas.arena import QUANTILES, plot_arena, reference_search, run_arena
from hwnas.cli.common import jsonable
from hwnas.errors import HwnasError

#: The protocol's devices (benchmarks/PROTOCOLS.md, "Pareto search quality").
ARENA_DEVICES = ("raspi4", "pixel3", "eyeriss", "fpga", "titan_rtx_1", "gold_6226")
#: Per space: the devices when --devices is not given (OFA: the one answering every subnet).
DEFAULT_DEVICES = {"nb201": ARENA_DEVICES, "ofa": ("note10",)}

#: Reference HV ratios (mean over ARENA_DEVICES) by strategy and evaluation budget:
#: random search; Optuna NSGA-II (population 50); multi-objective aging evolution
#: (population 50, tournament 10, one-edge mutation).
REFERENCE_BASELINES = {
    "random": {100: 0.797, 300: 0.859, 1000: 0.905},
    "nsga2": {100: 0.758, 300: 0.883, 1000: 0.935},
    "evolution": {100: 0.797, 300: 0.897, 1000: 0.935},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="nb201", help="nb201 (tabulated, default) or ofa")
    parser.add_argument("--devices", default=None, help="default: the protocol's for the space")
    parser.add_argument("--reference-evals", type=int, default=10_000, help="ofa only")
    parser.add_argument("--reference-seeds", type=int, default=2, help="ofa only")
    parser.add_argument("--strategies", default="random,evolution,nsga2,surrogate")
    parser.add_argument("--evals", default="100,300,1000")
    parser.add_argument("--seeds", type=int, default=None, help="default: 10 random, 5 others")
    parser.add_argument("--out", type=Path, default=Path("runs/arena"))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    console = Console(width=190)
    err = Console(stderr=True)
    devices_text = args.devices or ",".join(DEFAULT_DEVICES.get(args.space, ARENA_DEVICES))
    devices = [d.strip() for d in devices_text.split(",") if d.strip()]
    baselines = REFERENCE_BASELINES if args.space == "nb201" else {}
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    evals = [int(e) for e in args.evals.split(",") if e.strip()]

    reports = {}
    started = time.perf_counter()
    try:
        for device in devices:
            t0 = time.perf_counter()
            report = run_arena(
                space=args.space,
                device=device,
                strategies=strategies,
                evals=evals,
                seeds=args.seeds,
                data_dir=args.data_dir,
                reference=reference_search(args.reference_evals, args.reference_seeds),
            )
            out = args.out / device
            out.mkdir(parents=True, exist_ok=True)
            (out / "arena.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
            plot_arena(report, out / f"arena_{device}.png")
            reports[device] = report
            err.print(f"{device}: {time.perf_counter() - t0:.1f} s")
    except HwnasError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    total_s = time.perf_counter() - started

    rows = []
    for name in strategies:
        for budget in evals:
            per_device = {
                d: next(r for r in rep["results"] if r["strategy"] == name and r["evals"] == budget)
                for d, rep in reports.items()
            }
            hv = np.array([r["hv_ratio_mean"] for r in per_device.values()])
            regret = np.array([r["regret_mean"] for r in per_device.values()], dtype=float)
            rows.append(
                {
                    "strategy": name,
                    "evals": budget,
                    "seeds": next(iter(per_device.values()))["seeds"],
                    "hv_ratio_mean_over_devices": float(hv.mean()),
                    "hv_ratio_per_device": {d: r["hv_ratio_mean"] for d, r in per_device.items()},
                    "reference_baseline": baselines.get(name, {}).get(budget),
                    "regret_mean_per_quantile": np.nanmean(regret, axis=0).tolist(),
                    "regret_mean": float(np.nanmean(regret)),
                    "seconds_per_device": {d: r["seconds"] for d, r in per_device.items()},
                }
            )
    per_budget_s = {
        budget: max(
            sum(r["seconds"] for r in rep["results"] if r["evals"] == budget)
            for rep in reports.values()
        )
        for budget in evals
    }

    first = next(iter(reports.values()))
    table = Table(
        "strategy",
        "evals",
        "seeds",
        "HV ratio (ours)",
        "reference",
        "Δ",
        *(d for d in devices),
        *(f"R{q * 100:.0f}" for q in QUANTILES),
        "regret",
        box=box.SIMPLE_HEAD,
        title=f"{args.space} ground-truth arena, mean over {len(devices)} devices "
        f"(search: {first['search_accuracy']}, report: {first['report_accuracy']}; "
        f"front: {first['truth']})",
        caption="HV ratio = HV(search front scored with report acc) / HV(true report front); "
        "R<q> = mean regret (accuracy points) under the budget at latency quantile q; "
        "reference = the protocol's baseline, mean over its 6 devices (benchmarks/PROTOCOLS.md)",
    )
    for row in rows:
        ref = row["reference_baseline"]
        mine = row["hv_ratio_mean_over_devices"]
        table.add_row(
            row["strategy"],
            str(row["evals"]),
            str(row["seeds"]),
            f"{mine:.3f}",
            "-" if ref is None else f"{ref:.3f}",
            "-" if ref is None else f"{mine - ref:+.3f}",
            *(f"{row['hv_ratio_per_device'][d]:.3f}" for d in devices),
            *(f"{r:.2f}" for r in row["regret_mean_per_quantile"]),
            f"{row['regret_mean']:.2f}",
        )
    console.print(table)
    timing = ", ".join(f"{b} evals: {s:.1f} s" for b, s in per_budget_s.items())
    console.print(
        f"wall time for one device and one budget, all strategies and seeds (slowest device): "
        f"{timing}; total {total_s:.0f} s"
    )
    summary = {
        "protocol": next(iter(reports.values()))["protocol"] if reports else "",
        "space": args.space,
        "devices": devices,
        "truth": first["truth"],
        "reference": first["reference"],
        "reference_baselines": baselines,
        "rows": rows,
        "seconds_per_device_and_budget_max": per_budget_s,
        "seconds_total": total_s,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "arena_summary.json").write_text(json.dumps(jsonable(summary), indent=2) + "\n")
    console.print(f"wrote {args.out / 'arena_summary.json'} and per-device JSON/PNG")
    return 0


if __name__ == "__main__":
    sys.exit(main())
