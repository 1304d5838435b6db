"""The strategy interface and the result every strategy returns."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from hwnas.problem import BudgetExhausted, Evaluation, Problem


@dataclass
class SearchResult:
    """What a search found: its Pareto front (latency vs accuracy) and the full history."""

    strategy: str
    front: list[Evaluation]
    history: list[Evaluation]
    best: Evaluation | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    accuracy: Any = None  # the AccuracySource the front's accuracies came from
    #: Set when the search ran but its result misses the problem (say, no winner meets
    #: the latency limit when measured): the CLI writes the results, prints this as
    #: one warning line and exits with status 1.
    unmet: str | None = None
    #: Where the front's latencies come from, in words (default: from their latency_source).
    latency_label: str | None = None

    @property
    def evaluations(self) -> int:
        """Evaluations spent."""
        return len(self.history)


class Strategy(ABC):
    """A search strategy: turns a :class:`Problem` into a :class:`SearchResult`.

    Implement :meth:`ask_and_tell` (the search loop, which calls
    ``problem.evaluate`` and may stop early); :meth:`search` handles the
    budget and builds the result. Rules: draw randomness only from
    ``problem.rng`` (so a seed reproduces a run); never import a target or a
    device runtime; never read report (test) accuracy.
    """

    name: str = "strategy"
    #: True when the strategy resolves a relative latency limit (``--latency-ms N%``) itself,
    #: from the space's latency range once it knows it (:meth:`Problem.resolve_limit_share`)
    resolves_limit_share: bool = False

    @abstractmethod
    def ask_and_tell(self, problem: Problem) -> None:
        """Run the search loop, evaluating candidates with ``problem.evaluate``."""

    def summary(self, result: SearchResult) -> list[str]:
        """Lines the CLI prints under the front table (what this strategy found and spent).

        Rich markup is allowed. By default nothing.
        """
        return []

    def plot(self, result: SearchResult, ax) -> str | None:
        """Draw this strategy's extras on the front plot's matplotlib ``ax``.

        Return a line to add to the plot's title, or ``None``. By default
        draws nothing.
        """
        return None

    def result_accuracy(self, problem: Problem):
        """The accuracy source the returned front is reported with (by default the problem's)."""
        return problem.accuracy

    def front_candidates(self, problem: Problem) -> list[Evaluation]:
        """The evaluations the front and best are chosen from (by default all of them)."""
        return list(problem.history)

    def search(self, problem: Problem) -> SearchResult:
        """Run until the loop ends or the budget is spent; return front, best and history."""
        from hwnas.pareto import pareto_front

        problem.strategy_name = problem.strategy_name or self.name
        with contextlib.suppress(BudgetExhausted):
            self.ask_and_tell(problem)
        candidates = self.front_candidates(problem)
        front = pareto_front(candidates)
        feasible = [e for e in candidates if problem.feasible(e)]
        best = max(feasible, key=lambda e: e.accuracy) if feasible else None
        result = SearchResult(
            self.name, front, list(problem.history), best, accuracy=self.result_accuracy(problem)
        )
        if problem.plugin_manager is not None:
            problem.plugin_manager.hook.hwnas_search_finished(
                strategy=problem.strategy_name, result=result
            )
        return result
