"""Built-in strategy ``nsga2``: Optuna's NSGA-II on (min latency, max accuracy).

Needs the ``optuna`` extra. Every space position becomes a categorical
parameter; one trial is one evaluation (Optuna may propose repeats; they
count against the budget like every evaluation).
"""

from __future__ import annotations

import warnings

import hwnas
from hwnas.problem import Problem
from hwnas.strategy import Strategy


class OptunaNSGA2(Strategy):
    """NSGA-II via ``optuna.samplers.NSGAIISampler`` (population 50, seed ``problem.seed``).

    With ``problem.latency_limit_ms`` set, latency above the limit is passed
    to Optuna as a constraint violation (feasible trials win selection).
    """

    name = "nsga2"

    def __init__(
        self,
        population: int = 50,
        crossover_prob: float = 0.9,
        swapping_prob: float = 0.5,
        mutation_prob: float | None = None,
    ) -> None:
        self.population = int(population)
        self.crossover_prob = float(crossover_prob)
        self.swapping_prob = float(swapping_prob)
        self.mutation_prob = None if mutation_prob is None else float(mutation_prob)

    def ask_and_tell(self, problem: Problem) -> None:
        """Ask Optuna for a trial, evaluate it, tell the result, until the budget is spent."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        limit = problem.latency_limit_ms
        violations: dict[int, float] = {}

        def constraints(trial) -> tuple[float]:
            return (violations.get(trial.number, 0.0),)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning for constraints_func
            sampler = optuna.samplers.NSGAIISampler(
                population_size=self.population,
                crossover_prob=self.crossover_prob,
                swapping_prob=self.swapping_prob,
                mutation_prob=self.mutation_prob,
                seed=problem.seed,
                constraints_func=constraints if limit is not None else None,
            )
        study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
        positions = problem.space.positions
        names = [f"{i}:{p.name}" for i, p in enumerate(positions)]
        while problem.remaining > 0:
            trial = study.ask()
            choices = [
                trial.suggest_categorical(name, list(p.choices))
                for name, p in zip(names, positions, strict=True)
            ]
            evaluation = problem.evaluate(problem.space.architecture(choices))
            if limit is not None:
                violations[trial.number] = max(0.0, evaluation.latency_ms - limit)
            study.tell(trial, [evaluation.latency_ms, evaluation.accuracy])


@hwnas.hookimpl
def hwnas_strategies():
    """Declare ``nsga2``."""
    yield hwnas.StrategySpec(
        name="nsga2",
        summary="Optuna NSGA-II (population 50) for multi-objective search",
        factory=OptunaNSGA2,
        extra="optuna",
        requires=("optuna",),
    )
