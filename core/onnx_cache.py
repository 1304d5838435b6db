"""Export each workload to ONNX once, cached on disk by its structural key."""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

from hwnas.export import DEFAULT_OPSET, export_onnx
from hwnas.workload import Workload

CACHE_ENV = "HWNAS_CACHE"


def cache_dir() -> Path:
    """Where hwnas keeps caches: ``$HWNAS_CACHE`` or ``~/.cache/hwnas``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hwnas")


@functools.cache
def _spaces_digest() -> str:
    """Digest of the built-in spaces' source: editing an op invalidates its cached exports."""
    import hwnas.spaces

    digest = hashlib.sha256()
    for path in sorted(Path(hwnas.spaces.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def onnx_file(workload: Workload, opset: int = DEFAULT_OPSET, root: Path | None = None) -> Path:
    """The ONNX file of ``workload``, exported on first use (atomic, safe across processes)."""
    import torch

    import hwnas

    # Changed op definitions or a new torch (exporter) give new files.
    stamp = (
        f"{workload.key}/opset{opset}/hwnas{hwnas.__version__}/spaces{_spaces_digest()}"
        f"/torch{torch.__version__}"
    )
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:24]
    path = (root or cache_dir() / "onnx") / f"{digest}.onnx"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_partial(path.parent)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f"partial-{os.getpid()}-") as tmp:
        partial = export_onnx(
            workload.build(), workload.example_input(), Path(tmp) / "m.onnx", opset
        )
        os.replace(partial, path)
    return path


def _sweep_partial(folder: Path) -> None:
    """Remove the temporary export folders of processes that died (killed mid-export)."""
    import shutil

    for tmp in folder.glob("partial-*-*"):
        pid = tmp.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
