"""Budget-filling local search after generation: from the generated pick towards the budget.

The generator is trained at K budgets; for a budget between two of them it
can land well below the budget. ``refine`` spends ``steps`` more (counted)
accuracy evaluations on a best-first search under the budget B:

1. the ``pool`` most accurate evaluated architectures within B (generation's
   checks plus everything in the :class:`Archive`: the training data, whose
   evaluations were counted when they were made, and the other budgets'
   searches) are the search front;
2. their one-position neighbours (allowed choices) that were not evaluated
   yet and that the latency model places within B (``latency_of``: a table
   lookup for tabulated models, not an evaluation; ``None`` keeps every
   neighbour) are the candidates; once a member's are used up, its changes at
   up to ``reach`` positions are;
3. candidates are ranked by R at the largest training budget
   (:func:`scoring_budget`; R near B ranks what just fits below lighter
   architectures), and the best one is evaluated (latency and accuracy,
   counted) and joins the archive; repeat until ``steps`` evaluations are
   spent or no candidate is left.

Optional further sources take turns with the front: ``above`` archived
members just over B (up to ``stretch`` x B), whose neighbours within B are
candidates too, and ``screen`` distinct uniformly drawn architectures (every
architecture when the space has no more; drawn once and shared by every
budget) within B. :func:`prepare_screen` scores them once after training, so
a budget only filters and sorts.

``band`` (with a latency model): candidates must also reach ``band`` x B,
so the search fills the budget instead of improving far below it (the most
accurate architecture within B nearly always lies just under B); a front
member whose neighbours all lie below the band keeps them all.

The answer is then the most accurate evaluated architecture within B. An
architecture is never evaluated twice: the archive remembers every result,
across budgets, and R's scores (R does not change during generation).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hwnas.plugins.pnag.encoding import Encoder
from hwnas.plugins.pnag.evaluator import Evaluator
from hwnas.plugins.pnag.train import random_tokens
from hwnas.space import Architecture

Tokens = tuple[int, ...]
#: the key of the screened random architectures among the search's candidate lists
SCREEN: Tokens = ()
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
        self._scores: dict[tuple[float, Tokens], float] = {}
        self.screened: list[Tokens] = []

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

    def scores(self, evaluator: Evaluator, rows: list[Tokens], at: float) -> list[float]:
        """R(row | ``at``) for each row (remembered: R does not change during generation)."""
        b = float(at)
        missing = [t for t in dict.fromkeys(rows) if (b, t) not in self._scores]
        if missing:
            self._scores.update(
                zip(
                    ((b, t) for t in missing),
                    _scores(evaluator, self.encoder, missing, at),
                    strict=True,
                )
            )
        return [self._scores[(b, t)] for t in rows]

    def allowed(self) -> list[list[int]]:
        """The allowed choices of every position."""
        vocab, mask = self.encoder.vocab, self.mask
        return [[c for c in range(v) if mask is None or mask[i][c]] for i, v in enumerate(vocab)]

    def screen(self, n: int, rng: np.random.Generator) -> list[Tokens]:
        """``n`` distinct uniformly drawn architectures (all of them when the space has at
        most ``n``), drawn once and shared by every budget."""
        if len(self.screened) >= n:
            return self.screened[:n]
        allowed = self.allowed()
        if math.prod(len(a) for a in allowed) <= n:
            self.screened = list(itertools.product(*allowed))
            return self.screened
        seen = dict.fromkeys(self.screened)
        for _ in range(20 * n):  # bounded: a tiny masked space cannot loop forever
            if len(seen) >= n:
                break
            seen[random_tokens(self.encoder.vocab, self.mask, rng)] = None
        self.screened = list(seen)
        return self.screened[:n]

    def best_within(self, budget_ms: float) -> Any | None:
        """The most accurate archived architecture within ``budget_ms`` (None when none is)."""
        feasible = [e for e in self.known.values() if e.latency_ms <= budget_ms]
        return max(feasible, key=lambda e: e.accuracy) if feasible else None

    def neighbours(self, tokens: Tokens, reach: int = 1) -> list[Tokens]:
        """Changes of ``tokens`` at 1..``reach`` positions among the allowed choices."""
        out: list[Tokens] = []
        level = [tuple(tokens)]
        for _ in range(max(reach, 1)):
            level = [n for t in level for n in self._one(t, tokens)]
            out.extend(level)
        return list(dict.fromkeys(out))

    def _one(self, tokens: Tokens, origin: Tokens) -> list[Tokens]:
        """One more changed position of ``tokens``, after the last one changed from ``origin``."""
        changed = [i for i, (a, b) in enumerate(zip(tokens, origin, strict=True)) if a != b]
        start = changed[-1] + 1 if changed else 0
        out = []
        for i in range(start, len(tokens)):
            for c in range(self.encoder.vocab[i]):
                if c != origin[i] and (self.mask is None or self.mask[i][c]):
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
    reach: int = 1,
    above: int = 0,
    stretch: float = 1.5,
    screen: int = 0,
    rng: np.random.Generator | None = None,
    band: float = 0.0,
) -> int:
    """Best-first search under ``budget_ms`` (module docstring); returns evaluations spent."""
    if steps <= 0:
        return 0
    front = sorted(
        ((-e.accuracy, t) for t, e in archive.known.items() if e.latency_ms <= budget_ms),
    )
    over = sorted(
        (-e.accuracy, t)
        for t, e in archive.known.items()
        if budget_ms < e.latency_ms <= stretch * budget_ms
    )
    search = _Search(evaluator, archive, budget_ms, latency_of, reach, band)
    screened = [(0.0, SCREEN)]
    if screen > 0:
        rng = rng if rng is not None else np.random.default_rng(0)
        search.rank(SCREEN, list(dict.fromkeys(archive.screen(screen, rng))))
    evaluator.eval()
    search.prefetch([t for _, t in front[:pool]] + [t for _, t in over[:above]])
    spent = 0
    while spent < steps:
        picks = [search.best(front, pool), search.best(over, above), search.best(screened, 1)]
        live = [c for c in picks if c is not None]
        # the sources take turns (R's scores favour one family of architectures)
        best = live[spent % len(live)] if live else None
        if best is None:
            break
        e = archive.evaluate(best[1], evaluate)
        spent += 1
        if e.latency_ms <= budget_ms:
            bisect.insort(front, (-e.accuracy, best[1]))
    return spent


class _Search:
    """Ranked unevaluated neighbours within the budget, per front member (computed once)."""

    def __init__(
        self, evaluator, archive: Archive, budget_ms: float, latency_of, reach: int, band=0.0
    ):
        self.evaluator, self.archive, self.budget_ms = evaluator, archive, budget_ms
        self.latency_of, self.reach = latency_of, reach
        # with no latency model every candidate's latency is unknown: no band
        self.floor_ms = band * budget_ms if latency_of is not None else 0.0
        self.at = scoring_budget(evaluator, budget_ms, latency_of is not None)
        self.ranked: dict[Tokens, list[tuple[float, Tokens]]] = {}  # best last
        self.exhausted: set[Tokens] = set()
        self.level: dict[Tokens, int] = {}  # positions a member's candidates may change

    def best(self, front: list[tuple[float, Tokens]], pool: int):
        """``(score, candidate)``: the best-ranked candidate of the first ``pool`` live members."""
        best, members = None, 0
        for _, node in front:
            if members >= pool:
                break
            if node in self.exhausted:
                continue
            cands = self._ranked(node)
            while cands and cands[-1][1] in self.archive.known:
                cands.pop()
            while not cands and self.level.get(node, 1) < self.reach:
                # one-position moves exhausted: widen this member to one more position
                self.level[node] = self.level.get(node, 1) + 1
                self.rank(node, self.archive.neighbours(node, self.level[node]))
                cands = self.ranked[node]
            if not cands:
                self.exhausted.add(node)
                continue
            members += 1
            if best is None or cands[-1][0] > best[0]:
                best = cands[-1]
        return best

    def _ranked(self, node: Tokens) -> list[tuple[float, Tokens]]:
        if node not in self.ranked:
            self.rank(node, self.archive.neighbours(node, 1))
        return self.ranked[node]

    def prefetch(self, nodes: list[Tokens]) -> None:
        """Rank the candidates of several members with one latency lookup and one R call."""
        archive = self.archive
        rows = {n: archive.neighbours(n, 1) for n in nodes if n not in self.ranked}
        union = list(dict.fromkeys(t for r in rows.values() for t in r if t not in archive.known))
        archive.scores(
            self.evaluator, archive.within(union, self.latency_of, self.budget_ms), self.at
        )
        for node, r in rows.items():
            self.rank(node, r)

    def rank(self, node: Tokens, rows: list[Tokens]) -> None:
        """Rank ``rows`` (unevaluated, within the budget) as the candidates of ``node``."""
        archive = self.archive
        fresh = [t for t in rows if t not in archive.known]
        cands = archive.within(fresh, self.latency_of, self.budget_ms)
        if self.floor_ms > 0:
            near = [t for t in cands if archive.latency_ms[t] >= self.floor_ms]
            cands = near if near or node == SCREEN else cands
        scores = archive.scores(self.evaluator, cands, self.at)
        self.ranked[node] = sorted(zip(scores, cands, strict=True))


def prepare_screen(
    evaluator: Evaluator,
    archive: Archive,
    n: int,
    rng: np.random.Generator,
    latency_of: LatencyOf | None = None,
) -> int:
    """Draw the ``n`` screened architectures once, look up their latencies and score them
    with R at the largest training budget (what :func:`refine` ranks by for every budget
    up to it); returns how many were screened. A one-off cost after training."""
    rows = archive.screen(n, rng) if n > 0 else []
    if rows:
        evaluator.eval()
        top = float(evaluator.budget.budgets.max())
        archive.within(rows, latency_of, math.inf)
        archive.scores(evaluator, rows, scoring_budget(evaluator, top, latency_of is not None))
    return len(rows)


def scoring_budget(evaluator: Evaluator, budget_ms: float, filtered: bool) -> float:
    """The budget R scores candidates at: B, or the largest training budget when filtered.

    R(. | B) learns "within B, the more accurate wins; otherwise the faster
    wins", and near B it ranks architectures that just fit below lighter ones.
    Once the latency model has kept only candidates within B, feasibility is
    settled, and R at the largest training budget (which nearly every
    architecture meets) orders them by accuracy alone.
    """
    if not filtered:
        return float(budget_ms)
    return max(float(evaluator.budget.budgets.max()), float(budget_ms))


def _scores(evaluator: Evaluator, encoder: Encoder, rows: list[Tokens], at: float) -> list[float]:
    if not rows:
        return []
    x = encoder.features(rows)
    top = len(evaluator.budget.budgets) - 1
    with torch.no_grad():
        if at == float(evaluator.budget.budgets[top]):  # exactly g(b_K), no interpolation
            out = evaluator.forward_at(x, torch.full((len(rows),), top, dtype=torch.long))
        else:
            out = evaluator(x, torch.tensor([at]))
    return np.asarray(out, dtype=float).tolist()
