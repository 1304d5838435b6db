"""CLI: ``hwnas search``: any strategy on any target, result.json and front.png.

The command knows no strategy by name. Options a strategy declares as keyword
parameters of its factory are given as ``-s KEY=VALUE`` or as plain flags
(``--proxy nb201/pixel3`` for a strategy that takes ``proxy``); the strategy
prints its own summary lines and draws its own plot extras
(:meth:`hwnas.strategy.Strategy.summary`, :meth:`~hwnas.strategy.Strategy.plot`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from hwnas.cli.checks import rule_for
from hwnas.cli.common import (
    DataDirOption,
    JsonFlag,
    OptionList,
    StoreOption,
    console,
    fmt,
    parse_options,
    print_json,
    wide_console,
    write_json,
)
from hwnas.errors import HwnasError, ResultUnmet
from hwnas.latency import target_space_options
from hwnas.manager import accepted_options
from hwnas.run_folder import open_run, release_unused

# Facts every run offers a strategy; a strategy receives those its factory accepts.
RUN_FACTS = ("data_dir", "store", "workdir", "show_progress", "fresh")


def extra_flags(args: list[str]) -> dict[str, Any]:
    """``["--proxy", "a", "--samples=10"]`` -> ``{"proxy": "a", "samples": 10}``."""
    pairs: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise HwnasError(f"unexpected argument {arg!r}", "see 'hwnas search --help'")
        name, sep, value = arg[2:].partition("=")
        if not sep:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise HwnasError(f"--{name} needs a value", f"write --{name} VALUE")
            value = args[i + 1]
            i += 1
        pairs.append(f"{name}={value}")
        i += 1
    return parse_options(pairs)


def strategy_options(
    pm, name: str, pairs: list[str] | None, flags: dict[str, Any], facts: dict[str, Any]
) -> dict[str, Any]:
    """The strategy's options from ``-s KEY=VALUE``, extra ``--KEY VALUE`` flags and run facts.

    ``-s search.KEY=VALUE`` goes to the strategy's ``search_options``. A flag
    the strategy does not accept is a one-line error listing those it does.
    """
    options = parse_options(pairs)
    nested: dict[str, Any] = {}
    for key in [k for k in options if k.startswith("search.")]:
        nested[key.split(".", 1)[1]] = options.pop(key)
    if nested:
        options["search_options"] = nested
    info = pm.get("strategy", name)
    accepted = accepted_options(info.spec.factory)  # None: the factory takes any option
    for key, value in flags.items():
        if accepted is not None and key not in accepted:
            valid = ", ".join(
                f"--{k.replace('_', '-')}" for k in sorted(set(accepted) - set(RUN_FACTS))
            )
            raise HwnasError(
                f"--{key.replace('_', '-')} is not an option of strategy {info.name!r}",
                f"its options: {valid or 'none'}",
            )
        options.setdefault(key, value)
    for key, value in facts.items():
        if value is not None and (accepted is None or key in accepted):
            options.setdefault(key, value)
    return options


def default_space(pm, spec, target: str) -> tuple[str, dict[str, Any]]:
    """The space a search runs on when ``--space`` is not given.

    The strategy's declared space, else the space of a recorded target (with
    the options it declares for it).
    """
    if spec.space:
        return spec.space, dict(spec.space_options)
    target_spec = pm.get("target", target).spec
    if getattr(target_spec, "space", None):
        return target_spec.space, dict(target_spec.space_options)
    raise HwnasError(
        f"strategy {spec.name!r} has no default space and {target!r} is a live target",
        "pass --space (see 'hwnas plugins --kind space')",
    )


def search(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Option(help="Strategy plugin (see 'hwnas plugins').")],
    target: Annotated[str, typer.Option(help="Target: a recorded device or a live target.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for result.json, front.png (default runs/STRATEGY)."),
    ] = None,
    space: Annotated[
        str | None,
        typer.Option(help="Search space (default: the strategy's, else the recorded target's)."),
    ] = None,
    space_option: OptionList = None,
    evals: Annotated[
        int | None,
        typer.Option(help="Budget: evaluations (default: the strategy's, else 100)."),
    ] = None,
    latency_ms: Annotated[
        str | None,
        typer.Option(
            "--latency-ms",
            help="Latency limit on the target: ms (0.6), or N% of the space's latency range "
            "on the target (40%: fastest + 0.4 x (slowest - fastest); the same on fast and slow "
            "machines).",
        ),
    ] = None,
    strategy_option: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy-option",
            "-s",
            metavar="KEY=VALUE",
            help="Strategy option KEY=VALUE; any option the strategy takes is also a flag "
            "(--KEY VALUE).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    dataset: Annotated[
        str, typer.Option(help="Dataset of the accuracy source, if it has several (NB201: c10).")
    ] = "c10",
    data_dir: DataDirOption = None,
    store: StoreOption = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Start over in --out (by default the same command resumes the run there).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Search SPACE for the latency/accuracy Pareto front on TARGET; write JSON and PNG.

    The run's state lives in --out: the same command run again resumes it
    (after an interrupt, say); other options with the same --out are an error.
    """
    from hwnas.manager import get_plugin_manager

    pm = get_plugin_manager()
    info = pm.get("strategy", strategy)
    spec = info.spec
    evals = (spec.evals or 100) if evals is None else evals
    if evals < 1:
        raise HwnasError(f"--evals must be >= 1, got {evals}", "e.g. --evals 100")
    limit_ms, limit_share = parse_latency_limit(latency_ms)
    flags = extra_flags(list(ctx.args))
    out = out or Path("runs") / info.name
    space_options = parse_options(space_option)
    if space is None:
        space, declared = default_space(pm, spec, target)
        space_options = {**declared, **space_options}
    else:
        space_options = {**target_space_options(target, space, pm), **space_options}
    search_space = pm.create("space", space, **space_options)
    facts = {
        "data_dir": None if data_dir is None else str(data_dir),
        "store": None if store is None else str(store),
        "workdir": str(out),
        "show_progress": not as_json,
        "fresh": fresh or None,
    }
    options = strategy_options(pm, info.name, strategy_option, flags, facts)
    strategy_obj = pm.create("strategy", info.name, **options)
    identity = {
        "strategy": info.name,
        "target": target,
        "space": space,
        "space_options": space_options,
        "evals": evals,
        "latency_ms": latency_ms,
        "seed": seed,
        "dataset": dataset,
        "data_dir": facts["data_dir"],
        "store": facts["store"],
        "strategy_options": {
            k: v for k, v in options.items() if k not in ("show_progress", "workdir", "fresh")
        },
    }
    open_run(out, "search", identity, fresh, ("result.json", "front.png"))
    try:
        result, problem, seconds = _run_search(
            pm, info, target, search_space, strategy_obj, evals, seed, (limit_ms, limit_share),
            data_dir, store, dataset,
        )  # fmt: skip
    except HwnasError:
        release_unused(out)  # rejected before any work: leave no run.json behind
        raise
    report = search_report(result, problem, options, dataset, data_dir)
    report["seconds"] = seconds
    markup = strategy_obj.summary(result)
    report["summary"] = [Text.from_markup(line).plain for line in markup]  # JSON: plain text
    report["unmet"] = result.unmet
    json_path = write_json(out / "result.json", report)
    png_path = plot_search(report, out / "front.png", lambda ax: strategy_obj.plot(result, ax))
    if as_json:
        print_json(report)
    else:
        print_search(report, markup)
        console.print(f"wrote {json_path} and {png_path} ({seconds:.1f} s)")
    if result.unmet:
        raise ResultUnmet(f"{result.unmet}; results in {json_path}")


def parse_latency_limit(text: str | None) -> tuple[float | None, float | None]:
    """``--latency-ms``: ``(ms, None)`` for a number, ``(None, share)`` for ``N%``, 0 < N <= 100."""
    if text is None:
        return None, None
    raw = text.strip()
    relative = raw.endswith("%")
    try:
        value = float(raw[:-1] if relative else raw)
    except ValueError:
        value = float("nan")
    if relative:
        if not (np.isfinite(value) and 0 < value <= 100):
            raise HwnasError(
                f"--latency-ms {text!r}: a relative limit must be a share in (0%, 100%]",
                "e.g. --latency-ms 40% (fastest + 0.4 x (slowest - fastest))",
            )
        return None, value / 100
    if np.isnan(value) and raw.lower() != "nan":
        raise HwnasError(
            f"--latency-ms must be a number > 0 or a share N%, got {text!r}",
            "e.g. --latency-ms 0.6 or --latency-ms 40%",
        )
    rule_for("search", "latency_ms").check("--latency-ms", value)  # the range every command uses
    return value, None


def _resolve_share(problem, strategy_obj) -> None:
    """Resolve ``N%`` on a tabulated target here; leave it to a strategy that resolves it."""
    if problem.latency_limit_share is None or strategy_obj.resolves_limit_share:
        return
    table = getattr(problem.latency, "all_latencies", None)
    if table is None:
        raise HwnasError(
            f"--latency-ms {100 * problem.latency_limit_share:g}% needs the space's latency range: "
            f"{problem.latency.name!r} has no table and strategy {problem.strategy_name!r} does "
            "not resolve relative limits",
            "give the limit in ms, or use a recorded target or the hurricane strategy",
        )
    latencies = np.asarray(table(), dtype=float)
    problem.resolve_limit_share(float(latencies.min()), float(latencies.max()))


def _run_search(
    pm, info, target, search_space, strategy_obj, evals, seed, limit, data_dir, store, dataset
):
    """Resolve the latency model and accuracy source, then run the strategy on the Problem."""
    from hwnas.accuracy import default_accuracy
    from hwnas.live_latency import resolve_latency_model
    from hwnas.problem import Problem

    model = resolve_latency_model(target, search_space, "target", data_dir, store)
    accuracy = default_accuracy(search_space.name, pm, data_dir=data_dir, dataset=dataset)
    problem = Problem(
        search_space,
        model,
        accuracy,
        budget=evals,
        seed=seed,
        latency_limit_ms=limit[0],
        latency_limit_share=limit[1],
        strategy_name=info.name,
        plugin_manager=pm,
    )
    _resolve_share(problem, strategy_obj)
    started = time.perf_counter()
    result = strategy_obj.search(problem)
    return result, problem, time.perf_counter() - started


def search_report(result, problem, options: dict, dataset: str, data_dir) -> dict[str, Any]:
    """JSON-ready report: front with provenance, best, measurements spent, truth when known."""
    space, accuracy = problem.space, result.accuracy or problem.accuracy

    def row(e) -> dict[str, Any]:
        return {
            "arch": space.format(e.arch),
            "latency_ms": e.latency_ms,
            "latency_source": e.latency_source,
            "accuracy": e.accuracy,
            "report_accuracy": accuracy.report_accuracy(e.arch),
            "index": e.index,
        }

    return {
        "strategy": result.strategy,
        "strategy_options": {
            k: v
            for k, v in options.items()
            if isinstance(v, str | int | float | bool | dict | list) and k != "show_progress"
        },
        "space": space.name,
        "target": problem.latency.name,
        "seed": problem.seed,
        "budget": problem.budget,
        "latency_limit_ms": problem.latency_limit_ms,
        "latency_limit_share": problem.latency_limit_share,
        "search_accuracy": accuracy.search_label,
        "report_accuracy": accuracy.report_label,
        "evaluations": result.evaluations,
        "target_measurements": result.extra.get("target_measurements", result.evaluations),
        "latency_sources": sorted({e.latency_source for e in result.history}),
        "latency_label": result.latency_label
        or latency_label({e.latency_source for e in result.front}, problem.latency.name),
        "front": [row(e) for e in result.front],
        "best": None if result.best is None else row(result.best),
        "extra": result.extra,
        "truth": truth_report(result, problem, dataset, data_dir),
    }


def truth_report(result, problem, dataset: str, data_dir) -> dict[str, Any] | None:
    """The search scored against the true front, when the target tabulates the whole space."""
    from hwnas.arena import ground_truth, score
    from hwnas.latency import recorded_devices

    name = problem.latency.name
    device = name.split("/", 1)[-1]
    if not name.startswith(f"{problem.space.name}/") or device not in recorded_devices(
        problem.space.name
    ):
        return None
    try:
        truth = ground_truth(problem.space.name, device, dataset, data_dir, exact_only=True)
    except HwnasError:
        return None  # a partial table (sampled spaces): no true front
    scored = score(result, truth)
    return {
        "hv_ratio": scored["hv_ratio"],
        "hv": scored["hv"],
        "true_hv": truth.true_hv,
        "regret": scored["regret"],
        "latency_budgets_ms": truth.budgets_ms.tolist(),
        "true_front": [
            {"latency_ms": float(truth.lat[r]), "report_accuracy": float(truth.report_acc[r])}
            for r in truth.true_front
        ],
        "protocol": "arena scoring (hwnas.arena.score, benchmarks/PROTOCOLS.md): front scored "
        "with report accuracy, normalised HV vs the true front",
    }


def print_search(report: dict[str, Any], summary: list[str] | None = None) -> None:
    """The people's view of a search: the front, what it cost, the strategy's own summary.

    ``summary``: the strategy's lines with their rich markup (default: the report's plain ones).
    """
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
            fmt(p["latency_ms"], 4),
            p["latency_source"],
            fmt(p["accuracy"], 2),
            fmt(p.get("report_accuracy"), 2),
            p["arch"],
        )
    wide_console().print(table)
    for line in report["summary"] if summary is None else summary:
        console.print(line, highlight=False, soft_wrap=True)
    if report["truth"]:
        console.print(f"HV ratio vs the true front: {report['truth']['hv_ratio']:.3f}")


#: How each ``latency_source`` is named on plots (``{target}`` is the report's target).
SOURCE_WORDS = {
    "measured": "measured end to end on {target}",
    "layer-sum": "sum of layers measured on {target}",
    "predicted": "predicted by a latency model ({target})",
    "recorded": "recorded table ({target})",
}


def latency_label(sources, target: str) -> str:
    """Where latencies with these ``latency_source`` values come from, in words."""
    words = [SOURCE_WORDS.get(s, s + " ({target})").format(target=target) for s in sorted(sources)]
    return ", ".join(words) or "-"


def plot_search(report: dict[str, Any], path: Path, extras=None) -> Path:
    """PNG: the front (and the true front when known, and the limit); ``extras(ax)`` adds more.

    ``extras`` returns an optional line for the title (the strategy's
    :meth:`~hwnas.strategy.Strategy.plot`).
    """
    import matplotlib.pyplot as plt

    fig = front_figure(report, extras)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def front_figure(report: dict[str, Any], extras=None):
    """The front plot as a matplotlib figure; its labels say where each number comes from.

    The x label and the front's legend entry name the latency source
    (``report["latency_label"]``, else :func:`latency_label` of the front's
    ``latency_source``), the y label the accuracy source; the limit is a
    vertical line and front points over it are crosses. ``extras(ax)`` runs
    after the labels are set (a strategy may add to them).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    if report["truth"]:
        true = report["truth"]["true_front"]
        ax.step(
            [p["latency_ms"] for p in true],
            [p["report_accuracy"] for p in true],
            where="post",
            color="black",
            lw=1.4,
            label=f"true front ({len(true)}; {report['report_accuracy']})",
        )
    front = report["front"]
    latency = report.get("latency_label") or latency_label(
        {p["latency_source"] for p in front}, report["target"]
    )
    accuracy = report["report_accuracy"]
    label = f"{report['strategy']} front ({len(front)}; latency: {latency}; accuracy: {accuracy})"
    if report["truth"]:
        label += f", HV ratio {report['truth']['hv_ratio']:.3f}"
    limit = report["latency_limit_ms"]
    ax.plot(
        [p["latency_ms"] for p in front],
        [p["report_accuracy"] for p in front],
        "o-",
        ms=4,
        lw=0.8,
        drawstyle="steps-post",
        color="tab:red",
        label=label,
    )
    if limit is not None:
        ax.axvline(limit, color="grey", ls="--", lw=1, label=f"latency limit {limit:g} ms")
        over = [p for p in front if p["latency_ms"] > limit]
        if over:
            ax.plot(
                [p["latency_ms"] for p in over],
                [p["report_accuracy"] for p in over],
                "x",
                color="black",
                ms=7,
                label=f"over the limit ({len(over)}; infeasible)",
            )
    title = (
        f"{report['space']} on {report['target']}: {report['target_measurements']} target "
        "measurements"
    )
    ax.set_xlabel(f"latency (ms): {latency}")
    ax.set_ylabel(f"accuracy (%): {accuracy}")
    extra_title = extras(ax) if extras is not None else None  # may add to the labels
    if extra_title:
        title += f"\n{extra_title}"
    ax.set_title(title, fontsize=8)
    if report["truth"] and front:
        accs = [p["report_accuracy"] for p in report["truth"]["true_front"]]
        ax.set_ylim(float(np.percentile(accs, 10)) - 2, max(accs) + 0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="best")
    fig.tight_layout()
    return fig


def register(app: typer.Typer) -> None:
    """Add ``hwnas search`` to the main app (extra ``--KEY VALUE`` flags go to the strategy)."""
    app.command(
        "search",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(search)
