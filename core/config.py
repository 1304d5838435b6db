"""TOML configuration: per-target options and profile defaults.

Example ``hwnas.toml``::

    [targets.tvm-arm]
    tracker_host = "10.0.0.5"
    tracker_port = 9190
    key = "rpi4"

    [profile]
    store = "latency.sqlite"
    workers = 2
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_SECTIONS = {"targets", "profile"}


def load_config(path: str | Path | None) -> dict[str, Any]:
    """Read and validate a config file (``None`` gives an empty config)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise HwnasError(f"config file {path} not found", "check the --config path") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HwnasError(f"config file {path} is not valid TOML: {exc}", "fix the syntax") from exc
    unknown = set(data) - KNOWN_SECTIONS
    if unknown:
        raise HwnasError(
            f"config file {path}: unknown section(s) {', '.join(sorted(unknown))}",
            f"use only: {', '.join(sorted(KNOWN_SECTIONS))}",
        )
    for section, value in data.get("targets", {}).items():
        if not isinstance(value, dict):
            raise HwnasError(
                f"config file {path}: targets.{section} must be a table of options",
                f"write [targets.{section}] followed by KEY = VALUE lines",
            )
    return data


def target_options(config: dict[str, Any], target: str, overrides: dict[str, Any]) -> dict:
    """Options for ``target``: ``[targets.NAME]`` of the config, then command-line overrides."""
    return {**config.get("targets", {}).get(target, {}), **overrides}
