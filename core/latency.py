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
from typing import Protocol, runtime_checkable

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
    #: Whether any architecture is answered without measuring anything (a table, a lookup
    #: table or a trained predictor): then a strategy may ask it for free through
    #: :meth:`hwnas.problem.Problem.latency_of`. ``False`` (the safe default) for models
    #: that time architectures on a device.
    free: bool = False

    @abstractmethod
    def latency(self, arch: Architecture) -> Latency:
        """The latency of ``arch`` with its provenance."""

    def latencies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Latencies (ms) of many architectures at once."""
        return np.array([self.latency(a).ms for a in archs], dtype=float)

    def prefetch(self, archs: Sequence[Architecture]) -> None:
        """Get ready to answer ``archs`` (a measuring model measures them in one batch).

        By default nothing: the model answers from what it holds.
        """

    def pool_archs(self) -> list[Architecture] | None:
        """The architectures this model can answer without measuring more; ``None``: any."""
        return None

    def fingerprint(self) -> dict:
        """What the numbers belong to (device, table, predictor version)."""
        return {"model": self.name, "space": self.space}


@runtime_checkable
class TabulatedLatency(Protocol):
    """A latency model that holds a fixed table of architectures (a recorded device).

    ``architectures()`` lists them in table order and ``all_latencies()``
    gives their latencies (ms) in the same order. Tools that need a whole
    table (the arena, device-to-device rank correlation) accept any model
    with these two methods.
    """

    def architectures(self) -> Sequence[Architecture]:
        """Every architecture the table holds, in table order."""

    def all_latencies(self) -> np.ndarray:
        """Their latencies in ms, in the same order."""


@runtime_checkable
class MeasuringLatencyModel(Protocol):
    """A latency model backed by a live target: what it measures lands in a latency store.

    ``target`` is the registered target name, ``options`` its options and
    ``store`` the :class:`~hwnas.store.LatencyStore` it reads and writes.
    Strategies that measure more (layer tables, whole networks) use these
    instead of creating targets themselves.
    """

    target: str
    options: dict
    store: object


def target_space_options(target: str, space: str, plugin_manager=None) -> dict:
    """The options of ``space`` that ``target`` declares (its ``space_options``), else ``{}``.

    ``{}`` too for an unknown target or one of another space: the command
    reports those where it checks the target.
    """
    from hwnas.manager import get_plugin_manager

    pm = plugin_manager or get_plugin_manager()
    spec = next((i.spec for i in pm.infos("target") if i.name == target), None)
    if spec is None or getattr(spec, "space", None) != space:
        return {}
    return dict(getattr(spec, "space_options", {}) or {})


def recorded_devices(space: str, plugin_manager=None) -> list[str]:
    """The devices with a recorded target for ``space`` (``<space>/<device>`` names, prefix off)."""
    from hwnas.manager import get_plugin_manager

    pm = plugin_manager or get_plugin_manager()
    return [
        info.name.split("/", 1)[-1]
        for info in pm.infos("target")
        if getattr(info.spec, "recorded", False) and info.spec.space == space
    ]
