"""Built-in plugin ``hurricane``: the strategy, its accuracy source and its commands."""

from __future__ import annotations

import hwnas


@hwnas.hookimpl
def hwnas_strategies():
    """Declare ``hurricane``."""
    from hwnas.plugins.hurricane.strategy import Hurricane

    yield hwnas.StrategySpec(
        name="hurricane",
        summary="HURRICANE: hardware-specific space + two-stage one-shot (SPOS) search",
        factory=Hurricane,
        space="hurricane",
        space_options={"profile": "tiny"},
        evals=160,
        requires=("torch",),
    )


@hwnas.hookimpl
def hwnas_accuracy_sources():
    """Declare ``supernet``: a one-shot supernet's validation accuracy on real images."""
    from hwnas.plugins.hurricane.accuracy import OneShotAccuracy

    yield hwnas.AccuracySourceSpec(
        name="supernet",
        summary="one-shot supernet (SPOS) on real images",
        factory=OneShotAccuracy,
        space="hurricane",
        requires=("torch",),
    )


@hwnas.hookimpl
def hwnas_commands():
    """Declare ``hwnas supernet`` and ``hwnas space generate``."""
    yield hwnas.CommandSpec(
        name="supernet",
        summary="Train and evaluate one-shot supernets (SPOS) on real images",
        factory=_supernet_app,
    )
    yield hwnas.CommandSpec(
        name="generate",
        summary="A target's own HURRICANE space: top-p ops per layer by score",
        factory=_space_generate,
        parent="space",
    )


def _supernet_app():
    from hwnas.plugins.hurricane.commands import supernet_app

    return supernet_app


def _space_generate():
    from hwnas.plugins.hurricane.space_command import generate

    return generate
