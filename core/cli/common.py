"""Helpers shared by every CLI module (built-in or a plugin's): console, options, JSON output."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hwnas.errors import HwnasError
from hwnas.files import jsonable, write_json  # noqa: F401 (re-exported for commands)
from hwnas.manager import get_plugin_manager

console = Console()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
OptionList = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-o",
        metavar="KEY=VALUE",
        help="Space option KEY=VALUE (e.g. profile=imagenet).",
    ),
]


BoolFlag = Annotated[bool, typer.Option()]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="TOML config file.")]
StoreOption = Annotated[
    Path | None, typer.Option("--store", help="Latency store (SQLite); default $HWNAS_STORE.")
]
TargetOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--target-option",
        "-t",
        metavar="KEY=VALUE",
        help="Target option KEY=VALUE (e.g. threads=2).",
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Recorded tables (default $HWNAS_DATA, else shipped)."),
]


def print_json(data) -> None:
    """Write ``data`` as strict JSON to stdout."""
    sys.stdout.write(json.dumps(jsonable(data), indent=2, default=str, allow_nan=False) + "\n")


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table cell: ``-`` for missing or non-finite values."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def wide_console() -> Console:
    """The CLI console, or a 120-column one when writing to a file or pipe."""
    return console if console.is_terminal else Console(width=max(console.width, 120))


def parse_options(pairs: list[str] | None) -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (ints and floats are converted)."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HwnasError(f"bad option {pair!r}", "write options as KEY=VALUE")
        for convert in (int, float):
            try:
                value = convert(value)
                break
            except ValueError:
                continue
        if isinstance(value, float) and not math.isfinite(value):
            raise HwnasError(f"option {pair!r} is not a finite number", f"give {key}=A_NUMBER")
        options[key.strip().replace("-", "_")] = value
    return options


def parse_target_spec(text: str) -> tuple[str, str, dict]:
    """``"tvm-cpu:mode=tuned,trials=8"`` -> (label, target name, options)."""
    name, _, rest = text.partition(":")
    return text, name, parse_options([p for p in rest.split(",") if p])


def load_space(name: str, options: list[str] | None = None):
    """Instantiate search space ``name`` through the plugin manager."""
    return get_plugin_manager().create("space", name, **parse_options(options))


def default_layered_space() -> str:
    """The name of the first registered space whose positions are layers (``LayeredSpace``).

    What ``hwnas profile`` and ``hwnas predict`` use when no ``--space`` is given.
    """
    from hwnas.space import LayeredSpace

    pm = get_plugin_manager()
    for info in pm.infos("space"):
        if info.available and isinstance(pm.create("space", info.name), LayeredSpace):
            return info.name
    raise HwnasError("no layered search space is installed", "pass --space")
