"""Workloads: the units a target compiles and times."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Workload:
    """One thing to measure: an operator at its input shape, or a whole network.

    ``key`` is structural (op and shapes, not the layer index), so identical
    computations at different layers share one measurement. ``build()`` returns
    a fresh ``torch.nn.Module`` in eval mode; ``features`` carries the facts a
    latency predictor learns from (op family, kernel, channels, FLOPs, ...).
    """

    key: str
    space: str
    input_shape: tuple[int, ...]
    label: str
    build: Callable[[], Any] = field(compare=False, hash=False, repr=False)
    features: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def example_input(self, seed: int = 0):
        """A deterministic random input tensor of ``input_shape``."""
        import torch

        generator = torch.Generator().manual_seed(seed)
        return torch.randn(*self.input_shape, generator=generator)
