"""CLI commands for search on ground truth: ``hwnas arena``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from hwnas.cli.common import (
    ConfigOption,
    DataDirOption,
    JsonFlag,
    console,
    fmt,
    print_json,
    wide_console,
    write_json,
)
from hwnas.errors import HwnasError
from hwnas.progress import progress_bar
from hwnas.run_folder import open_run, release_unused


def _split(text: str, what: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise HwnasError(f"no {what} given", f"e.g. --{what} a,b")
    return items


def _parse_evals(text: str) -> list[int]:
    from hwnas.arena import validate_evals

    values = []
    for part in _split(text, "evals"):
        try:
            values.append(int(part))
        except ValueError:
            raise HwnasError(
                f"bad evaluation budget {part!r}", "e.g. --evals 100,300,1000"
            ) from None
    return validate_evals(values)


def arena(
    space: Annotated[
        str, typer.Option(help="Space with an accuracy source, e.g. nb201 (tabulated) or ofa.")
    ],
    device: Annotated[str, typer.Option(help="Recorded device of the space, e.g. raspi4.")],
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategy plugins, e.g. random,evolution,nsga2.")
    ],
    evals: Annotated[
        str, typer.Option(help="Comma-separated evaluation budgets.")
    ] = "100,300,1000",
    seeds: Annotated[
        int | None,
        typer.Option(help="Seeds per strategy and budget (default: 10 random, 5 others)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder for arena.json and the PNG.")] = Path(
        "arena"
    ),
    data_dir: DataDirOption = None,
    dataset: Annotated[str, typer.Option(help="NB201 accuracy: c10, c100 or in16.")] = "c10",
    reference_evals: Annotated[
        int,
        typer.Option(
            help="Space not tabulated (ofa): evaluations of each reference search whose best "
            "known front stands in for the true one."
        ),
    ] = 10_000,
    reference_seeds: Annotated[
        int, typer.Option(help="Space not tabulated: how many reference searches.")
    ] = 2,
    config: ConfigOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Start over in --out (by default the same command resumes the arena there).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Score strategies against the true Pareto front: HV ratio, regret under 5 latency budgets.

    On a space too large to tabulate (ofa on note10) the front is the best
    known one: a uniform sample, reference evolution runs and every scored run.
    Each finished run is kept in --out; the same command run again skips them.
    """
    from hwnas.arena import check_device, protocol_seeds, reference_search
    from hwnas.config import load_config, target_options
    from hwnas.manager import get_plugin_manager

    check_device(space, device)
    names = _split(strategies, "strategies")
    budgets = _parse_evals(evals)
    pm = get_plugin_manager()
    for name in names:
        pm.get("strategy", name)
    if seeds is not None and seeds < 1:
        raise HwnasError(f"--seeds must be >= 1, got {seeds}", "e.g. --seeds 5")
    reference = reference_search(reference_evals, reference_seeds)
    if data_dir is None:
        data_dir = target_options(load_config(config), f"{space}/{device}", {}).get("data_dir")
    total = sum(protocol_seeds(n, seeds, pm) for n in names) * len(budgets)
    identity = {
        "space": space,
        "device": device,
        "strategies": names,
        "evals": budgets,
        "seeds": seeds,
        "dataset": dataset,
        "data_dir": None if data_dir is None else str(data_dir),
        "reference": reference,
    }
    open_run(out, "arena", identity, fresh, ("runs/*.json", "arena.json", "arena_*.png"))
    started = time.perf_counter()
    bar = progress_bar(progress, label="arena", transient=True, terminal_only=False)
    with bar:
        task = bar.add_task(f"{space}/{device}", total=total)
        report = _run(
            out,
            space=space,
            device=device,
            strategies=names,
            evals=budgets,
            seeds=seeds,
            dataset=dataset,
            data_dir=data_dir,
            progress=lambda label: bar.update(task, advance=1, description=label),
            plugin_manager=pm,
            runs_dir=out / "runs",
            reference=reference,
        )
    report["seconds"] = time.perf_counter() - started
    json_path = write_json(out / "arena.json", report)
    from hwnas.arena import plot_arena

    png_path = plot_arena(report, out / f"arena_{device}.png")
    if as_json:
        print_json(report)
        return
    print_arena_table(report)
    console.print(f"wrote {json_path} and {png_path} ({report['seconds']:.1f} s)")


def _run(out: Path, **kwargs) -> dict[str, Any]:
    """:func:`hwnas.arena.run_arena`; bad input found there leaves no run.json in ``out``."""
    from hwnas.arena import run_arena

    try:
        return run_arena(**kwargs)
    except HwnasError:
        release_unused(out)
        raise


def print_arena_table(report: dict[str, Any]) -> None:
    """The people's view: HV ratio mean ± std, regret at the 5 budgets, evaluations used."""
    budgets = ", ".join(
        f"{q:.0%}: {b:.3g} ms"
        for q, b in zip(report["budget_quantiles"], report["latency_budgets_ms"], strict=True)
    )
    table = Table(
        "strategy",
        "evals",
        "seeds",
        "HV ratio",
        *(f"R{q * 100:.0f}" for q in report["budget_quantiles"]),
        "used (unique)",
        box=box.SIMPLE_HEAD,
        title=f"{report['space']} on {report['device']}: search sees "
        f"{report['search_accuracy']}, reported with {report['report_accuracy']}",
        caption=f"R<q>: mean regret (accuracy points) under the latency budget at quantile q "
        f"({budgets})",
    )
    for row in report["results"]:
        table.add_row(
            row["strategy"],
            str(row["evals"]),
            str(row["seeds"]),
            f"{fmt(row['hv_ratio_mean'])} ± {fmt(row['hv_ratio_std'])}",
            *(fmt(r, 2) for r in row["regret_mean"]),
            f"{row['evaluations_mean']:.0f} ({row['unique_mean']:.0f})",
        )
    wide_console().print(table)


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.command()(arena)
