"""Benchmark: real AArch64 code from tvm-arm, run on an emulated board, checked against torch.

Protocol (printed with the results): start a TVM RPC tracker and an emulated
AArch64 board (``hwnas board emulate``: TVM's RPC server under qemu-aarch64)
on this host; pick 32 hurricane small-profile workloads, one per op, rotating
over the layer shapes (``profile_runtimes.pick_workloads``); for each,
``tvm-arm`` cross-compiles for ``aarch64-linux-gnu`` (+neon), uploads the
library through the tracker, runs it once on the board's example input and
compares the output with torch's output of the same (seeded) module, then
times it. Reports per workload the max abs error vs torch and the overall
max; the timings are an emulator's and are NOT latencies of any device.

    python benchmarks/arm_emulated.py --out benchmarks/results/arm_emulated.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from profile_runtimes import pick_workloads
from rich.console import Console
from rich.table import Table

from hwnas.cpus import load_average
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.targets.tvm.arm import TvmArmTarget
from hwnas.targets.tvm.emulated_board import EmulatedBoard
from hwnas.targets.tvm.local_farm import free_port
from hwnas.timing import TimingProtocol

console = Console(width=max(Console().width, 100))


def measure(target, workloads, protocol) -> list[dict]:
    """Compile, check and time each workload on the board; one row per workload."""
    rows = []
    for i, workload in enumerate(workloads, 1):
        m = target.measure(workload, protocol)
        check = m.extra.get("output_check", {})
        rows.append(
            {
                "workload": workload.key,
                "label": workload.label,
                "op": workload.features["op"],
                "status": m.status,
                "reason": m.reason,
                "compile_s": m.compile_s,
                "emulated_ms": m.median_ms,
                "max_abs_error": check.get("max_abs_error"),
                "max_abs_torch": check.get("max_abs_torch"),
            }
        )
        error = check.get("max_abs_error")
        note = f"max abs error {error:.2e}" if error is not None else f"FAILED: {m.reason}"
        console.print(f"[{i}/{len(workloads)}] {workload.label}: {note}", highlight=False)
    return rows


def print_report(report: dict) -> None:
    """The table a person reads."""
    console.print(f"[bold]Protocol[/bold]: {report['protocol']}", soft_wrap=True)
    table = Table(
        "workload",
        "compile s",
        "emulated ms",
        "max abs error",
        "max |torch|",
        title="tvm-arm on the emulated AArch64 board vs torch",
    )
    for row in report["rows"]:
        ok = row["status"] == "ok"
        table.add_row(
            row["label"],
            f"{row['compile_s']:.2f}" if row["compile_s"] is not None else "-",
            f"{row['emulated_ms']:.2f}" if ok else "[red]fail[/red]",
            f"{row['max_abs_error']:.2e}" if row["max_abs_error"] is not None else "-",
            f"{row['max_abs_torch']:.2f}" if row["max_abs_torch"] is not None else "-",
        )
    console.print(table)
    console.print(
        f"{report['ok']}/{len(report['rows'])} workloads ran on the board; overall max abs error "
        f"vs torch {report['max_abs_error']:.2e}; board start {report['board_start_s']:.0f} s",
        highlight=False,
    )
    console.print(
        "[yellow]Emulated timings (qemu-aarch64 on this host) are not latencies of any "
        "device: use them to check code, never to rank operators.[/yellow]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/arm_emulated.json"))
    parser.add_argument("--cache-dir", type=Path, default=None, help="board files (default cache)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-repeat-ms", type=float, default=20.0)
    args = parser.parse_args()
    workloads = pick_workloads(HurricaneSpace(), per_op=1)
    protocol = TimingProtocol(warmup=1, repeats=args.repeats, min_repeat_ms=args.min_repeat_ms)
    protocol_text = (
        f"{len(workloads)} hurricane small-profile workloads (one per op), batch 1; tvm-arm "
        "(aarch64-linux-gnu, +neon, untuned) through a local TVM RPC tracker to an emulated "
        "board (qemu-aarch64 user mode); output of one run on the board vs torch (max abs "
        f"error); then {protocol.warmup} warm-up, {protocol.repeats} repeats of >= "
        f"{protocol.min_repeat_ms} ms (emulated time, not a latency)"
    )
    port = free_port()
    load_before = load_average()
    started = time.perf_counter()
    with EmulatedBoard("qemu-a72", "127.0.0.1", port, args.cache_dir, start_tracker=True):
        board_start_s = time.perf_counter() - started
        console.print(f"board registered after {board_start_s:.0f} s")
        target = TvmArmTarget(tracker_port=port, key="qemu-a72")
        try:
            run_started = time.perf_counter()
            rows = measure(target, workloads, protocol)
            run_s = time.perf_counter() - run_started
            fingerprint = target.fingerprint()
        finally:
            target.close()
    errors = [r["max_abs_error"] for r in rows if r["max_abs_error"] is not None]
    report = {
        "protocol": protocol_text,
        "fingerprint": fingerprint,
        "board_start_s": board_start_s,
        "run_s": run_s,
        "ok": sum(r["status"] == "ok" for r in rows),
        "max_abs_error": max(errors) if errors else None,
        "median_abs_error": statistics.median(errors) if errors else None,
        "emulated_timings_are_latencies": False,
        "load_average": {"before": load_before, "after": load_average()},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print_report(report)
    console.print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
