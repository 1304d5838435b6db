"""CLI: ``hwnas local-search-neighbours``: one step of the local search, for any architecture.

Lists the neighbours of an architecture (every architecture that differs at
exactly one position), the moves ``local-search`` considers from it. With
``--target`` it also gives each neighbour's latency and search accuracy and
marks the moves the climb would accept (under ``--latency-ms``, else under the
architecture's own latency), best first: a quick way to improve a hand-picked
architecture or to see why a climb stopped.

It uses the helpers every CLI module shares (:mod:`hwnas.cli.common`): the
rich ``console`` for tables, ``print_json`` / ``JsonFlag`` for ``--json``,
``load_space`` for ``--space``/``--option``. Errors are
:class:`hwnas.HwnasError` (one line, exit status 2).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from hwnas.cli.common import (
    DataDirOption,
    JsonFlag,
    OptionList,
    StoreOption,
    console,
    fmt,
    load_space,
    print_json,
    wide_console,
)
from hwnas.errors import HwnasError


def neighbours_command(
    arch: Annotated[str, typer.Argument(help="Architecture string (see 'hwnas arch sample').")],
    space: Annotated[str, typer.Option(help="Search space of ARCH, e.g. nb201.")],
    option: OptionList = None,
    target: Annotated[
        str | None,
        typer.Option(help="Also score every neighbour on this target (e.g. nb201/raspi4)."),
    ] = None,
    latency_ms: Annotated[
        float | None,
        typer.Option("--latency-ms", help="Latency cap for accepted moves (default: ARCH's)."),
    ] = None,
    dataset: Annotated[
        str, typer.Option(help="Dataset of the accuracy source, if it has several (NB201: c10).")
    ] = "c10",
    data_dir: DataDirOption = None,
    store: StoreOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List the one-position neighbours of ARCH (local-search's moves), scored with --target."""
    from hwnas_strategy_example.strategy import neighbours

    search_space = load_space(space, option)
    current = search_space.parse(arch)
    if latency_ms is not None and not latency_ms > 0:
        raise HwnasError(f"--latency-ms must be > 0, got {latency_ms:g}", "e.g. --latency-ms 20")
    rows: list[dict[str, Any]] = []
    for neighbour in neighbours(search_space, current):
        i = next(
            k
            for k, (a, b) in enumerate(zip(current.choices, neighbour.choices, strict=True))
            if a != b
        )
        rows.append(
            {
                "position": search_space.positions[i].name,
                "from": current.choices[i],
                "to": neighbour.choices[i],
                "arch": search_space.format(neighbour),
            }
        )
    report: dict[str, Any] = {
        "space": search_space.name,
        "arch": search_space.format(current),
        "neighbours": rows,
    }
    if target is not None:
        _score(report, search_space, current, target, latency_ms, dataset, data_dir, store)
    if as_json:
        print_json(report)
        return
    _print(report)


def _score(report, search_space, current, target, latency_ms, dataset, data_dir, store) -> None:
    """Add latency, search accuracy and the climb's verdict to every row (best moves first)."""
    from hwnas.accuracy import default_accuracy
    from hwnas.live_latency import resolve_latency_model
    from hwnas.problem import Evaluation
    from hwnas_strategy_example.strategy import improves

    model = resolve_latency_model(target, search_space, "target", data_dir, store)
    accuracy = default_accuracy(search_space.name, data_dir=data_dir, dataset=dataset)

    def evaluate(arch, index: int) -> Evaluation:
        latency = model.latency(arch)
        return Evaluation(arch, latency.ms, latency.source, accuracy.accuracy(arch), index)

    here = evaluate(current, -1)
    cap = here.latency_ms if latency_ms is None else float(latency_ms)
    for n, row in enumerate(report["neighbours"]):
        e = evaluate(search_space.parse(row["arch"]), n)
        row.update(
            latency_ms=e.latency_ms,
            latency_source=e.latency_source,
            accuracy=e.accuracy,
            improves=improves(e, here, cap),
        )
    report["neighbours"].sort(key=lambda r: (not r["improves"], -r["accuracy"], r["latency_ms"]))
    report.update(
        target=model.name,
        search_accuracy=accuracy.search_label,
        latency_ms=here.latency_ms,
        accuracy=here.accuracy,
        cap_ms=cap,
        improving=sum(r["improves"] for r in report["neighbours"]),
    )


def _print(report: dict[str, Any]) -> None:
    scored = "target" in report
    title = f"{len(report['neighbours'])} neighbours in {report['space']}"
    columns = ["position", "from", "to"]
    if scored:
        title += (
            f" on {report['target']}: {report['improving']} improve on "
            f"{report['accuracy']:.2f}% at {report['latency_ms']:.4g} ms "
            f"(cap {report['cap_ms']:.4g} ms)"
        )
        columns += ["latency ms", "search acc", "improves"]
    table = Table(*columns, box=box.SIMPLE_HEAD, title=title)
    table.add_column("architecture", overflow="fold")
    for row in report["neighbours"]:
        cells = [row["position"], str(row["from"]), str(row["to"])]
        if scored:
            cells += [
                fmt(row["latency_ms"], 4),
                fmt(row["accuracy"], 2),
                "[green]yes[/green]" if row["improves"] else "no",
            ]
        table.add_row(*cells, escape(row["arch"]))
    console.print(f"[bold]arch[/bold]: {escape(report['arch'])}", soft_wrap=True, highlight=False)
    wide_console().print(table)
