"""``LocalSearch``: hill climbing with restarts, one position at a time.

The budget is split evenly over ``restarts`` climbs. A climb starts from a
random architecture it has not evaluated yet and looks at its *neighbours*
(the architectures that differ at exactly one position) in random order; it
moves to the first neighbour that improves on where it stands (first
improvement) and starts looking again from there. Improving means, under the
climb's latency cap: a feasible neighbour beats an infeasible one; among
feasible ones the more accurate wins (then the faster); while both are over
the cap the faster one wins, so a climb that starts too slow walks down to
the cap first. The cap is ``problem.latency_limit_ms`` when the search has a
limit; without one each climb keeps to the latency of its own random start,
so the climbs spread over the latency range and together trace the front.

A climb whose every neighbour was tried without improvement has reached a
local optimum; the rest of its share of the budget goes to a fresh climb from
a new random architecture. Architectures already evaluated are looked up, not
evaluated again, so the budget only pays for new ones.

The three rules every strategy follows are visible here: randomness only from
``problem.rng`` (a seed reproduces the run), evaluations only through
``problem.evaluate`` (which raises ``BudgetExhausted`` when the budget is
spent; :meth:`hwnas.strategy.Strategy.search` catches it), and no target or
device import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape

import hwnas
from hwnas.problem import Evaluation, Problem
from hwnas.space import Architecture, SearchSpace
from hwnas.strategy import SearchResult, Strategy

NAME = "local-search"
FRESH_START_TRIES = 100  # random draws to find a start that was not evaluated yet


def neighbours(space: SearchSpace, arch: Architecture) -> list[Architecture]:
    """Every architecture of ``space`` that differs from ``arch`` at exactly one position.

    In position order, then choice order: ``sum(len(choices) - 1)`` of them
    (24 for NAS-Bench-201).
    """
    space.indices(arch)  # validates the space (one-line ArchitectureError)
    found = []
    for i, position in enumerate(space.positions):
        for choice in position.choices:
            if choice != arch.choices[i]:
                found.append(
                    Architecture(arch.space, (*arch.choices[:i], choice, *arch.choices[i + 1 :]))
                )
    return found


def improves(candidate: Evaluation, incumbent: Evaluation, cap_ms: float) -> bool:
    """Whether a climb with latency cap ``cap_ms`` moves from ``incumbent`` to ``candidate``.

    Feasible (latency <= cap) beats infeasible; among feasible, higher
    accuracy, then lower latency; among infeasible, lower latency.
    """
    candidate_ok = candidate.latency_ms <= cap_ms
    incumbent_ok = incumbent.latency_ms <= cap_ms
    if candidate_ok != incumbent_ok:
        return candidate_ok
    if not candidate_ok:
        return candidate.latency_ms < incumbent.latency_ms
    return (candidate.accuracy, -candidate.latency_ms) > (
        incumbent.accuracy,
        -incumbent.latency_ms,
    )


@dataclass
class Climb:
    """One climb: its cap, the evaluations it moved through and how it ended."""

    planned: int  # which of the ``restarts`` shares of the budget it ran in
    cap_ms: float
    path: list[Evaluation] = field(default_factory=list)
    evaluations: int = 0
    local_optimum: bool = False

    def as_dict(self, space: SearchSpace) -> dict[str, Any]:
        """JSON-ready view (goes into ``result.extra["local_search"]["climbs"]``)."""
        start, end = self.path[0], self.path[-1]
        return {
            "share": self.planned,
            "cap_ms": self.cap_ms,
            "start": space.format(start.arch),
            "end": space.format(end.arch),
            "moves": len(self.path) - 1,
            "evaluations": self.evaluations,
            "local_optimum": self.local_optimum,
            "path": [[e.latency_ms, e.accuracy] for e in self.path],
        }


class LocalSearch(Strategy):
    """Hill climbing with ``restarts`` climbs (see the module docstring).

    :param restarts: How many climbs the budget is split into (>= 1). More
        climbs cover more of the latency range; fewer climb further.
    """

    name = NAME

    def __init__(self, restarts: int = 3) -> None:
        # Options arrive from the CLI already converted (``--restarts 2`` -> 2) but
        # may be anything a user typed: reject every bad value with one line.
        if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
            raise hwnas.HwnasError(
                f"{NAME}: restarts must be an integer >= 1, got {restarts!r}",
                "e.g. --restarts 3 or -s restarts=3",
            )
        self.restarts = restarts
        self.climbs: list[Climb] = []
        self.lookups = 0  # neighbour look-ups answered from earlier evaluations

    # -- the search loop ---------------------------------------------------------
    def ask_and_tell(self, problem: Problem) -> None:
        """Split the budget over ``restarts`` climbs; restart from local optima."""
        self.climbs, self.lookups = [], 0
        seen: dict[Architecture, Evaluation] = {}
        for share in range(self.restarts):
            end = problem.evaluations + problem.remaining // (self.restarts - share)
            while problem.evaluations < end:
                before = problem.evaluations
                self._climb(problem, seen, share, end)
                if problem.evaluations == before:
                    return  # nothing new left to evaluate (a tiny space, fully seen)

    def _climb(
        self, problem: Problem, seen: dict[Architecture, Evaluation], share: int, end: int
    ) -> None:
        rng = problem.rng

        def look(arch: Architecture) -> Evaluation:
            if arch in seen:
                self.lookups += 1
                return seen[arch]
            seen[arch] = problem.evaluate(arch)
            climb.evaluations += 1
            return seen[arch]

        start = problem.space.sample(rng)
        for _ in range(FRESH_START_TRIES):
            if start not in seen:
                break
            start = problem.space.sample(rng)
        climb = Climb(share, cap_ms=float("inf"))
        self.climbs.append(climb)
        current = look(start)
        climb.path.append(current)
        limit = problem.latency_limit_ms
        climb.cap_ms = current.latency_ms if limit is None else float(limit)
        while True:
            candidates = neighbours(problem.space, current.arch)
            for i in rng.permutation(len(candidates)):
                if problem.evaluations >= end and candidates[int(i)] not in seen:
                    return  # this climb's share of the budget is spent
                candidate = look(candidates[int(i)])
                if improves(candidate, current, climb.cap_ms):
                    current = candidate
                    climb.path.append(current)
                    break
            else:
                climb.local_optimum = True
                return

    # -- what the CLI shows --------------------------------------------------------
    def search(self, problem: Problem) -> SearchResult:
        """Run the climbs; ``result.extra["local_search"]`` describes every climb."""
        result = super().search(problem)
        planned = {c.planned for c in self.climbs}
        result.extra["local_search"] = {
            "restarts": self.restarts,
            "climbs": [c.as_dict(problem.space) for c in self.climbs if c.path],
            "restarted_from_local_optima": len(self.climbs) - len(planned),
            "lookups": self.lookups,
            "best_arch": None if result.best is None else problem.space.format(result.best.arch),
            "latency_limit_ms": problem.latency_limit_ms,
        }
        return result

    def summary(self, result: SearchResult) -> list[str]:
        """How the climbs went and the best architecture (printed by ``hwnas search``)."""
        info = result.extra.get("local_search")
        if not info:
            return []
        climbs = info["climbs"]
        moves = sum(c["moves"] for c in climbs)
        optima = sum(c["local_optimum"] for c in climbs)
        lines = [
            f"local search: {len(climbs)} climbs in {info['restarts']} shares of the budget "
            f"({info['restarted_from_local_optima']} restarts after a local optimum), "
            f"{moves} moves, {optima} local optima reached, {info['lookups']} neighbour "
            "look-ups answered without an evaluation"
        ]
        if result.best is not None:
            where = (
                f"under {info['latency_limit_ms']:g} ms"
                if info["latency_limit_ms"] is not None
                else "overall"
            )
            lines.append(
                f"best {where}: {result.best.accuracy:.2f}% (search accuracy) at "
                f"{result.best.latency_ms:.4g} ms: {escape(str(info['best_arch']))}"
            )
        return lines

    def plot(self, result: SearchResult, ax) -> str | None:
        """Draw every climb's path (search accuracy) and say how many climbs there were."""
        info = result.extra.get("local_search")
        if not info:
            return None
        labelled = False
        for climb in info["climbs"]:
            if climb["moves"] == 0:
                continue
            xs, ys = zip(*climb["path"], strict=True)
            ax.plot(
                xs,
                ys,
                "-",
                color="tab:blue",
                alpha=0.35,
                lw=0.8,
                label=None if labelled else "climbs (search accuracy)",
            )
            ax.plot(xs[-1:], ys[-1:], ".", color="tab:blue", alpha=0.6)
            labelled = True
        moves = sum(c["moves"] for c in info["climbs"])
        return f"local search: {len(info['climbs'])} climbs, {moves} moves"
