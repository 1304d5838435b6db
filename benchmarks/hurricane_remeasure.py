"""Part D's winners measured again, side by side in one quiet run.

Part D of ``benchmarks/hurricane_ablation.py`` runs for many hours in slices,
and each row measures its winner when it ends, so two rows' latencies may
come from different hours of a noisy machine. This script measures every
row's winner again on its target, all in one run: ``--rounds`` rounds, each
with a fresh latency store (nothing reused) and the winners in a new random
order, the median of the rounds per winner. The result goes into the same
JSON (``equal.remeasure``) with the load average before and after, and the
ablation's part D table (``equal.summary``) is rewritten with these latencies
beside the rows' own and how many of them are within the limit.

    python benchmarks/hurricane_remeasure.py \\
        --out benchmarks/results/hurricane_ablation_equal.json [--rounds 3]

Run it alone: a winner is timed on one core, and any other job changes it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.cli.common import jsonable
from hwnas.cpus import load_average
from hwnas.errors import HwnasError


def winners(part: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The rows with a winner, per target."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in part["rows"]:
        if row.get("arch"):
            out.setdefault(row["target"], []).append(row)
    return out


def remeasure(part: dict[str, Any], rounds: int, seed: int = 0) -> dict[str, Any]:
    """Every winner's end-to-end latency (ms), median of ``rounds`` fresh-store rounds."""
    from hurricane_ablation import space  # the ablation's space (this script's folder)

    from hwnas.live_latency import measure_whole
    from hwnas.store import LatencyStore

    full = space()
    rng = np.random.default_rng(seed)
    times: dict[str, dict[str, list[float]]] = {}
    for target, rows in winners(part).items():
        archs = {row["arch"]: full.parse(row["arch"]) for row in rows}
        per_arch = times.setdefault(target, {text: [] for text in archs})
        texts = list(archs)
        for number in range(rounds):
            order = [texts[i] for i in rng.permutation(len(texts))]
            with tempfile.TemporaryDirectory() as folder:
                store = LatencyStore(Path(folder) / "fresh.sqlite")
                print(f"{target}: round {number + 1} of {rounds}, {len(order)} winners")
                measured = measure_whole(target, {}, full, [archs[t] for t in order], store)
            by_text = {full.format(a): ms for a, ms in measured.items()}
            for text in order:
                if text in by_text:
                    per_arch[text].append(by_text[text])
    return {
        target: {
            text: {"median_ms": float(np.median(ms)) if ms else None, "rounds_ms": ms}
            for text, ms in per_arch.items()
        }
        for target, per_arch in times.items()
    }


def print_table(part: dict[str, Any], measured: dict[str, Any]) -> None:
    """Per row: the latency it measured when it ran and the side-by-side one, and the limit."""
    print(f"{'target':<12}{'space':<22}{'seed':>5}{'at run ms':>11}{'again ms':>10}{'limit':>8}")
    for row in part["rows"]:
        if not row.get("arch"):
            continue
        again = measured.get(row["target"], {}).get(row["arch"], {}).get("median_ms")
        limit = part["targets"][row["target"]]["limit_ms"]
        mark = "  over the limit" if again is not None and again > limit else ""
        shown = "-" if again is None else f"{again:.3f}"
        print(
            f"{row['target']:<12}{row['variant']:<22}{row['seed']:>5}"
            f"{row['latency_ms']:>11.3f}{shown:>10}{limit:>8.3f}{mark}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/hurricane_ablation_equal.json")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    path = Path(args.out)
    try:
        if not path.exists():
            raise HwnasError(
                f"{path} does not exist", "run benchmarks/hurricane_ablation.py --parts equal first"
            )
        report = json.loads(path.read_text())
        part = report.get("equal")
        if not part or not winners(part):
            raise HwnasError(f"{path} has no part D row with a winner", "run part D first")
        before = load_average()
        print(f"load average before: {before}")
        measured = remeasure(part, args.rounds)
        after = load_average()
        print(f"load average after: {after}")
    except HwnasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    part["remeasure"] = {
        "rounds": args.rounds,
        "load_average": {"before": before, "after": after},
        "ms": measured,
    }
    if all("spaces" in info for info in part["targets"].values()):
        from hurricane_ablation import equal_summary, print_equal

        part["summary"] = equal_summary(part)  # the table with the "again" latencies
        print_equal(part["summary"])
    path.write_text(json.dumps(jsonable(report), indent=1) + "\n")
    print_table(part, measured)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
