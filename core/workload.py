"""Workloads: the units a target compiles and times."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Workload:
    """One thing to measure: an operator at its input shape, or a whole network.

    ``key`` is structural (op and shapes, not the layer index), so identical
    computations at different layers share one measurement. ``build()`` returns
    a fresh ``torch.nn.Module`` in eval mode, with the same weights on every
    call (see :func:`seeded`); ``features`` carries the facts a
    latency predictor learns from (op family, kernel, channels, FLOPs, ...).
    ``recipe`` is ``("package.module:function", kwargs)``, a picklable way to
    make the same workload again in a worker process (see :func:`from_recipe`).
    """

    key: str
    space: str
    input_shape: tuple[int, ...]
    label: str
    build: Callable[[], Any] = field(compare=False, hash=False, repr=False)
    features: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    recipe: tuple[str, dict[str, Any]] | None = field(default=None, compare=False, hash=False)

    def example_input(self, seed: int = 0):
        """A deterministic random input tensor of ``input_shape``."""
        import torch

        generator = torch.Generator().manual_seed(seed)
        return torch.randn(*self.input_shape, generator=generator)


def from_recipe(recipe: tuple[str, dict[str, Any]]) -> Workload:
    """Rebuild a workload from its recipe (used by isolated worker processes)."""
    target, kwargs = recipe
    module_name, _, function = target.partition(":")
    return getattr(importlib.import_module(module_name), function)(**kwargs)


def seeded(build: Callable[[], Any], seed: int = 0) -> Callable[[], Any]:
    """Wrap a module builder so every call gives the same weights (torch's global RNG untouched).

    An exported ONNX file, a compiled artifact and a fresh ``build()`` then
    compute the same function, so numerics can be compared across runtimes.
    """

    def build_seeded():
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build()

    return build_seeded
