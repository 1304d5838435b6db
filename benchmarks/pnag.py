"""PNAG: one generator for every latency budget, against one evolutionary search per budget.

Protocol (benchmarks/PROTOCOLS.md; every evaluation counts, repeats included):

A. **NB201, ground truth** (devices raspi4, pixel3, eyeriss by default; seeds
   0..S-1). PNAG is trained once per device and seed with ``--evals``
   training evaluations (search sees ``c10valid_valid_acc``), then generates
   an architecture for 7 budgets: the 5 protocol budgets (20/35/50/65/80 %
   latency quantiles of the device over the space) and 2 budgets that lie
   between training budgets (the midpoints of the training intervals holding
   the 27.5 % and 72.5 % quantiles). Generation evaluates a few candidates per
   budget (``checks``), then runs PNAG's best-first local search under the
   budget (``refine`` = 40 accuracy evaluations per budget, from the most
   accurate architectures evaluated so far, training data included; one
   archive across the 7 budgets, so nothing is evaluated twice; candidate
   latencies are read from the table without counting, their number is in
   the JSON as ``uncounted_latency_lookups``; front of ``pool`` = 16,
   two-position moves once a member's one-position moves are used up,
   candidates ranked by R at the largest training budget; ``screen`` =
   20,000 distinct random architectures, which on NB201 is the whole space
   of 15,625, scored once by R after training (not evaluated; the seconds
   are in the JSON as ``screened``) and taking turns with the front;
   ``band`` = 0.9: candidates within [0.9 B, B]); every new evaluation
   counts.
   For each budget: the generated architecture's
   latency, whether it meets the budget, and its regret = true best test
   accuracy under the budget - its test accuracy (``c10_test_acc``), and the
   validation oracle's regret (the architecture with the best validation
   accuracy in the whole space under the budget: the selection floor of any
   search that picks by validation accuracy). Next to it: regularized
   (aging) evolution (``plugins/evolution.py``, population 50, tournament
   10, with the budget as latency limit) run separately for each budget
   with round(PNAG's total evaluations / 7) evaluations, so both use the
   same total; its pick is its most accurate (validation) feasible
   evaluation. Generation time per budget is measured in process (tables
   loaded): wall time without the time spent inside the accuracy source's
   evaluations (``generation_ms``; the table prints median/max), the same
   span in process CPU time (``generation_cpu_ms``) and, in the JSON, the
   end-to-end wall time (``end_to_end_ms``).
B. **Effect of K** (2, 5, 10 training budgets) on the mean regret at the 5
   quantile budgets, same devices, seeds and evaluations.
C. **OFA MobileNetV3 x Samsung Note10** (``ofa/note10`` lookup table, accuracy
   = OFA's released ImageNet top-1 predictor, seen and reported): the paper's
   mobile budgets 80/110/140/170/200 ms scaled by s = (90th percentile of the
   Note10 latency of 2,000 uniformly random subnets at the table's
   resolutions) / 200, so that 200 ms maps to that percentile (``refine``
   off: on OFA's long token sequences it takes about 1 s per budget). PNAG is trained
   with ``budget_range`` = (80 s, 200 s), K = 10 linear budgets, and generates
   the 5 budgets. Against it: OFA's evolutionary finder (population 100,
   parents 25 %, mutation 50 %, mutation probability 0.1, crossover for the
   rest; re-implemented on ``Problem``) once per budget with round(PNAG's
   total / 5) accuracy evaluations. As in OFA, the finder rejects infeasible
   samples with the latency table without counting them (this favours the
   finder; every PNAG evaluation counts). Predicted top-1 and budget
   satisfaction per budget, seeds 0..S-1.

    python benchmarks/pnag.py [--parts nb201,k,ofa] [--devices raspi4,pixel3,eyeriss]
                              [--seeds 3] [--evals 400] [--ofa-evals 1000]
                              [--out benchmarks/results/pnag.json] [--data-dir PATH]

Prints the tables and writes the JSON (every per-seed number included).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich import box
from rich.console import Console
from rich.table import Table

from hwnas.arena import QUANTILES, ground_truth
from hwnas.cli.common import jsonable
from hwnas.errors import HwnasError
from hwnas.manager import get_plugin_manager
from hwnas.pareto import best_under_budget, pick_under_budget
from hwnas.plugins.evolution import AgingEvolution
from hwnas.plugins.pnag.generate import generate
from hwnas.plugins.pnag.strategy import PNAG
from hwnas.problem import Problem
from hwnas.space import Architecture
from hwnas.strategy import Strategy
from hwnas.targets.recorded import tables as data
from hwnas.targets.recorded.accuracy import OFAPredictorAccuracy

MID_QUANTILES = (0.275, 0.725)
PAPER_MOBILE_MS = (80, 110, 140, 170, 200)
UNLIMITED = 10**9
#: PNAG options of parts A and B unless ``-s`` overrides them: 40 local-search evaluations
#: per budget, front of 16, two-position moves once one-position moves are used up, 20,000
#: screened architectures scored once by R (NB201: all 15,625); the strategy's ``band``
#: default (0.9) applies (part C keeps refine off: OFA's neighbourhoods make it take about
#: 1 s per budget)
DEFAULT_OPTIONS = {"refine": 40, "pool": 16, "reach": 2, "screen": 20000}


# ---------------------------------------------------------------------------
# shared: train PNAG, then generate with counted evaluations
# ---------------------------------------------------------------------------


def train_pnag(space, latency, accuracy, evals: int, seed: int, options: dict) -> tuple[PNAG, int]:
    """Train PNAG with ``evals`` evaluations (no generation); returns it and the evaluations."""
    problem = Problem(space, latency, accuracy, budget=evals, seed=seed, strategy_name="pnag")
    strategy = PNAG(generate="none", progress=False, **options)
    strategy.search(problem)
    return strategy, problem.evaluations


def generate_budgets(strategy: PNAG, space, latency, accuracy, budgets, seed: int) -> tuple:
    """Generate one architecture per budget; evaluations counted by a Problem of their own.

    The archive starts with the training data (counted in training); checks
    and refine evaluations are new and counted here. Returns the generated,
    the evaluations, the uncounted latency-table lookups of refine and the
    screened architectures (how many, seconds to draw and score them once).
    """
    problem = Problem(space, latency, accuracy, budget=UNLIMITED, seed=seed)
    rng = torch.Generator().manual_seed(seed)
    trainer = strategy.trainer
    archive = strategy.archive(trainer)
    screen_s = strategy.prepare_screen(archive, latency, seed)
    out = [
        generate(
            trainer.generator,
            trainer.evaluator,
            trainer.encoder,
            b,
            problem.evaluate,
            strategy.samples,
            strategy.checks,
            rng,
            archive=archive,
            steps=strategy.refine,
            pool=strategy.pool,
            latency_of=strategy.latency_lookup(latency),
            reach=strategy.reach,
            above=strategy.above,
            screen=strategy.screen,
            band=strategy.band,
        )
        for b in budgets
    ]
    screened = {"architectures": len(archive.screened), "seconds": screen_s}
    return out, problem.evaluations, archive.lookups, screened


# ---------------------------------------------------------------------------
# A and B: NB201
# ---------------------------------------------------------------------------


def nb201_budgets(truth, training_budgets: list[float]) -> list[tuple[str, float]]:
    """The 5 quantile budgets and 2 midpoints of training intervals (see the protocol)."""
    out = [(f"q{q * 100:.0f}", float(b)) for q, b in zip(QUANTILES, truth.budgets_ms, strict=True)]
    grid = np.asarray(training_budgets)
    for q in MID_QUANTILES:
        at = float(np.quantile(truth.lat, q))
        i = int(np.clip(np.searchsorted(grid, at, side="right") - 1, 0, len(grid) - 2))
        out.append((f"mid{i}-{i + 1}", float((grid[i] + grid[i + 1]) / 2)))
    return out


def evolution_pick(truth, budget: float, evals: int, seed: int) -> dict[str, Any]:
    """Aging evolution with the budget as latency limit; its most accurate feasible evaluation."""
    problem = Problem(
        truth.space,
        truth.latency,
        truth.accuracy,
        budget=evals,
        seed=seed,
        latency_limit_ms=budget,
        strategy_name="evolution",
    )
    result = AgingEvolution().search(problem)
    if result.best is None:
        return {
            "met": False,
            "regret": None,
            "latency_ms": None,
            "evaluations": problem.evaluations,
        }
    row = truth.rows([result.best.arch])[0]
    best = best_under_budget(truth.lat, truth.report_acc, budget)
    return {
        "met": True,
        "regret": float(best - truth.report_acc[row]),
        "latency_ms": float(truth.lat[row]),
        "evaluations": problem.evaluations,
    }


def nb201_run(truth, seed: int, evals: int, options: dict, with_evolution: bool) -> dict:
    """One device and seed: PNAG trained once, 7 budgets, evolution per budget."""
    started = time.perf_counter()
    strategy, train_evals = train_pnag(
        truth.space, truth.latency, truth.accuracy, evals, seed, options
    )
    train_s = time.perf_counter() - started
    budgets = nb201_budgets(truth, strategy.trainer.budgets_ms)
    generated, gen_evals, lookups, screened = generate_budgets(
        strategy, truth.space, truth.latency, truth.accuracy, [b for _, b in budgets], seed
    )
    total = train_evals + gen_evals
    per_budget = round(total / len(budgets))
    rows = []
    for (label, b), g in zip(budgets, generated, strict=True):
        row = truth.rows([g.arch])[0]
        best = best_under_budget(truth.lat, truth.report_acc, b)
        item = {
            "label": label,
            "budget_ms": b,
            "pnag": {
                "arch": truth.space.format(g.arch),
                "latency_ms": float(truth.lat[row]),
                "met": bool(truth.lat[row] <= b),
                "regret": float(best - truth.report_acc[row]) if truth.lat[row] <= b else None,
                "validation_gap": validation_gap(truth, b, row),
                "test_accuracy": float(truth.report_acc[row]),
                "checked": g.checked,
                "refined": g.refined,
                "proposed": g.proposed,
                "generation_ms": 1000 * g.generation_seconds,
                "generation_cpu_ms": 1000 * g.generation_cpu_seconds,
                "evaluate_ms": 1000 * g.evaluate_seconds,
                "end_to_end_ms": 1000 * g.seconds,
            },
            "true_best_test_accuracy": float(best),
            "validation_oracle_regret": validation_oracle_regret(truth, b),
        }
        if with_evolution:
            item["evolution"] = evolution_pick(truth, b, per_budget, seed)
        rows.append(item)
    return {
        "seed": seed,
        "training_budgets_ms": strategy.trainer.budgets_ms,
        "train_evaluations": train_evals,
        "generation_evaluations": gen_evals,
        "uncounted_latency_lookups": lookups,
        "screened": screened,
        "total_evaluations": total,
        "evolution_evaluations_per_budget": per_budget if with_evolution else None,
        "train_seconds": train_s,
        "refresh_log": [vars(e) for e in strategy.trainer.log],
        "budgets": rows,
    }


def validation_oracle_regret(truth, budget_ms: float) -> float:
    """Regret of the best validation accuracy in the whole space under the budget.

    A search that sees only validation accuracy and picks its best feasible
    evaluation reaches this regret at best when it has evaluated every
    architecture; it can land lower only by luck (a pick whose test accuracy
    beats the validation-best's).
    """
    pick = pick_under_budget(truth.lat, truth.search_acc, budget_ms)
    best = best_under_budget(truth.lat, truth.report_acc, budget_ms)
    return float(best - truth.report_acc[pick]) if pick is not None else float("nan")


def validation_gap(truth, budget_ms: float, row: int) -> float | None:
    """Best validation accuracy in the whole space under the budget - the pick's (what the
    search itself optimises; None when the pick is over the budget)."""
    if truth.lat[row] > budget_ms:
        return None
    best = best_under_budget(truth.lat, truth.search_acc, budget_ms)
    return float(best - truth.search_acc[row])


def _med_max(ms) -> str:
    return f"{np.median(ms):.0f}/{max(ms):.0f}"


def _mean(values) -> float:
    arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")


def nb201_part(devices, seeds, evals, options, console, log, data_dir=None) -> dict:
    """Part A: per device, per budget, PNAG vs per-budget evolution."""
    report = {}
    for device in devices:
        truth = ground_truth("nb201", device, data_dir=data_dir)
        runs = []
        for seed in range(seeds):
            t0 = time.perf_counter()
            runs.append(nb201_run(truth, seed, evals, options, True))
            log(f"nb201 {device} seed {seed}: {time.perf_counter() - t0:.0f} s")
        report[device] = {"runs": runs}
        print_nb201(device, runs, console)
    return report


def print_nb201(device: str, runs: list[dict], console: Console) -> None:
    """One table per device: every budget, PNAG next to evolution, means over seeds."""
    seeds = len(runs)
    table = Table(
        "budget",
        "ms",
        "PNAG lat",
        "met",
        "regret",
        "val gap",
        "evo met",
        "evo regret",
        "val-oracle",
        "gen ms med/max",
        "cpu ms max",
        box=box.SIMPLE_HEAD,
        title=f"NB201 on {device}: PNAG (trained once) vs aging evolution per budget, "
        f"{seeds} seeds, regret in test-accuracy points",
        caption=f"PNAG evaluations (train + generation, mean): "
        f"{np.mean([r['total_evaluations'] for r in runs]):.0f}; evolution: "
        f"{runs[0]['evolution_evaluations_per_budget']} per budget x 7; "
        "training budgets: "
        + ", ".join(f"{b:.3g}" for b in runs[0]["training_budgets_ms"])
        + " ms (seed 0); val gap: the space's best validation accuracy under the budget - "
        "the pick's (what the search optimises); val-oracle: regret of the validation-best "
        "architecture of the whole space under the budget (what picking by validation gives "
        "after evaluating everything); "
        "gen ms: wall time per budget without the accuracy source's "
        "evaluations (cpu: the same in process CPU time)",
    )
    n = len(runs[0]["budgets"])
    for i in range(n):
        rows = [r["budgets"][i] for r in runs]
        table.add_row(
            rows[0]["label"],
            f"{np.mean([x['budget_ms'] for x in rows]):.3g}",
            f"{np.mean([x['pnag']['latency_ms'] for x in rows]):.3g}",
            f"{sum(x['pnag']['met'] for x in rows)}/{seeds}",
            f"{_mean([x['pnag']['regret'] for x in rows]):.2f}",
            f"{_mean([x['pnag'].get('validation_gap') for x in rows]):.2f}",
            f"{sum(x['evolution']['met'] for x in rows)}/{seeds}",
            f"{_mean([x['evolution']['regret'] for x in rows]):.2f}",
            f"{_mean([x['validation_oracle_regret'] for x in rows]):.2f}",
            _med_max([x["pnag"]["generation_ms"] for x in rows]),
            f"{max(x['pnag']['generation_cpu_ms'] for x in rows):.0f}",
        )
    allrows = [x for r in runs for x in r["budgets"]]
    table.add_row(
        "all",
        "",
        "",
        f"{sum(x['pnag']['met'] for x in allrows)}/{len(allrows)}",
        f"{_mean([x['pnag']['regret'] for x in allrows]):.2f}",
        f"{_mean([x['pnag'].get('validation_gap') for x in allrows]):.2f}",
        f"{sum(x['evolution']['met'] for x in allrows)}/{len(allrows)}",
        f"{_mean([x['evolution']['regret'] for x in allrows]):.2f}",
        f"{_mean([x['validation_oracle_regret'] for x in allrows]):.2f}",
        _med_max([x["pnag"]["generation_ms"] for x in allrows]),
        f"{max(x['pnag']['generation_cpu_ms'] for x in allrows):.0f}",
        style="bold",
    )
    console.print(table)


def k_part(devices, seeds, evals, options, ks, console, log, data_dir=None) -> dict:
    """Part B: mean regret at the 5 quantile budgets for each K."""
    report: dict[str, Any] = {}
    for device in devices:
        truth = ground_truth("nb201", device, data_dir=data_dir)
        report[device] = {}
        for k in ks:
            regrets, met = [], 0
            for seed in range(seeds):
                t0 = time.perf_counter()
                strategy, _ = train_pnag(
                    truth.space,
                    truth.latency,
                    truth.accuracy,
                    evals,
                    seed,
                    {**options, "budgets": k},
                )
                gen, *_ = generate_budgets(
                    strategy, truth.space, truth.latency, truth.accuracy, truth.budgets_ms, seed
                )
                for b, best, g in zip(truth.budgets_ms, truth.true_best, gen, strict=True):
                    row = truth.rows([g.arch])[0]
                    ok = bool(truth.lat[row] <= b)
                    met += ok
                    regrets.append(float(best - truth.report_acc[row]) if ok else None)
                log(f"K={k} {device} seed {seed}: {time.perf_counter() - t0:.0f} s")
            report[device][str(k)] = {
                "regret_mean": _mean(regrets),
                "met": met,
                "budgets": len(regrets),
                "regrets": regrets,
            }
    table = Table(
        "K",
        *devices,
        "mean",
        box=box.SIMPLE_HEAD,
        title=f"Effect of K on NB201: mean regret (test-accuracy points) at the 5 quantile "
        f"budgets, {seeds} seeds, {evals} training evaluations",
        caption="in brackets: budgets met / generated",
    )
    for k in ks:
        cells = [report[d][str(k)] for d in devices]
        table.add_row(
            str(k),
            *(f"{c['regret_mean']:.2f} ({c['met']}/{c['budgets']})" for c in cells),
            f"{np.mean([c['regret_mean'] for c in cells]):.2f}",
        )
    console.print(table)
    return report


# ---------------------------------------------------------------------------
# C: OFA x Note10
# ---------------------------------------------------------------------------


class OFAFinder(Strategy):
    """OFA's evolutionary finder (``ofa/nas/search_algorithm/evolution.py``) on a Problem.

    Population ``population``; each generation keeps the ``parent_ratio`` most
    accurate as parents, adds ``mutation_ratio`` x population mutants (each
    kernel/expand/depth/resolution resampled with probability ``mutate_prob``)
    and fills the rest with uniform crossovers of two parents. Samples that
    exceed the latency limit are rejected with the latency model directly
    (not counted, as OFA does with its table); accuracy evaluations count.
    """

    name = "ofa-finder"

    def __init__(
        self,
        resolutions,
        population: int = 100,
        parent_ratio: float = 0.25,
        mutation_ratio: float = 0.5,
        mutate_prob: float = 0.1,
        max_tries: int = 10000,
    ) -> None:
        self.resolutions = tuple(resolutions)
        self.population = population
        self.parents = round(parent_ratio * population)
        self.mutants = round(mutation_ratio * population)
        self.mutate_prob = mutate_prob
        self.max_tries = max_tries
        self.latency_queries = 0

    def _feasible(self, problem: Problem, choices) -> Architecture | None:
        arch = Architecture(problem.space.name, tuple(choices))
        self.latency_queries += 1
        return arch if problem.latency.latency(arch).ms <= problem.latency_limit_ms else None

    def _random(self, problem: Problem) -> Architecture:
        rng = problem.rng
        for _ in range(self.max_tries):
            choices = [p.choices[rng.integers(len(p.choices))] for p in problem.space.positions]
            choices[-1] = self.resolutions[rng.integers(len(self.resolutions))]
            arch = self._feasible(problem, choices)
            if arch is not None:
                return arch
        raise HwnasError(f"ofa finder: no subnet under {problem.latency_limit_ms:g} ms")

    def _mutate(self, problem: Problem, parent: Architecture) -> Architecture:
        rng, positions = problem.rng, problem.space.positions
        for _ in range(self.max_tries):
            choices = list(parent.choices)
            for i, p in enumerate(positions[:-1]):
                if rng.random() < self.mutate_prob:
                    choices[i] = p.choices[rng.integers(len(p.choices))]
            if rng.random() < self.mutate_prob:
                choices[-1] = self.resolutions[rng.integers(len(self.resolutions))]
            arch = self._feasible(problem, choices)
            if arch is not None:
                return arch
        return parent

    def _crossover(self, problem: Problem, a: Architecture, b: Architecture) -> Architecture:
        rng = problem.rng
        for _ in range(self.max_tries):
            choices = [
                x if rng.random() < 0.5 else y for x, y in zip(a.choices, b.choices, strict=True)
            ]
            arch = self._feasible(problem, choices)
            if arch is not None:
                return arch
        return a

    def ask_and_tell(self, problem: Problem) -> None:
        """Initial feasible population, then generations until the budget is spent."""
        rng = problem.rng
        population = [problem.evaluate(self._random(problem)) for _ in range(self.population)]
        while True:
            parents = sorted(population, key=lambda e: -e.accuracy)[: self.parents]
            children = [
                self._mutate(problem, parents[rng.integers(len(parents))].arch)
                for _ in range(self.mutants)
            ]
            children += [
                self._crossover(
                    problem,
                    parents[rng.integers(len(parents))].arch,
                    parents[rng.integers(len(parents))].arch,
                )
                for _ in range(self.population - self.mutants)
            ]
            population = parents + [problem.evaluate(c) for c in children]


def ofa_part(seeds, evals, options, console, log, data_dir=None) -> dict:
    """Part C: PNAG vs OFA's finder per budget on OFA x Note10."""
    pm = get_plugin_manager()
    space = pm.create("space", "ofa")
    latency = pm.create("target", "ofa/note10", **({"data_dir": data_dir} if data_dir else {}))
    accuracy = OFAPredictorAccuracy(data_dir)
    rng = np.random.default_rng(0)
    sample = []
    for _ in range(2000):
        arch = space.sample(rng)
        choices = list(arch.choices)
        choices[-1] = int(rng.choice(data.NOTE10_RESOLUTIONS))
        sample.append(latency.latency(space.architecture(choices)).ms)
    scale = float(np.quantile(sample, 0.9)) / 200.0
    budgets = [b * scale for b in PAPER_MOBILE_MS]
    runs = []
    for seed in range(seeds):
        t0 = time.perf_counter()
        strategy, train_evals = train_pnag(
            space,
            latency,
            accuracy,
            evals,
            seed,
            {**options, "budget_range": [budgets[0], budgets[-1]], "spacing": "linear"},
        )
        train_s = time.perf_counter() - t0
        generated, gen_evals, lookups, _ = generate_budgets(
            strategy, space, latency, accuracy, budgets, seed
        )
        total = train_evals + gen_evals
        per_budget = round(total / len(budgets))
        rows = []
        for paper_ms, b, g in zip(PAPER_MOBILE_MS, budgets, generated, strict=True):
            problem = Problem(
                space,
                latency,
                accuracy,
                budget=per_budget,
                seed=seed,
                latency_limit_ms=b,
                strategy_name="ofa-finder",
            )
            finder = OFAFinder(data.NOTE10_RESOLUTIONS)
            t1 = time.perf_counter()
            result = finder.search(problem)
            rows.append(
                {
                    "paper_ms": paper_ms,
                    "budget_ms": b,
                    "pnag": {
                        "arch": space.format(g.arch),
                        "latency_ms": g.latency_ms,
                        "met": g.latency_ms <= b,
                        "top1": g.accuracy,
                        "checked": g.checked,
                        "generation_ms": 1000 * g.generation_seconds,
                        "generation_cpu_ms": 1000 * g.generation_cpu_seconds,
                        "end_to_end_ms": 1000 * g.seconds,
                    },
                    "finder": {
                        "arch": None if result.best is None else space.format(result.best.arch),
                        "latency_ms": None if result.best is None else result.best.latency_ms,
                        "met": result.best is not None,
                        "top1": None if result.best is None else result.best.accuracy,
                        "evaluations": problem.evaluations,
                        "uncounted_latency_queries": finder.latency_queries,
                        "seconds": time.perf_counter() - t1,
                    },
                }
            )
        runs.append(
            {
                "seed": seed,
                "training_budgets_ms": strategy.trainer.budgets_ms,
                "train_evaluations": train_evals,
                "generation_evaluations": gen_evals,
                "uncounted_latency_lookups": lookups,
                "total_evaluations": total,
                "finder_evaluations_per_budget": per_budget,
                "train_seconds": train_s,
                "choice_probes": strategy.extra.get("pnag", {}).get("choice_probes"),
                "refresh_log": [vars(e) for e in strategy.trainer.log],
                "budgets": rows,
            }
        )
        log(f"ofa seed {seed}: {time.perf_counter() - t0:.0f} s")
    print_ofa(runs, scale, console)
    return {"scale": scale, "budgets_ms": budgets, "runs": runs}


def print_ofa(runs: list[dict], scale: float, console: Console) -> None:
    """PNAG vs the finder per budget (means over seeds)."""
    seeds = len(runs)
    table = Table(
        "paper ms",
        "budget ms",
        "PNAG lat",
        "met",
        "PNAG top-1",
        "finder top-1",
        "finder met",
        "Δ top-1",
        "gen ms",
        box=box.SIMPLE_HEAD,
        title=f"OFA MobileNetV3 on Note10 (LUT), predicted ImageNet top-1 (%), {seeds} seeds",
        caption=f"budgets = paper ms x {scale:.4f}; PNAG evaluations (mean) "
        f"{np.mean([r['total_evaluations'] for r in runs]):.0f}; finder "
        f"{runs[0]['finder_evaluations_per_budget']} per budget x 5 (population 100)",
    )
    for i in range(len(runs[0]["budgets"])):
        rows = [r["budgets"][i] for r in runs]
        p = [x["pnag"]["top1"] if x["pnag"]["met"] else None for x in rows]
        f = [x["finder"]["top1"] for x in rows]
        table.add_row(
            str(rows[0]["paper_ms"]),
            f"{rows[0]['budget_ms']:.2f}",
            f"{np.mean([x['pnag']['latency_ms'] for x in rows]):.2f}",
            f"{sum(x['pnag']['met'] for x in rows)}/{seeds}",
            f"{_mean(p):.2f}",
            f"{_mean(f):.2f}",
            f"{sum(x['finder']['met'] for x in rows)}/{seeds}",
            f"{_mean(p) - _mean(f):+.2f}",
            f"{np.median([x['pnag']['generation_ms'] for x in rows]):.1f}",
        )
    console.print(table)


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="nb201,k,ofa")
    parser.add_argument("--devices", default="raspi4,pixel3,eyeriss")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--evals", type=int, default=400, help="PNAG training evaluations (NB201)")
    parser.add_argument("--ks", default="2,5,10")
    parser.add_argument("--ofa-evals", type=int, default=1000)
    parser.add_argument("--option", "-s", action="append", default=[], help="PNAG KEY=VALUE")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pnag.json"))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    from hwnas.cli.common import parse_options

    torch.set_num_threads(args.threads)
    console = Console(width=150)
    err = Console(stderr=True)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    given = parse_options(args.option)
    options = {**DEFAULT_OPTIONS, **given}
    report: dict[str, Any] = {
        "protocol": __doc__,
        "options": options,
        "ofa_options": given,
        "seeds": args.seeds,
        "evals": args.evals,
        "ofa_evals": args.ofa_evals,
    }
    started = time.perf_counter()

    def save(done: str) -> None:
        """Write the JSON after every part, so a long run keeps what it finished."""
        report["parts_done"] = [*report.get("parts_done", []), done]
        report["complete"] = set(report["parts_done"]) >= parts
        report["seconds"] = time.perf_counter() - started
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(jsonable(report), indent=2) + "\n", encoding="utf-8")

    try:
        if "nb201" in parts:
            report["nb201"] = nb201_part(
                devices, args.seeds, args.evals, options, console, err.print, args.data_dir
            )
            save("nb201")
        if "k" in parts:
            ks = [int(k) for k in args.ks.split(",")]
            report["k"] = k_part(
                devices, args.seeds, args.evals, options, ks, console, err.print, args.data_dir
            )
            save("k")
        if "ofa" in parts:
            report["ofa"] = ofa_part(
                args.seeds, args.ofa_evals, given, console, err.print, args.data_dir
            )
            save("ofa")
    except HwnasError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    console.print(f"wrote {args.out} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
