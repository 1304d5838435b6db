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


@transfer_app.command("adapt")
def transfer_adapt(
    space: Annotated[str, typer.Option(help="Search space: nb201 or fbnet (recorded proxies).")],
    measurements: Annotated[
        Path, typer.Option(help="CSV 'arch,latency_ms' measured on your device (>= 3 rows).")
    ],
    out: Annotated[
        Path, typer.Option(help="Predicted latency of every architecture (CSV; + .json summary).")
    ],
    proxies: Annotated[
        str | None,
        typer.Option(help="Comma-separated recorded devices as proxies; default: all recorded."),
    ] = None,
    exclude: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated devices never to use as proxies (with every other setting "
            "of their hardware), e.g. the device you measured when it is a recorded one."
        ),
    ] = None,
    data_dir: DataDirOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Fit the few-shot adaptation on your measurements; predict the whole space's latency."""
    from hwnas.plugins.proxy.adapt_file import adapt_measurements

    summary = adapt_measurements(
        space,
        measurements,
        out,
        proxies=[p.strip() for p in (proxies or "").split(",") if p.strip()] or None,
        exclude=[p.strip() for p in (exclude or "").split(",") if p.strip()],
        data_dir=data_dir,
    )
    if as_json:
        print_json(summary)
        return
    e = summary["expected_srcc"]
    console.print(
        f"{summary['space']}: {summary['measurements']} measurements, "
        f"{len(summary['proxies'])} proxies; chosen {summary['chosen']}"
    )
    console.print(
        f"leave-one-out SRCC on your measurements {fmt(e['estimate'])} "
        f"(95% interval {fmt(e['low'], 2)}-{fmt(e['high'], 2)}): the SRCC to expect on the "
        "architectures not measured"
    )
    console.print(
        f"wrote {summary['predictions']} ({summary['architectures']:,} architectures) and "
        f"{summary['summary']}"
    )
