"""The hwnas plugin contract: every hook the core calls (pluggy project ``hwnas``).

Hooks are the only way the core learns about targets, strategies and search
spaces; the built-ins register through exactly these hooks, like any
third-party package that declares an entry point in the group ``hwnas``::

    [project.entry-points.hwnas]
    my_board = "my_package.plugin"

A plugin module implements any subset of the hooks below with
``@hwnas.hookimpl``. Discovery hooks *yield* frozen declarations
(:mod:`hwnas.types`); event hooks receive objects and return ``None``.
None of these hooks is ``firstresult``: every implementation is called and
all results are collected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from hwnas.space import Architecture
    from hwnas.target import Measurement, Target, Workload
    from hwnas.types import SpaceSpec, StrategySpec, TargetSpec

PROJECT = "hwnas"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------
# discovery hooks: what a plugin contributes
# -------------------------------------------------------------------------


@hookspec
def hwnas_targets() -> Iterable[TargetSpec]:
    """Declare targets (a device plus the toolchain that compiles and times for it).

    Called once per plugin when the plugin manager builds its registry.

    :return: An iterable of :class:`hwnas.types.TargetSpec`; an empty one (or
        ``None``) when the plugin contributes no target. ``factory(**options)``
        must return a :class:`hwnas.target.Target`. Import heavy runtimes inside
        the factory, not at module import, and list them in ``requires`` so
        the plugin shows as unavailable, with the extra to install, when they
        are missing.

    Example::

        @hwnas.hookimpl
        def hwnas_targets():
            yield TargetSpec(
                name="my-board",
                summary="My NPU through its vendor runtime",
                factory=MyBoardTarget,
                extra="myboard",
                requires=("myboard_runtime",),
            )
    """


@hookspec
def hwnas_strategies() -> Iterable[StrategySpec]:
    """Declare search strategies.

    Called once per plugin when the plugin manager builds its registry.

    :return: An iterable of :class:`hwnas.types.StrategySpec`;
        ``factory(**options)`` returns the strategy object.

    Example::

        @hwnas.hookimpl
        def hwnas_strategies():
            yield StrategySpec(name="random", summary="Uniform random sampling",
                               factory=RandomSearch)
    """


@hookspec
def hwnas_search_spaces() -> Iterable[SpaceSpec]:
    """Declare search spaces.

    Called once per plugin when the plugin manager builds its registry.

    :return: An iterable of :class:`hwnas.types.SpaceSpec`;
        ``factory(**options)`` returns a :class:`hwnas.space.SearchSpace`.

    Example::

        @hwnas.hookimpl
        def hwnas_search_spaces():
            yield SpaceSpec(name="tiny", summary="Two layers, two ops",
                            factory=TinySpace)
    """


# -------------------------------------------------------------------------
# measurement events
# -------------------------------------------------------------------------


@hookspec
def hwnas_workload_measured(target: Target, workload: Workload, measurement: Measurement) -> None:
    """Called after a target measured (or failed to measure) one workload.

    For loggers, dashboards and experiment trackers; must not modify its
    arguments (they are frozen) and should return quickly.

    :param target: The target that measured.
    :param workload: What was measured.
    :param measurement: The result, with its status (``ok`` or a failure and
        its reason) and provenance.
    :return: ``None``; return values are ignored.
    """


# -------------------------------------------------------------------------
# search events
# -------------------------------------------------------------------------


@hookspec
def hwnas_candidate_evaluated(strategy: str, arch: Architecture, metrics: dict[str, Any]) -> None:
    """Called each time a strategy evaluates one candidate architecture.

    :param strategy: The strategy's registered name.
    :param arch: The evaluated architecture.
    :param metrics: What was learnt about it, e.g. ``{"latency_ms": 3.1,
        "latency_source": "measured", "accuracy": 91.2}``.
    :return: ``None``; return values are ignored.
    """


@hookspec
def hwnas_search_finished(strategy: str, result: Any) -> None:
    """Called once when a search ends, with its result (Pareto front and history).

    :param strategy: The strategy's registered name.
    :param result: The strategy's result object.
    :return: ``None``; return values are ignored.
    """
