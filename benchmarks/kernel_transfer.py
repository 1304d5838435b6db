"""Benchmark: kernel latency of a new target predicted from the other targets' measurements.

Protocol (benchmarks/PROTOCOLS.md "Kernel latency across targets"):

1. Every distinct (layer, op) workload of the ``hurricane`` space (small
   profile, batch 1; 224) plus the stem and head is measured on every live
   target of this machine (default: onnxruntime, openvino, torch, tvm-cpu
   default and tvm-cpu rules, one thread each). Run A measures all targets,
   then run B measures them all again (fresh stores, fresh worker processes,
   later in time). Run B vs run A on the held-out workloads is the
   REPEATABILITY CEILING.
2. Leave one target out: the held-out target is the "new" one; the other
   targets' run-A tables are the references. At 10%, 20% and 30% of its
   layer workloads measured (stem and head always), chosen by
   - active sampling (:func:`hwnas.predict.active_sample`, replaying run A),
   - uniform random sampling (``default_rng(seed)``),
   - the greedy cover of primitive instances (``coverage_sample``),
   - the greedy Bayesian V-optimal design for the primitive-instance model
     (``design_sample``, what ``--measure N`` uses),
   three predictors are scored on the workloads not measured, against run A:
   - per-target: :class:`hwnas.predict.KernelPredictor` on the measured ones,
   - cross-target: :class:`hwnas.predict.CrossTargetPredictor`, the same
     measurements plus the references' full tables,
   - FLOPs x one constant.
   Mean over seeds; then the mean over held-out targets.

    nice -n 19 python benchmarks/kernel_transfer.py --store-dir /tmp/kt
    python benchmarks/kernel_transfer.py --tables benchmarks/results/kernel_transfer.json

The output JSON keeps both runs' tables (``tables``: {target: {a|b: {key: ms}}}),
so ``--tables`` re-scores them without measuring again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from hwnas.cli.common import parse_target_spec
from hwnas.cpus import load_average
from hwnas.errors import HwnasError
from hwnas.host_speed import sample_host, summarise
from hwnas.predict import CrossTargetPredictor, KernelPredictor, PredictorParams, active_sample
from hwnas.predict.active import coverage_sample, design_sample, multiplicities
from hwnas.predict.metrics import accuracy_report
from hwnas.profile import probe_target, profile_workloads
from hwnas.spaces.hurricane.ops import OP_NAMES
from hwnas.spaces.hurricane.primitive_workloads import primitive_workloads
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.store import LatencyStore
from hwnas.timing import TimingProtocol

console = Console(width=160)
DEFAULT_TARGETS = (
    "onnxruntime",
    "openvino",
    "torch",
    "tvm-cpu:mode=default,threads=1",
    "tvm-cpu:mode=rules,threads=1",
)
FRACTIONS = (0.1, 0.2, 0.3)
ARMS = ("active", "random", "coverage", "design")


def space_workloads():
    """Distinct layer workloads, fixed workloads and the cell multiplicity of each key."""
    space = HurricaneSpace()
    cells = [space.layer_workload(i, op) for i in range(len(space.layers)) for op in OP_NAMES]
    unique = list({w.key: w for w in cells}.values())
    return unique, list(space.fixed_workloads().values()), multiplicities(cells)


def measure_all(targets, groups: dict, store_dir: Path, protocol) -> dict:
    """Run A on every target, then run B on every target; returns {label: {run: {key: ms}}}.

    ``groups`` maps a name to workloads (``ops``: the layer and fixed workloads;
    ``primitives``: their primitive instances); each group's wall seconds are kept
    apart (``seconds[label][run]`` for ops, ``[run + "_primitives"]``) and every
    key lands in one table per run.
    """
    tables: dict[str, dict[str, dict[str, float]]] = {label: {} for label, _, _ in targets}
    seconds: dict[str, dict[str, float]] = {label: {} for label, _, _ in targets}
    samples = [sample_host()]
    for run in ("a", "b"):
        store = LatencyStore(store_dir / f"kernels_{run}.sqlite")
        for label, name, options in targets:
            tables[label][run] = {}
            for group, workloads in groups.items():
                console.print(f"[bold]{label}[/bold] run {run.upper()}: {len(workloads)} {group}")
                start = time.perf_counter()
                result = profile_workloads(name, options, workloads, store, protocol)
                seconds[label][run if group == "ops" else f"{run}_{group}"] = (
                    time.perf_counter() - start
                )
                tables[label][run].update(
                    {k: float(m.median_ms) for k, m in result.results.items() if m.ok}
                )
        samples.append(sample_host())
    return {"tables": tables, "seconds": seconds, "host": host_report(samples)}


def host_report(samples) -> dict:
    """The host probes before run A, between the runs and after run B, and any warning."""
    report = summarise(samples)
    console.print(f"host: {report['overall']}")
    if report["warning"]:
        console.print(f"[red]{report['warning']}[/red]")
    return report


def available_targets(specs) -> tuple[list, dict]:
    """(label, name, options) of the specs whose target is available; reasons for the others."""
    ok, missing = [], {}
    for spec in specs:
        label, name, options = parse_target_spec(spec)
        try:
            probe_target(name, options)
        except HwnasError as exc:
            missing[label] = str(exc)
            console.print(f"[red]{label}: unavailable: {exc}[/red]")
            continue
        ok.append((label, name, options))
    return ok, missing


def chosen_keys(arm, seed, layer_keys, by_key, fixed_known, truth, n_train, weight) -> set[str]:
    """The layer keys one arm measures (the fixed ones are always measured)."""
    if arm == "active":
        result = active_sample(
            [by_key[k] for k in layer_keys],
            n_train,
            lambda ws: {w.key: truth[w.key] for w in ws if w.key in truth},
            known=fixed_known,
            weight=weight,
            params=PredictorParams(seed=seed),
        )
        return set(result.measured)
    if arm == "coverage":
        return set(coverage_sample([by_key[k] for k in layer_keys], n_train, seed))
    if arm == "design":
        return set(design_sample([by_key[k] for k in layer_keys], n_train, seed))
    rng = np.random.default_rng(seed)
    return set(rng.choice(sorted(layer_keys), n_train, replace=False).tolist())


def held_out_scores(label, tables, by_key, layer_keys, fixed_keys, weight, args) -> dict:
    """Per fraction and arm: scores of the three predictors and the ceiling (mean of seeds)."""
    truth, second = tables[label]["a"], tables[label]["b"]
    references = {other: t["a"] for other, t in tables.items() if other != label and t.get("a")}
    layer = [k for k in layer_keys if k in truth]
    fixed = [k for k in fixed_keys if k in truth]
    fixed_known = {k: (by_key[k].features, truth[k]) for k in fixed}
    features = {k: w.features for k, w in by_key.items()}
    out: dict = {}
    for fraction in FRACTIONS:
        n_train = round(fraction * len(layer))
        for arm in ARMS:
            runs: dict[str, list] = {"per_target": [], "cross_target": [], "flops": []}
            runs["ceiling"] = []
            choices = []
            for seed in range(args.seeds):
                keys = chosen_keys(arm, seed, layer, by_key, fixed_known, truth, n_train, weight)
                train = sorted(keys | set(fixed))
                held = [k for k in layer if k not in keys]
                actual = [truth[k] for k in held]
                per = KernelPredictor(PredictorParams(seed=seed)).fit(
                    [by_key[k].features for k in train], [truth[k] for k in train], train
                )
                runs["per_target"].append(
                    accuracy_report(per.predict([by_key[k].features for k in held]).ms, actual)
                )
                cross = CrossTargetPredictor(references, seed=seed, workloads=features).fit(
                    train, [by_key[k].features for k in train], [truth[k] for k in train]
                )
                choices.append(cross.choice)
                runs["cross_target"].append(
                    accuracy_report(cross.predict(held, [by_key[k].features for k in held]), actual)
                )
                flops = np.array([by_key[k].features["flops"] for k in train], dtype=float)
                c = np.exp(np.mean(np.log(np.array([truth[k] for k in train]) / flops)))
                runs["flops"].append(
                    accuracy_report([c * by_key[k].features["flops"] for k in held], actual)
                )
                both = [k for k in held if k in second]
                runs["ceiling"].append(
                    accuracy_report([second[k] for k in both], [truth[k] for k in both])
                )
            row = {name: _mean(reports) for name, reports in runs.items()}
            row["train_workloads"] = n_train
            row["cross_choices"] = {c: choices.count(c) for c in sorted(set(choices))}
            out[f"{fraction:.1f}/{arm}"] = row
    return out


def _mean(reports: list[dict]) -> dict:
    keys = [k for k in reports[0] if isinstance(reports[0][k], (int, float))]
    return {k: float(np.nanmean([r[k] for r in reports])) for k in keys}


def print_scores(scores: dict) -> None:
    """One table: held-out target x fraction x arm, within +-10% of each predictor."""
    t = Table(
        "held-out target",
        "measured",
        "arm",
        "per-target",
        "cross-target",
        "FLOPs x c",
        "ceiling B vs A",
        "cross - ceiling",
        "cross SRCC",
        "cross choice",
        title="Kernel latency, leave one target out: share of held-out workloads within +-10%",
    )
    for label, rows in scores.items():
        for key, row in rows.items():
            fraction, arm = key.split("/")
            w = {
                name: 100 * row[name]["within_10"]
                for name in ("per_target", "cross_target", "flops", "ceiling")
            }
            t.add_row(
                label,
                f"{100 * float(fraction):.0f}% ({row['train_workloads']})",
                arm,
                f"{w['per_target']:.1f}%",
                f"{w['cross_target']:.1f}%",
                f"{w['flops']:.1f}%",
                f"{w['ceiling']:.1f}%",
                f"{w['cross_target'] - w['ceiling']:+.1f}",
                f"{row['cross_target']['spearman']:.3f}",
                ", ".join(f"{c} x{n}" for c, n in row["cross_choices"].items()),
            )
        t.add_section()
    console.print(t)


def summary(scores: dict) -> dict:
    """Mean over held-out targets per fraction and arm, and the gaps the issue asks for."""
    out: dict = {}
    keys = next(iter(scores.values())).keys()
    for key in keys:
        rows = [rows[key] for rows in scores.values()]
        out[key] = {
            name: float(np.mean([r[name]["within_10"] for r in rows]))
            for name in ("per_target", "cross_target", "flops", "ceiling")
        }
        out[key]["worst_gap_to_ceiling"] = float(
            min(r["cross_target"]["within_10"] - r["ceiling"]["within_10"] for r in rows)
        )
    return out


def goals(scores: dict) -> dict:
    """Per target and arm: cross at 30% minus the ceiling, cross at 10% minus per-target at 30%."""
    out: dict = {}
    for label, rows in scores.items():
        for arm in ARMS:
            hi, lo = rows.get(f"0.3/{arm}"), rows.get(f"0.1/{arm}")
            if hi is None or lo is None:
                continue
            out.setdefault(label, {})[arm] = {
                "cross_30_minus_ceiling": hi["cross_target"]["within_10"]
                - hi["ceiling"]["within_10"],
                "cross_10_minus_per_target_30": lo["cross_target"]["within_10"]
                - hi["per_target"]["within_10"],
            }
    return out


def print_goals(result: dict) -> None:
    """The two kernel-level goals, per held-out target."""
    t = Table(
        "held-out target",
        "arm",
        "cross 30% - ceiling (goal >= -2)",
        "cross 10% - per-target 30% (goal > 0)",
        title="Goals (points of within +-10%)",
    )
    for label, arms in result.items():
        for arm, row in arms.items():
            t.add_row(
                label,
                arm,
                f"{100 * row['cross_30_minus_ceiling']:+.1f}",
                f"{100 * row['cross_10_minus_per_target_30']:+.1f}",
            )
    console.print(t)


def print_summary(means: dict) -> None:
    """Means over the held-out targets."""
    t = Table(
        "measured / arm",
        "per-target",
        "cross-target",
        "FLOPs x c",
        "ceiling",
        "worst target: cross - ceiling",
        title="Mean over held-out targets (within +-10%)",
    )
    for key, row in means.items():
        t.add_row(
            key,
            *(f"{100 * row[n]:.1f}%" for n in ("per_target", "cross_target", "flops", "ceiling")),
            f"{100 * row['worst_gap_to_ceiling']:+.1f} points",
        )
    console.print(t)


def measuring_run(run: dict) -> dict:
    """The timings and load averages of the run that measured the tables.

    A re-score of saved tables records the run it read; that run may itself be
    a re-score, so this follows the records back to the run that measured.
    """
    while "measurement_run" in run:
        run = run["measurement_run"]
    return {k: run[k] for k in ("measure_seconds", "load_average") if k in run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", action="append", help="Target spec (repeat); default: all.")
    parser.add_argument("--store-dir", help="Keep (and reuse) the run A/B stores.")
    parser.add_argument("--out", default="benchmarks/results/kernel_transfer.json")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--measure-only", action="store_true")
    parser.add_argument(
        "--primitives",
        action="store_true",
        help="Also measure the ops' primitive instances (pointwise/depthwise convs, SE blocks).",
    )
    parser.add_argument(
        "--tables",
        help="Score the run A/B tables saved in this JSON (a previous run's output) instead "
        "of measuring; its timings and load averages are copied into the output.",
    )
    parser.add_argument(
        "--measured-run",
        help="JSON of the --measure-only run that filled --store-dir (its timings and load "
        "averages are copied into the output: this run then only reads the stores).",
    )
    args = parser.parse_args()
    if not (args.store_dir or args.tables):
        parser.error("give --store-dir (measure) or --tables (score saved tables)")
    console.print(__doc__, highlight=False)
    started = time.perf_counter()
    before = load_average()
    console.print(f"load average before: {before}")
    targets, missing = available_targets(args.target or DEFAULT_TARGETS)
    unique, fixed, weight = space_workloads()
    if args.tables:
        saved = json.loads(Path(args.tables).read_text())
        measured = {
            "tables": saved["tables"],
            "seconds": saved["measure_seconds"],
            "host": saved.get("host"),
        }
        targets = [t for t in targets if t[0] in measured["tables"]]
        args.measured_run = args.measured_run or args.tables
    else:
        store_dir = Path(args.store_dir)
        store_dir.mkdir(parents=True, exist_ok=True)
        groups = {"ops": [*unique, *fixed]}
        if args.primitives:
            groups["primitives"] = primitive_workloads(unique)
        measured = measure_all(targets, groups, store_dir, TimingProtocol())
    after_measuring = load_average()
    console.print(f"load average after measuring: {after_measuring}")
    result: dict = {
        "protocol": __doc__,
        "targets": [label for label, _, _ in targets],
        "unavailable": missing,
        "measure_seconds": measured["seconds"],
        "load_average": {"before": before, "after_measuring": after_measuring},
        "tables": measured["tables"],
        "host": measured.get("host"),
    }
    if args.measured_run:
        result["measurement_run"] = measuring_run(json.loads(Path(args.measured_run).read_text()))
    if not args.measure_only:
        by_key = {w.key: w for w in [*unique, *fixed]}
        layer_keys = [w.key for w in unique]
        fixed_keys = [w.key for w in fixed]
        scores = {
            label: held_out_scores(
                label, measured["tables"], by_key, layer_keys, fixed_keys, weight, args
            )
            for label, _, _ in targets
        }
        print_scores(scores)
        means = summary(scores)
        print_summary(means)
        checks = goals(scores)
        print_goals(checks)
        result.update({"scores": scores, "mean_over_targets": means, "goals": checks})
    result["load_average"]["after"] = load_average()
    result["wall_seconds"] = time.perf_counter() - started
    console.print(f"load average after: {result['load_average']['after']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
