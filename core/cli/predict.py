"""CLI for latency predictors: ``hwnas profile --measure N --fill predict`` helpers and
``hwnas predict train | latency | recorded``."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import typer
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

predict_app = typer.Typer(
    help="Latency predictors: train on the store, query architectures, few-shot on recorded "
    "tables.",
    no_args_is_help=True,
)


TargetOption = Annotated[str, typer.Option("--target", help="Live target (see 'hwnas targets').")]


def _fingerprint(target: str, target_option, config) -> tuple[str, dict, Any]:
    from hwnas.config import load_config, profile_setting, target_options
    from hwnas.profile import probe_target
    from hwnas.store import default_store

    cfg = load_config(config)
    options = target_options(cfg, target, parse_options(target_option))
    info = probe_target(target, options)
    return (
        info.fingerprint_key,
        options,
        (profile_setting(cfg, "store", None, None) or default_store()),
    )


@predict_app.command("train")
def predict_train(
    target: TargetOption,
    target_option: TargetOptions = None,
    config: ConfigOption = None,
    store: StoreOption = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds for the report.")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """Train TARGET's kernel predictor on its stored measurements; save it beside the store."""
    from hwnas.predict.kernel import KernelPredictor, predictor_path, train_predictor, training_rows
    from hwnas.predict.metrics import accuracy_report
    from hwnas.store import LatencyStore

    fp, _, default = _fingerprint(target, target_option, config)
    latency_store = LatencyStore(store or default)
    predictor = train_predictor(latency_store, fp)
    keys, feats, ms = training_rows(latency_store, fp)
    report: dict[str, Any] = {
        "target": target,
        "fingerprint_key": fp,
        "trained_on": len(keys),
        "path": str(predictor_path(latency_store, fp)),
    }
    if folds >= 2 and len(keys) >= 2 * folds:
        order = np.random.default_rng(0).permutation(len(keys))
        pred = np.empty(len(keys))
        for f in range(folds):
            test = order[f::folds]
            train = np.setdiff1d(order, test)
            model = KernelPredictor(predictor.params).fit([feats[i] for i in train], ms[train])
            pred[test] = model.predict([feats[i] for i in test]).ms
        report["cross_validation"] = {"folds": folds, **accuracy_report(pred, ms)}
    if as_json:
        print_json(report)
        return
    console.print(
        f"{target}: predictor trained on {len(keys)} measured workloads, saved to {report['path']}",
        soft_wrap=True,
        highlight=False,
    )
    cv = report.get("cross_validation")
    if cv:
        console.print(
            f"{folds}-fold cross-validation: {100 * cv['within_10']:.1f}% within +-10%, "
            f"{100 * cv['within_5']:.1f}% within +-5%, RMSE(log) {cv['rmse_log']:.3f}, "
            f"Spearman {cv['spearman']:.3f}",
            highlight=False,
        )


@predict_app.command("latency")
def predict_latency(
    target: TargetOption,
    archs: Annotated[list[str] | None, typer.Argument(help="Architectures (strings).")] = None,
    space: Annotated[
        str | None, typer.Option(help="Layered search space (default: the registered one).")
    ] = None,
    option: OptionList = None,
    target_option: TargetOptions = None,
    config: ConfigOption = None,
    store: StoreOption = None,
    sample: Annotated[int, typer.Option(help="Also query N random architectures.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of --sample and --calibrate.")] = 0,
    calibrate: Annotated[
        int,
        typer.Option(
            help="Measure K random architectures end to end on TARGET to fit the overhead "
            "(architectures already measured end to end in the store are always used)."
        ),
    ] = 0,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Latency of architectures on TARGET from the store: measured + predicted layers + overhead."""
    from hwnas.live_latency import measure_whole
    from hwnas.predict.model import StoreLatencyModel
    from hwnas.store import LatencyStore

    fp, options, default = _fingerprint(target, target_option, config)
    search_space = load_space(space or default_layered_space(), option)
    parsed = [search_space.parse(a) for a in archs or []]  # before the store is opened
    latency_store = LatencyStore(store or default)
    rng = np.random.default_rng(seed)
    if calibrate > 0:
        measure_whole(
            target,
            options,
            search_space,
            [search_space.sample(rng) for _ in range(calibrate)],
            latency_store,
            batch=batch,
            show_progress=not as_json,
        )
    model = StoreLatencyModel(search_space, latency_store, fp, batch=batch)
    whole = model.stored_whole_archs()
    if whole:
        model.calibrate(list(whole), list(whole.values()))
    queries = list(parsed)
    queries += [search_space.sample(rng) for _ in range(sample)]
    rows = []
    for arch in queries:
        lat = model.latency(arch)
        rows.append(
            {
                "arch": search_space.format(arch),
                "ms": lat.ms,
                "source": lat.source,
                "measured_fraction": lat.measured_fraction,
                "measured_end_to_end_ms": whole.get(arch),
                "parts": model.breakdown(arch),
            }
        )
    report = {"summary": model.summary(), "archs": rows}
    if as_json:
        print_json(report)
        return
    table = Table("architecture", "ms", "source", "measured %", "end-to-end ms")
    for row in rows:
        e2e = row["measured_end_to_end_ms"]
        table.add_row(
            row["arch"][:60] + ("..." if len(row["arch"]) > 60 else ""),
            f"{row['ms']:.3f}",
            row["source"],
            f"{100 * row['measured_fraction']:.0f}",
            "-" if e2e is None else f"{e2e:.3f}",
        )
    if rows:
        console.print(table)
    _print_summary(report["summary"])


def _print_summary(s: dict[str, Any]) -> None:
    o = s["overhead"]
    console.print(
        f"{s['model']}: {s['workloads_measured']}/{s['workloads']} workloads measured "
        f"({s['cells_measured']}/{s['cells']} layer x op cells); a random architecture's "
        f"latency is {100 * s['mean_measured_fraction']:.1f}% measured on average",
        highlight=False,
        soft_wrap=True,
    )
    if o["archs"] == 0:
        console.print("overhead: none (no architecture measured end to end; use --calibrate K)")
    elif o["kind"] == "none":
        console.print(
            f"overhead: none (the plain sum predicted the {o['archs']} architectures measured "
            f"end to end best, leave-one-out error {100 * o['loo_error']:.1f}%)",
            highlight=False,
        )
    else:
        console.print(
            f"overhead: {o['kind']} (latency = {o['scale']:.4f} x parts {o['offset']:+.4f} ms) "
            f"from {o['archs']} architectures measured end to end, leave-one-out error "
            f"{100 * o['loo_error']:.1f}%",
            highlight=False,
        )
    console.print(
        f"{s['queries_per_s']:,.0f} architecture queries/s (vectorised); {s['provenance_rule']}",
        highlight=False,
        soft_wrap=True,
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def register(app: typer.Typer) -> None:
    """Add ``hwnas predict`` to the main app."""
    app.add_typer(predict_app, name="predict")
