"""The Problem a strategy receives, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwnas.accuracy import AccuracySource
from hwnas.errors import HwnasError
from hwnas.latency import LatencyModel
from hwnas.space import Architecture, SearchSpace


class BudgetExhausted(Exception):
    """Raised by :meth:`Problem.evaluate` once the evaluation budget is spent."""


@dataclass(frozen=True)
class Evaluation:
    """One evaluated candidate: latency (with provenance) and search-visible accuracy."""

    arch: Architecture
    latency_ms: float
    latency_source: str
    accuracy: float
    index: int


@dataclass
class Problem:
    """Everything a strategy needs: space, latency model, accuracy source, limits, budget, seed.

    Strategies evaluate candidates only through :meth:`evaluate`, which counts
    every call (repeats included), records the history, tells the plugins
    (``hwnas_candidate_evaluated``) and raises :class:`BudgetExhausted` when
    ``budget`` evaluations have been made. Randomness comes from :attr:`rng`.
    """

    space: SearchSpace
    latency: LatencyModel
    accuracy: AccuracySource
    budget: int
    seed: int = 0
    latency_limit_ms: float | None = None
    strategy_name: str = ""
    history: list[Evaluation] = field(default_factory=list)
    plugin_manager: Any = None

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise HwnasError(f"evaluation budget must be >= 1, got {self.budget}")
        self.rng = np.random.default_rng(self.seed)

    @property
    def evaluations(self) -> int:
        """How many evaluations have been made."""
        return len(self.history)

    @property
    def remaining(self) -> int:
        """How many evaluations are left."""
        return self.budget - len(self.history)

    def evaluate(self, arch: Architecture) -> Evaluation:
        """Latency and accuracy of ``arch``; counts one evaluation."""
        if self.remaining <= 0:
            raise BudgetExhausted(f"budget of {self.budget} evaluations spent")
        latency = self.latency.latency(arch)
        result = Evaluation(
            arch, latency.ms, latency.source, self.accuracy.accuracy(arch), len(self.history)
        )
        self.history.append(result)
        if self.plugin_manager is not None:
            self.plugin_manager.hook.hwnas_candidate_evaluated(
                strategy=self.strategy_name,
                arch=arch,
                metrics={
                    "latency_ms": latency.ms,
                    "latency_source": latency.source,
                    "accuracy": result.accuracy,
                },
            )
        return result

    def feasible(self, evaluation: Evaluation) -> bool:
        """Whether ``evaluation`` meets the latency limit (always, without a limit)."""
        return self.latency_limit_ms is None or evaluation.latency_ms <= self.latency_limit_ms
