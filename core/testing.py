"""Test helpers for hwnas and its plugins: a ``plugin_manager`` fixture and contract checks.

Installed as a pytest plugin (entry point ``pytest11``), so plugin packages
get the fixture without a conftest. :func:`check_target_contract` is the
conformance suite every target, built-in or third-party, must pass;
:func:`check_strategy_contract` is the one for every strategy.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from hwnas.errors import HwnasError
from hwnas.hookspecs import hookimpl
from hwnas.manager import PluginManager
from hwnas.target import Target
from hwnas.timing import Measurement, TimingProtocol
from hwnas.workload import Workload, seeded

QUICK_PROTOCOL = TimingProtocol(warmup=1, repeats=5, min_repeat_ms=2.0, max_attempts=1)


def run_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``python -m hwnas ARGS`` as a user would; captures text stdout/stderr."""
    return subprocess.run(
        [sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """The CLI's bad-input contract: exit 2, one stderr line naming the problem, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def plugin_manager() -> PluginManager:
    """A fresh plugin manager with the built-ins and every installed entry point."""
    return PluginManager()


def tiny_workload(channels: int = 8, size: int = 16) -> Workload:
    """A small conv-BN-ReLU workload that any CPU-capable target can run in microseconds."""

    def build():
        from torch import nn

        return nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        ).eval()

    return Workload(
        key=f"testing/conv3x3/c{channels}/hw{size}",
        space="testing",
        input_shape=(1, channels, size, size),
        label="tiny conv",
        build=seeded(build),
        recipe=(f"{__name__}:tiny_workload", {"channels": channels, "size": size}),
    )


def _broken_workload(workload: Workload) -> Workload:
    def fail():
        raise RuntimeError("deliberately broken workload")

    return Workload(
        key=workload.key + "/broken",
        space=workload.space,
        input_shape=workload.input_shape,
        label="broken",
        build=fail,
    )


def check_target_contract(target: Target, workload: Workload | None = None) -> Measurement:
    """Assert the rules of :class:`hwnas.target.Target` on ``target``; returns the measurement.

    Checks that ``available()`` returns ``None`` or a reason string, that the
    fingerprint is JSON-serialisable and stable, that measuring ``workload``
    (default :func:`tiny_workload`) gives a positive median with the
    protocol's raw repeats, and that a workload which fails to build becomes
    a failed measurement, not an error.
    """
    workload = workload or tiny_workload()
    reason = target.available()
    assert reason is None or (isinstance(reason, str) and reason), "available() -> None or reason"
    fingerprint = target.fingerprint()
    assert json.loads(json.dumps(fingerprint)) == fingerprint, "fingerprint must be JSON"
    assert target.fingerprint() == fingerprint, "fingerprint must be stable"
    assert len(target.fingerprint_key()) == 16
    result = target.measure(workload, QUICK_PROTOCOL)
    assert result.ok, result.reason
    assert result.source == "measured"
    assert result.median_ms > 0
    assert len(result.repeats_ms) == QUICK_PROTOCOL.repeats
    assert result.number >= 1 and result.cv >= 0 and result.iqr_ms >= 0
    failed = target.measure(_broken_workload(workload), QUICK_PROTOCOL)
    assert failed.status == "failed" and "deliberately broken" in failed.reason
    return result


# ---------------------------------------------------------------------------
# the strategy contract
# ---------------------------------------------------------------------------


def contract_problem_parts(pm: PluginManager) -> tuple[str, str]:
    """The space and recorded target the strategy contract runs on: ``(space, target)``.

    The first recorded target (by name) that tabulates its whole space, on a
    space with an accuracy source: every latency is a table look-up, every
    accuracy known. One-line error when no installed plugin offers one.
    """
    from hwnas.latency import TabulatedLatency

    with_accuracy = {info.spec.space for info in pm.infos("accuracy") if info.available}
    for info in pm.infos("target"):
        space = getattr(info.spec, "space", None)
        if not (info.available and info.spec.recorded and space in with_accuracy):
            continue
        model = pm.create("target", info.name)
        size = pm.create("space", space).size
        if isinstance(model, TabulatedLatency) and len(model.architectures()) == size:
            return space, info.name
    raise HwnasError(
        "no recorded target tabulates a whole space with an accuracy source",
        "install hwnas with its shipped tables (see 'hwnas data')",
    )


@dataclass
class StrategyContract:
    """What :func:`check_strategy_contract` found for one strategy.

    ``skipped`` is the reason the strategy could not be checked (then nothing
    else is set); otherwise ``result`` is the first run's
    :class:`~hwnas.strategy.SearchResult`, ``limited`` the run with a latency
    limit of ``latency_limit_ms``, and ``seconds`` the wall time of all runs.
    """

    name: str
    skipped: str | None = None
    result: Any = None
    limited: Any = None
    latency_limit_ms: float | None = None
    runs: int = 0
    seconds: float = 0.0
    summary: list[str] = field(default_factory=list)


class _SearchRecorder:
    """A plugin object that records the search events of one run."""

    def __init__(self) -> None:
        self.candidates: list[tuple[str, Any, dict]] = []
        self.finished: list[tuple[str, Any]] = []

    @hookimpl
    def hwnas_candidate_evaluated(self, strategy, arch, metrics) -> None:
        self.candidates.append((strategy, arch, dict(metrics)))

    @hookimpl
    def hwnas_search_finished(self, strategy, result) -> None:
        self.finished.append((strategy, result))


def strategy_contract_skip_reason(pm: PluginManager, name: str) -> str | None:
    """Why strategy ``name`` cannot run the contract problem, or ``None``.

    A strategy that is unavailable here, or that declares its own search
    space (``StrategySpec.space``) other than the contract's
    (:func:`contract_problem_parts`), is skipped.
    """
    info = pm.get("strategy", name)
    if not info.available:
        return f"strategy {info.name!r} is unavailable here: {info.reason}"
    contract_space, contract_target = contract_problem_parts(pm)
    space = info.spec.space
    if space not in (None, contract_space):
        return (
            f"strategy {info.name!r} declares its own space {space!r}; the strategy contract "
            f"runs on {contract_space} with the recorded {contract_target} latencies"
        )
    return None


def check_strategy_contract(
    pm: PluginManager,
    name: str,
    options: dict[str, Any] | None = None,
    *,
    budget: int = 30,
    seed: int = 1,
) -> StrategyContract:
    """Assert the rules of :class:`hwnas.strategy.Strategy` on registered strategy ``name``.

    Runs ``pm.create("strategy", name, **options)`` (a fresh instance per run)
    on a small problem: a recorded space and target from
    :func:`contract_problem_parts` (today NB201 with one of its tables), the
    space's default accuracy source, ``budget`` evaluations, ``seed``. Checks that

    - ``search`` returns a :class:`~hwnas.strategy.SearchResult` named after
      the strategy whose history is the problem's, within the budget;
    - every front member is in the history and the front is Pareto: no member
      is dominated by any evaluation of the history;
    - the same seed gives the same history (randomness only from
      ``problem.rng``), and the global ``random`` and ``numpy.random`` states
      are left alone (a different seed may give a different history);
    - ``hwnas_candidate_evaluated`` fires once per evaluation, in order, and
      ``hwnas_search_finished`` once, with the returned result (a recorder
      plugin is registered on ``pm`` for the run and unregistered after);
    - ``summary(result)`` is a list of str and ``plot(result, ax)`` returns
      ``None`` or a str;
    - with a latency limit (the median latency of the first run's history)
      the reported ``best`` is in the history and meets it.

    Three runs in all. A strategy that cannot run this problem (see
    :func:`strategy_contract_skip_reason`) is not run: the returned report's
    ``skipped`` says why (call ``pytest.skip(report.skipped)``).
    """
    from hwnas.accuracy import default_accuracy
    from hwnas.problem import Evaluation, Problem
    from hwnas.strategy import SearchResult

    report = StrategyContract(name)
    report.skipped = strategy_contract_skip_reason(pm, name)
    if report.skipped:
        return report
    options = dict(options or {})
    space_name, target_name = contract_problem_parts(pm)
    space = pm.create("space", space_name)
    latency = pm.create("target", target_name)
    accuracy = default_accuracy(space_name, pm)
    started = time.perf_counter()

    def run(limit: float | None = None):
        problem = Problem(
            space,
            latency,
            accuracy,
            budget=budget,
            seed=seed,
            latency_limit_ms=limit,
            strategy_name=name,
            plugin_manager=pm,
        )
        strategy = pm.create("strategy", name, **options)
        recorder = _SearchRecorder()
        pm.register(recorder, name=f"hwnas.testing:recorder:{id(recorder)}")
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            result = strategy.search(problem)
        finally:
            pm.unregister(recorder)
        report.runs += 1
        where = f"strategy {name!r} (seed {seed}, budget {budget}, limit {limit})"
        assert random.getstate() == py_state, f"{where} drew from the global random module"
        assert _same_numpy_state(np.random.get_state(), np_state), (
            f"{where} drew from the global numpy.random state; use problem.rng"
        )
        _check_result(where, name, problem, result, recorder, SearchResult, Evaluation)
        return strategy, problem, result

    strategy, _, result = run()
    lines = strategy.summary(result)
    assert isinstance(lines, list) and all(isinstance(x, str) for x in lines), (
        f"strategy {name!r}: summary(result) must return a list of str, got {lines!r}"
    )
    from matplotlib.figure import Figure

    title = strategy.plot(result, Figure().subplots())
    assert title is None or isinstance(title, str), (
        f"strategy {name!r}: plot(result, ax) must return None or a str, got {title!r}"
    )
    _, _, again = run()
    assert _trace(again.history) == _trace(result.history), (
        f"strategy {name!r}: the same seed gave another history; draw randomness only "
        "from problem.rng"
    )
    limit = float(np.median([e.latency_ms for e in result.history]))
    _, limited_problem, limited = run(limit)
    if limited.best is not None:
        assert limited.best in limited.history, f"strategy {name!r}: best is not in the history"
        assert limited.best.latency_ms <= limit, (
            f"strategy {name!r}: best ({limited.best.latency_ms:g} ms) is over the latency "
            f"limit of {limit:g} ms"
        )
        assert limited_problem.feasible(limited.best)
    report.result, report.limited, report.latency_limit_ms = result, limited, limit
    report.summary = lines
    report.seconds = time.perf_counter() - started
    return report


def _check_result(where, name, problem, result, recorder, result_type, evaluation_type) -> None:
    assert isinstance(result, result_type), f"{where}: search() returned {type(result).__name__}"
    assert result.strategy == name, f"{where}: result.strategy is {result.strategy!r}"
    assert problem.evaluations <= problem.budget, f"{where}: exceeded the budget"
    assert result.evaluations == problem.evaluations <= problem.budget
    assert result.history == problem.history, f"{where}: history is not the problem's"
    assert [e.index for e in result.history] == list(range(len(result.history)))
    assert all(isinstance(e, evaluation_type) for e in result.front)
    history = set(result.history)
    missing = [e for e in result.front if e not in history]
    assert not missing, f"{where}: {len(missing)} front member(s) not in the history"
    if result.history:
        assert result.front, f"{where}: empty front after {len(result.history)} evaluations"
        points = np.array([(e.latency_ms, -e.accuracy) for e in result.history], dtype=float)
        for e in result.front:
            dominated = np.all(points <= (e.latency_ms, -e.accuracy), axis=1) & np.any(
                points < (e.latency_ms, -e.accuracy), axis=1
            )
            assert not dominated.any(), (
                f"{where}: front member {e.index} ({e.latency_ms:g} ms, {e.accuracy:g}%) is "
                "dominated by an evaluation in the history"
            )
    # One event per evaluation of the history, in order. Sub-searches
    # (Problem.child) fire events too, marked metrics["sub_search"]; those of a
    # counted sub-search are in the history, those of a free one are not.
    events = recorder.candidates
    assert all(strategy == name for strategy, _, _ in events), (
        f"{where}: hwnas_candidate_evaluated named another strategy"
    )
    matched = 0
    for _, arch, metrics in events:
        expected = result.history[matched] if matched < len(result.history) else None
        if expected is not None and _same_evaluation(expected, arch, metrics):
            matched += 1
        else:
            assert "sub_search" in metrics, (
                f"{where}: hwnas_candidate_evaluated fired for an evaluation that is not the "
                f"next one of the history (event {arch}, history entry {matched})"
            )
    assert matched == len(result.history), (
        f"{where}: hwnas_candidate_evaluated fired for {matched} of the "
        f"{len(result.history)} evaluations of the history"
    )
    assert len(recorder.finished) == 1, (
        f"{where}: hwnas_search_finished fired {len(recorder.finished)} times, not once"
    )
    assert recorder.finished[0][0] == name and recorder.finished[0][1] is result


def _same_evaluation(evaluation, arch, metrics: dict) -> bool:
    return (
        evaluation.arch == arch
        and metrics.get("latency_ms") == evaluation.latency_ms
        and metrics.get("latency_source") == evaluation.latency_source
        and metrics.get("accuracy") == evaluation.accuracy
    )


def _trace(history) -> list[tuple]:
    return [(e.arch, e.latency_ms, e.latency_source, e.accuracy) for e in history]


def _same_numpy_state(a, b) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])
