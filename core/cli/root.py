"""The ``hwnas`` command line (typer + rich). JSON goes to stdout; tables are for people."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import typer.main
from rich.console import Console
from rich.table import Table

from hwnas import interrupt
from hwnas.cli import arena, checks, measure, predict, search
from hwnas.cli.common import JsonFlag, OptionList, console, load_space, print_json
from hwnas.errors import HwnasError
from hwnas.manager import get_plugin_manager

try:  # typer >= 0.20 ships its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer on the real click
    from click import exceptions as click_errors

app = typer.Typer(
    help="Hardware-aware neural architecture search wired into real compilers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
space_app = typer.Typer(help="Inspect search spaces.", no_args_is_help=True)
arch_app = typer.Typer(help="Sample, check and export architectures.", no_args_is_help=True)
app.add_typer(space_app, name="space")
app.add_typer(arch_app, name="arch")
measure.register(app)
arena.register(app)
predict.register(app)
search.register(app)
GROUPS: dict[str, typer.Typer] = {
    "space": space_app,
    "arch": arch_app,
    "predict": predict.predict_app,
}
# ---------------------------------------------------------------------------
# plugins
# ---------------------------------------------------------------------------


@app.command()
def plugins(
    as_json: JsonFlag = False,
    kind: Annotated[
        str | None,
        typer.Option(help="Only one kind: target, strategy, space, accuracy or command."),
    ] = None,
) -> None:
    """List every plugin (built-in and installed) with its availability."""
    kinds = ("target", "strategy", "space", "accuracy", "command")
    if kind is not None and kind not in kinds:
        raise HwnasError(f"unknown plugin kind {kind!r}", f"use --kind {'|'.join(kinds)}")
    rows = [info.as_dict() for info in get_plugin_manager().infos(kind)]
    if as_json:
        print_json(rows)
        return
    table = Table("kind", "name", "package", "available", "summary / reason")
    for row in rows:
        note = row["summary"] if row["available"] else f"[red]{row['reason']}[/red]"
        table.add_row(
            row["kind"],
            row["name"],
            row["package"],
            "yes" if row["available"] else "[red]no[/red]",
            note,
        )
    console.print(table)


# ---------------------------------------------------------------------------
# spaces
# ---------------------------------------------------------------------------


@space_app.command("show")
def space_show(
    space: Annotated[str, typer.Argument(help="Space name, e.g. hurricane.")],
    option: OptionList = None,
    as_json: JsonFlag = False,
    layer: Annotated[int | None, typer.Option(help="Show every op's cost at this layer.")] = None,
) -> None:
    """Show a space: positions and choices (layers, shapes, strides and op costs if it has them)."""
    search_space = load_space(space, option)
    info = search_space.describe()
    if layer is not None and not 0 <= layer < len(info.get("layers", [])):
        count = len(info.get("layers", []))
        raise HwnasError(
            f"no layer {layer} in space {space!r}",
            f"choose 0..{count - 1}" if count else "this space has no layers; drop --layer",
        )
    if as_json:
        print_json(info)
        return
    if "layers" not in info:
        _print_positions(info)
        return
    _print_layers(info)
    if layer is not None:
        _print_layer_ops(info, layer)


def _print_positions(info: dict) -> None:
    table = Table("position", "choices", title=f"{info['space']}: {info['size']:,} architectures")
    for pos in info["positions"]:
        table.add_row(pos["name"], ", ".join(map(str, pos["choices"])))
    console.print(table)


def _print_layers(info: dict) -> None:
    table = Table(
        "layer",
        "stage",
        "input CxHxW",
        "stride",
        "out C",
        "MFLOPs (min-max)",
        "K params (min-max)",
        title=f"{info['space']} ({info['profile']['name']}): {info['num_layers']} "
        f"layers x {info['num_ops']} ops, {info['size']:.3g} architectures",
    )
    for row in info["layers"]:
        flops = [op["flops"] / 1e6 for op in row["ops"]]
        params = [op["params"] / 1e3 for op in row["ops"]]
        table.add_row(
            str(row["index"]),
            str(row["stage"]),
            "x".join(map(str, row["input_shape"])),
            str(row["stride"]),
            str(row["output_shape"][0]),
            f"{min(flops):.2f}-{max(flops):.2f}",
            f"{min(params):.1f}-{max(params):.1f}",
        )
    console.print(table)


def _print_layer_ops(info: dict, layer: int) -> None:
    if not 0 <= layer < len(info["layers"]):
        raise HwnasError(f"no layer {layer}", f"choose 0..{len(info['layers']) - 1}")
    table = Table("op", "MFLOPs", "K params", title=f"ops at layer {layer}")
    for op in info["layers"][layer]["ops"]:
        table.add_row(op["op"], f"{op['flops'] / 1e6:.3f}", f"{op['params'] / 1e3:.2f}")
    console.print(table)


# ---------------------------------------------------------------------------
# architectures
# ---------------------------------------------------------------------------


@arch_app.command("sample")
def arch_sample(
    space: str,
    n: Annotated[int, typer.Option("-n", help="How many.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    option: OptionList = None,
    as_json: JsonFlag = False,
) -> None:
    """Print uniformly random architectures of SPACE."""
    import numpy as np

    search_space = load_space(space, option)
    rng = np.random.default_rng(seed)
    archs = [search_space.sample(rng) for _ in range(n)]
    if as_json:
        print_json([search_space.to_dict(a) for a in archs])
    else:
        for arch in archs:
            print(search_space.format(arch))


@arch_app.command("show")
def arch_show(
    space: str,
    arch: Annotated[str, typer.Argument(help="Architecture string (see 'hwnas arch sample').")],
    option: OptionList = None,
    as_json: JsonFlag = False,
) -> None:
    """Validate an architecture and print its canonical form (and FLOPs/params if known)."""
    search_space = load_space(space, option)
    parsed = search_space.parse(arch)
    data = search_space.to_dict(parsed)
    cost = search_space.cost(parsed)
    if cost is not None:
        data.update(flops=cost.flops, params=cost.params)
    if as_json:
        print_json(data)
    else:
        for key, value in data.items():
            console.print(f"[bold]{key}[/bold]: {value}", soft_wrap=True)


@arch_app.command("export")
def arch_export(
    space: str,
    arch: str,
    onnx: Annotated[Path, typer.Option(help="Where to write the ONNX file.")],
    option: OptionList = None,
    check: Annotated[bool, typer.Option(help="Compare ONNX Runtime with torch.")] = True,
) -> None:
    """Build ARCH in torch and export it to ONNX (optionally checked in ONNX Runtime)."""
    from hwnas.export import export_onnx, onnxruntime_max_abs_diff

    search_space = load_space(space, option)
    parsed = search_space.parse(arch)
    workload = search_space.arch_workload(parsed)
    model, example = workload.build(), workload.example_input()
    export_onnx(model, example, onnx)
    console.print(f"wrote {onnx}")
    if check:
        diff = onnxruntime_max_abs_diff(onnx, model, example)
        console.print(f"ONNX Runtime vs torch: max abs diff {diff:.2e}")
        if diff > 1e-4:
            raise HwnasError(
                f"ONNX output differs from torch by {diff:.2e}", "report this architecture as a bug"
            )


def mount_plugin_commands(root: typer.Typer, pm=None) -> None:
    """Add every command declared through ``hwnas_commands`` to ``root``.

    A command whose plugin is unavailable (a missing requirement) is left out;
    ``hwnas plugins --kind command`` says why.
    """
    pm = pm or get_plugin_manager()
    for info in pm.infos("command"):
        if not info.available:
            continue
        spec = info.spec
        parent = root if spec.parent is None else GROUPS.get(spec.parent)
        if parent is None:
            raise HwnasError(
                f"plugin {info.package} mounts command {spec.name!r} under unknown group "
                f"{spec.parent!r}",
                f"groups: {', '.join(sorted(GROUPS))}; fix or uninstall the plugin",
            )
        command = spec.factory()
        if isinstance(command, typer.Typer):
            parent.add_typer(command, name=spec.name, help=spec.summary)
        else:
            parent.command(spec.name, short_help=spec.summary)(command)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit status 2.

    That holds for hwnas's own errors and for command-line usage errors (a
    missing option, a value of the wrong type); ``hwnas`` alone or a group
    without a command prints its help (exit status 2); Ctrl-C and SIGTERM print one
    line saying what was kept (:func:`hwnas.interrupt.message`) and exit with 130.
    """
    previous = interrupt.install()
    try:
        code = _run()
    finally:
        interrupt.restore(previous)  # for callers that run main() in their own process
    sys.exit(code)


def _run() -> int:
    try:
        if MOUNT_ERROR is not None:
            raise MOUNT_ERROR
        command = typer.main.get_command(app)
        checks.install(command)  # every number and path is checked as it is parsed
        code = command(standalone_mode=False)
    except (interrupt.Interrupted, KeyboardInterrupt, typer.Abort):
        _interrupted()
    except click_errors.NoArgsIsHelpError:
        code = 2  # the help was printed (a group called without a command), as click does
    except click_errors.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _error(f"{exc.format_message()}{where}")
    except Exception as exc:
        if interrupt.received() is not None:
            _interrupted()  # the interrupt surfaced as an error (e.g. a C extension's own)
        if not isinstance(exc, HwnasError):
            raise
        _error(str(exc), exc.exit_status, exc.label)
    return code if isinstance(code, int) else 0


def _interrupted() -> None:
    """Ctrl-C or SIGTERM: one line saying what was kept and how to resume; exit status 130."""
    line = " ".join(interrupt.message().split())
    Console(stderr=True).print(line, highlight=False, soft_wrap=True, markup=False)
    sys.exit(interrupt.EXIT_STATUS)


def _error(message: str, status: int = 2, label: str = "error") -> None:
    """Print ``LABEL: MESSAGE`` as one line on stderr and exit with ``status`` (2: error)."""
    line = " ".join(message.split())
    Console(stderr=True).print(f"[red]{label}:[/red] {line}", highlight=False, soft_wrap=True)
    sys.exit(status)


try:
    mount_plugin_commands(app)
    MOUNT_ERROR: HwnasError | None = None
except HwnasError as exc:  # reported by main() as one line, exit status 2
    MOUNT_ERROR = exc
