"""Benchmark: the same HURRICANE workloads measured by every runtime, side by side.

Protocol (printed with the results): >= 60 workloads of the `hurricane` space
(small profile, batch 1) covering all 32 ops and every distinct layer shape;
each target runs in its own isolated worker; workloads are measured
interleaved (workload 1 on every target, then workload 2, ...) so machine noise
hits all targets alike. Reports per target: median compile seconds, median
latency, median coefficient of variation; Spearman rank correlation of op
latencies between targets and between FLOPs and each target; the fastest op
per layer shape for each target; and the speed-up of a second identical run
that finds everything in the latency store. For a ``tuned`` TVM target: the
total tuning time and task counts (tuned, reused from the shared database,
seeded with the rule-based schedule, rules kept as best), and the
tuned-latency predictor (rule-based latency x predicted tuning speed-up,
trained on 30% of the workloads, 5 seeds) scored on the untuned rest against
"rule-based latency x the median speed-up".

    python benchmarks/profile_runtimes.py --out benchmarks/results/profile_runtimes.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from scipy.stats import spearmanr

from hwnas.cli.common import parse_target_spec
from hwnas.cpus import load_average
from hwnas.profile import probe_target
from hwnas.progress import progress_bar
from hwnas.runner import IsolatedTarget
from hwnas.spaces.hurricane.ops import OP_NAMES
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.store import LatencyStore
from hwnas.timing import TimingProtocol

DEFAULT_TARGETS = (
    "onnxruntime",
    "openvino",
    "torch",
    "tvm-cpu:mode=rules,threads=1",
    "tvm-cpu:mode=default,threads=1",
    "tvm-cpu:mode=tuned,trials=64,max_trials_per_task=8,threads=1",
)
#: The runtime every other target's latency is divided by (per workload, then the median).
REFERENCE = "onnxruntime"
console = Console(width=160)


def pick_workloads(space: HurricaneSpace, per_op: int):
    """``per_op`` distinct layer shapes for each of the 32 ops, rotating over all shapes."""
    shapes = {}
    for layer in space.layers:
        shapes.setdefault(space.layer_workload(layer.index, "SEP_k3").key, layer.index)
    layers = sorted(shapes.values())
    chosen = []
    for i, op in enumerate(OP_NAMES):
        for j in range(per_op):
            chosen.append(space.layer_workload(layers[(i + 3 * j) % len(layers)], op))
    return chosen


def measure_interleaved(targets, workloads, store, protocol, timeout_s):
    """One pass over the workloads, each measured on every target in turn; skips stored ones."""
    started = time.perf_counter()
    workers = {label: IsolatedTarget(name, options, timeout_s) for label, name, options in targets}
    results = {label: {} for label, _, _ in targets}
    progress = progress_bar()
    progress.start()
    task = progress.add_task("measuring", total=len(workloads))
    try:
        infos = {label: probe_target(name, options) for label, name, options in targets}
        fps = {label: info.fingerprint_key for label, info in infos.items()}
        for info in infos.values():
            store.register_target(info.fingerprint_key, info.name, info.fingerprint)
        for workload in workloads:
            for label, worker in workers.items():
                stored = store.get(fps[label], workload.key)
                if stored is None:
                    m = worker.measure(workload, protocol)
                    store.put(fps[label], workload.key, m, workload.label, workload.features)
                else:
                    m = stored.measurement
                results[label][workload.key] = m
            progress.update(task, advance=1, description=workload.label)
    finally:
        progress.stop()
        for worker in workers.values():
            worker.stop()
    return results, time.perf_counter() - started


def summarise(targets, workloads, results, first_s, second_s, protocol_text):
    """All figures of the benchmark as one JSON-friendly dict."""
    labels = [label for label, _, _ in targets]
    flops = {w.key: w.features["flops"] for w in workloads}
    per_target = {}
    for label in labels:
        ok = {k: m for k, m in results[label].items() if m.ok}
        per_target[label] = {
            "ok": len(ok),
            "failed": len(results[label]) - len(ok),
            "median_compile_s": statistics.median(m.compile_s for m in ok.values()) if ok else None,
            "median_latency_ms": statistics.median(m.median_ms for m in ok.values())
            if ok
            else None,
            "median_cv": statistics.median(m.cv for m in ok.values()) if ok else None,
            "spearman_vs_flops": _spearman(flops, {k: m.median_ms for k, m in ok.items()}),
            f"median_ratio_to_{REFERENCE}": _median_ratio(results, label),
        }
    pairs = {}
    for a, b in itertools.combinations(labels, 2):
        pairs[f"{a} | {b}"] = _spearman(
            {k: m.median_ms for k, m in results[a].items() if m.ok},
            {k: m.median_ms for k, m in results[b].items() if m.ok},
        )
    return {
        "protocol": protocol_text,
        "workloads": len(workloads),
        "targets": per_target,
        "spearman_between_targets": pairs,
        "best_op_per_shape": _best_ops(labels, workloads, results),
        "first_run_s": first_s,
        "second_run_s": second_s,
        "cache_speedup": first_s / second_s if second_s else None,
    }


def _median_ratio(results, label: str) -> float | None:
    """Median over workloads of this target's latency / the reference runtime's (same run)."""
    reference = results.get(REFERENCE, {})
    ratios = [
        m.median_ms / reference[k].median_ms
        for k, m in results[label].items()
        if m.ok and k in reference and reference[k].ok
    ]
    return statistics.median(ratios) if ratios else None


def check_numerics(targets, workloads) -> dict:
    """Max abs error against torch of every TVM target's output on every workload.

    Compiles each workload in this process (the same compile the measuring
    worker ran) and compares its output on the example input with torch's
    output of the same seeded module; build failures are counted.
    """
    from hwnas.manager import PluginManager
    from hwnas.targets.tvm.common import torch_output

    pm = PluginManager()
    report = {}
    for label, name, options in targets:
        if not name.startswith("tvm-cpu"):
            continue
        target = pm.create("target", name, **options)
        errors, failures = [], 0
        for workload in workloads:
            try:
                output = target.run(target.compile(workload))
            except Exception:  # a build failure is counted, not fatal
                failures += 1
                continue
            errors.append(float(abs(output - torch_output(workload)).max()))
        report[label] = {
            "max_abs_error": max(errors) if errors else None,
            "build_failures": failures,
            "checked": len(errors),
        }
    return report


def tuning_summary(results, label: str) -> dict:
    """Total MetaSchedule time and task counts of a ``tuned`` target over all workloads."""
    reports = [
        m.extra["tvm"]["tuning"]
        for m in results[label].values()
        if m.ok and "tuning" in m.extra.get("tvm", {})
    ]
    keys = ("tasks", "tasks_tuned", "tasks_reused", "tasks_seeded", "tasks_rules_best")
    summary = {key: sum(r.get(key, 0) for r in reports) for key in keys}
    summary["total_tune_s"] = round(sum(r["tune_s"] for r in reports), 1)
    summary["workloads"] = len(reports)
    return summary


def tuned_predictor_report(workloads, results, rules: str, tuned: str, fraction=0.3, seeds=5):
    """The tuned-latency predictor on untuned workloads vs rules x the median speed-up."""
    import numpy as np

    from hwnas.predict.metrics import accuracy_report
    from hwnas.predict.tuned import TunedLatencyPredictor

    both = [w for w in workloads if results[rules][w.key].ok and results[tuned][w.key].ok]
    rules_ms = np.array([results[rules][w.key].median_ms for w in both])
    tuned_ms = np.array([results[tuned][w.key].median_ms for w in both])
    features = [w.features for w in both]
    n_train = max(8, round(fraction * len(both)))
    scores = {"predictor": [], "rules_x_median_speedup": []}
    choices = []
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(both))
        train, test = order[:n_train], order[n_train:]
        model = TunedLatencyPredictor().fit(
            [features[i] for i in train], rules_ms[train], tuned_ms[train]
        )
        predicted = model.predict([features[i] for i in test], rules_ms[test])
        choices.append(model.choice)
        constant = rules_ms[test] * np.median(tuned_ms[train] / rules_ms[train])
        scores["predictor"].append(accuracy_report(predicted, tuned_ms[test]))
        scores["rules_x_median_speedup"].append(accuracy_report(constant, tuned_ms[test]))
    mean = {
        name: {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        for name, rows in scores.items()
    }
    return {"trained_on": n_train, "held_out": len(both) - n_train, "seeds": seeds,
            "choices": choices, **mean}  # fmt: skip


def _spearman(a: dict, b: dict) -> float | None:
    keys = sorted(set(a) & set(b))
    if len(keys) < 3:
        return None
    return float(spearmanr([a[k] for k in keys], [b[k] for k in keys]).statistic)


def _best_ops(labels, workloads, results):
    shapes = {}
    for w in workloads:
        shape = w.key.split("/", 2)[2]  # c{in}-{out}/hw../s../b..
        shapes.setdefault(shape, []).append(w)
    table = {}
    for shape, group in sorted(shapes.items()):
        row = {}
        for label in labels:
            ok = [
                (results[label][w.key].median_ms, w.features["op"])
                for w in group
                if results[label][w.key].ok
            ]
            row[label] = min(ok)[1] if ok else None
        row["fewest_flops"] = min((w.features["flops"], w.features["op"]) for w in group)[1]
        table[shape] = row
    return table


def print_report(report: dict) -> None:
    """The tables a person reads."""
    console.print(f"[bold]Protocol[/bold]: {report['protocol']}", soft_wrap=True)
    table = Table(
        "target",
        "ok",
        "failed",
        "compile s (median)",
        "latency ms (median)",
        f"x {REFERENCE} (median)",
        "CV (median)",
        "SRCC vs FLOPs",
        title="Per target (measured)",
    )
    for label, row in report["targets"].items():
        table.add_row(
            label,
            str(row["ok"]),
            str(row["failed"]),
            _fmt(row["median_compile_s"]),
            _fmt(row["median_latency_ms"]),
            _fmt(row.get(f"median_ratio_to_{REFERENCE}")),
            _fmt(row["median_cv"]),
            _fmt(row["spearman_vs_flops"]),
        )
    console.print(table)
    pairs = Table("pair", "Spearman SRCC", title="Rank correlation of op latencies")
    for pair, value in report["spearman_between_targets"].items():
        pairs.add_row(pair, _fmt(value))
    console.print(pairs)
    labels = list(report["targets"])
    best = Table("layer shape", *labels, "fewest FLOPs", title="Fastest op per layer shape")
    for shape, row in report["best_op_per_shape"].items():
        best.add_row(shape, *(row[label] or "-" for label in labels), row["fewest_flops"])
    console.print(best)
    numerics = Table("target", "workloads", "max abs error vs torch", "build failures")
    for label, row in report.get("numerics", {}).items():
        numerics.add_row(
            label, str(row["checked"]), _fmt_e(row["max_abs_error"]), str(row["build_failures"])
        )
    if report.get("numerics"):
        console.print(numerics)
    console.print(
        f"first run {report['first_run_s']:.1f} s, second identical run "
        f"{report['second_run_s']:.2f} s: cache speed-up {report['cache_speedup']:.0f}x"
    )


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _fmt_e(value) -> str:
    return "-" if value is None else f"{value:.1e}"


def add_tuning_figures(report, targets, workloads, results) -> None:
    """Tuning time and the tuned-latency predictor, when a rules and a tuned target both ran."""
    modes = {options.get("mode", "rules"): label for label, name, options in targets
             if name == "tvm-cpu"}  # fmt: skip
    if "tuned" not in modes:
        return
    report["tuning"] = tuning_summary(results, modes["tuned"])
    if "rules" in modes:
        report["tuned_predictor"] = tuned_predictor_report(
            workloads, results, modes["rules"], modes["tuned"]
        )


def print_tuning(report: dict) -> None:
    """Tuning time and the tuned-latency predictor's scores."""
    if "tuning" in report:
        console.print(f"MetaSchedule: {report['tuning']}", soft_wrap=True)
    scores = report.get("tuned_predictor")
    if not scores:
        return
    table = Table(
        "tuned latency from",
        "SRCC",
        "within +-10%",
        "RMSE(log)",
        title=f"Tuned latency of {scores['held_out']} untuned workloads "
        f"(trained on {scores['trained_on']}, mean of {scores['seeds']} seeds; "
        f"predictor chose {', '.join(scores.get('choices', []))})",
    )
    for name in ("predictor", "rules_x_median_speedup"):
        row = scores[name]
        table.add_row(name, _fmt(row["spearman"]), _fmt(row["within_10"]), _fmt(row["rmse_log"]))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--targets",
        default=";".join(DEFAULT_TARGETS),
        help="semicolon-separated NAME[:k=v,k=v] target specs",
    )
    parser.add_argument("--per-op", type=int, default=2, help="layer shapes per op (2 -> 64)")
    parser.add_argument("--store", type=Path, default=Path("benchmarks/results/profile.sqlite"))
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/profile_runtimes.json")
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--min-repeat-ms", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--fresh", action="store_true", help="delete the store first")
    args = parser.parse_args()
    targets = [parse_target_spec(s) for s in args.targets.split(";") if s]
    space = HurricaneSpace()
    workloads = pick_workloads(space, args.per_op)
    if args.fresh and args.store.exists():
        args.store.unlink()
    store = LatencyStore(args.store)
    protocol = TimingProtocol(repeats=args.repeats, min_repeat_ms=args.min_repeat_ms)
    protocol_text = (
        f"{len(workloads)} hurricane small-profile workloads (all 32 ops x {args.per_op} layer "
        f"shapes), batch 1, interleaved over targets, isolated workers; {protocol.warmup} "
        f"warm-up, {protocol.repeats} repeats of >= {protocol.min_repeat_ms} ms, median; "
        f"re-measured up to {protocol.max_attempts}x if CV > {protocol.max_cv}"
    )
    load_before = load_average()
    console.print(f"load average before: {load_before}")
    results, first_s = measure_interleaved(targets, workloads, store, protocol, args.timeout)
    again, second_s = measure_interleaved(targets, workloads, store, protocol, args.timeout)
    assert again == results, "the second run must reuse the stored measurements"
    report = summarise(targets, workloads, results, first_s, second_s, protocol_text)
    report["load_average"] = {"before": load_before, "after": load_average()}
    report["numerics"] = check_numerics(targets, workloads)
    add_tuning_figures(report, targets, workloads, results)
    console.print(f"load average after: {report['load_average']['after']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print_report(report)
    print_tuning(report)
    console.print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
