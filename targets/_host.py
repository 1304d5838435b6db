"""What the host-runtime targets (ONNX Runtime, OpenVINO, torch eager) share.

Option validation, the numpy input feed, the common fingerprint fields, lazy
runtime imports and a context manager that sets and restores torch's thread
count. Importing this module imports neither torch nor any vendor runtime.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterable, Iterator
from typing import Any

from hwnas.errors import HwnasError, PluginUnavailableError
from hwnas.target import cpu_model
from hwnas.workload import Workload


def check_threads(target: str, threads: Any) -> int:
    """Return ``threads`` if it is an integer >= 1; otherwise raise :class:`HwnasError`."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise HwnasError(
            f"{target}: threads must be an integer >= 1, got {threads!r}",
            "pass threads=1 (or more, up to the number of cores)",
        )
    return threads


def check_choice(target: str, option: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` lower-cased if it is one of ``choices``, else :class:`HwnasError` listing them."""
    choices = tuple(choices)
    normalised = str(value).strip().lower() if isinstance(value, str) else None
    if normalised not in choices:
        raise HwnasError(
            f"{target}: unknown {option} {value!r}", f"choose one of: {', '.join(choices)}"
        )
    return normalised


def import_runtime(module: str, extra: str | None = None) -> Any:
    """Import a runtime module, or raise :class:`PluginUnavailableError` naming the fix."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        fix = f"pip install 'hwnas[{extra}]'" if extra else f"pip install {module}"
        raise PluginUnavailableError(f"Python module {module!r} is not installed", fix) from exc


def missing_runtime(module: str, extra: str | None = None) -> str | None:
    """Why ``module`` cannot be imported here (with the pip fix), or ``None``."""
    try:
        import_runtime(module, extra)
    except PluginUnavailableError as exc:
        return str(exc)
    return None


def numpy_input(workload: Workload, seed: int = 0):
    """``workload.example_input(seed)`` as a C-contiguous float32 numpy array (the input feed)."""
    import numpy as np

    return np.ascontiguousarray(workload.example_input(seed).detach().cpu().numpy(), np.float32)


def as_numpy(x: Any):
    """A C-contiguous float32 numpy array from a torch tensor or anything array-like."""
    import numpy as np

    if hasattr(x, "detach"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def host_fingerprint(target: str, runtime: str, threads: int | None, **fields: Any) -> dict:
    """The fingerprint fields every host target has, plus the target's own ``fields``.

    ``target`` is the registered name, ``runtime`` the runtime family; the
    host CPU model is always included (it changes latency even for
    accelerators, through the host-side runtime overhead).
    """
    return {"target": target, "runtime": runtime, **fields, "threads": threads, "cpu": cpu_model()}


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Set torch's intra-op thread count to ``threads`` for the ``with`` body, then restore it.

    Only torch's own pool is touched; ONNX Runtime and OpenVINO take their
    thread counts from session/compile options instead.
    """
    import torch

    previous = torch.get_num_threads()
    if previous != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
