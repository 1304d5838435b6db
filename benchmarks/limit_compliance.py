"""Does the main job's winner meet the latency limit when measured? Seeds x limits.

Runs the main job (``make demo``: ``hwnas search --strategy hurricane --target
onnxruntime --latency-ms L --out DIR``) once per seed and limit, each in its own
folder under ``--workdir`` (a finished run is read back, not run again), all
sharing one latency store (by default the one ``make demo`` uses). For every
run it reads result.json and prints the limit in ms, the winner's latency
measured end to end on the target, how many final candidates were measured
and how many of them were over, and the exit status (0: a measured candidate
met the limit; 1: none did, said loudly).

The check passes when every run exits 0 and every returned winner's measured
latency is within its limit. Each winner is then measured once more, into a
fresh store in each of 3 new sessions (independent measurements, kept in the
run's folder as ``remeasured.json``), to show how far this machine's timing
noise alone moves it; those columns are reported, not part of the pass rule.

Every finished row is also written to ``--out`` as soon as it is done, with
the protocol it ran under; a later call with the same protocol reads those
rows back instead of running them again, so the benchmark resumes on a new
machine from the committed summary alone (the run folders are not kept). Accuracy is not the
point here (the winners are trained from scratch for the default half epoch).

    python benchmarks/limit_compliance.py [--seeds 0 1 2 3 4] [--limits 15% 40%]
        [--workdir runs/limit_compliance] [--out benchmarks/results/limit_compliance.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from hwnas.cli.common import jsonable
from hwnas.cpus import load_average


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="onnxruntime")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--limits", nargs="+", default=["15%", "40%"])
    parser.add_argument("--workdir", type=Path, default=Path("runs/limit_compliance"))
    parser.add_argument(
        "--store", type=Path, default=None, help="default: $HWNAS_STORE, as make demo"
    )
    parser.add_argument("--extra", nargs="*", default=[], help="more 'hwnas search' arguments")
    parser.add_argument(
        "--report-only", action="store_true", help="tabulate the finished runs, start none"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/limit_compliance/summary.json"))
    return parser.parse_args(argv)


#: Bumped when the main job's final step changes what a row means (2: the
#: winner is confirmed in 3 fresh sessions, the re-measurement takes 3 too;
#: 3: later rounds leave room for the recalibration's error, 3 rounds; 4: the
#: overhead is refitted on 5 networks just under the limit before the search).
PROTOCOL_VERSION = 4
REMEASURE_SESSIONS = 3


def protocol(args) -> dict[str, Any]:
    """What a finished row depends on: rows recorded under another protocol are run again."""
    return {"version": PROTOCOL_VERSION, "target": args.target, "extra": list(args.extra)}


def recorded_rows(args) -> dict[tuple[str, int], dict[str, Any]]:
    """Rows of ``--out`` finished under this protocol, by (limit, seed)."""
    if not args.out.is_file():
        return {}
    rows = json.loads(args.out.read_text()).get("rows", [])
    return {(r["limit"], r["seed"]): r for r in rows if r.get("protocol") == protocol(args)}


def run_one(args, limit: str, seed: int, recorded) -> dict[str, Any] | None:
    """One main-job run (or the finished one in ``recorded`` or its folder) -> its row.

    None with ``--report-only`` when the run is not finished.
    """
    if (limit, seed) in recorded:
        return recorded[(limit, seed)]
    folder = args.workdir / f"{limit.replace('%', 'pct')}-seed{seed}"
    result_file = folder / "result.json"
    status_file = folder / "exit_status"
    if not (result_file.is_file() and status_file.is_file()):
        if args.report_only:
            return None
        command = [
            sys.executable, "-m", "hwnas", "search", "--strategy", "hurricane",
            "--target", args.target, "--latency-ms", limit, "--seed", str(seed),
            "--out", str(folder), *(["--store", str(args.store)] if args.store else []),
            *args.extra,
        ]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, env=dict(os.environ, COLUMNS="160"))
        status_file.parent.mkdir(parents=True, exist_ok=True)
        status_file.write_text(f"{done.returncode} {time.perf_counter() - started:.1f}\n")
    code, seconds = status_file.read_text().split()
    row: dict[str, Any] = {"limit": limit, "seed": seed, "exit": int(code)}
    row["protocol"] = protocol(args)
    row["seconds"] = float(seconds)
    if not result_file.is_file():
        return row
    result = json.loads(result_file.read_text())
    final = result.get("extra", {}).get("final") or {}
    candidates = final.get("candidates", [])
    row.update(
        limit_ms=result.get("latency_limit_ms"),
        winner_measured_ms=final.get("latency_ms"),
        winner_layer_model_ms=final.get("predicted_latency_ms"),
        measured_candidates=len(candidates),
        over_candidates=sum(not c["within_limit"] for c in candidates),
        chosen_rank=final.get("chosen_rank"),
        test_accuracy=(final.get("scratch") or {}).get("test_accuracy"),
        host=result.get("extra", {}).get("host"),
    )
    row["within"] = (
        row["winner_measured_ms"] is not None and row["winner_measured_ms"] <= row["limit_ms"]
    )
    row["confirmed_ms"] = final.get("confirmed_latency_ms")
    if final.get("arch") and not args.report_only:
        row["remeasured_sessions_ms"] = remeasure(folder, result, final["arch"])
    elif (folder / "remeasured.json").is_file():
        row["remeasured_sessions_ms"] = json.loads((folder / "remeasured.json").read_text())["ms"]
    sessions = [ms for ms in row.get("remeasured_sessions_ms") or [] if ms is not None]
    row["remeasured_ms"] = max(sessions) if sessions else None
    return row


def remeasure(folder: Path, result: dict[str, Any], arch_text: str) -> list[float | None]:
    """The winner measured again end to end, a fresh store in each of 3 new sessions.

    Kept in the run's remeasured.json.
    """
    kept = folder / "remeasured.json"
    if kept.is_file():
        return json.loads(kept.read_text())["ms"]
    from hwnas.manager import get_plugin_manager
    from hwnas.plugins.hurricane.strategy import measure_in_fresh_session

    generated = json.loads((folder / "space.json").read_text())
    options = {k: v for k, v in generated["space_options"].items() if v is not None}
    space = get_plugin_manager().create("space", generated["space"], **options)
    arch = space.parse(arch_text)
    values = [
        measure_in_fresh_session(result["target"], {}, space, [arch]).get(arch)
        for _ in range(REMEASURE_SESSIONS)
    ]
    kept.write_text(json.dumps({"ms": values, "loadavg": load_average()}) + "\n")
    return values


def print_rows(rows: list[dict[str, Any]]) -> None:
    table = Table(
        "limit", "seed", "limit ms", "winner measured ms", "layer model ms",
        "measured", "over", "pick", "within", "exit", "confirmed ms", "again ms (3 sessions)",
        "test acc %", "s",
        box=box.SIMPLE, title="main job: winner's end-to-end latency vs the limit",
    )  # fmt: skip
    for r in rows:
        table.add_row(
            r["limit"],
            str(r["seed"]),
            _ms(r.get("limit_ms")),
            _ms(r.get("winner_measured_ms")),
            _ms(r.get("winner_layer_model_ms")),
            str(r.get("measured_candidates", "-")),
            str(r.get("over_candidates", "-")),
            str(r.get("chosen_rank", "-")),
            "yes" if r.get("within") else "NO",
            str(r["exit"]),
            _ms(r.get("confirmed_ms")),
            " ".join(_ms(ms) for ms in r.get("remeasured_sessions_ms") or [None]),
            f"{r['test_accuracy']:.2f}" if r.get("test_accuracy") is not None else "-",
            f"{r['seconds']:.0f}",
        )
    Console(width=170).print(table)


def _ms(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    before = load_average()
    recorded = recorded_rows(args)
    rows = []
    for seed in args.seeds:  # seed-major: a partial run covers every limit
        for limit in args.limits:
            rows.append(run_one(args, limit, seed, recorded))
            if rows[-1] is not None:
                recorded[(limit, seed)] = rows[-1]
                write_summary(args.out, {"rows": list(recorded.values()), "partial": True})
    missing = sum(r is None for r in rows)
    rows = [r for r in rows if r is not None]
    after = load_average()
    print_rows(rows)
    passed = bool(rows) and all(r["exit"] == 0 and r.get("within") for r in rows)
    print(f"load average (1/5/15 min) before {before}, after {after}")
    again = [r for r in rows if r.get("remeasured_ms") is not None]
    if again:
        within = sum(r["remeasured_ms"] <= r["limit_ms"] for r in again)
        moved = np.median([abs(r["remeasured_ms"] / r["winner_measured_ms"] - 1) for r in again])
        print(
            f"measured again, slowest of {REMEASURE_SESSIONS} fresh sessions: {within}/"
            f"{len(again)} within the limit; |again - first| / first: median {moved:.1%}"
        )
    print(
        f"{sum(bool(r.get('within')) for r in rows)}/{len(rows)} winners within the limit "
        f"when measured; {sum(r.get('over_candidates', 0) for r in rows)} of "
        f"{sum(r.get('measured_candidates', 0) for r in rows)} measured candidates were over"
        f" -> {'PASS' if passed else 'FAIL'}"
        + (f" ({missing} of the runs asked for are not finished: not counted)" if missing else "")
    )
    summary = {
        "rows": rows,
        "unfinished": missing,
        "loadavg_before": before,
        "loadavg_after": after,
        "passed": passed,
    }
    write_summary(args.out, summary)
    return 0 if passed else 1


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(summary), indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
