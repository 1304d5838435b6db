"""CLI: ``hwnas space generate`` — a hardware-specific HURRICANE space for one target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hwnas import interrupt
from hwnas.cli.common import (
    ConfigOption,
    JsonFlag,
    OptionList,
    StoreOption,
    TargetOptions,
    console,
    load_space,
    parse_options,
    parse_target_spec,
    print_json,
)
from hwnas.config import load_config, profile_setting, target_options
from hwnas.errors import HwnasError
from hwnas.store import default_store


def generate(
    target: Annotated[str, typer.Option(help="Live target whose latencies choose the ops.")],
    option: OptionList = None,
    target_option: TargetOptions = None,
    config: ConfigOption = None,
    alpha: Annotated[float, typer.Option(help="Score = (FLOPs*params)^alpha / latency.")] = 0.5,
    p: Annotated[int, typer.Option("--p", help="Ops kept per layer.")] = 4,
    explore: Annotated[int, typer.Option(help="Last layers that get one extra exploring op.")] = 4,
    measure: Annotated[
        int | None,
        typer.Option(help="Measure at most N layer workloads (rest predicted); default all."),
    ] = None,
    calibrate: Annotated[
        int, typer.Option(help="Whole architectures measured to calibrate the overhead.")
    ] = 5,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TARGET",
            help="Cheap target measured on every cell, NAME[:k=v,...] (e.g. tvm-cpu:mode=rules; "
            "repeat for several); cells TARGET did not measure (--measure N) are predicted "
            "from its measurements and the references' tables.",
        ),
    ] = None,
    store: StoreOption = None,
    out: Annotated[Path | None, typer.Option(help="Where to save the space (JSON).")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Generate TARGET's HURRICANE space: top-p ops per layer by score, plus exploring ops."""
    from hwnas.plugins.hurricane.space_generation import build_generated_space
    from hwnas.profile import probe_target
    from hwnas.store import LatencyStore

    space = load_space("hurricane", option)
    cfg = load_config(config)
    options = target_options(cfg, target, parse_options(target_option))
    probe_target(target, options)  # unknown, unavailable or recorded: before the store exists
    cheap = []
    if reference:
        if measure is None:
            raise HwnasError(
                "--reference fills the cells --measure N leaves unmeasured, but no N was given",
                "add --measure N (e.g. --measure 24) or drop --reference",
            )
        for spec in reference:
            _, cheap_name, cheap_options = parse_target_spec(spec)
            probe_target(cheap_name, cheap_options)
            cheap.append((cheap_name, cheap_options))
    latency_store = LatencyStore(profile_setting(cfg, "store", store, None) or default_store())
    path = out or Path("runs") / f"space-{target}-{space.profile.name}.json"
    identity = {
        "target": target,
        "options": options,
        "space": space.options,
        "alpha": alpha,
        "p": p,
        "explore": explore,
        "measure": measure,
        "calibrate": calibrate,
        "reference": reference,
        "store": str(latency_store.path),
    }
    spent = _spent_before(path, identity) if measure is not None else 0
    try:
        generated, _ = build_generated_space(
            target,
            options,
            space,
            latency_store,
            alpha,
            p,
            explore,
            None if measure is None else max(0, measure - spent),
            calibrate,
            progress and not as_json,
            references=cheap,
        )
    except interrupt.Interrupted:
        if measure is not None:  # what this command measured counts against --measure next time
            kept = spent + interrupt.kept_measurements(latency_store.path)
            _partial(path).parent.mkdir(parents=True, exist_ok=True)
            _partial(path).write_text(
                json.dumps({"identity": identity, "measured": kept}, default=str)
            )
        raise
    _partial(path).unlink(missing_ok=True)
    path = generated.save(path)
    data = generated.to_dict()
    data["path"] = str(path)
    if as_json:
        print_json(data)
        return
    print_generated(data)
    console.print(f"wrote {path}")


def _partial(path: Path) -> Path:
    """Where an interrupted ``--measure N`` run notes how much of N it spent."""
    return path.with_name(path.name + ".partial.json")


def _spent_before(path: Path, identity: dict[str, Any]) -> int:
    """Measurements an interrupted run of this same command made (0 if none or another one)."""
    try:
        data = json.loads(_partial(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    if data.get("identity") != json.loads(json.dumps(identity, default=str)):
        return 0
    spent = int(data.get("measured", 0))
    Console(stderr=True).print(
        f"resuming: {spent} of --measure's workloads were measured before the interrupt",
        highlight=False,
    )
    return spent


def print_generated(data: dict[str, Any]) -> None:
    """Per layer: kept ops (exploring op marked) with score and latency provenance."""
    table = Table("layer", "kept ops (score; ms; m=measured[-mode] p=predicted)", "exploring")
    for layer in data["layers"]:
        scores = {s["op"]: s for s in layer["scores"]}
        cells = [_cell(scores[op]) for op in layer["ops"] if op != layer["exploring"]]
        table.add_row(str(layer["index"]), ", ".join(cells), layer["exploring"] or "")
    console.print(table)
    notes = data["notes"]
    console.print(
        f"target {data['target']} ({data['fingerprint']}), alpha {data['alpha']}, p {data['p']}: "
        f"{data['size']:.3g} architectures (full space {notes['full_size']:.3g}); fastest "
        f"{notes['fastest_ms_generated']:.3f} ms (full space {notes['fastest_ms_full']:.3f} ms, "
        f"predicted by the layer model); latency cells measured "
        f"{notes['latency_cells_measured']}/{notes['latency_cells']}",
        highlight=False,
    )
    if "fill" in notes:
        fill = notes["fill"]
        refs = ", ".join(fill["reference_names"]) or "none"
        console.print(
            f"{fill['cells_filled']} cells not measured on the target were predicted "
            f"(model {fill['choice']}, cross-validated log error "
            f"{fill['cv_error'][fill['choice']]:.3f}; trained on "
            f"{fill['trained_on_workloads']} measured workloads; references: {refs})",
            highlight=False,
        )


def _cell(score: dict[str, Any]) -> str:
    """One kept op: name (score; ms; source), the source shortened to m[-mode] or p."""
    source = "p" if score["source"] == "predicted" else score["source"].replace("measured", "m")
    return f"{score['op']} ({score['score']:.3g}; {score['ms']:.3f}; {source})"
