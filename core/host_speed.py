"""Is the host as fast now as it was? A speed probe and CPU steal for timing runs.

The load average only sees this machine's own processes. On a virtual machine
the host can slow down under neighbours (CPU steal, lower clocks), and then
two measurements of the same kernel taken minutes apart disagree though the
load average said the machine was quiet. :func:`sample_host` records a fixed
single-threaded probe (the fastest of many timings of one pure-Python loop,
and the share of timings well above it), the CPU time stolen by the
hypervisor so far and the load average;
:func:`compare` tells how much the host changed between two samples, and
:func:`warning` says when a timing taken in between should not be quoted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hwnas.cpus import load_average

#: A probe slower or faster by more than this share means the host changed speed.
SPEED_TOLERANCE = 0.05
#: More stolen CPU time than this share of the interval means noisy neighbours.
STEAL_TOLERANCE = 0.02
#: Share of probe runs over ``SLOW`` x the fastest above which the host is not steady.
SLOW_TOLERANCE = 0.1
SLOW = 1.1
PROBE_LOOP = 200_000


@dataclass(frozen=True)
class HostSample:
    """One look at the host: probe (fastest ms, slow share), CPU jiffies (steal, total), load."""

    when: float
    probe_ms: float
    slow_share: float
    steal: int | None
    total: int | None
    load: tuple[float, float, float] | None

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return asdict(self)


def _loop_ms(size: int = PROBE_LOOP) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(size):
        total += i * i
    return (time.perf_counter() - start) * 1e3


SHORT_PROBE_LOOP = PROBE_LOOP // 4


def short_probe_ms() -> float:
    """One quarter-size run of the probe loop (about 2 ms on a fast core), in ms."""
    return _loop_ms(SHORT_PROBE_LOOP)


def probe(seconds: float = 2.0, size: int = PROBE_LOOP) -> tuple[float, float]:
    """(fastest ms, share of runs over 10 % slower) of a fixed loop repeated for ``seconds``.

    On a steady host nearly every run takes the fastest time; a host that
    shares its cores with neighbours slows down some runs by tens of percent
    from one tenth of a second to the next, which the load average never shows.
    """
    runs = [_loop_ms(size)]  # the first run also wakes an idle core
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        runs.append(_loop_ms(size))
    runs = runs[1:] or runs
    fastest = min(runs)
    return fastest, sum(r > SLOW * fastest for r in runs) / len(runs)


def cpu_jiffies(stat: Path = Path("/proc/stat")) -> tuple[int | None, int | None]:
    """(steal, total) CPU jiffies since boot from ``/proc/stat``; (None, None) elsewhere."""
    try:
        fields = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None, None
    if not fields or fields[0] != "cpu":
        return None, None
    values = [int(v) for v in fields[1:]]
    steal = values[7] if len(values) > 7 else 0
    return steal, sum(values[:8])


def sample_host(probe_seconds: float = 2.0) -> HostSample:
    """Probe the host now (the probe loop runs for ``probe_seconds``)."""
    steal, total = cpu_jiffies()
    fastest, slow = probe(probe_seconds)
    return HostSample(time.time(), fastest, slow, steal, total, load_average())


def compare(before: HostSample, after: HostSample) -> dict:
    """Fastest-probe change (after / before - 1), the worse slow share, steal in between."""
    change = after.probe_ms / before.probe_ms - 1.0
    steal = None
    if None not in (before.steal, after.steal, before.total, after.total):
        span = after.total - before.total
        steal = (after.steal - before.steal) / span if span > 0 else 0.0
    return {
        "probe_change": change,
        "slow_share": max(before.slow_share, after.slow_share),
        "steal_share": steal,
        "seconds": after.when - before.when,
    }


def warning(change: dict) -> str | None:
    """A one-line reason not to quote timings taken over this interval, or None."""
    reasons = []
    if abs(change["probe_change"]) > SPEED_TOLERANCE:
        reasons.append(f"the speed probe changed by {100 * change['probe_change']:+.0f} %")
    if change["slow_share"] > SLOW_TOLERANCE:
        reasons.append(
            f"{100 * change['slow_share']:.0f} % of the probe's runs were over "
            f"{100 * (SLOW - 1):.0f} % slower than its fastest"
        )
    if change["steal_share"] is not None and change["steal_share"] > STEAL_TOLERANCE:
        reasons.append(f"{100 * change['steal_share']:.1f} % of CPU time was stolen")
    if not reasons:
        return None
    return "host not steady: " + " and ".join(reasons) + "; rerun on a quiet host before quoting"


def summarise(samples: list[HostSample]) -> dict:
    """Samples taken through a run: the largest probe change from the first, steal, warning."""
    first = samples[0]
    worst = max(samples, key=lambda s: abs(s.probe_ms / first.probe_ms - 1.0))
    overall = compare(first, samples[-1])
    overall["probe_change"] = worst.probe_ms / first.probe_ms - 1.0
    overall["slow_share"] = max(s.slow_share for s in samples)
    return {
        "samples": [s.as_dict() for s in samples],
        "overall": overall,
        "warning": warning(overall),
    }
