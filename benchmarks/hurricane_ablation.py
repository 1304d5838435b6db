"""HURRICANE ablation on this CPU (hurricane space, ``tiny`` profile, Fashion-MNIST).

A. **Generated spaces per target**: ``hwnas space generate`` for two live
   targets (default ``onnxruntime``, every layer workload measured, and
   ``tvm-cpu`` default mode, ``--second-measure`` workloads measured, the rest
   XGBoost-predicted); the kept ops per layer side by side.
B. **Two-stage vs one-stage**: the ``hurricane`` strategy with t = 8 and t = 0
   on the first target's generated space, same latency limit, same evaluation
   budget, same from-scratch training of the winner. Supernet iterations are
   measured (each stage trains until the panel accuracy stops improving, see
   :mod:`hwnas.plugins.hurricane`), with wall time, the winner's end-to-end
   latency on the target and its test accuracy after training from scratch.
C. **Generated vs hand-designed space**: t = 8 on a fixed space with
   MB_k3_e3, MB_k3_e6, MB_k5_e3, MB_k5_e6 in every layer (ProxylessNAS-like),
   same latency limit: the winner's measured latency and test accuracy.

Runs are resumable: each keeps its folder under ``--workdir``; measurements
live in ``--store``. Run alone (timings are wall-clock on a shared machine).

    python benchmarks/hurricane_ablation.py [--latency-ms 0.6] [--seeds 0 1 2]
        [--parts spaces,stages,fixed] [--out benchmarks/results/hurricane_ablation.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.cli.common import jsonable
from hwnas.cpus import load_average
from hwnas.errors import HwnasError

FIXED_OPS = ["MB_k3_e3", "MB_k3_e6", "MB_k5_e3", "MB_k5_e6"]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="onnxruntime")
    parser.add_argument("--second-target", default="tvm-cpu")
    parser.add_argument("--second-measure", type=int, default=96)
    parser.add_argument("--latency-ms", type=float, default=None)
    parser.add_argument(
        "--latency-quantile",
        type=float,
        default=0.3,
        help="without --latency-ms: this quantile of the generated space's predicted latencies",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--evals", type=int, default=200)
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--chunk-steps", type=int, default=100)
    parser.add_argument("--scratch-epochs", type=float, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 if shared)")
    parser.add_argument("--parts", default="spaces,stages,fixed")
    parser.add_argument("--variants", default="two-stage,one-stage,fixed-space")
    parser.add_argument("--store", default="benchmarks/results/hurricane.sqlite")
    parser.add_argument("--workdir", default="runs/hurricane_ablation")
    parser.add_argument("--out", default="benchmarks/results/hurricane_ablation.json")
    return parser.parse_args(argv)


def space():
    from hwnas.spaces.hurricane.space import HurricaneSpace

    return HurricaneSpace("tiny")


def generated_spaces(args, store) -> dict[str, Any]:
    """Part A: generate the space for both targets; kept ops per layer side by side."""
    from hwnas.plugins.hurricane.space_generation import build_generated_space

    out = {}
    for target, measure in ((args.target, None), (args.second_target, args.second_measure)):
        started = time.perf_counter()
        gen, model = build_generated_space(
            target, {}, space(), store, 0.5, 4, 4, measure, 5, show_progress=True
        )
        path = gen.save(Path(args.workdir) / f"space-{target}.json")
        summary = model.summary()
        out[target] = {
            "path": str(path),
            "ops": gen.ops,
            "exploring": gen.exploring,
            "a_win0": gen.initial_winner(),
            "size": gen.size,
            "measured_cells": gen.notes["latency_cells_measured"],
            "cells": gen.notes["latency_cells"],
            "fastest_ms_generated": gen.notes["fastest_ms_generated"],
            "fastest_ms_full": gen.notes["fastest_ms_full"],
            "overhead": summary["overhead"],
            "seconds": time.perf_counter() - started,
        }
    a, b = (out[t]["ops"] for t in (args.target, args.second_target))
    out["differing_layers"] = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    out["shared_ops_per_layer"] = [len(set(x) & set(y)) for x, y in zip(a, b, strict=True)]
    return out


def run(args, store, variant: str, t: int, seed: int, generated: str | None) -> dict[str, Any]:
    """One hurricane search; the row the tables are built from."""
    from hwnas.live_latency import MeasuredLatencyModel
    from hwnas.manager import get_plugin_manager
    from hwnas.plugins.hurricane.accuracy import OneShotAccuracy
    from hwnas.plugins.hurricane.strategy import Hurricane
    from hwnas.problem import Problem

    search_space = space()
    workdir = Path(args.workdir) / f"{variant}-seed{seed}"
    strategy = Hurricane(
        t=t,
        generated=generated,
        workdir=str(workdir),
        max_steps=args.max_steps,
        chunk_steps=args.chunk_steps,
        scratch_epochs=args.scratch_epochs,
        threads=args.threads,
    )
    problem = Problem(
        search_space,
        MeasuredLatencyModel(args.target, search_space, store, {}),
        OneShotAccuracy(),
        budget=args.evals,
        seed=seed,
        latency_limit_ms=args.latency_ms,
        strategy_name="hurricane",
        plugin_manager=get_plugin_manager(),
    )
    started = time.perf_counter()
    result = strategy.search(problem)
    extra = result.extra
    final = extra["final"]
    return {
        "variant": variant,
        "t": t,
        "seed": seed,
        "stages": extra["stages"],
        "supernet_steps": extra["supernet_steps"],
        "supernet_seconds": extra["supernet_seconds"],
        "search_seconds": sum(s["search_seconds"] for s in extra["stages"]),
        "evaluations": result.evaluations,
        "arch": final["arch"],
        "latency_ms": final["latency_ms"],
        "latency_source": final["latency_source"],
        "predicted_latency_ms": final["predicted_latency_ms"],
        "test_accuracy": final["scratch"]["test_accuracy"],
        "scratch_seconds": final["scratch"]["seconds"],
        "run_seconds": time.perf_counter() - started,
        "space_size": extra["generated_space"]["size"],
    }


def quantile_limit(args, store) -> float:
    """The latency limit: a quantile of 2,000 random architectures of the generated space."""
    from hwnas.plugins.hurricane.space_generation import GeneratedSpace
    from hwnas.predict.build import layer_latency_model

    gen = GeneratedSpace.load(Path(args.workdir) / f"space-{args.target}.json")
    model = layer_latency_model(args.target, {}, space(), store, measure=0, calibrate=5)
    rng = np.random.default_rng(0)
    gspace = gen.space()
    ms = model.latencies([gspace.sample(rng) for _ in range(2000)])
    limit = float(np.quantile(ms, args.latency_quantile))
    print(f"latency limit: {limit:.3f} ms = {args.latency_quantile:.0%} quantile of the space")
    return limit


def fixed_space_file(args, store) -> str:
    """The hand-designed space (FIXED_OPS in every layer), scored on the first target."""
    from hwnas.plugins.hurricane.space_generation import fixed_space
    from hwnas.predict.build import layer_latency_model, layer_table

    full = space()
    model = layer_latency_model(args.target, {}, full, store, calibrate=5)
    gen = fixed_space(full, FIXED_OPS, layer_table(model, full), args.target, model.fingerprint_key)
    return str(gen.save(Path(args.workdir) / "space-fixed.json"))


def print_spaces(spaces: dict[str, Any], first: str, second: str) -> None:
    print("\nA. Generated spaces (alpha 0.5, p 4, exploring op in the last 4 layers)")
    print(f"{'layer':>5}  {first:<48} {second:<48} shared")
    for i, (a, b) in enumerate(zip(spaces[first]["ops"], spaces[second]["ops"], strict=True)):
        print(f"{i:>5}  {','.join(a):<48} {','.join(b):<48} {len(set(a) & set(b))}")
    for target in (first, second):
        s = spaces[target]
        print(
            f"{target}: {s['size']:.3g} architectures, cells measured {s['measured_cells']}/"
            f"{s['cells']}, fastest {s['fastest_ms_generated']:.3f} ms (full space "
            f"{s['fastest_ms_full']:.3f} ms), a_win0 {','.join(s['a_win0'][:4])}..."
        )
    print(f"layers where the kept ops differ: {len(spaces['differing_layers'])} of 20")


def print_runs(rows: list[dict[str, Any]], limit: float) -> None:
    print(f"\nB/C. hurricane runs at {limit} ms (latency of the winner measured end to end)")
    head = (
        f"{'variant':<12}{'seed':>5}{'steps':>14}{'train s':>9}{'search s':>9}"
        f"{'lat ms':>8}{'pred ms':>8}{'test acc':>9}"
    )
    print(head)
    for r in rows:
        steps = "+".join(str(s["steps"]) for s in r["stages"])
        print(
            f"{r['variant']:<12}{r['seed']:>5}{steps:>14}{r['supernet_seconds']:>9.0f}"
            f"{r['search_seconds']:>9.0f}{r['latency_ms']:>8.3f}{r['predicted_latency_ms']:>8.3f}"
            f"{r['test_accuracy']:>9.2f}"
        )


#: Stage-1 panel accuracies (percent) whose first crossing is reported per run.
PANEL_THRESHOLDS = (30.0, 45.0)


def steps_to_panel(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant: supernet steps until stage 1's panel first reaches each threshold.

    The plateau rule decides when a stage stops; this asks how fast each space
    trains, at equal steps (None: not reached within the run).
    """
    out: dict[str, Any] = {}
    for r in rows:
        stage = r["stages"][0]
        chunk = stage["steps"] / max(1, len(stage["panel_accuracy"]))
        for threshold in PANEL_THRESHOLDS:
            hit = next(
                (i for i, acc in enumerate(stage["panel_accuracy"]) if acc >= threshold), None
            )
            steps = None if hit is None else round((hit + 1) * chunk)
            key = f"{threshold:g}%"
            out.setdefault(r["variant"], {}).setdefault(key, []).append(
                {"seed": r["seed"], "steps": steps, "trained": stage["steps"]}
            )
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means per variant and the ratios the paper reports."""
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    means = {
        v: {
            "supernet_steps": float(np.mean([r["supernet_steps"] for r in rs])),
            "stage1_steps": float(np.mean([r["stages"][0]["steps"] for r in rs])),
            "stage2_steps": float(
                np.mean([r["stages"][1]["steps"] if len(r["stages"]) > 1 else 0 for r in rs])
            ),
            "supernet_seconds": float(np.mean([r["supernet_seconds"] for r in rs])),
            "test_accuracy": float(np.mean([r["test_accuracy"] for r in rs])),
            "latency_ms": float(np.mean([r["latency_ms"] for r in rs])),
            "runs": len(rs),
        }
        for v, rs in by.items()
    }
    out: dict[str, Any] = {"means": means, "steps_to_panel": steps_to_panel(rows)}
    if "two-stage" in means and "one-stage" in means:
        two, one = means["two-stage"], means["one-stage"]
        out["stage1_iteration_cut_pct"] = 100 * (1 - two["stage1_steps"] / one["supernet_steps"])
        out["stage2_added_pct"] = 100 * two["stage2_steps"] / one["supernet_steps"]
        out["total_iteration_ratio"] = two["supernet_steps"] / one["supernet_steps"]
        out["accuracy_delta_points"] = two["test_accuracy"] - one["test_accuracy"]
    if "two-stage" in means and "fixed-space" in means:
        out["generated_minus_fixed_accuracy"] = (
            means["two-stage"]["test_accuracy"] - means["fixed-space"]["test_accuracy"]
        )
    return out


def print_summary(summary: dict[str, Any]) -> None:
    print("\nmeans per variant")
    for v, m in summary["means"].items():
        print(
            f"  {v:<12} steps {m['supernet_steps']:.0f} (stage 1 {m['stage1_steps']:.0f}, "
            f"stage 2 {m['stage2_steps']:.0f}), {m['supernet_seconds']:.0f} s, "
            f"latency {m['latency_ms']:.3f} ms, test {m['test_accuracy']:.2f}% ({m['runs']} runs)"
        )
    if "stage1_iteration_cut_pct" in summary:
        print(
            f"stage 1 vs one-stage iterations: {summary['stage1_iteration_cut_pct']:+.1f}% cut "
            "(paper 60-77.5%); stage 2 adds "
            f"{summary['stage2_added_pct']:.1f}% (paper 4-8.8%); two-stage/one-stage "
            f"iterations {summary['total_iteration_ratio']:.2f}; accuracy "
            f"{summary['accuracy_delta_points']:+.2f} points (paper +0.14 to +1.06)"
        )
    print("stage-1 supernet steps until the panel first reaches (per seed; '>N' = not within N)")
    for variant, by_threshold in summary.get("steps_to_panel", {}).items():
        cells = [
            f"{key}: "
            + ", ".join(str(x["steps"]) if x["steps"] else f">{x['trained']}" for x in runs)
            for key, runs in by_threshold.items()
        ]
        print(f"  {variant:<12} " + "; ".join(cells))
    if "generated_minus_fixed_accuracy" in summary:
        print(
            "generated - hand-designed space, test accuracy: "
            f"{summary['generated_minus_fixed_accuracy']:+.2f} points"
        )


def main(argv=None) -> int:
    from hwnas.store import LatencyStore

    args = parse_args(argv)
    parts = set(args.parts.split(","))
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    store = LatencyStore(args.store)
    out_path = Path(args.out)
    report: dict[str, Any] = json.loads(out_path.read_text()) if out_path.exists() else {}
    report["protocol"] = __doc__
    report["settings"] = {k: v for k, v in vars(args).items()}
    report["load_average"] = {"before": load_average()}
    print(f"load average before: {report['load_average']['before']}")

    def save() -> None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(jsonable(report), indent=1) + "\n")

    try:
        if "spaces" in parts:
            report["spaces"] = generated_spaces(args, store)
            save()
            print_spaces(report["spaces"], args.target, args.second_target)
        if args.latency_ms is None:
            args.latency_ms = quantile_limit(args, store)
            report["settings"]["latency_ms"] = args.latency_ms
        rows = list(report.get("runs", []))
        done = {(r["variant"], r["seed"]) for r in rows}
        generated = str(Path(args.workdir) / f"space-{args.target}.json")
        plan = []
        if "stages" in parts:
            plan += [("two-stage", 8, generated), ("one-stage", 0, generated)]
        if "fixed" in parts:
            plan += [("fixed-space", 8, None)]
        for seed in args.seeds:
            for variant, t, gen in plan:
                if (variant, seed) in done or variant not in args.variants.split(","):
                    continue
                if variant == "fixed-space":
                    gen = fixed_space_file(args, store)
                rows.append(run(args, store, variant, t, seed, gen))
                report["runs"] = rows
                save()
        report["summary"] = summarise(rows)
        report["load_average"]["after"] = load_average()
        print(f"load average after: {report['load_average']['after']}")
        save()
        print_runs(rows, args.latency_ms)
        print_summary(report["summary"])
    except HwnasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"\nwrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
