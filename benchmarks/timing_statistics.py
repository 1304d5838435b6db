"""Benchmark: which timing statistic repeats on this host?

Protocol (benchmarks/PROTOCOLS.md "Timing hygiene"). One HURRICANE layer op
(MB_k3_e3 at layer 3, torch, one thread) is timed ``--trials`` times, half a
second apart. Every trial runs each protocol once, interleaved:

- TimingProtocol's default: 15 repeats of at least 20 ms;
- 60 short repeats of at least 5 ms (the same total time);
- the default with ``steady=True``: each repeat waits (up to 1 s) until a
  short host probe runs at full speed.

Each protocol is scored by several statistics of its repeats: the median (what
the store keeps today), the 25th and 10th percentiles and the minimum. Printed
per (protocol, statistic):
- the largest over the smallest of the trials' values;
- the share of trials within 5 % of their median.
A statistic that repeats gives about 1.0 and 100 %. The host speed probe
(``hwnas.host_speed``) and the load average are printed before and after.

    python benchmarks/timing_statistics.py --trials 15
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from hwnas.host_speed import sample_host, summarise
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.timing import TimingProtocol, time_callable

console = Console(width=120)
PROTOCOLS = {
    "15 x 20 ms": TimingProtocol(),
    "60 x 5 ms": TimingProtocol(repeats=60, min_repeat_ms=5.0),
    "15 x 20 ms steady": TimingProtocol(steady=True),
}
STATISTICS = {
    "median": np.median,
    "p25": lambda r: np.percentile(r, 25),
    "p10": lambda r: np.percentile(r, 10),
    "min": np.min,
}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--out", default="benchmarks/results/timing_statistics.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    workload = HurricaneSpace().layer_workload(3, "MB_k3_e3")
    module, x = workload.build(), workload.example_input()
    before = sample_host()
    started = time.perf_counter()
    values: dict[str, list[float]] = {f"{p} {s}": [] for p in PROTOCOLS for s in STATISTICS}
    with torch.no_grad():
        for _ in range(args.trials):
            for name, protocol in PROTOCOLS.items():
                repeats = np.array(time_callable(lambda: module(x), protocol).repeats_ms)
                for stat, f in STATISTICS.items():
                    values[f"{name} {stat}"].append(float(f(repeats)))
            time.sleep(0.5)
    wall = time.perf_counter() - started
    host = summarise([before, sample_host()])
    table = Table("protocol, statistic", "mean (µs)", "max / min", "within 5 % of median")
    rows = {}
    for key, v in values.items():
        a = np.array(v)
        rows[key] = {
            "mean_ms": float(a.mean()),
            "max_over_min": float(a.max() / a.min()),
            "within_5": float(np.mean(np.abs(a / np.median(a) - 1) <= 0.05)),
            "values_ms": v,
        }
        r = rows[key]
        table.add_row(
            key,
            f"{1e3 * r['mean_ms']:.1f}",
            f"{r['max_over_min']:.3f}",
            f"{100 * r['within_5']:.0f} %",
        )
    console.print(table)
    console.print(f"host: {host['overall']}; {wall:.0f} s for {args.trials} trials")
    if host["warning"]:
        console.print(f"[red]{host['warning']}[/red]")
    out = Path(args.out)
    out.write_text(
        json.dumps(
            {"protocol": __doc__, "host": host, "wall_seconds": wall, "rows": rows}, indent=2
        )
    )
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
