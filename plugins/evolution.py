"""Built-in strategy ``evolution``: multi-objective, constraint-aware aging (regularized) evolution.

Real et al.'s regularized evolution with Pareto tournaments: a population of
the ``population`` most recent evaluations (the oldest dies each step), a
tournament of ``tournament`` members drawn from it, and a child that differs
from the winner at exactly one position. Works on any space through
``space.sample`` and ``space.positions``.
"""

from __future__ import annotations

from collections import deque

import numpy as np

import hwnas
from hwnas.pareto import non_dominated_mask
from hwnas.problem import Evaluation, Problem
from hwnas.space import Architecture, SearchSpace
from hwnas.strategy import Strategy


def mutate(space: SearchSpace, arch: Architecture, rng: np.random.Generator) -> Architecture:
    """``arch`` with one position (chosen uniformly) changed to a different choice."""
    movable = [i for i, p in enumerate(space.positions) if len(p.choices) > 1]
    if not movable:
        return arch
    i = movable[int(rng.integers(len(movable)))]
    choices = space.positions[i].choices
    others = [c for c in choices if c != arch.choices[i]]
    new = list(arch.choices)
    new[i] = others[int(rng.integers(len(others)))]
    return Architecture(arch.space, tuple(new))


class AgingEvolution(Strategy):
    """Multi-objective aging evolution (population 50, tournament 10, one-position mutation).

    Tournament: without a latency limit the winner is drawn uniformly from the
    members of the tournament that no other member dominates (min latency,
    max accuracy). With ``problem.latency_limit_ms`` set, infeasible members
    lose to feasible ones; among feasible members the most accurate wins, and
    when none is feasible the fastest does. Children already evaluated are
    re-drawn (up to ``max_tries`` mutations, then fresh random samples) so the
    budget goes to new architectures; every evaluation, repeats included,
    counts.
    """

    name = "evolution"

    def __init__(
        self, population: int = 50, tournament: int = 10, max_tries: int = 50, initial=()
    ) -> None:
        if population < 1 or tournament < 1:
            raise hwnas.HwnasError(
                "evolution: population and tournament must be >= 1",
                "e.g. population=50, tournament=10",
            )
        self.population = int(population)
        self.tournament = int(tournament)
        self.max_tries = int(max_tries)
        self.initial = list(initial)  # architectures evaluated first (e.g. a known-feasible one)

    def _select(self, sample: list[Evaluation], problem: Problem) -> Evaluation:
        if problem.latency_limit_ms is not None:
            feasible = [e for e in sample if problem.feasible(e)]
            if feasible:
                return max(feasible, key=lambda e: (e.accuracy, -e.latency_ms))
            return min(sample, key=lambda e: (e.latency_ms, -e.accuracy))
        points = np.array([(e.latency_ms, -e.accuracy) for e in sample], dtype=float)
        winners = np.flatnonzero(non_dominated_mask(points))
        return sample[int(winners[problem.rng.integers(len(winners))])]

    def _fresh(self, candidate: Architecture, problem: Problem, seen: set, parent=None):
        """``candidate``, or a re-draw if it was evaluated already."""
        for _ in range(self.max_tries):
            if candidate not in seen:
                return candidate
            candidate = (
                mutate(problem.space, parent, problem.rng)
                if parent is not None
                else problem.space.sample(problem.rng)
            )
        for _ in range(self.max_tries):
            if candidate not in seen:
                return candidate
            candidate = problem.space.sample(problem.rng)
        return candidate

    def ask_and_tell(self, problem: Problem) -> None:
        """Random initial population, then tournament + mutation until the budget is spent."""
        rng = problem.rng
        population: deque[Evaluation] = deque()
        seen: set = set()

        def evaluate(arch: Architecture) -> None:
            seen.add(arch)
            population.append(problem.evaluate(arch))
            if len(population) > self.population:
                population.popleft()

        for arch in self.initial[: self.population]:
            if arch not in seen:
                evaluate(arch)
        while len(population) < self.population:
            evaluate(self._fresh(problem.space.sample(rng), problem, seen))
        while True:
            k = min(self.tournament, len(population))
            members = rng.choice(len(population), size=k, replace=False)
            parent = self._select([population[int(i)] for i in members], problem)
            child = mutate(problem.space, parent.arch, rng)
            evaluate(self._fresh(child, problem, seen, parent=parent.arch))


@hwnas.hookimpl
def hwnas_strategies():
    """Declare ``evolution``."""
    yield hwnas.StrategySpec(
        name="evolution",
        summary="Multi-objective, constraint-aware aging evolution "
        "(population 50, tournament 10, one-position mutation)",
        factory=AgingEvolution,
    )
