"""The CPUs this process may really use: its affinity mask and its cgroup's CPU quota.

``os.cpu_count()`` counts the machine's cores; a container or a ``taskset``
may allow far fewer, and torch's default (one intra-op thread per core) then
oversubscribes them. :func:`available_cpus` takes the smaller of the affinity
mask and the cgroup quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` /
``cpu.cfs_period_us``), rounded up to whole CPUs. :func:`load_average` is
what every timing reports beside its figures (a figure taken under load is
not quoted).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def affinity_cpus() -> int:
    """CPUs in this process's affinity mask (``os.cpu_count()`` where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroup_v2(root: Path) -> list[Path]:
    """This process's cgroup v2 folder (from /proc/self/cgroup), then the root's."""
    folders = []
    text = _read(Path("/proc/self/cgroup")) or ""
    for line in text.splitlines():
        if line.startswith("0::"):
            rel = line[3:].strip().lstrip("/")
            if rel:
                folders.append(root / rel)
    folders.append(root)
    return folders


def quota_cpus(root: Path = CGROUP_ROOT) -> float | None:
    """The cgroup CPU quota in CPUs (``quota / period``); None when there is no quota."""
    for folder in _own_cgroup_v2(root):
        text = _read(folder / "cpu.max")  # cgroup v2: "max 100000" or "200000 100000"
        if text:
            quota, _, period = text.partition(" ")
            if quota == "max":
                return None
            try:
                return int(quota) / int(period or 100000)
            except ValueError:
                return None
    for folder in (root / "cpu", root / "cpu,cpuacct", root):  # cgroup v1
        quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            try:
                q, p = int(quota), int(period)
            except ValueError:
                return None
            return None if q <= 0 or p <= 0 else q / p
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs this process may use: min(affinity mask, cgroup quota rounded up), >= 1."""
    cpus = affinity_cpus()
    quota = quota_cpus(Path(root))
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def training_threads(requested: int | None = None) -> int:
    """torch intra-op threads for training: ``requested`` (default all), never more than
    :func:`available_cpus` shared among the ranks on this node (``LOCAL_WORLD_SIZE``)."""
    ranks = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    share = max(1, available_cpus() // ranks)
    return max(1, min(int(requested), share)) if requested else share


def set_torch_threads(requested: int | None = None) -> int:
    """Set torch's intra-op threads with :func:`training_threads`; returns the number."""
    import torch

    threads = training_threads(requested)
    torch.set_num_threads(threads)
    return threads


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, rounded (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
