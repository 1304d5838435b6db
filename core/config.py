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

import math
import sys
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_SECTIONS = {"targets", "profile"}
#: ``[profile]`` keys: (type, check, what a valid value is). The command-line flag wins over
#: these, and these over the built-in default.
PROFILE_KEYS: dict[str, tuple[type, Any, str]] = {
    "store": (str, lambda v: bool(v.strip()), 'a file path such as "latency.sqlite"'),
    "workers": (int, lambda v: 1 <= v <= 256, "a whole number from 1 to 256"),
}


def load_config(path: str | Path | None) -> dict[str, Any]:
    """Read and validate a config file (``None`` gives an empty config).

    Unknown sections and keys, and values of the wrong type, are one-line
    errors naming the key and the valid ones.
    """
    if path is None:
        return {}
    path = Path(path)
    fix = "check the --config path"
    if str(path) in ("", "."):
        raise HwnasError("--config is empty", "give --config a TOML file")
    if path.is_dir():
        raise HwnasError(f"config file {path} is a folder", fix)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HwnasError(f"config file {path} not found", fix) from None
    except OSError as exc:
        raise HwnasError(f"cannot read config file {path}: {exc.strerror}", fix) from None
    except UnicodeDecodeError:
        raise HwnasError(f"config file {path} is not UTF-8 text", "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise HwnasError(f"config file {path} is not valid TOML: {exc}", "fix the syntax") from None
    check_config(data, str(path))
    return data


def check_config(data: dict[str, Any], where: str) -> None:
    """Raise a one-line error for an unknown section or key or a value of the wrong type."""
    unknown = set(data) - KNOWN_SECTIONS
    if unknown:
        raise HwnasError(
            f"config file {where}: unknown section(s) {', '.join(sorted(unknown))}",
            f"use only: {', '.join(sorted(KNOWN_SECTIONS))}",
        )
    for section in KNOWN_SECTIONS & set(data):
        if not isinstance(data[section], dict):
            raise HwnasError(
                f"config file {where}: {section} must be a table",
                f"write [{section}] followed by KEY = VALUE lines",
            )
    for key, value in data.get("profile", {}).items():
        if key not in PROFILE_KEYS:
            raise HwnasError(
                f"config file {where}: unknown key {key!r} in [profile]",
                f"valid keys: {', '.join(PROFILE_KEYS)}",
            )
        kind, ok, what = PROFILE_KEYS[key]
        if type(value) is not kind or not ok(value):
            raise HwnasError(
                f"config file {where}: [profile] {key} = {value!r} is not {what}",
                f"write {key} = {what}",
            )
    for section, value in data.get("targets", {}).items():
        _check_target_name(section, where)
        if not isinstance(value, dict):
            raise HwnasError(
                f"config file {where}: targets.{section} must be a table of options",
                f"write [targets.{section}] followed by KEY = VALUE lines",
            )
        for key, option in value.items():
            if isinstance(option, float) and not math.isfinite(option):
                raise HwnasError(
                    f"config file {where}: [targets.{section}] {key} = {option} is not finite",
                    "give a finite number",
                )
    if data.get("targets"):
        data["_path"] = where


def _check_target_name(name: str, where: str) -> None:
    """A ``[targets.NAME]`` section must name a known target (a misspelt name is an error)."""
    from hwnas.manager import get_plugin_manager

    try:
        get_plugin_manager().get("target", name)
    except HwnasError as exc:
        raise HwnasError(f"config file {where}: [targets.{name}]: {exc.message}", exc.fix) from None


def profile_setting(config: dict[str, Any], key: str, flag: Any, default: Any) -> Any:
    """``[profile] KEY`` with the precedence flag > config > default (``flag`` None: not given)."""
    if flag is not None:
        return flag
    value = config.get("profile", {}).get(key)
    return default if value is None else value


def target_options(config: dict[str, Any], target: str, overrides: dict[str, Any]) -> dict:
    """Options for ``target``: ``[targets.NAME]`` of the config, then command-line overrides.

    A key the target does not take is a one-line error naming it and the valid ones.
    """
    options = {**config.get("targets", {}).get(target, {}), **overrides}
    if options:
        from hwnas.manager import accepted_options, get_plugin_manager

        info = get_plugin_manager().get("target", target)
        valid = accepted_options(info.spec.factory)
        bad = [k for k in options if valid is not None and k not in valid]
        if bad:
            where = "-t" if bad[0] in overrides else f"[targets.{target}] of {config.get('_path')}"
            raise HwnasError(
                f"target {info.name!r} has no option {bad[0]!r} (given in {where})",
                f"its options: {', '.join(valid) or 'none'}",
            )
    return options
