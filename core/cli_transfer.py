"""CLI: ``hwnas search`` (any strategy on one target) and ``hwnas transfer analyze``."""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich import box
from rich.table import Table

from hwnas.cli_common import JsonFlag, OptionList, console, parse_options, print_json
from hwnas.errors import HwnasError

transfer_app = typer.Typer(
    help="Latency monotonicity between devices (proxy transfer).", no_args_is_help=True
)

DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Measured data (default $HWNAS_DATA).")
]
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Latency store for live targets (default $HWNAS_STORE)."),
]


def _jsonable(value: Any) -> Any:
    from hwnas.cli_search import jsonable

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return jsonable(value)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


# ---------------------------------------------------------------------------
# hwnas search
# ---------------------------------------------------------------------------


def strategy_options(
    pm, name: str, pairs: list[str] | None, extra: dict[str, Any]
) -> dict[str, Any]:
    """``-s KEY=VALUE`` (``search.KEY=VALUE`` goes to ``search_options``) plus convenience flags."""
    options = parse_options(pairs)
    nested: dict[str, Any] = {}
    for key in [k for k in options if k.startswith("search.")]:
        nested[key.split(".", 1)[1]] = options.pop(key)
    if nested:
        options["search_options"] = nested
    info = pm.get("strategy", name)
    try:
        accepted = set(inspect.signature(info.spec.factory).parameters)
    except (TypeError, ValueError):
        accepted = set()
    for key, value in extra.items():
        if value is None:
            continue
        if key in ("proxy", "samples") and key not in accepted:
            raise HwnasError(
                f"--{key} is an option of strategy proxy, not of {info.name!r}",
                f"drop --{key} or use --strategy proxy",
            )
        if key in accepted:
            options.setdefault(key, value)
    return options


def search(
    strategy: Annotated[str, typer.Option(help="Strategy plugin (random, evolution, proxy...).")],
    target: Annotated[str, typer.Option(help="Target: nb201/raspi4, or a live target.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for result.json, front.png (default runs/STRATEGY)."),
    ] = None,
    space: Annotated[
        str | None, typer.Option(help="Search space (default: the strategy's, else nb201).")
    ] = None,
    space_option: OptionList = None,
    evals: Annotated[
        int | None,
        typer.Option(help="Budget: evaluations (default: the strategy's, else 100)."),
    ] = None,
    latency_ms: Annotated[
        float | None, typer.Option("--latency-ms", help="Latency limit on the target (ms).")
    ] = None,
    strategy_option: Annotated[
        list[str] | None,
        typer.Option("--strategy-option", "-s", help="Strategy option KEY=VALUE."),
    ] = None,
    proxy: Annotated[
        str | None, typer.Option(help="Proxy target(s) for --strategy proxy (a,b for several).")
    ] = None,
    samples: Annotated[
        int | None, typer.Option(help="Target samples k for --strategy proxy (default 10).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    dataset: Annotated[str, typer.Option(help="NB201 accuracy: c10, c100 or in16.")] = "c10",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Measured data (default $HWNAS_DATA); for the hurricane space the images "
            "(IDX, image folder or CIFAR batches; default Fashion-MNIST).",
        ),
    ] = None,
    store: StoreOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Search SPACE for the latency/accuracy Pareto front on TARGET; write JSON and PNG."""
    from hwnas.accuracy_sources import default_accuracy
    from hwnas.manager import get_plugin_manager
    from hwnas.problem import Problem
    from hwnas.transfer.live import resolve_latency_model

    pm = get_plugin_manager()
    info = pm.get("strategy", strategy)
    spec = info.spec
    evals = (spec.evals or 100) if evals is None else evals
    if evals < 1:
        raise HwnasError(f"--evals must be >= 1, got {evals}", "e.g. --evals 100")
    if latency_ms is not None and latency_ms <= 0:
        raise HwnasError(f"--latency-ms must be > 0, got {latency_ms}")
    out = out or Path("runs") / info.name
    space_options = parse_options(space_option)
    if space is None:
        space = spec.space or "nb201"
        space_options = {**spec.space_options, **space_options}
    search_space = pm.create("space", space, **space_options)
    options = strategy_options(
        pm,
        info.name,
        strategy_option,
        {
            "proxy": proxy,
            "samples": samples,
            "data_dir": None if data_dir is None else str(data_dir),
            "store": None if store is None else str(store),
            "workdir": str(out),
            "show_progress": not as_json,
        },
    )
    model = resolve_latency_model(target, search_space, "target", data_dir, store)
    accuracy_options: dict[str, Any] = {"data_dir": data_dir}
    if space == "nb201":
        accuracy_options["dataset"] = dataset
    accuracy = default_accuracy(space, **accuracy_options)
    strategy_obj = pm.create("strategy", info.name, **options)
    problem = Problem(
        search_space,
        model,
        accuracy,
        budget=evals,
        seed=seed,
        latency_limit_ms=latency_ms,
        strategy_name=info.name,
        plugin_manager=pm,
    )
    started = time.perf_counter()
    result = strategy_obj.search(problem)
    seconds = time.perf_counter() - started
    report = search_report(result, problem, info.name, options, target, dataset, data_dir)
    report["seconds"] = seconds
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "result.json"
    json_path.write_text(json.dumps(_jsonable(report), indent=2) + "\n", encoding="utf-8")
    png_path = plot_search(report, out / "front.png")
    if as_json:
        print_json(_jsonable(report))
        return
    print_search(report)
    console.print(f"wrote {json_path} and {png_path} ({seconds:.1f} s)")


def search_report(
    result, problem, strategy: str, options: dict, target: str, dataset: str, data_dir
) -> dict[str, Any]:
    """JSON-ready report: front with provenance, best, measurements spent, truth when known."""
    space, accuracy = problem.space, problem.accuracy
    report_acc = getattr(accuracy, "report_accuracy", None)

    def row(e) -> dict[str, Any]:
        item = {
            "arch": space.format(e.arch),
            "latency_ms": e.latency_ms,
            "latency_source": e.latency_source,
            "accuracy": e.accuracy,
            "index": e.index,
        }
        if report_acc is not None:
            item["report_accuracy"] = report_acc(e.arch)
        return item

    report: dict[str, Any] = {
        "strategy": strategy,
        "strategy_options": {
            k: v for k, v in options.items() if not hasattr(v, "latency") and k != "show_progress"
        },
        "space": space.name,
        "target": problem.latency.name,
        "seed": problem.seed,
        "budget": problem.budget,
        "latency_limit_ms": problem.latency_limit_ms,
        "search_accuracy": getattr(accuracy, "search_column", accuracy.name),
        "report_accuracy": getattr(accuracy, "report_column", accuracy.name),
        "evaluations": result.evaluations,
        "target_measurements": result.extra.get("target_measurements", result.evaluations),
        "latency_sources": sorted({e.latency_source for e in result.history}),
        "front": [row(e) for e in result.front],
        "best": None if result.best is None else row(result.best),
        "extra": result.extra,
        "truth": None,
    }
    for key in ("proxy", "srcc_estimate", "adapted"):  # the proxy strategy's headline facts
        if key in result.extra:
            report[key] = result.extra[key]
    recorded = getattr(problem.latency, "device", None)
    if space.name == "nb201" and recorded is not None:
        from hwnas.arena import ground_truth, score

        truth = ground_truth("nb201", recorded, dataset, data_dir)
        scored = score(result, truth)
        report["truth"] = {
            "hv_ratio": scored["hv_ratio"],
            "hv": scored["hv"],
            "true_hv": truth.true_hv,
            "regret": scored["regret"],
            "latency_budgets_ms": truth.budgets_ms.tolist(),
            "true_front": [
                {"latency_ms": float(truth.lat[r]), "report_accuracy": float(truth.report_acc[r])}
                for r in truth.true_front
            ],
            "protocol": "BENCHMARKS.md arena scoring (hwnas.arena.score): front scored with "
            "report (test) accuracy, normalised HV vs the true front",
        }
    return report


def print_search(report: dict[str, Any]) -> None:
    """The people's view of a search: the front and what it cost."""
    extra = report["extra"]
    table = Table(
        "latency ms",
        "source",
        "search acc",
        "report acc",
        "architecture",
        box=box.SIMPLE_HEAD,
        title=f"{report['strategy']} on {report['target']} ({report['space']}): "
        f"{len(report['front'])} on the front, {report['target_measurements']} target "
        "measurements",
    )
    for p in report["front"]:
        table.add_row(
            _fmt(p["latency_ms"], 4),
            p["latency_source"],
            _fmt(p["accuracy"], 2),
            _fmt(p.get("report_accuracy"), 2),
            p["arch"],
        )
    from hwnas.cli_search import wide_console

    wide_console().print(table)
    if "srcc_statement" in extra:
        console.print(
            f"proxy {extra['proxy']}: {extra['srcc_statement']}; "
            + (
                f"adapted ({extra['adaptation']['chosen']})"
                if extra["adapted"]
                else "transferred (no adaptation)"
            )
            + f"; {extra['measurements_before_retiming']} samples + {extra['retimed']} re-timed "
            f"of a {extra['proxy_front_size']}-point proxy front",
            soft_wrap=True,
        )
    if report["truth"]:
        console.print(f"HV ratio vs the true front: {report['truth']['hv_ratio']:.3f}")
    if "final" in extra:
        print_final(report)


def print_final(report: dict[str, Any]) -> None:
    """A one-shot search's winner: measured latency, from-scratch accuracy, files, cost."""
    extra = report["extra"]
    final = extra["final"]
    scratch = final["scratch"]
    for stage in extra.get("stages", []):
        console.print(
            f"stage {stage['stage']}: searched layers {stage['searched_layers'][0]}-"
            f"{stage['searched_layers'][-1]}, supernet {stage['steps']} steps "
            f"({stage['train_seconds']:.0f} s), {stage['evaluations']} evaluations "
            f"({stage['search_seconds']:.0f} s) -> {stage['winner_accuracy']:.2f}% supernet "
            f"accuracy at {stage['winner_latency_ms']:.3f} ms (layer model)",
            highlight=False,
        )
    console.print(
        f"[bold]winner[/bold] {final['arch']}\n"
        f"  latency {final['latency_ms']:.3f} ms ({final['latency_source']}; layer model "
        f"{final['predicted_latency_ms']:.3f} ms; limit {report['latency_limit_ms']} ms)"
        f"\n  test accuracy {scratch['test_accuracy']:.2f}% after {scratch['epochs']:.2g} epoch(s) "
        f"from scratch ({scratch['seconds']:.0f} s)\n  files: "
        + ", ".join(str(v) for v in final["files"].values()),
        highlight=False,
        soft_wrap=True,
    )


def plot_search(report: dict[str, Any], path: Path) -> Path:
    """PNG: the target front (and the true front when known), the samples highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    key = (
        "report_accuracy"
        if report["front"] and "report_accuracy" in report["front"][0]
        else ("accuracy")
    )
    if report["truth"]:
        true = report["truth"]["true_front"]
        ax.step(
            [p["latency_ms"] for p in true],
            [p["report_accuracy"] for p in true],
            where="post",
            color="black",
            lw=1.4,
            label=f"true front ({len(true)})",
        )
    front = report["front"]
    label = f"{report['strategy']} front ({len(front)}, measured on target)"
    if report["truth"]:
        label += f", HV ratio {report['truth']['hv_ratio']:.3f}"
    ax.plot(
        [p["latency_ms"] for p in front],
        [p[key] for p in front],
        "o-",
        ms=4,
        lw=0.8,
        drawstyle="steps-post",
        color="tab:red",
        label=label,
    )
    extra = report["extra"]
    if extra.get("unmeasured_front"):
        un = extra["unmeasured_front"]
        ax.plot(
            [p["latency_ms"] for p in un],
            [p["accuracy"] for p in un],
            "x",
            color="grey",
            label=f"not re-timed ({len(un)}, predicted latency, search accuracy)",
        )
    ax.set_xlabel(f"latency on {report['target']} (ms)")
    ax.set_ylabel(f"accuracy (%) [{report['report_accuracy'] if key != 'accuracy' else 'search'}]")
    title = (
        f"{report['space']} on {report['target']}: {report['target_measurements']} target "
        "measurements"
    )
    if "srcc_statement" in extra:
        statement = extra["srcc_statement"].replace(" (", "\n(", 1)
        title += f"\nproxy {extra['proxy']}: {statement}"
        title += f"; {'adapted' if extra['adapted'] else 'transferred'}"
    ax.set_title(title, fontsize=8)
    if report["truth"] and front:
        accs = [p["report_accuracy"] for p in report["truth"]["true_front"]]
        ax.set_ylim(float(np.percentile(accs, 10)) - 2, max(accs) + 0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------
# hwnas transfer analyze
# ---------------------------------------------------------------------------


@transfer_app.command("analyze")
def transfer_analyze(
    space: Annotated[str, typer.Option(help="Search space.")] = "nb201",
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
    from hwnas.transfer.monotonicity import analyze, device_table, plot_heatmap

    names = [d.strip() for d in (devices or "").split(",") if d.strip()] or None
    if names is not None and len(names) < 2:
        raise HwnasError("--devices needs at least two devices", "e.g. --devices pixel3,raspi4")
    table = device_table(space, names, data_dir, store)
    report = analyze(table)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "srcc.json"
    json_path.write_text(json.dumps(_jsonable(report), indent=2) + "\n", encoding="utf-8")
    png_path = plot_heatmap(report, out / "srcc_heatmap.png")
    if as_json:
        print_json(_jsonable(report))
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
            name, best["proxy"] if best else "-", _fmt(best["srcc"] if best else None), str(others)
        )
    from hwnas.cli_search import wide_console

    wide_console().print(t)
    console.print(f"wrote {json_path} and {png_path}")


def register(app: typer.Typer) -> None:
    """Add ``hwnas search`` and ``hwnas transfer`` to the main app."""
    app.command("search")(search)
    app.add_typer(transfer_app, name="transfer")
