"""Supernet checkpoints: atomic writes, safe reads, and the shape check on load.

A checkpoint is a dict saved with ``torch.save``: the supernet's signature
(space options and per-layer choices), the training config, the per-layer
sampling choices, the step, model and optimizer state and the loss history.
It is read with ``weights_only=True`` (no pickled code runs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from hwnas.errors import HwnasError
from hwnas.files import atomic_torch_save, load_torch_file

FORMAT = "hwnas-supernet/1"


def save_atomic(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Save a checkpoint dict atomically (:func:`hwnas.files.atomic_torch_save`)."""
    atomic_torch_save(state, path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a supernet checkpoint; one-line :class:`HwnasError` if missing or not one."""
    path = Path(path)
    if not path.is_file():
        raise HwnasError(
            f"no supernet checkpoint at {path}",
            f"train one with 'hwnas supernet train --checkpoint {path}'",
        )
    state = load_torch_file(
        path,
        "supernet checkpoint",
        "the file is damaged or not a checkpoint; delete it or train again with --no-resume",
    )
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise HwnasError(
            f"{path} is not a supernet checkpoint (format {FORMAT})",
            "give a file written by 'hwnas supernet train'",
        )
    return state


def space_from_signature(signature: dict[str, Any]):
    """Rebuild the (possibly restricted) HURRICANE space a checkpoint was trained on."""
    from hwnas.spaces.hurricane.ops import OP_NAMES
    from hwnas.spaces.hurricane.space import HurricaneSpace

    if signature.get("space") != "hurricane":
        raise HwnasError(
            f"checkpoint is for space {signature.get('space')!r}", "only hurricane has a supernet"
        )
    choices = signature["choices"]
    full = all(tuple(c) == OP_NAMES for c in choices)
    return HurricaneSpace(**signature["options"], ops=None if full else choices)


def check_signature(path: str | os.PathLike, saved: dict[str, Any], current: dict[str, Any]):
    """Raise a one-line error if checkpoint ``path`` holds another space, profile or op set."""
    if saved.get("options") != current.get("options"):
        raise HwnasError(
            f"checkpoint {path} is for hurricane {_options(saved)}, not {_options(current)}",
            "use the space options it was trained with, or another --checkpoint",
        )
    if saved.get("choices") != current.get("choices"):
        layers = [
            i
            for i, (a, b) in enumerate(zip(saved["choices"], current["choices"], strict=False))
            if a != b
        ]
        raise HwnasError(
            f"checkpoint {path} has other candidate ops (layers {layers[:5] or 'count'})",
            "use the op lists it was trained with, or another --checkpoint",
        )


def load_supernet(path: str | os.PathLike):
    """(Supernet with the checkpoint's weights, the checkpoint dict) from a saved file."""
    from hwnas.plugins.hurricane.supernet.model import Supernet

    state = read_checkpoint(path)
    space = space_from_signature(state["signature"])
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        supernet = Supernet(space, seed=None)
    supernet = supernet.to_empty(device="cpu")
    try:
        supernet.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        raise HwnasError(
            f"checkpoint {path} does not fit its own space: {str(exc).splitlines()[0][:200]}",
            "the file is damaged; train again with --no-resume",
        ) from None
    return supernet, state


def _options(sig: dict[str, Any]) -> str:
    opts = {k: v for k, v in (sig.get("options") or {}).items() if v is not None}
    return ", ".join(f"{k}={v}" for k, v in opts.items()) or "defaults"
