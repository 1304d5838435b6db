"""Built-in strategy ``random``: uniform random sampling of the space (the baseline)."""

from __future__ import annotations

import hwnas
from hwnas.problem import Problem
from hwnas.strategy import Strategy


class RandomSearch(Strategy):
    """Evaluate uniformly random architectures until the budget is spent.

    Sampling is with replacement (``space.sample(problem.rng)``), so repeats
    happen and count against the budget, as the arena protocol requires;
    ``unique=True`` skips architectures it has already evaluated (up to
    ``max_tries`` draws per evaluation, then it takes the repeat).
    """

    name = "random"

    def __init__(self, unique: bool = False, max_tries: int = 100) -> None:
        self.unique = bool(unique)
        self.max_tries = int(max_tries)

    def ask_and_tell(self, problem: Problem) -> None:
        """Sample and evaluate until :class:`~hwnas.problem.BudgetExhausted`."""
        seen: set = set()
        while True:
            arch = problem.space.sample(problem.rng)
            if self.unique:
                for _ in range(self.max_tries):
                    if arch not in seen:
                        break
                    arch = problem.space.sample(problem.rng)
                seen.add(arch)
            problem.evaluate(arch)


@hwnas.hookimpl
def hwnas_strategies():
    """Declare ``random``."""
    yield hwnas.StrategySpec(
        name="random",
        summary="Uniform random sampling (baseline)",
        factory=RandomSearch,
        arena_seeds=10,  # the protocol: random search's spread is the largest
    )
