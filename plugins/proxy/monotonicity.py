"""Latency monotonicity: SRCC between devices on their shared architectures.

Lu et al. (SIGMETRICS 2022) observe that latency *rankings* of architectures
agree across devices (Spearman SRCC >= ~0.9 between many pairs), so the Pareto
set found on one proxy device is (nearly) Pareto-optimal on another. This
module computes the SRCC matrix of a set of devices (recorded tables and/or
live targets measured end to end on the same architectures), the best proxy
of every device, and the heatmap.

**Same hardware.** A recorded setting is ``<hardware>_<batch>`` for the GPUs
(``titan_rtx_1``, ``titan_rtx_32``, ``titan_rtx_256``, FBNet's ``_64``); other
names are one hardware each (``essential_ph_1`` is a phone, not a batch
size). The best proxy of a device never is the device itself nor another
setting of its hardware. Live targets (``onnxruntime``, ``torch``, ...) are
different toolchains on possibly the same machine; each counts as its own
hardware here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from hwnas.errors import HwnasError
from hwnas.space import Architecture

_BATCH = re.compile(r"^(?P<hw>.+?)_(?P<batch>1|32|64|256)$")
NOT_A_BATCH = frozenset({"essential_ph_1"})


def device_name(name: str) -> str:
    """``nb201/titan_rtx_1`` -> ``titan_rtx_1`` (live target names are unchanged)."""
    return name.split("/", 1)[1] if "/" in name else name


def hardware_of(name: str) -> str:
    """The hardware a device setting runs on: the GPU settings' batch suffix removed."""
    device = device_name(name)
    if device in NOT_A_BATCH:
        return device
    match = _BATCH.match(device)
    return match.group("hw") if match else device


def same_hardware(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are the same device or settings of the same hardware."""
    return hardware_of(a) == hardware_of(b)


def allowed_proxies(target: str, candidates: Sequence[str]) -> list[str]:
    """``candidates`` without the target and without other settings of its hardware."""
    return [c for c in candidates if not same_hardware(c, target)]


# ---------------------------------------------------------------------------
# the matrix
# ---------------------------------------------------------------------------


def srcc_matrix(latencies: np.ndarray) -> np.ndarray:
    """Spearman SRCC between the columns of ``latencies`` (architectures x devices)."""
    latencies = np.asarray(latencies, dtype=float)
    if latencies.ndim != 2 or latencies.shape[1] < 2:
        raise HwnasError("an SRCC matrix needs at least two devices", "pass --devices a,b")
    if latencies.shape[0] < 3:
        raise HwnasError(
            f"only {latencies.shape[0]} shared architectures; an SRCC needs at least 3",
            "measure the same architectures on every device",
        )
    rho = spearmanr(latencies).statistic
    if np.ndim(rho) == 0:
        rho = np.array([[1.0, float(rho)], [float(rho), 1.0]])
    rho = np.asarray(rho, dtype=float)
    rho = (rho + rho.T) / 2
    np.fill_diagonal(rho, 1.0)
    return rho


def best_proxies(matrix: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """Per device: the allowed other device with the highest SRCC (``None`` when none is)."""
    out: dict[str, dict[str, Any] | None] = {}
    for i, name in enumerate(names):
        best = None
        for j, other in enumerate(names):
            if same_hardware(name, other) or not np.isfinite(matrix[i, j]):
                continue
            if best is None or matrix[i, j] > best["srcc"]:
                best = {"proxy": other, "srcc": float(matrix[i, j])}
        out[name] = best
    return out


@dataclass
class DeviceTable:
    """Latency (ms) of the same architectures on several devices."""

    space: str
    names: list[str]
    archs: list[Architecture]
    latencies: np.ndarray  # (architectures, devices)
    sources: dict[str, str]

    def column(self, name: str) -> np.ndarray:
        """One device's latencies."""
        return self.latencies[:, self.names.index(name)]


def recorded_table(
    space: str,
    devices: Sequence[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    plugin_manager=None,
) -> DeviceTable:
    """Recorded latencies of ``space`` (all its tabulated devices by default) on the shared table.

    The devices are the recorded targets ``<space>/<device>`` whose model holds a
    table (:class:`~hwnas.latency.TabulatedLatency`); all must hold the same
    architectures.
    """
    from hwnas.manager import get_plugin_manager

    pm = plugin_manager or get_plugin_manager()
    models = tabulated_models(space, data_dir, pm)
    known = list(models)
    devices = list(devices) if devices else known
    bad = [d for d in devices if device_name(d) not in models]
    if bad:
        raise HwnasError(
            f"no recorded {space} latencies for {bad[0]!r}", f"choose from: {', '.join(known)}"
        )
    names = [device_name(d) for d in devices]
    archs = models[names[0]].architectures()
    if any(models[n].architectures() is not archs for n in names[1:]):
        raise HwnasError(f"the recorded {space} tables do not share their architectures")
    columns = [np.asarray(models[n].all_latencies(), dtype=float) for n in names]
    return DeviceTable(
        space, names, list(archs), np.column_stack(columns), dict.fromkeys(names, "recorded")
    )


def tabulated_models(space: str, data_dir=None, plugin_manager=None) -> dict[str, Any]:
    """Device name -> recorded latency model of ``space`` that holds a whole table."""
    from hwnas.latency import TabulatedLatency, recorded_devices
    from hwnas.manager import get_plugin_manager

    pm = plugin_manager or get_plugin_manager()
    options = {} if data_dir is None else {"data_dir": str(data_dir)}
    models = {}
    for device in recorded_devices(space, pm):
        model = pm.create("target", f"{space}/{device}", **options)
        if isinstance(model, TabulatedLatency):
            models[device] = model
    return models


def live_whole_latencies(space, target: str, store, options: dict | None = None) -> dict:
    """Architectures of ``space`` measured end to end on live ``target`` in ``store`` (ms)."""
    from hwnas.profile import probe_target

    info = probe_target(target, options or {})
    out: dict[Architecture, float] = {}
    for row in store.measurements(info.fingerprint_key):
        key = row.workload
        if "/arch/" not in key or not row.measurement.ok:
            continue
        text = key.split("/arch/", 1)[1].rsplit("/b", 1)[0]
        try:
            arch = space.parse(text)
            if space.arch_workload(arch).key != key:
                continue
        except HwnasError:
            continue
        out[arch] = float(row.measurement.median_ms)
    return out


def device_table(
    space_name: str,
    devices: Sequence[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    store_path: str | os.PathLike | None = None,
) -> DeviceTable:
    """Recorded devices and live targets of one space on their shared architectures.

    A name is recorded when it is ``<space>/<device>`` or a recorded device of
    the space; otherwise it is a live target whose whole-architecture
    measurements are read from the store (``hwnas profile``/the transfer
    benchmark put them there).
    """
    from hwnas.manager import get_plugin_manager

    pm = get_plugin_manager()
    space = pm.create("space", space_name)
    known = set(tabulated_models(space_name, data_dir, pm))
    devices = list(devices or [])
    for name in devices:
        if "/" in name and name.split("/", 1)[0] != space_name:
            raise HwnasError(
                f"{name!r} is not a {space_name} device: no shared architectures",
                f"use {space_name}/<device> or a live target",
            )
    recorded = [d for d in devices if device_name(d) in known] if devices else sorted(known)
    live = [d for d in devices if device_name(d) not in known]
    if len(set(map(device_name, devices))) != len(devices):
        raise HwnasError("a device is listed twice", "list each device once")
    if not recorded and not live:
        raise HwnasError(
            f"no recorded devices for space {space_name!r}", "pass --devices with live targets"
        )
    tables: list[tuple[str, dict[Architecture, float], str]] = []
    if recorded:
        rec = recorded_table(space_name, recorded, data_dir)
        for name in rec.names:
            tables.append((name, dict(zip(rec.archs, rec.column(name), strict=True)), "recorded"))
    for name in live:
        pm.get("target", name)  # unknown name: one-line error, before the store is opened
    if live:
        from hwnas.store import LatencyStore, default_store

        store = LatencyStore(store_path or default_store())
        for name in live:
            tables.append((name, live_whole_latencies(space, name, store), "measured"))
    shared = set(tables[0][1])
    for _, values, _ in tables[1:]:
        shared &= set(values)
    if not shared:
        raise HwnasError(
            f"no architecture is measured on all of {', '.join(n for n, _, _ in tables)}",
            "measure the same architectures end to end on every live target",
        )
    order = [a for a in tables[0][1] if a in shared]
    matrix = np.column_stack([[values[a] for a in order] for _, values, _ in tables])
    return DeviceTable(
        space_name, [n for n, _, _ in tables], order, matrix, {n: s for n, _, s in tables}
    )


def analyze(table: DeviceTable) -> dict[str, Any]:
    """The SRCC matrix, each device's best proxy, and summary figures (JSON-ready)."""
    matrix = srcc_matrix(table.latencies)
    best = best_proxies(matrix, table.names)
    off = matrix[~np.eye(len(table.names), dtype=bool)]
    return {
        "space": table.space,
        "devices": table.names,
        "sources": table.sources,
        "shared_architectures": len(table.archs),
        "srcc": matrix.tolist(),
        "best_proxy": best,
        "hardware": {n: hardware_of(n) for n in table.names},
        "share_of_pairs_srcc_ge_0.9": float(np.mean(off >= 0.9)) if len(off) else None,
        "protocol": "Spearman SRCC (scipy.stats.spearmanr) of latency on the architectures "
        "every device has; best proxy = highest SRCC among the other devices, excluding "
        "other settings of the same hardware (GPU batch sizes)",
    }


def plot_heatmap(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """PNG heatmap of the SRCC matrix, best proxy of each row outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report["devices"]
    matrix = np.asarray(report["srcc"], dtype=float)
    n = len(names)
    size = max(4.0, 0.32 * n + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.2, size), dpi=110)
    image = ax.imshow(matrix, cmap="viridis", vmin=min(0.3, float(np.nanmin(matrix))), vmax=1.0)
    ax.set_xticks(range(n), names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    for i, name in enumerate(names):
        best = report["best_proxy"].get(name)
        if best:
            j = names.index(best["proxy"])
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=1.2))
    if n <= 12:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if matrix[i, j] < 0.8 else "black",
                )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Spearman SRCC")
    ax.set_title(
        f"{report['space']}: latency SRCC on {report['shared_architectures']:,} shared "
        "architectures (red: best proxy of the row)",
        fontsize=9,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
