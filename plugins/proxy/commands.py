"""Commands of the proxy plugin: ``hwnas transfer analyze``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich import box
from rich.table import Table

from hwnas.cli.common import (
    DataDirOption,
    JsonFlag,
    StoreOption,
    console,
    fmt,
    print_json,
    wide_console,
    write_json,
)
from hwnas.errors import HwnasError

transfer_app = typer.Typer(
    help="Latency monotonicity between devices (proxy transfer).", no_args_is_help=True
)


@transfer_app.command("analyze")
def transfer_analyze(
    space: Annotated[str, typer.Option(help="Search space, e.g. nb201.")],
    devices: Annotated[
        str | None,
        typer.Option(help="Comma-separated devices (recorded or live); default: all recorded."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for srcc.json and the heatmap.")] = Path(
        "transfer"
    ),
    data_dir: DataDirOption = None,
    store: StoreOption = None,
    as_json: JsonFlag = False,
) -> None:
    """SRCC matrix between devices on their shared architectures, heatmap, best proxy each."""
    from hwnas.plugins.proxy.monotonicity import analyze, device_table, plot_heatmap

    names = [d.strip() for d in (devices or "").split(",") if d.strip()] or None
    if names is not None and len(names) < 2:
        raise HwnasError("--devices needs at least two devices", "e.g. --devices pixel3,raspi4")
    table = device_table(space, names, data_dir, store)
    report = analyze(table)
    json_path = write_json(out / "srcc.json", report)
    png_path = plot_heatmap(report, out / "srcc_heatmap.png")
    if as_json:
        print_json(report)
        return
    matrix = np.asarray(report["srcc"])
    t = Table(
        "device",
        "best proxy",
        "SRCC",
        "others >= 0.9",
        box=box.SIMPLE_HEAD,
        title=f"{space}: latency SRCC on {report['shared_architectures']:,} shared "
        "architectures (same-hardware settings excluded)",
    )
    for i, name in enumerate(report["devices"]):
        best = report["best_proxy"][name]
        others = sum(
            1
            for j, other in enumerate(report["devices"])
            if j != i
            and matrix[i, j] >= 0.9
            and report["hardware"][other] != report["hardware"][name]
        )
        t.add_row(
            name, best["proxy"] if best else "-", fmt(best["srcc"] if best else None), str(others)
        )
    wide_console().print(t)
    console.print(f"wrote {json_path} and {png_path}")
