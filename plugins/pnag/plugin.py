"""Built-in plugin ``pnag``: the strategy and ``hwnas generate``."""

from __future__ import annotations

import hwnas


@hwnas.hookimpl
def hwnas_strategies():
    """Declare ``pnag``."""
    from hwnas.plugins.pnag.strategy import PNAG

    yield hwnas.StrategySpec(
        name="pnag",
        summary="PNAG: one budget-conditioned LSTM generator for every latency budget "
        "(REINFORCE on a Pareto-ranking evaluator; Guo et al., CVPRW 2023)",
        factory=PNAG,
        evals=400,  # hwnas search's default --evals for this strategy
        requires=("torch",),
    )


@hwnas.hookimpl
def hwnas_commands():
    """Declare ``hwnas generate``: architectures for any budget from a trained generator."""
    yield hwnas.CommandSpec(
        name="generate",
        summary="Pareto architectures for any latency budget from a trained PNAG generator",
        factory=_generate,
    )


def _generate():
    from hwnas.plugins.pnag.commands import generate_command

    return generate_command
