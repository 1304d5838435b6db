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
D. **Spaces at equal latency** (``--parts equal``): on each of
   ``--equal-targets`` (default onnxruntime and openvino), every space of
   :data:`SPACE_VARIANTS` is built from that target's full layer table (every
   cell measured): generated with alpha 0 / 0.25 / 0.5 / 1, alpha 0.5 without
   the capacity-aware exploring op, FLOPs in place of latency in the score
   (hardware-agnostic), the hand-designed space and the full 32-op space. One
   absolute latency limit per target, the same for every space: the
   ``--equal-quantile`` (0.5) of 500 random architectures of each space,
   pooled (layer model), raised to 1.25 x the slowest space's fastest
   architecture so that every space has room under it. Each (target, space,
   seed) runs the two-stage search and trains its winner from scratch for
   ``--equal-epochs`` (default 5) epochs; the table gives the mean test
   accuracy with a 95 % t interval over seeds, the winners' measured latency
   and how many met the limit. A space whose fastest architecture is over the
   limit is reported, not run. Every row starts from a copy of the store as
   it was when the spaces and the limit were fixed (the layer tables and the
   5 calibration networks), so the networks one row measures end to end
   recalibrate only its own layer model: no row depends on the rows run
   before it. Rows are saved one by one and skipped when
   present, so ``--hours H`` runs a slice (no new row starts after H hours)
   and the next call goes on. ``benchmarks/hurricane_remeasure.py`` then
   measures every winner again side by side in one quiet run; the table
   shows those latencies after "again". ``--summarise`` rewrites and prints
   the table from the rows already in ``--out`` without running anything.

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
    parser.add_argument("--equal-targets", default="onnxruntime,openvino")
    parser.add_argument("--equal-epochs", type=float, default=5)
    parser.add_argument(
        "--equal-quantile",
        type=float,
        default=0.5,
        help="part D: this quantile of 500 random architectures of every space, pooled",
    )
    parser.add_argument("--hours", type=float, default=None, help="part D: start no row after")
    parser.add_argument(
        "--summarise",
        action="store_true",
        help="part D: rewrite and print the table from the rows in --out; run nothing",
    )
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


def run(
    args,
    store,
    variant: str,
    t: int,
    seed: int,
    generated: str | None,
    target: str | None = None,
    scratch_epochs: float | None = None,
) -> dict[str, Any]:
    """One hurricane search; the row the tables are built from."""
    from hwnas.live_latency import MeasuredLatencyModel
    from hwnas.manager import get_plugin_manager
    from hwnas.plugins.hurricane.accuracy import OneShotAccuracy
    from hwnas.plugins.hurricane.strategy import Hurricane
    from hwnas.problem import Problem

    search_space = space()
    target = target or args.target
    prefix = "" if target == args.target else f"{target}-"
    workdir = Path(args.workdir) / f"{prefix}{variant}-seed{seed}"
    strategy = Hurricane(
        t=t,
        generated=generated,
        workdir=str(workdir),
        max_steps=args.max_steps,
        chunk_steps=args.chunk_steps,
        scratch_epochs=args.scratch_epochs if scratch_epochs is None else scratch_epochs,
        threads=args.threads,
    )
    problem = Problem(
        search_space,
        MeasuredLatencyModel(target, search_space, store, {}),
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
    if "arch" not in final:  # no measured candidate met the limit: a row without a winner
        best = min(final["candidates"], key=lambda c: c["measured_ms"])
        final = {
            **final,
            "arch": None,
            "latency_ms": best["measured_ms"],
            "predicted_latency_ms": best["predicted_ms"],
            "scratch": {"test_accuracy": None, "seconds": 0.0},
        }
    return {
        "winner": final["arch"] is not None,
        "target": target,
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


#: Part D's limit is at least this times the slowest space's fastest architecture.
EQUAL_MARGIN = 1.25
#: Part D's spaces: generate_space keyword arguments, or the hand-designed / full 32-op space.
SPACE_VARIANTS: dict[str, Any] = {
    "gen-a0": {"alpha": 0.0},
    "gen-a0.25": {"alpha": 0.25},
    "gen-a0.5": {"alpha": 0.5},
    "gen-a1": {"alpha": 1.0},
    "gen-a0.5-no-explore": {"alpha": 0.5, "explore_layers": 0},
    "flops-a0.5": {"alpha": 0.5, "cost": "flops"},
    "hand-designed": FIXED_OPS,
    "full-32": None,
}


def variant_spaces(args, store, target: str) -> tuple[dict[str, Any], float]:
    """Part D: every variant's space file for ``target`` and the target's one latency limit."""
    from hwnas.plugins.hurricane.space_generation import fixed_space, generate_space
    from hwnas.predict.build import fastest_latency_ms, layer_latency_model, layer_table
    from hwnas.spaces.hurricane.ops import OP_NAMES

    full = space()
    model = layer_latency_model(target, {}, full, store, calibrate=5)
    table = layer_table(model, full)
    folder = Path(args.workdir) / "equal" / target
    out, pooled = {}, []
    for name, how in SPACE_VARIANTS.items():
        if isinstance(how, dict):
            gen = generate_space(full, table, target, model.fingerprint_key, **how)
        else:
            gen = fixed_space(full, list(how or OP_NAMES), table, target, model.fingerprint_key)
        reduced = gen.space()
        fastest = fastest_latency_ms(model, reduced)
        rng = np.random.default_rng(0)
        pooled.extend(model.latencies([reduced.sample(rng) for _ in range(500)]))
        out[name] = {
            "path": str(gen.save(folder / f"{name}.json")),
            "file": gen.to_dict(),
            "size": gen.size,
            "ops": gen.ops,
            "fastest_ms": fastest,
            "kept_mflops": [
                float(np.mean([s.flops / 1e6 for s in row if s.op in kept]))
                for row, kept in zip(gen.scores, gen.ops, strict=True)
            ],
            "kept_ms": [
                float(np.mean([s.ms for s in row if s.op in kept]))
                for row, kept in zip(gen.scores, gen.ops, strict=True)
            ],
        }
    quantile = float(np.quantile(pooled, args.equal_quantile))
    limit = max(quantile, EQUAL_MARGIN * max(s["fastest_ms"] for s in out.values()))
    for s in out.values():
        s["feasible"] = s["fastest_ms"] <= limit
    print(
        f"{target}: pooled {args.equal_quantile:.0%} quantile {quantile:.3f} ms, "
        f"slowest space's fastest architecture x {EQUAL_MARGIN} "
        f"{EQUAL_MARGIN * max(s['fastest_ms'] for s in out.values()):.3f} ms"
    )
    return out, limit


def equal_latency(args, store, report, save) -> None:
    """Part D: every (target, space, seed) row, resumable; ``report["equal"]`` holds them."""
    started = time.perf_counter()
    part = report.setdefault("equal", {"rows": [], "targets": {}})
    done = {(r["target"], r["variant"], r["seed"]) for r in part["rows"]}

    def to_run(target: str, name: str, seed: int) -> bool:
        feasible = part["targets"][target]["spaces"][name]["feasible"]
        return feasible and (target, name, seed) not in done

    for target in args.equal_targets.split(","):
        if target in part["targets"]:  # resumed: the same spaces and limit as the first rows
            spaces, limit = part["targets"][target]["spaces"], part["targets"][target]["limit_ms"]
            if not any(to_run(target, name, seed) for seed in args.seeds for name in spaces):
                print(f"{target}: every row is done")
                continue
            same_host(target, spaces)
            setup = setup_store(target, part["targets"][target])
            for info in spaces.values():
                Path(info["path"]).parent.mkdir(parents=True, exist_ok=True)
                Path(info["path"]).write_text(json.dumps(info["file"]))
        else:
            spaces, limit = variant_spaces(args, store, target)
            setup = store.copy_to(Path(args.workdir) / "equal" / target / "setup.sqlite")
            part["targets"][target] = {
                "limit_ms": limit,
                "spaces": spaces,
                "setup_store": str(setup.path),
            }
            save()
        print(f"{target}: limit {limit:.3f} ms for every space")
        for seed in args.seeds:
            for name, info in spaces.items():
                if not to_run(target, name, seed):
                    continue
                if args.hours is not None and time.perf_counter() - started > 3600 * args.hours:
                    print(f"--hours {args.hours} reached: the next call goes on from here")
                    return
                at_limit = argparse.Namespace(**{**vars(args), "latency_ms": limit})
                own = setup.copy_to(setup.path.parent / "rows" / f"{name}-seed{seed}.sqlite")
                load_before = load_average()
                try:
                    row = run(at_limit, own, name, 8, seed, info["path"], target, args.equal_epochs)
                except HwnasError as exc:  # e.g. the limit under the space's fastest
                    print(f"{target} {name} seed {seed}: refused, not counted as run: {exc}")
                    part.setdefault("refused", []).append(
                        {"target": target, "variant": name, "seed": seed, "error": str(exc)}
                    )
                    save()
                    continue
                row["limit_ms"] = limit
                row["store"] = str(own.path)
                row["load_average"] = {"before": load_before, "after": load_average()}
                part["rows"].append(row)
                save()


def setup_store(target: str, info: dict[str, Any]):
    """The copy of the store taken when ``target``'s spaces and limit were fixed."""
    from hwnas.store import LatencyStore

    if "setup_store" not in info:
        raise HwnasError(
            f"part D for {target} in this file was run before rows had stores of their own "
            "(each row was calibrated on the networks earlier rows measured)",
            "pass a new --out (and --workdir) to run it again",
        )
    path = Path(info["setup_store"])
    if not path.exists():
        raise HwnasError(
            f"part D for {target}: the store copy taken at its setup, {path}, is missing",
            "go on from the --workdir it started in, or pass a new --out (and --workdir)",
        )
    return LatencyStore(path)


def same_host(target: str, spaces: dict[str, Any]) -> None:
    """Refuse to resume part D on another CPU: its rows would mix two hosts' latencies."""
    from hwnas.profile import probe_target

    here = probe_target(target, {}).fingerprint_key
    started = {info["file"]["fingerprint"] for info in spaces.values()}
    if started != {here}:
        raise HwnasError(
            f"part D for {target} was started on another host (target fingerprint "
            f"{', '.join(sorted(started))}, here {here}); its rows cannot be mixed",
            "go on where it started, or pass a new --out (and --workdir) to start again here",
        )


def equal_summary(part: dict[str, Any]) -> list[dict[str, Any]]:
    """Per (target, space): mean test accuracy, 95 % t interval over seeds, latencies."""
    from scipy import stats

    out = []
    again = part.get("remeasure", {}).get("ms", {})  # benchmarks/hurricane_remeasure.py
    for target, info in part["targets"].items():
        for name, sp in info["spaces"].items():
            rows = [r for r in part["rows"] if r["target"] == target and r["variant"] == name]
            rejected = [not r.get("winner", True) for r in rows]
            limit = info["limit_ms"]
            acc = np.array(
                [r["test_accuracy"] for r, no in zip(rows, rejected, strict=True) if not no], float
            )
            remeasured = [
                again.get(target, {}).get(r.get("arch") or "", {}).get("median_ms") for r in rows
            ]
            half = (
                float(stats.t.ppf(0.975, len(acc) - 1) * acc.std(ddof=1) / np.sqrt(len(acc)))
                if len(acc) > 1
                else float("nan")
            )
            out.append(
                {
                    "target": target,
                    "space": name,
                    "size": sp["size"],
                    "feasible": sp["feasible"],
                    "fastest_ms": sp["fastest_ms"],
                    "seeds": len(rows),
                    "accuracy": float(acc.mean()) if len(acc) else None,
                    "winners": len(acc),
                    "interval": half,
                    "latency_ms": [r["latency_ms"] for r in rows],
                    "remeasured_ms": remeasured,
                    "within_limit": sum(
                        not no and r["latency_ms"] is not None and r["latency_ms"] <= limit
                        for r, no in zip(rows, rejected, strict=True)
                    ),
                    "within_limit_again": sum(x is not None and x <= limit for x in remeasured),
                    "rejected": rejected,
                    "no_winner": sum(rejected),
                    "accuracies": acc.tolist(),
                    "cost": space_cost(sp, [r.get("arch") for r in rows]),
                }
            )
    for entry in out:
        entry["vs_hand_designed"] = against_hand_designed(entry, out)
    return out


def space_cost(sp: dict[str, Any], archs: list[str | None]) -> dict[str, Any] | None:
    """What a space's ops cost: ops per layer, the mean architecture's MFLOPs and layer-table
    ms (each layer's kept ops equally likely), and each winner's MFLOPs (None: no winner)."""
    if "kept_mflops" not in sp or "file" not in sp:
        return None
    layers = sp["file"]["layers"]
    flops = [{s["op"]: s["flops"] for s in layer["scores"]} for layer in layers]
    return {
        "ops_per_layer": float(np.mean([len(layer["ops"]) for layer in layers])),
        "mean_mflops": float(np.sum(sp["kept_mflops"])),
        "mean_layer_ms": float(np.sum(sp["kept_ms"])),
        "winner_mflops": [
            None
            if not arch
            else sum(table[op] for table, op in zip(flops, arch.split(","), strict=True)) / 1e6
            for arch in archs
        ],
    }


def against_hand_designed(entry: dict[str, Any], summary: list[dict[str, Any]]) -> dict | None:
    """Welch's t test of a space's winner accuracies against the hand-designed space's."""
    from scipy import stats

    hand = [s for s in summary if s["target"] == entry["target"] and s["space"] == "hand-designed"]
    if not hand or entry["space"] == "hand-designed":
        return None
    ours, theirs = entry["accuracies"], hand[0]["accuracies"]
    if len(ours) < 2 or len(theirs) < 2:
        return None
    test = stats.ttest_ind(ours, theirs, equal_var=False)
    low, high = test.confidence_interval(0.95)
    return {
        "difference": float(np.mean(ours) - np.mean(theirs)),
        "interval": [float(low), float(high)],
        "p": float(test.pvalue),
    }


def print_equal(summary: list[dict[str, Any]]) -> None:
    print("\nD. Spaces at equal latency (winner trained from scratch; 95% t interval over seeds)")
    print(f"{'target':<12}{'space':<22}{'size':>10}{'seeds':>6}{'test acc':>16}{'lat ms':>20}")
    for r in summary:
        if not r["feasible"]:
            print(
                f"{r['target']:<12}{r['space']:<22}{r['size']:>10.3g}  "
                f"fastest {r['fastest_ms']:.3f} ms is over the limit"
            )
            continue
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2f} +- {r['interval']:.2f}"
        rejected = r.get("rejected", [False] * len(r["latency_ms"]))
        lat = ", ".join(
            "-" if x is None else f"{x:.3f}" + (" (rejected)" if no else "")
            for x, no in zip(r["latency_ms"], rejected, strict=True)
        )
        remeasured = any(x is not None for x in r.get("remeasured_ms", []))
        if remeasured:
            lat += "; again " + ", ".join(
                "-" if x is None else f"{x:.3f}" for x in r["remeasured_ms"]
            )
        if r["no_winner"]:
            lat += f" ({r['no_winner']} without a winner)"
        lat += f"; within the limit {r['within_limit']}/{r['seeds']}"
        if remeasured:
            lat += f", again {r['within_limit_again']}/{r['seeds']}"
        print(f"{r['target']:<12}{r['space']:<22}{r['size']:>10.3g}{r['seeds']:>6}{acc:>16}  {lat}")
    compared = [r for r in summary if r.get("vs_hand_designed")]
    if compared:
        print("\nAgainst the hand-designed space (Welch t; 95% interval of the difference)")
        for r in compared:
            d = r["vs_hand_designed"]
            low, high = d["interval"]
            print(
                f"{r['target']:<12}{r['space']:<22}{d['difference']:>+7.2f} points  "
                f"[{low:+.2f}, {high:+.2f}]  p {d['p']:.3f}"
            )
    print_costs(summary)


def print_costs(summary: list[dict[str, Any]]) -> None:
    """Why spaces differ: what their ops cost (layer table), and what the winners spent."""
    costed = [r for r in summary if r.get("cost")]
    if not costed:
        return
    print(
        "\nWhat each space's ops cost (mean architecture: each layer's kept ops equally likely;"
        " ms: layer table)"
    )
    print(
        f"{'target':<12}{'space':<22}{'ops/layer':>10}{'mean MFLOPs':>12}{'mean ms':>9}"
        "  winners' MFLOPs"
    )
    for r in costed:
        c = r["cost"]
        winners = ", ".join("-" if x is None else f"{x:.1f}" for x in c["winner_mflops"])
        print(
            f"{r['target']:<12}{r['space']:<22}{c['ops_per_layer']:>10.1f}"
            f"{c['mean_mflops']:>12.1f}{c['mean_layer_ms']:>9.3f}  {winners}"
        )


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


def resummarise(path: Path) -> int:
    """Part D's table recomputed from the rows already in ``path``; nothing is run."""
    report = json.loads(path.read_text()) if path.exists() else {}
    if not report.get("equal", {}).get("rows"):
        print(f"error: {path} has no part D row; run --parts equal first", file=sys.stderr)
        return 2
    report["equal"]["summary"] = equal_summary(report["equal"])
    path.write_text(json.dumps(jsonable(report), indent=1) + "\n")
    print_equal(report["equal"]["summary"])
    print(f"\nwrote {path}")
    return 0


def main(argv=None) -> int:
    from hwnas.store import LatencyStore

    args = parse_args(argv)
    if args.summarise:
        return resummarise(Path(args.out))
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
        if "equal" in parts:
            equal_latency(args, store, report, save)
            report["equal"]["summary"] = equal_summary(report["equal"])
            save()
            print_equal(report["equal"]["summary"])
        if parts.isdisjoint({"stages", "fixed"}):
            report["load_average"]["after"] = load_average()
            save()
            print(f"load average after: {report['load_average']['after']}")
            print(f"\nwrote {out_path}")
            return 0
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
