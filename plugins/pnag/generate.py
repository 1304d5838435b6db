"""Generation: an architecture for any budget in the trained range, by inference.

For budget B: sample ``samples`` architectures from f(B) (plus the greedy
decode), drop duplicates, rank them by the evaluator R(arch | B), then
evaluate the top ``checks`` (latency from the latency model, accuracy from the
accuracy source: the caller's ``evaluate``, which may count). When none of
them meets B, continue down R's ranking until one does. The answer is the most
accurate checked architecture within B, or, when no candidate meets B, the
fastest one checked (``met=False``). As in the paper's release, which samples
several architectures per budget and keeps the best one that its latency
predictor accepts.

With an :class:`~hwnas.plugins.pnag.refine.Archive` (every architecture
evaluated so far, e.g. the training data) nothing is evaluated twice, and
``refine`` > 0 adds a best-first local search under B of that many counted
evaluations (:mod:`hwnas.plugins.pnag.refine`); the answer is then the most
accurate archived architecture within B.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hwnas.plugins.pnag.encoding import Encoder
from hwnas.plugins.pnag.evaluator import Evaluator
from hwnas.plugins.pnag.generator import Generator
from hwnas.plugins.pnag.refine import Archive, refine
from hwnas.space import Architecture


@dataclass(frozen=True)
class Generated:
    """The architecture generated for one budget and what the evaluation said about it."""

    budget_ms: float
    arch: Architecture
    latency_ms: float
    latency_source: str
    accuracy: float
    met: bool
    score: float
    proposed: int
    checked: int
    seconds: float
    refined: int = 0
    evaluate_seconds: float = 0.0
    cpu_seconds: float = 0.0
    evaluate_cpu_seconds: float = 0.0

    @property
    def generation_seconds(self) -> float:
        """Wall time spent generating, without the accuracy source's evaluations (``evaluate``)."""
        return self.seconds - self.evaluate_seconds

    @property
    def generation_cpu_seconds(self) -> float:
        """The same in this process's CPU time (what a loaded machine does not inflate)."""
        return self.cpu_seconds - self.evaluate_cpu_seconds


def propose(
    generator: Generator,
    evaluator: Evaluator,
    encoder: Encoder,
    budget_ms: float,
    samples: int = 32,
    rng: torch.Generator | None = None,
) -> list[tuple[tuple[int, ...], float]]:
    """Distinct candidates for ``budget_ms`` with their R scores, best first."""
    generator.eval()
    evaluator.eval()
    with torch.no_grad():
        budget = torch.full((max(samples, 0) + 1,), float(budget_ms), dtype=torch.float64)
        greedy = generator.sample(budget[:1], greedy=True)[0]
        drawn = generator.sample(budget[1:], rng)[0] if samples > 0 else greedy[:0]
        rows = list(dict.fromkeys(tuple(r) for r in torch.cat([greedy, drawn]).tolist()))
        scores = evaluator(encoder.features(rows), torch.tensor([float(budget_ms)])).numpy()
    order = np.argsort(-scores, kind="stable")
    return [(rows[i], float(scores[i])) for i in order]


def generate(
    generator: Generator,
    evaluator: Evaluator,
    encoder: Encoder,
    budget_ms: float,
    evaluate: Callable[[Architecture], Any],
    samples: int = 32,
    checks: int = 3,
    rng: torch.Generator | None = None,
    limit: int | None = None,
    archive: Archive | None = None,
    steps: int = 0,
    pool: int = 8,
    latency_of: Callable[[list[Architecture]], list[float]] | None = None,
    reach: int = 1,
    above: int = 0,
    screen: int = 0,
    band: float = 0.0,
) -> Generated:
    """The architecture for ``budget_ms`` (see the module docstring); timed end to end.

    ``evaluate(arch)`` returns an object with ``arch``, ``latency_ms``,
    ``latency_source`` and ``accuracy`` (a :class:`~hwnas.problem.Evaluation`);
    at most ``limit`` candidates are checked (at least one). With ``archive``,
    ``steps`` refine evaluations follow (within ``limit`` too), their
    neighbours filtered by ``latency_of([arch]) -> [ms]`` when given.
    """
    started, started_cpu = time.perf_counter(), time.process_time()
    evaluate, clock = _timed(evaluate)
    candidates = propose(generator, evaluator, encoder, budget_ms, samples, rng)
    checked: list[tuple[Any, float]] = []
    spent_before = 0
    for n, (tokens, score) in enumerate(candidates):
        if n >= max(checks, 1) and any(e.latency_ms <= budget_ms for e, _ in checked):
            break
        if limit is not None and n >= max(limit, 1):
            break
        if archive is None:
            checked.append((evaluate(encoder.arch(tokens)), score))
        else:
            fresh = tokens not in archive.known
            checked.append((archive.evaluate(tokens, evaluate), score))
            spent_before += fresh
    feasible = [(e, s) for e, s in checked if e.latency_ms <= budget_ms]
    if feasible:
        best, score = max(feasible, key=lambda p: (p[0].accuracy, p[1]))
    else:
        best, score = min(checked, key=lambda p: (p[0].latency_ms, -p[1]))
    refined = 0
    if archive is not None:
        if limit is not None:
            steps = min(steps, max(limit - spent_before, 0))
        refined = refine(
            evaluator,
            archive,
            budget_ms,
            evaluate,
            steps,
            pool,
            latency_of,
            reach,
            above,
            screen=screen,
            rng=_numpy_rng(rng) if screen > 0 else None,
            band=band,
        )
        found = archive.best_within(budget_ms)
        if found is not None and (not feasible or found.accuracy > best.accuracy):
            best, feasible = found, [found]
            with torch.no_grad():
                x = encoder.features([encoder.tokens(found.arch)])
                score = float(evaluator(x, torch.tensor([float(budget_ms)]))[0])
    return Generated(
        float(budget_ms),
        best.arch,
        float(best.latency_ms),
        best.latency_source,
        float(best.accuracy),
        bool(feasible),
        score,
        len(candidates),
        len(checked),
        time.perf_counter() - started,
        refined,
        clock[0],
        time.process_time() - started_cpu,
        clock[1],
    )


def _numpy_rng(rng: torch.Generator | None) -> np.random.Generator:
    """A numpy generator seeded from ``rng`` (one draw), for the screened architectures."""
    return np.random.default_rng(int(torch.randint(2**31 - 1, (1,), generator=rng)))


def _timed(evaluate: Callable[[Architecture], Any]) -> tuple[Callable[[Architecture], Any], list]:
    """``evaluate`` that adds its own wall and CPU time to the returned ``[wall, cpu]``."""
    clock = [0.0, 0.0]

    def timed(arch: Architecture) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return evaluate(arch)
        finally:
            clock[0] += time.perf_counter() - t0
            clock[1] += time.process_time() - c0

    return timed, clock
