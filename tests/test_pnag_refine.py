"""PNAG's budget-filling local search (refine) on the real NAS-Bench-201 raspi4 table.

Latency from the recorded table, search-visible accuracy = CIFAR-10
validation accuracy; every evaluation goes through a counting Problem.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas.arena import ground_truth
from hwnas.errors import HwnasError
from hwnas.plugins.pnag.encoding import Encoder
from hwnas.plugins.pnag.evaluator import Evaluator
from hwnas.plugins.pnag.generate import generate
from hwnas.plugins.pnag.generator import Generator
from hwnas.plugins.pnag.refine import Archive, refine
from hwnas.plugins.pnag.strategy import PNAG
from hwnas.plugins.pnag.train import random_tokens
from hwnas.problem import Problem

BUDGET_MS = 17.0


@pytest.fixture(scope="module")
def truth():
    return ground_truth("nb201", "raspi4")


@pytest.fixture
def setup(truth):
    """An archive with 30 random evaluated architectures, an (untrained) evaluator, a Problem."""
    torch.manual_seed(0)
    encoder = Encoder(truth.space)
    evaluator = Evaluator(encoder.width, [5.0, 60.0])
    problem = Problem(truth.space, truth.latency, truth.accuracy, budget=10_000, seed=0)
    archive = Archive(encoder)
    rng = np.random.default_rng(0)
    for _ in range(30):
        archive.evaluate(random_tokens(encoder.vocab, None, rng), problem.evaluate)
    return encoder, evaluator, problem, archive


def lookup(truth):
    return lambda archs: [truth.latency.latency(a).ms for a in archs]


def test_refine_counts_each_new_evaluation_once_and_stays_within_budget(truth, setup):
    _, evaluator, problem, archive = setup
    start = archive.best_within(BUDGET_MS)
    before = problem.evaluations
    spent = refine(evaluator, archive, BUDGET_MS, problem.evaluate, 25, 4, lookup(truth))
    assert spent == 25 == problem.evaluations - before
    new = problem.history[before:]
    assert len({e.arch for e in new}) == len(new)  # nothing evaluated twice
    assert all(e.latency_ms <= BUDGET_MS for e in new)  # the table filtered the candidates
    assert archive.lookups > 0
    best = archive.best_within(BUDGET_MS)
    assert best.latency_ms <= BUDGET_MS and best.accuracy >= start.accuracy
    # a second search under the same budget never re-evaluates what the archive holds
    refine(evaluator, archive, BUDGET_MS, problem.evaluate, 25, 4, lookup(truth))
    assert len({e.arch for e in problem.history}) == len(problem.history)


def test_refine_with_one_front_member_ends_at_a_local_optimum_under_the_budget(truth, setup):
    encoder, evaluator, problem, archive = setup
    refine(evaluator, archive, BUDGET_MS, problem.evaluate, 400, 1, lookup(truth))
    best = archive.best_within(BUDGET_MS)
    tokens = encoder.tokens(best.arch)
    near = archive.within(archive.neighbours(tokens), lookup(truth), BUDGET_MS)
    assert near, "some one-position change fits the budget"
    assert all(t in archive.known for t in near)
    assert all(archive.known[t].accuracy <= best.accuracy for t in near)
    # the local optimum is a real improvement over the best random start
    first = max(
        (e for e in problem.history[:30] if e.latency_ms <= BUDGET_MS), key=lambda e: e.accuracy
    )
    assert best.accuracy > first.accuracy


def test_refine_without_latency_lookups_evaluates_every_candidate(truth, setup):
    _, evaluator, problem, archive = setup
    before = problem.evaluations
    spent = refine(evaluator, archive, BUDGET_MS, problem.evaluate, 20, 2, None)
    assert spent == 20 == problem.evaluations - before
    assert archive.lookups == 0
    assert archive.best_within(BUDGET_MS).latency_ms <= BUDGET_MS


def test_generate_with_refine_reports_its_evaluations_and_answers_within_budget(truth, setup):
    encoder, evaluator, problem, archive = setup
    torch.manual_seed(0)
    generator = Generator(encoder.vocab, [5.0, 60.0], hidden=16)
    rng = torch.Generator().manual_seed(0)
    before = problem.evaluations
    g = generate(
        generator,
        evaluator,
        encoder,
        BUDGET_MS,
        problem.evaluate,
        samples=8,
        checks=2,
        rng=rng,
        archive=archive,
        steps=15,
        latency_of=lookup(truth),
    )
    assert g.refined == 15
    assert problem.evaluations - before <= g.checked + g.refined
    assert g.met and g.latency_ms <= BUDGET_MS
    assert g.accuracy == archive.best_within(BUDGET_MS).accuracy
    # a limit caps checks and refine together
    g2 = generate(
        generator,
        evaluator,
        encoder,
        25.0,
        problem.evaluate,
        samples=8,
        checks=2,
        rng=rng,
        archive=archive,
        steps=50,
        limit=10,
        latency_of=lookup(truth),
    )
    assert g2.refined <= 10


@pytest.mark.parametrize("option", [{"refine": -1}, {"pool": 0}])
def test_bad_refine_options_are_one_line_errors(option):
    with pytest.raises(HwnasError, match="refine must be >= 0 and pool >= 1"):
        PNAG(**option)
