"""The single-path one-shot (SPOS) supernet over a HURRICANE space.

One stem, one ``nn.ModuleDict`` of every candidate op per learnable layer (the
choices of ``space.positions[i]``, so a restricted space gives a smaller
supernet), one head. A forward pass runs one path: the op named for each
layer. :meth:`Supernet.extract` copies a path's weights into the standalone
``space.build_model(arch)`` network, which then computes the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hwnas.errors import ArchitectureError
from hwnas.spaces.hurricane.model import head, stem


class Supernet(nn.Module):
    """SPOS supernet of ``space`` (a :class:`~hwnas.spaces.hurricane.space.HurricaneSpace`).

    ``seed`` makes the initial weights reproducible without touching the
    global torch RNG (None: draw from the global RNG).
    """

    def __init__(self, space, seed: int | None = 0) -> None:
        super().__init__()
        self.space = space
        p = space.profile
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.stem = stem(p.in_channels, p.stem_channels, p.stem_stride)
            self.layers = nn.ModuleList(
                nn.ModuleDict({op: space.build_layer(i, op) for op in position.choices})
                for i, position in enumerate(space.positions)
            )
            self.head = head(space.layers[-1].out_channels, p.last_channels, p.num_classes)

    @property
    def choices(self) -> tuple[tuple[str, ...], ...]:
        """The candidate ops of every layer."""
        return tuple(tuple(layer.keys()) for layer in self.layers)

    def signature(self) -> dict[str, Any]:
        """What identifies the supernet's shape: the space options and the per-layer choices."""
        return {
            "space": self.space.name,
            "options": dict(self.space.options),
            "choices": [list(c) for c in self.choices],
        }

    def check_ops(self, ops: Sequence[str]) -> tuple[str, ...]:
        """``ops`` as a tuple, after checking there is one op per layer and each is a candidate."""
        ops = tuple(ops)
        if len(ops) != len(self.layers):
            raise ArchitectureError(
                f"a path needs {len(self.layers)} ops, got {len(ops)}", "give one op per layer"
            )
        for i, op in enumerate(ops):
            if op not in self.layers[i]:
                raise ArchitectureError(
                    f"op {op!r} is not a candidate of supernet layer {i}",
                    f"choose one of: {', '.join(self.layers[i].keys())}",
                )
        return ops

    def forward(self, x: torch.Tensor, ops: Sequence[str]) -> torch.Tensor:
        """Logits of the single path ``ops`` (one op name per layer) for images ``x``."""
        x = self.stem(x)
        for layer, op in zip(self.layers, ops, strict=True):
            x = layer[op](x)
        return self.head(x)

    def path_modules(self, ops: Sequence[str]) -> list[nn.Module]:
        """The modules a forward pass of ``ops`` runs: stem, one op per layer, head."""
        ops = self.check_ops(ops)
        return [
            self.stem,
            *(layer[op] for layer, op in zip(self.layers, ops, strict=True)),
            self.head,
        ]

    def subnet_state(self, ops: Sequence[str]) -> dict[str, torch.Tensor]:
        """State dict of ``space.build_model(ops)`` holding this path's tensors (not copies)."""
        ops = self.check_ops(ops)
        state: dict[str, torch.Tensor] = {}
        for prefix, module in (("stem", self.stem), ("head", self.head)):
            for key, value in module.state_dict().items():
                state[f"{prefix}.{key}"] = value
        for i, (layer, op) in enumerate(zip(self.layers, ops, strict=True)):
            for key, value in layer[op].state_dict().items():
                state[f"layers.{i}.{key}"] = value
        return state

    def extract(self, ops: Sequence[str]) -> nn.Module:
        """A standalone ``space.build_model(arch)`` with a copy of this path's weights (eval mode).

        Built on the meta device and filled from :meth:`subnet_state`, so it
        costs no random initialisation and leaves the global RNG alone.
        """
        arch = self.space.architecture(self.check_ops(ops))
        device = next(self.parameters()).device
        with torch.device("meta"):
            model = self.space.build_model(arch)
        model = model.to_empty(device=device)
        model.load_state_dict(self.subnet_state(arch.choices), strict=True)
        return model.eval()
