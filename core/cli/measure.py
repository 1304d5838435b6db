"""CLI commands that touch devices: ``hwnas targets``, ``hwnas profile``, ``hwnas store``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hwnas.cli.common import (
    ConfigOption,
    JsonFlag,
    OptionList,
    StoreOption,
    TargetOptions,
    console,
    default_layered_space,
    load_space,
    parse_options,
    print_json,
)
from hwnas.config import load_config, profile_setting, target_options
from hwnas.errors import HwnasError
from hwnas.manager import get_plugin_manager
from hwnas.space import LayeredSpace
from hwnas.store import LatencyStore, default_store
from hwnas.timing import TimingProtocol

store_app = typer.Typer(help="Export and import the latency store.", no_args_is_help=True)


def parse_index_ranges(text: str, count: int) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``, checked against ``count`` layers."""
    fix = f"write layers like 0-3,7 within 0-{count - 1}"
    indices: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise HwnasError(f"bad layer list {text!r}", fix) from None
        if not 0 <= low <= high < count:
            raise HwnasError(f"layers {part!r} out of range", fix)
        indices.update(range(low, high + 1))
    if not indices:
        raise HwnasError(f"bad layer list {text!r}: no layer given", fix)
    return sorted(indices)


def describe_target(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Availability (with the reason) and fingerprint of one target, without measuring."""
    pm = get_plugin_manager()
    info = pm.get("target", name)
    row = info.as_dict()
    if info.available:
        try:
            target = pm.create("target", name, check_available=False, **options)
            reason = target.available()
            row.update(available=reason is None, reason=reason)
            row["fingerprint"] = target.fingerprint() if reason is None else None
            target.close()
        except HwnasError as exc:
            row.update(available=False, reason=str(exc))
    return row


def targets(
    as_json: JsonFlag = False,
    config: ConfigOption = None,
    recorded: Annotated[bool, typer.Option(help="Also list recorded latency tables.")] = False,
) -> None:
    """List the live targets with availability here, the reason if not, and fingerprints."""
    cfg = load_config(config)
    rows = [
        describe_target(info.name, target_options(cfg, info.name, {}))
        for info in get_plugin_manager().infos("target")
        if recorded or not info.as_dict()["recorded"]
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("target", "package", "available", "fingerprint / reason")
    for row in rows:
        if row["available"]:
            fp = row.get("fingerprint") or {}
            note = ", ".join(f"{k}={v}" for k, v in fp.items() if k not in ("target", "cpu"))
        else:
            note = f"[red]{row['reason']}[/red]"
        table.add_row(
            row["name"], row["package"], "yes" if row["available"] else "[red]no[/red]", note
        )
    console.print(table)


def profile(
    target: Annotated[str, typer.Option(help="Target name (see 'hwnas targets').")],
    space: Annotated[
        str | None, typer.Option(help="Layered search space (default: the registered one).")
    ] = None,
    option: OptionList = None,
    target_option: TargetOptions = None,
    config: ConfigOption = None,
    layers: Annotated[str | None, typer.Option(help="Layers, e.g. 0-3,7 (default all).")] = None,
    ops: Annotated[str | None, typer.Option(help="Comma-separated ops (default all).")] = None,
    batch: Annotated[int, typer.Option(help="Batch size of the workloads.")] = 1,
    store: StoreOption = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Parallel worker processes / devices (default: the config's, else 1)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds for one compile+time.")] = 600.0,
    repeats: Annotated[int, typer.Option(help="Timed repeats per workload.")] = 15,
    min_repeat_ms: Annotated[float, typer.Option(help="Shortest repeat (ms).")] = 20.0,
    retry_failed: Annotated[bool, typer.Option(help="Measure stored failures again.")] = False,
    steady: Annotated[
        bool,
        typer.Option(
            help="Time each repeat only while a host probe runs at full speed (jumpy VM hosts; "
            "host-timed targets)."
        ),
    ] = False,
    measure: Annotated[
        int | None,
        typer.Option(
            "--measure",
            help="Active measurement: measure at most N new workloads (the stem and head, "
            "every op family, then largest predictor uncertainty x latency contribution); "
            "stored ones are reused for free.",
        ),
    ] = None,
    fill: Annotated[
        str,
        typer.Option(
            help="Cells without a measurement: 'none' or 'predict' (XGBoost predictor trained "
            "on the store, saved beside it; predicted cells are marked)."
        ),
    ] = "none",
    rounds: Annotated[int, typer.Option(help="Active-measurement rounds after the seed.")] = 4,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Measure the (layer, op) latency table of SPACE on TARGET; reuse what the store holds.

    With --measure N only N new workloads are measured, chosen actively; with
    --fill predict the others are predicted (and marked predicted).
    """
    from hwnas.profile import probe_target, profile_workloads

    cfg = load_config(config)
    options = target_options(cfg, target, parse_options(target_option))
    search_space = load_space(space or default_layered_space(), option)
    if not isinstance(search_space, LayeredSpace):
        raise HwnasError(
            f"space {search_space.name!r} has no per-layer workloads",
            f"profile a layered space such as {default_layered_space()}",
        )
    indices = parse_index_ranges(
        f"0-{len(search_space.positions) - 1}" if layers is None else layers,
        len(search_space.positions),
    )
    op_names = _parse_ops(ops, search_space.positions[indices[0]].choices)
    if fill not in ("none", "predict"):
        raise HwnasError(f"unknown --fill {fill!r}", "use --fill none or --fill predict")
    if measure is not None and measure < 0:
        raise HwnasError(f"--measure must be >= 0, got {measure}", "give a budget such as 60")
    grid = {(i, op): search_space.layer_workload(i, op, batch) for i in indices for op in op_names}
    probe_target(target, options)  # unknown or unavailable: rejected before the store exists
    latency_store = LatencyStore(profile_setting(cfg, "store", store, None) or default_store())
    protocol = TimingProtocol(repeats=repeats, min_repeat_ms=min_repeat_ms, steady=steady)
    n_workers = profile_setting(cfg, "workers", workers, 1)
    extras: dict[str, Any] = {}
    if measure is None:
        result = profile_workloads(
            target,
            options,
            list(grid.values()),
            latency_store,
            protocol,
            workers=n_workers,
            timeout_s=timeout,
            retry_failed=retry_failed,
            show_progress=progress and not as_json,
        )
    else:
        from hwnas.predict.grid import active_profile_grid

        result, extras = active_profile_grid(
            target,
            options,
            search_space,
            grid,
            latency_store,
            measure,
            protocol,
            workers=n_workers,
            timeout_s=timeout,
            rounds=rounds,
            batch=batch,
            show_progress=progress and not as_json,
        )
    if fill == "predict":
        from hwnas.predict.grid import fill_predictions

        extras.update(fill_predictions(result, grid, latency_store, extras.get("fixed")))
    report = _profile_report(result, grid, indices, op_names, latency_store.path, extras)
    if as_json:
        print_json(report)
    else:
        _print_profile(report)


def _parse_ops(text: str | None, valid: tuple) -> list[str]:
    if text is None or text == "all":
        return list(valid)
    chosen = [op.strip() for op in text.split(",") if op.strip()]
    if not chosen:
        raise HwnasError(f"no op in --ops {text!r}", f"e.g. --ops {valid[0]} or --ops all")
    unknown = [op for op in chosen if op not in valid]
    if unknown:
        raise HwnasError(f"unknown op(s) {', '.join(unknown)}", f"valid: {', '.join(valid)}")
    return chosen


def _profile_report(result, grid, indices, op_names, store_path, extras=None) -> dict[str, Any]:
    extras = extras or {}
    predicted = extras.get("predictions", {})
    layers = []
    for i in indices:
        cells = {}
        for op in op_names:
            workload = grid[(i, op)]
            m = result.results.get(workload.key)
            cell = {
                "key": workload.key,
                "status": m.status if m else "missing",
                "median_ms": m.median_ms if m else None,
                "cv": m.cv if m else None,
                "reason": m.reason if m else None,
                "source": "measured" if m is not None and m.ok else None,
            }
            if m is not None and "output_check" in m.extra:  # the device's output vs torch's
                cell["max_abs_error"] = m.extra["output_check"]["max_abs_error"]
            if (m is None or not m.ok) and workload.key in predicted:
                ms, spread = predicted[workload.key]
                cell.update(predicted_ms=ms, spread=spread, source="predicted")
            cells[op] = cell
        ok = {op: _cell_ms(c) for op, c in cells.items() if _cell_ms(c) is not None}
        best = min(ok, key=ok.get) if ok else None
        layers.append(
            {"layer": i, "ops": cells, "best_op": best, "best_ms": ok.get(best) if best else None}
        )
    n_cells = len(indices) * len(op_names)
    n_measured = sum(c["source"] == "measured" for row in layers for c in row["ops"].values())
    n_predicted = sum(c["source"] == "predicted" for row in layers for c in row["ops"].values())
    report = {
        "target": result.target.name,
        "fingerprint": result.target.fingerprint,
        "fingerprint_key": result.target.fingerprint_key,
        "emulated": bool(result.target.fingerprint.get("emulated")),
        "store": str(store_path),
        "source": "measured" if not n_predicted else "measured+predicted",
        "measured": result.measured,
        "reused": result.reused,
        "failed": result.failed,
        "cells": n_cells,
        "cells_measured": n_measured,
        "cells_predicted": n_predicted,
        "measured_fraction": n_measured / n_cells if n_cells else None,
        "layers": layers,
    }
    for key in ("active", "fixed", "predictor"):
        if key in extras:
            report[key] = extras[key]
    return report


def _cell_ms(cell: dict[str, Any]) -> float | None:
    if cell["status"] == "ok":
        return cell["median_ms"]
    return cell.get("predicted_ms")


def _print_profile(report: dict[str, Any]) -> None:
    layers = report["layers"]
    mixed = report["cells_predicted"] > 0
    title = f"{report['target']}: median latency (ms), measured"
    if mixed:
        title += ", [italic]~predicted[/italic]"
    table = Table("op", *(f"L{row['layer']}" for row in layers), title=title)
    for op in layers[0]["ops"]:
        cells = []
        for row in layers:
            cell = row["ops"][op]
            if cell["status"] == "ok":
                text = f"{cell['median_ms']:.3f}"
            elif cell["source"] == "predicted":
                text = f"[italic]~{cell['predicted_ms']:.3f}[/italic]"
            elif cell["status"] == "missing":
                text = "[dim]-[/dim]"
            else:
                text = "[red]fail[/red]"
            cells.append(f"[bold green]{text}[/bold green]" if row["best_op"] == op else text)
        table.add_row(op, *cells)
    table.add_row("[bold]best[/bold]", *(row["best_op"] or "-" for row in layers))
    # One column per layer: never squeeze 20 layers into an 80-column pipe.
    wide = Console(width=max(console.width, 16 + 9 * len(layers)), file=console.file)
    wide.print(table)
    for part, info in (report.get("fixed") or {}).items():
        if info.get("ms") is not None:
            console.print(f"fixed {part}: {info['ms']:.3f} ms ({info['source']})", highlight=False)
    console.print(
        f"measured {report['measured']} (failed {report['failed']}), reused {report['reused']} "
        f"from {report['store']}",
        soft_wrap=True,
    )
    console.print(
        f"cells: {report['cells_measured']}/{report['cells']} measured "
        f"({100 * (report['measured_fraction'] or 0):.0f}%), {report['cells_predicted']} predicted",
        highlight=False,
    )
    if report.get("predictor"):
        p = report["predictor"]
        console.print(
            f"predictor: trained on {p['trained_on']} measured workloads, saved to {p['path']}",
            soft_wrap=True,
            highlight=False,
        )
    errors = [
        c["max_abs_error"] for row in layers for c in row["ops"].values() if "max_abs_error" in c
    ]
    if errors:
        console.print(
            f"outputs checked against torch: max abs error {max(errors):.2e} "
            f"over {len(errors)} workload(s)",
            highlight=False,
        )
    if report["emulated"]:
        console.print(
            "[yellow]emulated device: outputs are real, timings are not latencies[/yellow]",
            highlight=False,
        )
    for row in layers:
        for op, cell in row["ops"].items():
            if cell["status"] == "failed":
                console.print(f"[red]L{row['layer']} {op}: {cell['reason']}[/red]", soft_wrap=True)


@store_app.command("export")
def store_export(csv_path: Path, store: StoreOption = None) -> None:
    """Write every stored measurement to CSV."""
    count = LatencyStore(store or default_store()).export_csv(csv_path)
    console.print(f"exported {count} measurements to {csv_path}")


@store_app.command("import")
def store_import(csv_path: Path, store: StoreOption = None) -> None:
    """Merge measurements from a CSV made by 'hwnas store export'."""
    from hwnas.store import COLUMNS
    from hwnas.store_csv import read_store_csv

    rows = read_store_csv(csv_path, COLUMNS)  # checked before the store is opened or created
    count = LatencyStore(store or default_store()).import_rows(rows)
    console.print(f"imported {count} measurements")


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.command()(targets)
    app.command()(profile)
    app.add_typer(store_app, name="store")
