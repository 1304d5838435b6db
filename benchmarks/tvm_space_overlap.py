"""Benchmark: a tvm-cpu HURRICANE space from rule-based latencies, and how tuning would change it.

Protocol (printed with the results):

1. ``hwnas space generate --target tvm-cpu -t mode=rules -o profile=tiny`` is
   run as a user runs it (fresh store, every cell measured), timed wall-clock
   with the load average before and after (goal: under 5 minutes).
2. A tuned-quality table for the same cells: each cell's measured rule-based
   latency times the tuning speed-up predicted by
   :class:`hwnas.predict.tuned.TunedLatencyPredictor`, trained on the
   workloads ``benchmarks/profile_runtimes.py`` measured both with the rules
   and tuned (its store; 1 thread, MetaSchedule at 8 trials per task). No cell
   of this table is a tuned measurement; the predictor's own accuracy on
   untuned workloads is profile_runtimes' ``tuned_predictor`` figure.
3. The space is generated again from that table with the same alpha, p and
   exploring layers, and the kept ops are compared per layer (overlap =
   shared kept ops / kept ops).

    python benchmarks/tvm_space_overlap.py --profile-store benchmarks/results/profile.sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hwnas.cli.common import parse_target_spec
from hwnas.plugins.hurricane.space_generation import generate_space
from hwnas.predict.tuned import TunedLatencyPredictor
from hwnas.profile import probe_target
from hwnas.spaces.hurricane.generated import GeneratedSpace
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.store import LatencyStore

console = Console(width=140)
RULES = "tvm-cpu:mode=rules,threads=1"
TUNED = "tvm-cpu:mode=tuned,trials=64,max_trials_per_task=8,threads=1"


def generate_with_rules(out_dir: Path) -> tuple[GeneratedSpace, dict]:
    """Run the CLI as a user would; return the space and the timing record."""
    store, space_file = out_dir / "store.sqlite", out_dir / "space-rules.json"
    for path in (store, space_file):
        path.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "hwnas", "space", "generate", "--target", "tvm-cpu",
        "-t", "mode=rules", "-o", "profile=tiny", "--store", str(store),
        "--out", str(space_file), "--no-progress",
    ]  # fmt: skip
    before = [round(x, 2) for x in os.getloadavg()]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    timing = {
        "command": " ".join(command[2:]),
        "wall_s": round(wall, 1),
        "load_average": {"before": before, "after": [round(x, 2) for x in os.getloadavg()]},
    }
    data = json.loads(space_file.read_text())
    return GeneratedSpace.from_dict(data, str(space_file)), timing


def paired_rows(profile_store: Path):
    """Feature dicts, rule-based and tuned ms of the workloads measured both ways."""
    store = LatencyStore(profile_store)
    fps = [probe_target(*parse_target_spec(spec)[1:]).fingerprint_key for spec in (RULES, TUNED)]
    rows = [{r.workload: r for r in store.measurements(fp) if r.measurement.ok} for fp in fps]
    keys = sorted(set(rows[0]) & set(rows[1]))
    features = [rows[0][k].features for k in keys]
    return (
        features,
        [rows[0][k].measurement.median_ms for k in keys],
        [rows[1][k].measurement.median_ms for k in keys],
    )


def tuned_table(rules_space: GeneratedSpace, model: TunedLatencyPredictor):
    """(layer, op) -> predicted tuned ms, from each cell's rule-based ms."""
    space = HurricaneSpace(**rules_space.space_options)
    cells = [(i, s) for i, row in enumerate(rules_space.scores) for s in row]
    features = [space.layer_workload(i, s.op).features for i, s in cells]
    predicted = model.predict(features, [s.ms for _, s in cells])
    table = {(i, s.op): {"ms": float(ms), "source": "predicted"} for (i, s), ms in
             zip(cells, predicted, strict=True)}  # fmt: skip
    return space, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--profile-store", type=Path, default=Path("benchmarks/results/profile.sqlite")
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/hwnas-space-overlap"))
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/tvm_space_overlap.json")
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    features, rules_ms, tuned_ms = paired_rows(args.profile_store)
    if len(features) < 8:
        sys.exit(f"{args.profile_store} has {len(features)} workloads measured with both "
                 "the rules and tuned; run benchmarks/profile_runtimes.py first")  # fmt: skip
    model = TunedLatencyPredictor().fit(features, rules_ms, tuned_ms)
    rules_space, timing = generate_with_rules(args.work)
    console.print(
        f"space generate (rules): {timing['wall_s']:.1f} s, load {timing['load_average']}"
    )
    space, table = tuned_table(rules_space, model)
    tuned_space = generate_space(
        space, table, "tvm-cpu (tuned, predicted)", rules_space.fingerprint,
        rules_space.alpha, rules_space.p, rules_space.explore_layers,
    )  # fmt: skip
    rows = []
    for i, (a, b) in enumerate(zip(rules_space.ops, tuned_space.ops, strict=True)):
        rows.append({"layer": i, "rules": a, "tuned_predicted": b,
                     "overlap": len(set(a) & set(b)) / len(a)})  # fmt: skip
    mean = sum(r["overlap"] for r in rows) / len(rows)
    table_view = Table("layer", "kept (rules, measured)", "kept (tuned, predicted)", "overlap",
                       title="Kept ops per layer")  # fmt: skip
    for r in rows:
        table_view.add_row(str(r["layer"]), " ".join(r["rules"]), " ".join(r["tuned_predicted"]),
                           f"{r['overlap']:.2f}")  # fmt: skip
    console.print(table_view)
    console.print(f"mean kept-op overlap {mean:.3f}; predictor trained on {len(features)} "
                  "workloads tuned at <= 8 trials per task")  # fmt: skip
    report = {"space_generate": timing, "trained_on": len(features), "layers": rows,
              "mean_overlap": mean, "cells": sum(len(r) for r in rules_space.scores)}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    console.print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
