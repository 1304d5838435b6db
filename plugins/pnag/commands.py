"""CLI: ``hwnas generate``: architectures for latency budgets from a trained PNAG generator."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from hwnas.cli.common import JsonFlag, console, print_json
from hwnas.errors import HwnasError

EVALUATION_CAP = 10_000


def _budgets(budget_ms: float | None, budgets: str | None) -> list[float]:
    values: list[float] = []
    if budget_ms is not None:
        values.append(float(budget_ms))
    for part in (budgets or "").split(","):
        if part.strip():
            try:
                values.append(float(part))
            except ValueError:
                raise HwnasError(
                    f"bad budget {part.strip()!r} in --budgets", "e.g. --budgets 80,110,140"
                ) from None
    if not values:
        raise HwnasError("no latency budget given", "pass --budget-ms X or --budgets A,B,C")
    bad = [v for v in values if not (math.isfinite(v) and 0 < v <= 1e6)]
    if bad:
        raise HwnasError(
            f"latency budgets must be finite numbers > 0 and <= 1e6 ms, got {bad[0]:g}",
            "e.g. --budgets 80,110,140",
        )
    return values


def load_runtime(model_path: Path, space: str | None, target: str | None, data_dir, store):
    """The generator file plus the space, latency model and accuracy source it was trained on.

    Every mismatch (another space or target, a changed table, a missing or
    damaged file) is a one-line :class:`HwnasError`.
    """
    from hwnas.accuracy import default_accuracy
    from hwnas.live_latency import resolve_latency_model
    from hwnas.manager import get_plugin_manager
    from hwnas.plugins.pnag.model_file import load_generator

    model = load_generator(model_path)
    if space is not None and space != model.space:
        raise HwnasError(
            f"generator file {model_path} was trained for space {model.space!r}, not {space!r}",
            f"use --space {model.space} or a generator trained on {space}",
        )
    if target is not None:
        model.check_target(target)
    pm = get_plugin_manager()
    search_space = pm.create("space", model.space, **model.space_options)
    model.check_space(search_space)
    latency = resolve_latency_model(model.target, search_space, "target", data_dir, store)
    model.check_target(latency.name, latency.fingerprint())
    options: dict[str, Any] = {"data_dir": data_dir}
    if model.accuracy.get("dataset") is not None:
        options["dataset"] = model.accuracy["dataset"]
    accuracy = default_accuracy(model.space, **options)
    if accuracy.name != model.accuracy.get("name"):
        raise HwnasError(
            f"generator file {model_path} was trained with accuracy source "
            f"{model.accuracy.get('name')!r}, this space now gives {accuracy.name!r}",
            "train the generator again",
        )
    return model, search_space, latency, accuracy


def warm_up(gen, encoder, latency, accuracy, n: int = 20) -> None:
    """Read the latency and accuracy tables once (random allowed architectures, not counted).

    Tables load lazily (``ofa/note10`` one file per resolution), so the
    per-budget times that ``hwnas generate`` prints are the generation itself.
    """
    import numpy as np

    from hwnas.plugins.pnag.train import random_tokens

    rng = np.random.default_rng(0)
    mask = gen.generator.mask_rows()
    for _ in range(n):
        arch = encoder.arch(random_tokens(encoder.vocab, mask, rng))
        try:
            latency.latency(arch)
            accuracy.accuracy(arch)
        except HwnasError:
            continue


def start_archive(gen, encoder):
    """An archive of the file's training evaluations (empty when it holds no training state)."""
    from hwnas.plugins.pnag.refine import Archive

    archive = Archive(encoder, gen.generator.mask_rows())
    data = gen.training or {}
    if "tokens" in data:
        rows = [tuple(int(v) for v in r) for r in data["tokens"].tolist()]
        archive.extend(rows, data["lat"].tolist(), data["acc"].tolist(), "training")
    return archive


def generate_command(
    model: Annotated[
        Path, typer.Option("--model", help="Generator file written by --strategy pnag.")
    ],
    budget_ms: Annotated[
        float | None, typer.Option("--budget-ms", help="One latency budget (ms).")
    ] = None,
    budgets: Annotated[
        str | None, typer.Option("--budgets", help="Several budgets, e.g. 80,110,140 (ms).")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Check that the file belongs to this target.")
    ] = None,
    space: Annotated[
        str | None, typer.Option(help="Check that the file belongs to this space.")
    ] = None,
    samples: Annotated[int, typer.Option(help="Generator samples ranked per budget.")] = 100,
    checks: Annotated[
        int, typer.Option(help="Top-ranked candidates evaluated per budget (more if none fits).")
    ] = 3,
    refine: Annotated[
        int,
        typer.Option(
            help="Local-search evaluations per budget after the checks (0: none); they start "
            "from the file's training data when it holds some."
        ),
    ] = 0,
    pool: Annotated[int, typer.Option(help="Front size of the local search.")] = 16,
    reach: Annotated[
        int, typer.Option(help="Positions a local-search move may change once one is exhausted.")
    ] = 2,
    screen: Annotated[
        int,
        typer.Option(
            help="Distinct random architectures (all when the space has fewer) scored once by "
            "the evaluator; their best within the budget compete in the local search."
        ),
    ] = 0,
    band: Annotated[
        float,
        typer.Option(
            help="Local-search candidates must also reach BAND x budget (0: off; needs a "
            "latency model that answers without measuring)."
        ),
    ] = 0.9,
    seed: Annotated[int, typer.Option(help="Random seed of the sampling.")] = 0,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Measured data (default $HWNAS_DATA).")
    ] = None,
    store: Annotated[
        Path | None, typer.Option("--store", help="Latency store for live targets.")
    ] = None,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Generate an architecture for each latency budget with a trained PNAG generator."""
    import numpy as np
    import torch

    from hwnas.plugins.pnag.generate import generate
    from hwnas.problem import Problem

    values = _budgets(budget_ms, budgets)
    if samples < 0 or checks < 1 or threads < 1:
        raise HwnasError("--samples must be >= 0, --checks and --threads >= 1")
    if refine < 0 or pool < 1 or reach < 1:
        raise HwnasError(
            f"--refine must be >= 0, --pool and --reach >= 1 (got {refine}, {pool}, {reach})",
            "e.g. --refine 40 --pool 16 --reach 2",
        )
    torch.set_num_threads(threads)
    started = time.perf_counter()
    gen, search_space, latency, accuracy = load_runtime(model, space, target, data_dir, store)
    for b in values:
        gen.check_budget(b)
    encoder = gen.encoder(search_space)
    problem = Problem(search_space, latency, accuracy, budget=EVALUATION_CAP, seed=seed)
    warm_up(gen, encoder, latency, accuracy)
    load_ms = 1000 * (time.perf_counter() - started)
    rng = torch.Generator().manual_seed(seed)
    archive = start_archive(gen, encoder) if refine > 0 else None
    from hwnas.plugins.pnag.refine import prepare_screen
    from hwnas.plugins.pnag.strategy import PNAG

    latency_of = PNAG.latency_lookup(latency)
    screen_started = time.perf_counter()
    if archive is not None and screen > 0:
        prepare_screen(gen.evaluator, archive, screen, np.random.default_rng(seed), latency_of)
    screen_ms = 1000 * (time.perf_counter() - screen_started)

    results = [
        generate(
            gen.generator,
            gen.evaluator,
            encoder,
            b,
            problem.evaluate,
            samples,
            checks,
            rng,
            archive=archive,
            steps=refine,
            pool=pool,
            latency_of=latency_of,
            reach=reach,
            screen=screen,
            band=band,
        )
        for b in values
    ]
    report_acc = getattr(accuracy, "report_accuracy", None)
    rows = []
    for g in results:
        row = {
            "budget_ms": g.budget_ms,
            "arch": search_space.format(g.arch),
            "latency_ms": g.latency_ms,
            "latency_source": g.latency_source,
            "met": g.met,
            "accuracy": g.accuracy,
            "candidates": g.proposed,
            "evaluated": g.checked,
            "refined": g.refined,
            "generation_ms": 1000 * g.generation_seconds,
            "evaluate_ms": 1000 * g.evaluate_seconds,
        }
        if report_acc is not None and getattr(accuracy, "report_column", None):
            row["report_accuracy"] = report_acc(g.arch)
        rows.append(row)
    out = {
        "model": str(model),
        "space": gen.space,
        "target": gen.target,
        "trained_range_ms": list(gen.budget_range),
        "search_accuracy": getattr(accuracy, "search_column", accuracy.name),
        "report_accuracy": getattr(accuracy, "report_column", accuracy.name),
        "load_ms": load_ms,
        "screen_ms": screen_ms,
        "evaluations": problem.evaluations,
        "generated": rows,
    }
    if as_json:
        print_json(out)
        return
    print_generated(out)


def print_generated(out: dict[str, Any]) -> None:
    """Table for people: one row per budget, then the timing."""
    from hwnas.cli.common import wide_console

    has_report = any("report_accuracy" in r for r in out["generated"])
    lo, hi = out["trained_range_ms"]
    table = Table(
        "budget ms",
        "latency ms",
        "source",
        "met",
        "accuracy",
        *(["report acc"] if has_report else []),
        "evaluated",
        "gen ms",
        "architecture",
        box=box.SIMPLE_HEAD,
        title=f"PNAG on {out['target']} ({out['space']}), trained range {lo:.4g}-{hi:.4g} ms",
        caption=f"accuracy: {out['search_accuracy']}; evaluated: checked/candidates "
        "(+ local search); gen ms leaves out the evaluations' own time"
        + (f"; report acc: {out['report_accuracy']}" if has_report else ""),
    )
    for r in out["generated"]:
        table.add_row(
            f"{r['budget_ms']:g}",
            f"{r['latency_ms']:.4g}",
            r["latency_source"],
            "yes" if r["met"] else "[red]no[/red]",
            f"{r['accuracy']:.2f}",
            *([f"{r['report_accuracy']:.2f}"] if has_report else []),
            f"{r['evaluated']}/{r['candidates']}"
            + (f" +{r['refined']}" if r.get("refined") else ""),
            f"{r['generation_ms']:.1f}",
            r["arch"],
        )
    wide_console().print(table)
    times = [r["generation_ms"] for r in out["generated"]]
    console.print(
        f"generated {len(times)} architecture(s) in {max(times):.1f} ms at most "
        f"(mean {sum(times) / len(times):.1f} ms per budget); generator and tables loaded in "
        f"{out['load_ms']:.0f} ms; {out['evaluations']} evaluations"
    )


def register(app: typer.Typer) -> None:
    """Add ``hwnas generate`` to the main app."""
    app.command("generate")(generate_command)
