"""Commands of the recorded devices: ``hwnas recorded``, ``data`` and ``predict recorded``."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from hwnas.cli.common import (
    ConfigOption,
    DataDirOption,
    JsonFlag,
    console,
    fmt,
    print_json,
    wide_console,
)
from hwnas.errors import HwnasError


def recorded(
    target: Annotated[str, typer.Argument(help="Recorded target, e.g. nb201/raspi4, ofa/note10.")],
    archs: Annotated[list[str], typer.Argument(help="Architecture strings of the target's space.")],
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Look up the recorded latency (and, where a source exists, accuracy) of architectures."""
    from hwnas.accuracy import accuracy_sources, default_accuracy
    from hwnas.config import load_config, target_options
    from hwnas.latency import LatencyModel
    from hwnas.manager import get_plugin_manager

    pm = get_plugin_manager()
    info = pm.get("target", target)
    options = target_options(load_config(config), info.name, {})
    if data_dir is not None:
        options["data_dir"] = str(data_dir)
    model = pm.create("target", info.name, **options)
    if not isinstance(model, LatencyModel):
        raise HwnasError(
            f"target {info.name!r} is a live target, not a recorded table",
            "use 'hwnas profile' for live targets, or a name like nb201/raspi4",
        )
    space = pm.create("space", model.space)
    parsed = [space.parse(text) for text in archs]
    rows: list[dict[str, Any]] = []
    source = None
    if accuracy_sources(model.space):
        source = default_accuracy(model.space, data_dir=options.get("data_dir"))
    for arch in parsed:
        latency = model.latency(arch)
        row = {
            "arch": space.format(arch),
            "target": info.name,
            "latency_ms": latency.ms,
            "latency_source": latency.source,
        }
        if source is not None:
            row["accuracy"] = source.accuracy(arch)
            row["report_accuracy"] = source.report_accuracy(arch)
            row["accuracy_source"] = source.name
        rows.append(row)
    if as_json:
        print_json(rows)
        return
    table = Table("arch", "latency ms", "source", *(("accuracy", "report") if source else ()))
    for row in rows:
        extra = (fmt(row["accuracy"], 2), fmt(row["report_accuracy"], 2)) if source else ()
        table.add_row(row["arch"], fmt(row["latency_ms"], 4), row["latency_source"], *extra)
    wide_console().print(table)


def predict_recorded(
    space: Annotated[str, typer.Option(help="nb201, fbnet or ofa.")] = "nb201",
    device: Annotated[list[str] | None, typer.Option(help="Device column(s); default all.")] = None,
    n: Annotated[
        list[int] | None, typer.Option("-n", help="Training samples (repeatable).")
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds 0..S-1 (the few-shot protocol).")] = 5,
    data_dir: DataDirOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Few-shot architecture-level predictor on a recorded table: Spearman on the rest."""
    from hwnas.targets.recorded.models import recorded_devices
    from hwnas.targets.recorded.predictor import RECORDED_SPACES, few_shot

    if space not in RECORDED_SPACES:
        raise HwnasError(f"no recorded table for {space!r}", f"use {', '.join(RECORDED_SPACES)}")
    devices = device or [d for d in recorded_devices(space) if d != "note10"]
    sizes = n or [10, 100]
    rows = []
    for d in devices:
        for size in sizes:
            runs = [few_shot(space, d, size, s, data_dir) for s in range(seeds)]
            rows.append(
                {
                    "device": d,
                    "n": size,
                    "spearman": float(np.mean([r["spearman"] for r in runs])),
                    "flops_spearman": _mean(r["flops_spearman"] for r in runs),
                    "params_spearman": _mean(r["params_spearman"] for r in runs),
                }
            )
    if as_json:
        print_json(rows)
        return
    table = Table("device", "N", "Spearman", "FLOPs", "params", title=f"{space}: mean of {seeds}")
    for r in rows:
        table.add_row(
            r["device"],
            str(r["n"]),
            f"{r['spearman']:.3f}",
            *(
                "-" if r[k] is None else f"{r[k]:.3f}"
                for k in ("flops_spearman", "params_spearman")
            ),
        )
    console.print(table)


def data(
    verify: Annotated[bool, typer.Option(help="Re-compute every file's SHA-256.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The published tables shipped with hwnas: files, sources, licences, sizes, checksums."""
    from hwnas.targets.recorded import tables

    rows = tables.shipped_manifest()
    problems = tables.verify_shipped() if verify else []
    if as_json:
        in_use = str(tables.resolve_data_dir())
        print_json({"data_dir": in_use, "files": rows, "problems": problems})
    else:
        table = Table("file", "size", "source", "licence", "sha256", title="shipped tables")
        for row in rows:
            table.add_row(
                row["path"],
                f"{row['bytes'] / 1e6:.2f} MB",
                row["source"],
                row["licence"],
                row["sha256"][:12],
            )
        wide_console().print(table)
        console.print(f"in use: {tables.resolve_data_dir()} (override: --data-dir or $HWNAS_DATA)")
        if verify and not problems:
            console.print(f"checksums: all {len(rows)} files match")
    if problems:
        raise HwnasError(f"shipped data is damaged: {problems[0]}", "reinstall hwnas")


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None
