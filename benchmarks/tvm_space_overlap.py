"""Benchmark: a tvm-cpu HURRICANE space from rule-based latencies, and how tuning changes it.

Protocol (printed with the results):

1. ``hwnas space generate --target tvm-cpu -t mode=rules -o profile=tiny`` is
   run as a user runs it (fresh store, every cell measured with the rule-based
   schedules), timed wall-clock with the load average before and after (goal:
   under 5 minutes).
2. The tuned space, as a user gets it without tuning every cell:
   ``hwnas space generate --target tvm-cpu -t mode=tuned,trials=64,max_trials_per_task=8
   --reference tvm-cpu:mode=rules --measure N --calibrate 0`` in the same store:
   N cells are tuned (MetaSchedule, at most 8 trials per task, one shared
   database) and measured (``measured-tuned``); every other cell is its
   rule-based measurement times the tuning speed-up learned from those N
   (``predicted``). The rule-based cells are reused from step 1.
3. Kept ops are compared per layer (overlap = shared kept ops / kept ops).

    python benchmarks/tvm_space_overlap.py --measure 24
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hwnas.cpus import load_average

console = Console(width=140)
TUNED = ["-t", "mode=tuned", "-t", "trials=64", "-t", "max_trials_per_task=8"]


def generate(store: Path, out: Path, *extra: str) -> tuple[dict, dict]:
    """Run ``hwnas space generate`` as a user would; return the space JSON and the timing."""
    out.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "hwnas", "space", "generate", "--target", "tvm-cpu",
        "-o", "profile=tiny", "--store", str(store), "--out", str(out), "--no-progress", *extra,
    ]  # fmt: skip
    before = load_average()
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    timing = {
        "command": "hwnas " + " ".join(command[3:]),
        "wall_s": round(time.perf_counter() - start, 1),
        "load_average": {"before": before, "after": load_average()},
    }
    return json.loads(out.read_text()), timing


def sources(space: dict) -> dict[str, int]:
    """How many cells of the space come from each source."""
    return dict(Counter(s["source"] for layer in space["layers"] for s in layer["scores"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", type=int, default=24, help="cells tuned and measured")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hwnas-space-overlap"))
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/tvm_space_overlap.json")
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    store = args.work / "store.sqlite"
    store.unlink(missing_ok=True)
    rules, rules_timing = generate(store, args.work / "space-rules.json", "-t", "mode=rules")
    console.print(f"space generate (rules): {rules_timing['wall_s']:.1f} s, "
                  f"load {rules_timing['load_average']}")  # fmt: skip
    tuned, tuned_timing = generate(
        store, args.work / "space-tuned.json", *TUNED, "--reference", "tvm-cpu:mode=rules",
        "--measure", str(args.measure), "--calibrate", "0",
    )  # fmt: skip
    console.print(f"space generate (tuned, {args.measure} cells tuned): {tuned_timing['wall_s']}"
                  f" s, load {tuned_timing['load_average']}")  # fmt: skip
    rows = []
    for a, b in zip(rules["layers"], tuned["layers"], strict=True):
        rows.append({"layer": a["index"], "rules": a["ops"], "tuned": b["ops"],
                     "overlap": len(set(a["ops"]) & set(b["ops"])) / len(a["ops"])})  # fmt: skip
    mean = sum(r["overlap"] for r in rows) / len(rows)
    view = Table("layer", "kept (rules, measured-rules)", "kept (tuned space)", "overlap",
                 title="Kept ops per layer")  # fmt: skip
    for r in rows:
        view.add_row(str(r["layer"]), " ".join(r["rules"]), " ".join(r["tuned"]),
                     f"{r['overlap']:.2f}")  # fmt: skip
    console.print(view)
    report = {
        "space_generate_rules": rules_timing,
        "space_generate_tuned": tuned_timing,
        "cells_rules": sources(rules),
        "cells_tuned": sources(tuned),
        "reference_fill": tuned["notes"].get("fill"),
        "layers": rows,
        "mean_overlap": mean,
    }
    console.print(f"cells: rules space {report['cells_rules']}, tuned space "
                  f"{report['cells_tuned']}; mean kept-op overlap {mean:.3f}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    console.print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
