"""Validation at the edge: every numeric option and every path, checked before a command runs.

One table (:data:`RULES`) names the range of every number and the kind of
every path of every command; :func:`install` attaches it to the click
commands, so a value is checked as it is parsed: nothing is measured,
trained or created on disk for a rejected command. A rule is looked up as
``"group command:param"`` first, then ``"param"``; a float without a rule
must still be finite (``tests/test_bad_inputs.py`` checks that every
numeric and path parameter of every command has a rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError


@dataclass(frozen=True)
class Number:
    """A finite number from ``low`` to ``high`` (``above``: strictly greater than ``low``)."""

    low: float
    high: float
    above: bool = False
    example: str = ""

    def check(self, flag: str, value: Any) -> None:
        if value is None or isinstance(value, bool):
            return
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, str):  # a list given as text: its own parser checks it
                continue
            if not math.isfinite(v):
                raise HwnasError(f"{flag} must be a finite number, got {v}", self._fix(flag))
            too_low = v <= self.low if self.above else v < self.low
            if too_low or v > self.high:
                got = f"{v:g}" if isinstance(v, float) else str(v)
                raise HwnasError(f"{flag} must be {self._range()}, got {got}", self._fix(flag))

    def _range(self) -> str:
        low = f"> {_show(self.low)}" if self.above else f">= {_show(self.low)}"
        return f"{low} and <= {_show(self.high)}"

    def _fix(self, flag: str) -> str:
        return f"e.g. {flag} {self.example}" if self.example else f"give {flag} {self._range()}"


def _show(value: float) -> str:
    """A bound as people write it: ``4294967295``, ``0.5``, ``1e+06``."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e12 else f"{value:g}"


@dataclass(frozen=True)
class PathRule:
    """What a path must be: ``file`` (exists), ``dir`` (exists), ``out-file``, ``out-dir``."""

    kind: str
    fix: str = ""

    def check(self, flag: str, value: Any) -> None:
        if value is None:
            return
        path = Path(value)
        if self.kind == "file":
            if path.is_dir():
                raise HwnasError(f"{flag} {path} is a folder, not a file", self._fix("give a file"))
            if not path.is_file():
                raise HwnasError(f"{flag} {path} does not exist", self._fix("check the path"))
        elif self.kind == "dir":
            if not path.exists():
                raise HwnasError(f"{flag} {path} does not exist", self._fix("check the path"))
            if not path.is_dir():
                raise HwnasError(
                    f"{flag} {path} is a file, not a folder", self._fix("give a folder")
                )
        elif self.kind == "out-file":
            if path.is_dir():
                raise HwnasError(
                    f"{flag} {path} is a folder", self._fix("give a file name inside it")
                )
            parent = path.parent
            if not parent.is_dir():
                what = "is not a folder" if parent.exists() else "does not exist"
                raise HwnasError(f"folder {parent} of {flag} {what}", "create it first")
        elif self.kind == "out-dir":
            if path.exists() and not path.is_dir():
                raise HwnasError(
                    f"{flag} {path} is a file, not a folder", "give a new or existing folder"
                )
            for ancestor in path.absolute().parents:
                if ancestor.exists():
                    if not ancestor.is_dir():
                        raise HwnasError(f"{ancestor} in {flag} {path} is a file", "give a folder")
                    break
        elif self.kind == "store":
            if path.is_dir():
                raise HwnasError(f"{flag} {path} is a folder", "give a file such as latency.sqlite")
            for ancestor in path.absolute().parents:
                if ancestor.exists():
                    if not ancestor.is_dir():
                        raise HwnasError(f"{ancestor} in {flag} {path} is a file", "give a folder")
                    break

    def _fix(self, default: str) -> str:
        return self.fix or default


SIZE = 1_000_000
RULES: dict[str, Number | PathRule] = {
    # counts and sizes (bounded: the bound is in the message)
    "batch": Number(1, 4096, example="1"),
    "workers": Number(1, 256, example="2"),
    "repeats": Number(1, 10_000, example="15"),
    "rounds": Number(0, 1000, example="4"),
    "measure": Number(0, 100_000, example="60"),
    "calibrate": Number(0, 1000, example="5"),
    "seed": Number(0, 2**32 - 1, example="0"),
    "seeds": Number(1, 1000, example="5"),
    "evals": Number(1, 100_000, example="100"),
    "reference_evals": Number(1, 100_000, example="10000"),
    "reference_seeds": Number(0, 100, example="2"),
    "n": Number(1, 100_000, example="10"),
    "layer": Number(0, 1000, example="3"),
    "p": Number(1, 32, example="4"),
    "explore": Number(0, 20, example="4"),
    "samples": Number(0, 100_000, example="100"),
    "checks": Number(1, 10_000, example="3"),
    "threads": Number(1, 1024, example="2"),
    "sample": Number(0, 100_000, example="10"),
    "folds": Number(0, 100, example="5"),
    "steps": Number(1, 10_000_000, example="500"),
    "batch_size": Number(1, 65_536, example="128"),
    "checkpoint_every": Number(1, 10_000_000, example="500"),
    "val_size": Number(1, SIZE, example="5000"),
    "train_images": Number(1, 100 * SIZE, example="1000"),
    "bn_images": Number(1, SIZE, example="256"),
    "val_images": Number(1, SIZE, example="1000"),
    "random": Number(0, 100_000, example="10"),
    "refine": Number(0, 100_000, example="40"),
    "pool": Number(1, 10_000, example="16"),
    "reach": Number(1, 64, example="2"),
    "screen": Number(0, 10_000_000, example="20000"),
    "loader_workers": Number(0, 64, example="2"),
    "micro_batches": Number(1, 1024, example="2"),
    # real numbers
    "timeout": Number(0, 86_400, above=True, example="600"),
    "min_repeat_ms": Number(0, 60_000, example="20"),
    "latency_ms": Number(0, 1e6, above=True, example="0.6"),
    "budget_ms": Number(0, 1e6, above=True, example="20"),
    "alpha": Number(0, 4, example="0.5"),
    "band": Number(0, 0.99, example="0.9"),
    "epochs": Number(0, 1000, above=True, example="1"),
    "lr": Number(0, 10, above=True, example="0.1"),
    "label_smoothing": Number(0, 0.99, example="0.1"),
    # paths
    "config": PathRule("file", "give an existing TOML file to --config"),
    "data_dir": PathRule("dir", "give the folder that holds the data"),
    "store": PathRule("store"),
    "out": PathRule("out-dir"),
    "onnx": PathRule("out-file"),
    "model": PathRule("file", "give a generator file written by 'hwnas search --strategy pnag'"),
    "measurements": PathRule("file", "give a CSV with columns arch,latency_ms"),
    "checkpoint": PathRule("out-file"),
    "supernet eval:checkpoint": PathRule(
        "file", "train one with 'hwnas supernet train --checkpoint FILE'"
    ),
    "store export:csv_path": PathRule("out-file"),
    "store import:csv_path": PathRule("file", "give a CSV written by 'hwnas store export'"),
    "space generate:out": PathRule("out-file"),
    "transfer adapt:out": PathRule("out-file"),
    "cache_dir": PathRule("out-dir"),
}


def rule_for(command: str, param: str) -> Number | PathRule | None:
    """The rule of ``param`` of ``command`` (``"store export"``), if any."""
    return RULES.get(f"{command}:{param}") or RULES.get(param)


def flag_name(param) -> str:
    """``--min-repeat-ms`` for an option, ``CSV_PATH`` for an argument."""
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    return opts[0] if opts else (param.opts[0] if param.opts else param.name.upper())


def install(command, path: tuple[str, ...] = ()) -> None:
    """Attach the checks to every parameter of ``command`` and its subcommands (once)."""
    for name, sub in (getattr(command, "commands", None) or {}).items():
        install(sub, (*path, name))
    for param in getattr(command, "params", []):
        if getattr(param, "_hwnas_checked", False):
            continue
        param._hwnas_checked = True
        rule = rule_for(" ".join(path), param.name)
        param.process_value = _checked(param, rule, param.process_value)


def _checked(param, rule, process):
    flag = flag_name(param)

    def process_value(ctx, value):
        if isinstance(rule, PathRule):
            raws = value if isinstance(value, list | tuple) else [value]
            if any(isinstance(r, str) and not r.strip() for r in raws):
                raise HwnasError(f"{flag} is empty", f"give {flag} a path")
        value = process(ctx, value)
        if rule is not None:
            rule.check(flag, value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise HwnasError(
                f"{flag} must be a finite number, got {value}", f"give {flag} a number"
            )
        return value

    return process_value
