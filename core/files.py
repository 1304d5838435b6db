"""Writing result files: strict JSON, and torch files never left half-written."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError


def jsonable(value: Any) -> Any:
    """``value`` as strict JSON data: numpy scalars and arrays unpacked, NaN/inf as ``None``."""
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def write_json(path: Path, data) -> Path:
    """Write ``data`` as strict JSON to ``path`` (folders created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(jsonable(data), indent=2, default=str, allow_nan=False) + "\n", encoding="utf-8"
    )
    return path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_torch_file(path: str | os.PathLike, what: str, fix: str) -> Any:
    """``torch.load(path, weights_only=True)``; a damaged or foreign file is one line naming it.

    The message never repeats torch's own advice (re-running with
    ``weights_only=False`` would run pickled code from the file).
    """
    import pickle

    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise HwnasError(f"{what} {path} does not exist", fix) from None
    except IsADirectoryError:
        raise HwnasError(f"{what} {path} is a folder, not a file", fix) from None
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file
        text = str(exc)
        if "GLOBAL" in text or "Unsupported global" in text:
            reason = "it holds pickled Python objects, which hwnas never loads"
        elif isinstance(exc, pickle.UnpicklingError | EOFError | RuntimeError):
            reason = "it is damaged, truncated or not a torch file"
        else:
            reason = type(exc).__name__
        raise HwnasError(f"cannot read {what} {path}: {reason}", fix) from None


def read_json_file(path: str | os.PathLike, what: str, fix: str) -> dict[str, Any]:
    """A JSON object from ``path``; a damaged or foreign file is one line naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = type(exc).__name__ if isinstance(exc, OSError) else "not valid JSON"
        raise HwnasError(f"cannot read {what} {path}: {reason}", fix) from None
    if not isinstance(data, dict):
        raise HwnasError(f"{what} {path} is not a JSON object", fix)
    return data
