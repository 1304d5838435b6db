"""Budget-filling local search after generation: from the generated pick towards the budget.

The generator is trained at K budgets; for a budget between two of them it
can land well below the budget. ``refine`` spends ``steps`` more (counted)
accuracy evaluations on a best-first search under the budget B:

1. the ``pool`` most accurate evaluated architectures within B (generation's
   checks plus everything in the :class:`Archive`, e.g. the training data,
   whose evaluations were counted when they were made) are the search front;
2. their one-position neighbours (allowed choices) that were not evaluated
   yet and that the latency model places within B (``latency_of``: a table lookup
   for tabulated models, not an evaluation; ``None`` keeps every neighbour)
   are ranked by R(arch | B);
3. the best-ranked one is evaluated (latency and accuracy, counted) and joins
   the archive; repeat until ``steps`` evaluations are spent or no front
   member has a neighbour left.

The answer is then the most accurate evaluated architecture within B. An
architecture is never evaluated twice: the archive remembers every result,
across budgets.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hwnas.plugins.pnag.encoding import Encoder
from hwnas.plugins.pnag.evaluator import Evaluator
from hwnas.space import Architecture

Tokens = tuple[int, ...]
#: ``[arch] -> [latency ms]`` from the latency model (a table lookup, not an evaluation)
LatencyOf = Callable[[list[Architecture]], list[float]]


@dataclass(frozen=True)
class Known:
    """An evaluated architecture as generation needs it (an Evaluation has these fields)."""

    arch: Architecture
    latency_ms: float
    latency_source: str
    accuracy: float


class Archive:
    """Every evaluated architecture by tokens, plus latency-model lookups (uncounted)."""

    def __init__(self, encoder: Encoder, mask: list[list[bool]] | None = None) -> None:
        self.encoder = encoder
        self.mask = mask
        self.known: dict[Tokens, Any] = {}
        self.latency_ms: dict[Tokens, float] = {}
        self.lookups = 0

    def __len__(self) -> int:
        return len(self.known)

    def add(self, tokens: Tokens, evaluation: Any) -> Any:
        """Remember one evaluation (anything with ``arch``, ``latency_ms``, ``accuracy``)."""
        self.known[tuple(tokens)] = evaluation
        self.latency_ms[tuple(tokens)] = float(evaluation.latency_ms)
        return evaluation

    def extend(self, rows: Iterable[Tokens], lat: Iterable[float], acc: Iterable[float], source):
        """Add evaluations made elsewhere (e.g. the trainer's data: tokens, latency, accuracy)."""
        for tokens, la, ac in zip(rows, lat, acc, strict=True):
            arch = self.encoder.arch(tokens)
            self.add(tuple(tokens), Known(arch, float(la), source, float(ac)))

    def evaluate(self, tokens: Tokens, evaluate: Callable[[Architecture], Any]) -> Any:
        """The archived result, or ``evaluate`` (counted by the caller) once."""
        key = tuple(tokens)
        if key not in self.known:
            self.add(key, evaluate(self.encoder.arch(key)))
        return self.known[key]

    def within(self, rows: list[Tokens], latency_of: LatencyOf | None, budget_ms: float):
        """The ``rows`` the latency model places within ``budget_ms`` (one batched lookup)."""
        if latency_of is None:
            return list(rows)
        missing = [t for t in rows if t not in self.latency_ms]
        if missing:
            ms = latency_of([self.encoder.arch(t) for t in missing])
            self.latency_ms.update(zip(missing, (float(m) for m in ms), strict=True))
            self.lookups += len(missing)
        return [t for t in rows if self.latency_ms[t] <= budget_ms]

    def best_within(self, budget_ms: float) -> Any | None:
        """The most accurate archived architecture within ``budget_ms`` (None when none is)."""
        feasible = [e for e in self.known.values() if e.latency_ms <= budget_ms]
        return max(feasible, key=lambda e: e.accuracy) if feasible else None

    def neighbours(self, tokens: Tokens) -> list[Tokens]:
        """One-position changes of ``tokens`` among the allowed choices."""
        out = []
        for i, v in enumerate(self.encoder.vocab):
            for c in range(v):
                if c != tokens[i] and (self.mask is None or self.mask[i][c]):
                    out.append((*tokens[:i], c, *tokens[i + 1 :]))
        return out


def refine(
    evaluator: Evaluator,
    archive: Archive,
    budget_ms: float,
    evaluate: Callable[[Architecture], Any],
    steps: int,
    pool: int = 8,
    latency_of: LatencyOf | None = None,
) -> int:
    """Best-first search under ``budget_ms`` (module docstring); returns evaluations spent."""
    if steps <= 0:
        return 0
    front = sorted(
        ((-e.accuracy, t) for t, e in archive.known.items() if e.latency_ms <= budget_ms),
    )
    exhausted: set[Tokens] = set()
    ranked: dict[Tokens, list[tuple[float, Tokens]]] = {}  # node -> candidates, best last
    budget = torch.tensor([float(budget_ms)])
    spent = 0
    evaluator.eval()
    while spent < steps:
        best: tuple[float, Tokens, Tokens] | None = None
        members = 0
        for _, node in front:
            if members >= pool:
                break
            if node in exhausted:
                continue
            if node not in ranked:
                fresh = [t for t in archive.neighbours(node) if t not in archive.known]
                cands = archive.within(fresh, latency_of, budget_ms)
                scores = _scores(evaluator, archive.encoder, cands, budget)
                ranked[node] = sorted(zip(scores, cands, strict=True))
            cands = ranked[node]
            while cands and cands[-1][1] in archive.known:
                cands.pop()
            if not cands:
                exhausted.add(node)
                continue
            members += 1
            if best is None or cands[-1][0] > best[0]:
                best = (cands[-1][0], cands[-1][1], node)
        if best is None:
            break
        e = archive.evaluate(best[1], evaluate)
        spent += 1
        if e.latency_ms <= budget_ms:
            bisect.insort(front, (-e.accuracy, best[1]))
    return spent


def _scores(evaluator: Evaluator, encoder: Encoder, rows: list[Tokens], budget) -> list[float]:
    if not rows:
        return []
    with torch.no_grad():
        return np.asarray(evaluator(encoder.features(rows), budget), dtype=float).tolist()
