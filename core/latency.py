"""Latency of whole architectures, with provenance.

A live :class:`~hwnas.target.Target` times workloads; a :class:`LatencyModel`
answers "how fast is this architecture on that device" - from a published
table (``recorded``), from the store of measured workloads plus predictors
(``layer-sum`` / ``predicted``), or from an end-to-end measurement
(``measured``). Every answer says which.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hwnas.space import Architecture

SOURCES = ("measured", "layer-sum", "predicted", "recorded")


@dataclass(frozen=True)
class Latency:
    """One architecture's latency in milliseconds and where the number came from.

    ``source`` is ``"measured"`` (the architecture timed on the device by
    hwnas), ``"layer-sum"`` (the sum of its layers, each timed on the device,
    the network itself not timed), ``"recorded"`` (a published measurement),
    or ``"predicted"`` (a model trained on measurements);
    ``measured_fraction`` tells, for a sum over layers, how much of it was
    measured.
    """

    ms: float
    source: str
    measured_fraction: float = 1.0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"latency source must be one of {SOURCES}, not {self.source!r}")


class LatencyModel(ABC):
    """Answers the latency of architectures of one search space on one device.

    Implement :meth:`latency`; override :meth:`latencies` when a vectorised
    answer is cheaper. Answers must be deterministic for a given model (the
    same architecture gives the same number), and thread-safe to read.
    """

    name: str = "latency-model"
    space: str = ""

    @abstractmethod
    def latency(self, arch: Architecture) -> Latency:
        """The latency of ``arch`` with its provenance."""

    def latencies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Latencies (ms) of many architectures at once."""
        return np.array([self.latency(a).ms for a in archs], dtype=float)

    def fingerprint(self) -> dict:
        """What the numbers belong to (device, table, predictor version)."""
        return {"model": self.name, "space": self.space}
