"""The Problem a strategy receives, and what it returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwnas import interrupt
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

    A strategy that runs searches inside its search (on a restricted space,
    another latency model or another accuracy) makes a sub-problem with
    :meth:`child`; its evaluations reach the plugins under the owning
    strategy's name and, when ``counted``, also this problem's budget and
    history.
    """

    space: SearchSpace
    latency: LatencyModel
    accuracy: AccuracySource
    budget: int
    seed: int = 0
    latency_limit_ms: float | None = None
    #: a limit given as a share of the space's latency range on the target (``--latency-ms
    #: 40%``); :meth:`resolve_limit_share` turns it into ``latency_limit_ms``
    latency_limit_share: float | None = None
    strategy_name: str = ""
    history: list[Evaluation] = field(default_factory=list)
    plugin_manager: Any = None
    parent: Problem | None = None
    counted: bool = True
    label: str = ""

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

    def _check_budget(self) -> None:
        interrupt.raise_if_received()
        if self.remaining <= 0:
            raise BudgetExhausted(f"budget of {self.budget} evaluations spent")
        if self.parent is not None and self.counted:
            self.parent._check_budget()

    def evaluate(self, arch: Architecture) -> Evaluation:
        """Latency and accuracy of ``arch``; counts one evaluation."""
        self._check_budget()
        latency = self.latency.latency(arch)
        result = Evaluation(
            arch, latency.ms, latency.source, self.accuracy.accuracy(arch), len(self.history)
        )
        self.record(result)
        return result

    @property
    def latency_is_free(self) -> bool:
        """Whether :meth:`latency_of` may be used (the latency model measures nothing)."""
        return bool(getattr(self.latency, "free", False))

    def latency_of(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Latencies (ms) of ``archs`` without spending evaluations: no budget, no history.

        Only for a latency model that answers without measuring (``LatencyModel.free``:
        a recorded table or lookup table, a trained predictor), where latency is
        known for free and only accuracy costs an evaluation; otherwise a one-line
        :class:`~hwnas.errors.HwnasError` (check :attr:`latency_is_free` first).
        """
        if not self.latency_is_free:
            raise HwnasError(
                f"latency model {self.latency.name!r} measures its answers: latency is not free",
                "spend evaluations with Problem.evaluate, or use a recorded/predicted model",
            )
        return np.asarray(self.latency.latencies(list(archs)), dtype=float)

    def record(self, evaluation: Evaluation, notify: bool = True) -> Evaluation:
        """Add an evaluation made elsewhere (a resumed run's, a sub-search's) to the history.

        It counts against the budget like :meth:`evaluate` (without evaluating
        again) and, with ``notify``, tells the plugins. Returns it re-indexed.
        """
        self._check_budget()
        result = Evaluation(
            evaluation.arch,
            evaluation.latency_ms,
            evaluation.latency_source,
            evaluation.accuracy,
            len(self.history),
        )
        self.history.append(result)
        if self.parent is not None and self.counted:
            self.parent.record(result, notify=False)
        if notify:
            self._notify(result)
        return result

    def _notify(self, evaluation: Evaluation) -> None:
        root = self
        while root.parent is not None:
            root = root.parent
        if root.plugin_manager is None:
            return
        metrics = {
            "latency_ms": evaluation.latency_ms,
            "latency_source": evaluation.latency_source,
            "accuracy": evaluation.accuracy,
        }
        if self.parent is not None:
            metrics["sub_search"] = self.label
        root.plugin_manager.hook.hwnas_candidate_evaluated(
            strategy=root.strategy_name, arch=evaluation.arch, metrics=metrics
        )

    def child(
        self,
        space: SearchSpace | None = None,
        latency: LatencyModel | None = None,
        accuracy: AccuracySource | None = None,
        budget: int | None = None,
        seed: int | None = None,
        counted: bool = True,
        label: str = "",
    ) -> Problem:
        """A sub-problem for a search inside this one (same limit; other parts as given).

        ``counted``: its evaluations also count against this problem's budget
        and join its history (a HURRICANE stage); ``False`` for a free search
        on a cheap model (the proxy strategy's inner search). ``budget``
        defaults to what is left here; ``seed`` to a draw from :attr:`rng`.
        """
        return Problem(
            space or self.space,
            latency or self.latency,
            accuracy or self.accuracy,
            budget=self.remaining if budget is None else budget,
            seed=int(self.rng.integers(2**31)) if seed is None else seed,
            latency_limit_ms=self.latency_limit_ms,
            strategy_name=self.strategy_name,
            parent=self,
            counted=counted,
            label=label,
        )

    def resolve_limit_share(self, fastest_ms: float, slowest_ms: float) -> float:
        """Set the limit to fastest + share x (slowest - fastest) of the space; returns it.

        The strategy (or the CLI, for a tabulated target) calls this once the
        space's fastest and slowest latencies on the target are known, so a
        relative limit means the same on a fast and on a slow machine.
        """
        if self.latency_limit_share is None:
            raise HwnasError("no relative latency limit to resolve", "pass --latency-ms N%")
        span = max(float(slowest_ms) - float(fastest_ms), 0.0)
        self.latency_limit_ms = float(fastest_ms) + self.latency_limit_share * span
        return self.latency_limit_ms

    def feasible(self, evaluation: Evaluation) -> bool:
        """Whether ``evaluation`` meets the latency limit (always, without a limit)."""
        return self.latency_limit_ms is None or evaluation.latency_ms <= self.latency_limit_ms
