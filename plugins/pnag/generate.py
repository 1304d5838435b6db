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
) -> Generated:
    """The architecture for ``budget_ms`` (see the module docstring); timed end to end.

    ``evaluate(arch)`` returns an object with ``arch``, ``latency_ms``,
    ``latency_source`` and ``accuracy`` (a :class:`~hwnas.problem.Evaluation`);
    at most ``limit`` candidates are evaluated (at least one).
    """
    started = time.perf_counter()
    candidates = propose(generator, evaluator, encoder, budget_ms, samples, rng)
    checked: list[tuple[Any, float]] = []
    for n, (tokens, score) in enumerate(candidates):
        if n >= max(checks, 1) and any(e.latency_ms <= budget_ms for e, _ in checked):
            break
        if limit is not None and n >= max(limit, 1):
            break
        checked.append((evaluate(encoder.arch(tokens)), score))
    feasible = [(e, s) for e, s in checked if e.latency_ms <= budget_ms]
    if feasible:
        best, score = max(feasible, key=lambda p: (p[0].accuracy, p[1]))
    else:
        best, score = min(checked, key=lambda p: (p[0].latency_ms, -p[1]))
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
    )
