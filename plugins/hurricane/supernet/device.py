"""The torch device training runs on: ``auto``, ``cpu``, ``cuda[:N]`` or ``mps``.

``auto`` takes CUDA when a GPU is visible, else Apple's MPS, else the CPU.
Under torchrun a plain ``cuda`` becomes ``cuda:LOCAL_RANK`` (one GPU per
rank). Mixed precision (:func:`autocast`) is used on CUDA only: float16
autocast with a gradient scaler; MPS and CPU train in float32.
"""

from __future__ import annotations

import contextlib
import os
import re

import torch

from hwnas.errors import HwnasError

DEVICES = "auto, cpu, cuda, cuda:N or mps"


def available_devices() -> list[str]:
    """The devices this machine can train on (``cpu`` always, then ``cuda:N``, ``mps``)."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        out.append("mps")
    return out


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str | torch.device | None = "cpu") -> torch.device:
    """The torch device for ``spec`` (one-line error for an unknown or absent device)."""
    if isinstance(spec, torch.device):
        return spec
    text = "cpu" if spec is None else str(spec).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            text = "cuda"
        elif _mps_available():
            text = "mps"
        else:
            text = "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise HwnasError("--device mps: no Apple MPS device here", "use --device cpu or auto")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise HwnasError(f"unknown --device {spec!r}", f"use one of {DEVICES}")
    if not torch.cuda.is_available():
        raise HwnasError(f"--device {text}: no CUDA GPU here", "use --device cpu or auto")
    index = match.group(1)
    if index is None:
        index = os.environ.get("LOCAL_RANK", "0") if "LOCAL_RANK" in os.environ else "0"
    if int(index) >= torch.cuda.device_count():
        raise HwnasError(
            f"--device cuda:{index}: only {torch.cuda.device_count()} CUDA GPU(s) here",
            f"use cuda:0..cuda:{torch.cuda.device_count() - 1}",
        )
    return torch.device(f"cuda:{index}")


def check_device(spec: str) -> str:
    """``spec`` if it names a device (whether or not present); one-line error otherwise."""
    text = (spec or "").strip().lower()
    if text in ("auto", "cpu", "mps") or re.fullmatch(r"cuda(:\d+)?", text):
        return text
    raise HwnasError(f"unknown --device {spec!r}", f"use one of {DEVICES}")


def distributed_backend(device: torch.device) -> str:
    """``nccl`` for CUDA, ``gloo`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def autocast(device: torch.device, enabled: bool):
    """float16 autocast on CUDA when ``enabled``; a no-op context elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device, enabled: bool):
    """A gradient scaler for float16 training on CUDA (disabled elsewhere)."""
    on = bool(enabled and device.type == "cuda")
    try:
        return torch.amp.GradScaler("cuda", enabled=on)
    except (AttributeError, TypeError):  # torch < 2.3
        return torch.cuda.amp.GradScaler(enabled=on)
