"""The plugin module named by the ``hwnas`` entry point: it declares the strategy and a command.

Keep this module cheap to import: hwnas imports every installed plugin just to
list what exists, and the CLI calls ``hwnas_commands`` at every start. The
strategy module needs only numpy and hwnas; the command module is imported
when the CLI mounts it (``factory`` runs at CLI start, so keep heavy imports
inside the command body, as ``commands.py`` does).
"""

from __future__ import annotations

from collections.abc import Iterator

import hwnas
from hwnas_strategy_example.strategy import NAME, LocalSearch


@hwnas.hookimpl
def hwnas_strategies() -> Iterator[hwnas.StrategySpec]:
    """Declare ``local-search``; its options are ``LocalSearch``'s keyword parameters.

    ``hwnas search --strategy local-search --restarts 5`` (or ``-s restarts=5``)
    reaches ``LocalSearch(restarts=5)`` through ``pm.create("strategy", NAME,
    **options)``. ``space``/``evals`` (not set here) would change what
    ``hwnas search`` uses when the user gives no ``--space``/``--evals``.
    """
    yield hwnas.StrategySpec(
        name=NAME,
        summary="Local search: hill climbing one position at a time, budget split over "
        "restarts, improvements kept under the latency limit (example plugin)",
        factory=LocalSearch,
    )


@hwnas.hookimpl
def hwnas_commands() -> Iterator[hwnas.CommandSpec]:
    """Declare ``hwnas local-search-neighbours`` (a top-level command: ``parent=None``)."""
    yield hwnas.CommandSpec(
        name="local-search-neighbours",
        summary="The one-position neighbours of an architecture, scored on a target",
        factory=_neighbours_command,
    )


def _neighbours_command():
    from hwnas_strategy_example.commands import neighbours_command

    return neighbours_command
