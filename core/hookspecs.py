"""The hwnas plugin contract: every hook the core calls (pluggy project ``hwnas``).

Hooks are the only way the core learns about targets, strategies, search
spaces, accuracy sources and CLI commands; the built-ins register through
exactly these hooks, like any third-party package that declares an entry
point in the group ``hwnas``::

    [project.entry-points.hwnas]
    my_board = "my_package.plugin"

A plugin module implements any subset of the hooks below with
``@hwnas.hookimpl``. Discovery hooks *yield* frozen declarations
(:mod:`hwnas.types`); event hooks receive objects and return ``None``.
No hook is ``firstresult``: every implementation is called and all results
are collected.

Order of calls in one process:

1. discovery (``hwnas_targets``, ``hwnas_strategies``, ``hwnas_search_spaces``,
   ``hwnas_accuracy_sources``, ``hwnas_commands``): once per plugin, the first
   time the registry is needed (the CLI needs it at start-up to mount
   commands), in that order; never again in the same process;
2. measurement events (``hwnas_workload_measured``): while ``hwnas profile``
   or a strategy measures workloads, once per workload measured (never for a
   workload reused from the store);
3. search events (``hwnas_candidate_evaluated`` for every evaluation, then
   ``hwnas_search_finished`` once), while a strategy runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from hwnas.runner import TargetInfo
    from hwnas.space import Architecture
    from hwnas.strategy import SearchResult
    from hwnas.timing import Measurement
    from hwnas.types import (
        AccuracySourceSpec,
        CommandSpec,
        SpaceSpec,
        StrategySpec,
        TargetSpec,
    )
    from hwnas.workload import Workload

PROJECT = "hwnas"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------
# discovery hooks: what a plugin contributes
# -------------------------------------------------------------------------


@hookspec
def hwnas_targets() -> Iterable[TargetSpec]:
    """Declare targets (a device plus the toolchain that compiles and times for it).

    Called once per plugin, first of the discovery hooks, when the plugin
    manager builds its registry.

    :return: An iterable of :class:`hwnas.types.TargetSpec`; an empty one (or
        ``None``) when the plugin contributes no target. ``factory(**options)``
        must return a :class:`hwnas.target.Target` (or, for ``recorded=True``,
        a :class:`hwnas.latency.LatencyModel` of search space ``space``).
        Import heavy runtimes inside the factory, not at module import, and
        list them in ``requires`` so the plugin shows as unavailable, with the
        extra to install, when they are missing.

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

    Called once per plugin, after :func:`hwnas_targets`, when the plugin
    manager builds its registry.

    :return: An iterable of :class:`hwnas.types.StrategySpec`;
        ``factory(**options)`` returns a :class:`hwnas.strategy.Strategy`.
        Its keyword parameters are the strategy's options (``hwnas search -s
        KEY=VALUE``).

    Example::

        @hwnas.hookimpl
        def hwnas_strategies():
            yield StrategySpec(name="random", summary="Uniform random sampling",
                               factory=RandomSearch)
    """


@hookspec
def hwnas_search_spaces() -> Iterable[SpaceSpec]:
    """Declare search spaces.

    Called once per plugin, after :func:`hwnas_strategies`, when the plugin
    manager builds its registry.

    :return: An iterable of :class:`hwnas.types.SpaceSpec`;
        ``factory(**options)`` returns a :class:`hwnas.space.SearchSpace`.

    Example::

        @hwnas.hookimpl
        def hwnas_search_spaces():
            yield SpaceSpec(name="tiny", summary="Two layers, two ops",
                            factory=TinySpace)
    """


@hookspec
def hwnas_accuracy_sources() -> Iterable[AccuracySourceSpec]:
    """Declare accuracy sources (a table, a predictor, a trained supernet).

    Called once per plugin, after :func:`hwnas_search_spaces`, when the plugin
    manager builds its registry.

    :return: An iterable of :class:`hwnas.types.AccuracySourceSpec`;
        ``factory(**options)`` returns a :class:`hwnas.accuracy.AccuracySource`
        for the architectures of ``space``. The first source declared for a
        space is its default.

    Example::

        @hwnas.hookimpl
        def hwnas_accuracy_sources():
            yield AccuracySourceSpec(name="tiny-table", summary="Trained accuracies",
                                     factory=TinyAccuracy, space="tiny")
    """


@hookspec
def hwnas_commands() -> Iterable[CommandSpec]:
    """Declare commands for the ``hwnas`` command line.

    Called once per plugin, last of the discovery hooks, when the CLI starts
    (before it parses the arguments).

    :return: An iterable of :class:`hwnas.types.CommandSpec`. ``factory()``
        returns a :class:`typer.Typer` (a command group) or a function (one
        command); ``parent`` names the group to mount it under (``None``: the
        top level). A name that is already taken is an error naming both
        plugins.

    Example::

        @hwnas.hookimpl
        def hwnas_commands():
            yield CommandSpec(name="report", summary="Summarise a run",
                              factory=lambda: report_command)
    """


# -------------------------------------------------------------------------
# measurement events
# -------------------------------------------------------------------------


@hookspec
def hwnas_workload_measured(
    target: TargetInfo, workload: Workload, measurement: Measurement
) -> None:
    """Called after a live target measured (or failed to measure) one workload.

    Called after the measurement is committed to the latency store, and only
    for workloads measured now (not for those reused from the store). It runs
    on the thread that drives the worker process, **not the main thread**,
    and several such threads may call it at once (``--workers N``):
    implementations must be thread-safe, must not modify their arguments
    (they are frozen) and should return quickly.

    :param target: The target as its worker reported it: ``name``,
        ``fingerprint`` (device, toolchain versions, flags) and
        ``fingerprint_key`` (the store's key).
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

    Called on the strategy's thread, after the evaluation is counted against
    the budget and recorded in the problem's history, before the strategy
    sees the result. Sub-searches (``Problem.child``) fire it too, with the
    name of the strategy that owns the search.

    :param strategy: The registered name of the strategy running the search.
    :param arch: The evaluated architecture.
    :param metrics: What was learnt about it: ``latency_ms``,
        ``latency_source`` (``measured``, ``layer-sum``, ``predicted`` or
        ``recorded``) and ``accuracy`` (the search-visible accuracy).
    :return: ``None``; return values are ignored.
    """


@hookspec
def hwnas_search_finished(strategy: str, result: SearchResult) -> None:
    """Called once when a search ends, with its result (Pareto front and history).

    Called on the strategy's thread after the last
    :func:`hwnas_candidate_evaluated` of the search, before the result is
    returned to the caller (and before the CLI writes its files). Not called
    for sub-searches.

    :param strategy: The registered name of the strategy.
    :param result: The :class:`hwnas.strategy.SearchResult` (front, best,
        history and the strategy's ``extra`` facts).
    :return: ``None``; return values are ignored.
    """
