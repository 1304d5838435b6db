"""Helpers shared by the CLI modules: console, JSON output, KEY=VALUE options."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from hwnas.errors import HwnasError
from hwnas.manager import get_plugin_manager

console = Console()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
OptionList = Annotated[
    list[str] | None,
    typer.Option("--option", "-o", help="Space option KEY=VALUE (e.g. profile=imagenet)."),
]


BoolFlag = Annotated[bool, typer.Option()]


def print_json(data) -> None:
    """Write ``data`` as JSON to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


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
        options[key.strip().replace("-", "_")] = value
    return options


def parse_target_spec(text: str) -> tuple[str, str, dict]:
    """``"tvm-cpu:mode=tuned,trials=8"`` -> (label, target name, options)."""
    name, _, rest = text.partition(":")
    return text, name, parse_options([p for p in rest.split(",") if p])


def load_space(name: str, options: list[str] | None = None):
    """Instantiate search space ``name`` through the plugin manager."""
    return get_plugin_manager().create("space", name, **parse_options(options))
