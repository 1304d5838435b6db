"""PNAG's budget-filling local search (refine) on the real NAS-Bench-201 raspi4 table.

Latency from the recorded table, search-visible accuracy = CIFAR-10
validation accuracy; every evaluation goes through a counting Problem.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from hwnas.errors import HwnasError
from hwnas.plugins.pnag.encoding import Encoder
from hwnas.plugins.pnag.evaluator import Evaluator
from hwnas.plugins.pnag.generate import generate
from hwnas.plugins.pnag.generator import Generator
from hwnas.plugins.pnag.refine import Archive, prepare_screen, refine, scoring_budget
from hwnas.plugins.pnag.strategy import PNAG
from hwnas.plugins.pnag.train import random_tokens
from hwnas.problem import Problem

BUDGET_MS = 17.0


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


@pytest.mark.parametrize(
    "option",
    [{"refine": -1}, {"pool": 0}, {"reach": 0}, {"above": -1}, {"screen": -5}, {"band": 1.0}],
)
def test_bad_refine_options_are_one_line_errors(option):
    expected = r"must be (>= 0, pool and reach >= 1|in \[0, 1\))"
    with pytest.raises(HwnasError, match=expected) as info:
        PNAG(**option)
    assert "\n" not in str(info.value)


def test_neighbours_at_two_positions_are_every_distinct_change_of_one_or_two_positions(setup):
    _, _, _, archive = setup
    tokens = (0, 1, 2, 3, 4, 0)
    one, two = archive.neighbours(tokens), archive.neighbours(tokens, 2)
    assert len(one) == 6 * 4  # NB201: 6 positions x 4 other ops
    assert len(two) == len(set(two)) == 6 * 4 + 15 * 4 * 4
    assert set(one) < set(two)
    diffs = [sum(a != b for a, b in zip(t, tokens, strict=True)) for t in two]
    assert set(diffs) == {1, 2}


def test_reach_two_widens_an_exhausted_member_to_two_position_moves(truth, setup):
    encoder, evaluator, problem, archive = setup
    spent = refine(evaluator, archive, BUDGET_MS, problem.evaluate, 600, 1, lookup(truth), reach=2)
    assert spent == problem.evaluations - 30
    best = archive.best_within(BUDGET_MS)
    tokens = encoder.tokens(best.arch)
    near = archive.within(archive.neighbours(tokens, 2), lookup(truth), BUDGET_MS)
    two_only = [t for t in near if sum(a != b for a, b in zip(t, tokens, strict=True)) == 2]
    assert two_only and any(t in archive.known for t in two_only)
    if spent < 600:  # stopped because the best member's two-position moves are all known
        assert all(t in archive.known for t in near)
        assert all(archive.known[t].accuracy <= best.accuracy for t in near)


def test_scoring_budget_is_the_largest_training_budget_once_the_table_filtered(setup):
    _, evaluator, _, _ = setup
    assert scoring_budget(evaluator, 17.0, filtered=True) == 60.0
    assert scoring_budget(evaluator, 17.0, filtered=False) == 17.0


def test_screened_architectures_are_drawn_once_and_every_evaluation_counts(truth, setup):
    _, evaluator, problem, archive = setup
    rng = np.random.default_rng(1)
    before = problem.evaluations
    spent = refine(
        evaluator, archive, BUDGET_MS, problem.evaluate, 20, 2, lookup(truth), screen=300, rng=rng
    )
    screened = list(archive.screened)
    assert len(screened) == 300 and spent == 20 == problem.evaluations - before
    new = problem.history[before:]
    assert all(e.latency_ms <= BUDGET_MS for e in new)
    # the sources take turns: half of the new evaluations come from the screened draws
    drawn = set(screened)
    assert sum(archive.encoder.tokens(e.arch) in drawn for e in new) >= 10
    # a second budget reuses the same draws (no new ones, no re-evaluation)
    refine(evaluator, archive, 25.0, problem.evaluate, 10, 2, lookup(truth), screen=300, rng=rng)
    assert archive.screened == screened
    assert len({e.arch for e in problem.history}) == len(problem.history)


def test_screen_draws_distinct_architectures_and_the_whole_space_when_it_is_smaller(setup):
    encoder, _, _, archive = setup
    rng = np.random.default_rng(3)
    drawn = archive.screen(500, rng)
    assert len(drawn) == len(set(drawn)) == 500
    assert archive.screen(200, rng) == drawn[:200]  # drawn once, a prefix for fewer
    size = int(np.prod(encoder.vocab))
    everything = archive.screen(size + 1, rng)
    assert len(everything) == len(set(everything)) == size == 15625


def test_prepared_screen_is_scored_once_and_budgets_only_filter_it(truth, setup):
    _, evaluator, problem, archive = setup
    evaluated = len(archive)  # their latencies came with their evaluations
    n = prepare_screen(evaluator, archive, 20_000, np.random.default_rng(0), lookup(truth))
    assert n == 15625 and archive.lookups == n - evaluated  # every other one looked up once
    lookups, scored = archive.lookups, len(archive._scores)
    for budget in (BUDGET_MS, 25.0):
        refine(evaluator, archive, budget, problem.evaluate, 8, 2, lookup(truth), screen=20_000)
    assert archive.lookups == lookups  # no neighbour needed a new lookup
    assert len(archive._scores) == scored  # R scored nothing new: every candidate was screened


def test_band_keeps_the_screened_candidates_near_the_budget(truth, setup):
    encoder, evaluator, problem, archive = setup
    drawn = set(archive.screen(3000, np.random.default_rng(2)))
    before = problem.evaluations
    refine(
        evaluator,
        archive,
        BUDGET_MS,
        problem.evaluate,
        20,
        2,
        lookup(truth),
        screen=3000,
        rng=np.random.default_rng(2),
        band=0.9,
    )
    new = problem.history[before:]
    from_screen = [e for e in new if encoder.tokens(e.arch) in drawn]
    assert len(from_screen) >= 10  # the sources take turns
    assert all(0.9 * BUDGET_MS <= e.latency_ms <= BUDGET_MS for e in from_screen)
    # without a latency model the band cannot apply (no candidate latency is known)
    assert refine(evaluator, archive, BUDGET_MS, problem.evaluate, 3, 2, None, band=0.9) == 3


def test_members_over_the_budget_lend_their_neighbours_within_it(truth, setup):
    encoder, evaluator, problem, archive = setup
    over = {t for t, e in archive.known.items() if BUDGET_MS < e.latency_ms <= 1.5 * BUDGET_MS}
    assert over
    before = problem.evaluations
    refine(evaluator, archive, BUDGET_MS, problem.evaluate, 10, 1, lookup(truth), above=4)
    new = [encoder.tokens(e.arch) for e in problem.history[before:]]
    assert all(e.latency_ms <= BUDGET_MS for e in problem.history[before:])
    near_over = {n for t in over for n in archive.neighbours(t)}
    assert sum(t in near_over for t in new) >= 5  # every other step comes from above


def test_generation_time_leaves_out_the_accuracy_sources_evaluations(truth, setup):
    encoder, evaluator, problem, archive = setup
    generator = Generator(encoder.vocab, [5.0, 60.0], hidden=16)

    def slow(arch):
        time.sleep(0.01)
        return problem.evaluate(arch)

    g = generate(
        generator,
        evaluator,
        encoder,
        BUDGET_MS,
        slow,
        samples=4,
        checks=1,
        rng=torch.Generator().manual_seed(0),
        archive=archive,
        steps=5,
        latency_of=lookup(truth),
    )
    n = g.refined + 1
    assert g.evaluate_seconds >= 0.01 * n
    assert g.generation_seconds == pytest.approx(g.seconds - g.evaluate_seconds)
    assert g.generation_seconds < g.seconds - 0.01 * (n - 1)


def test_strategy_refine_reserves_counts_and_answers_the_best_evaluated_within_budget(truth):
    fast = {"iterations": 40, "evaluator_steps": 40, "refresh_steps": 10}
    problem = Problem(truth.space, truth.latency, truth.accuracy, budget=120, seed=0)
    strategy = PNAG(refine=6, generate="14,25", progress=False, **fast)
    result = strategy.search(problem)
    info = result.extra["pnag"]
    assert result.evaluations == problem.evaluations <= 120
    assert info["train_evaluations"] + info["generation_evaluations"] == problem.evaluations
    assert info["train_evaluations"] <= 120 - (3 + 6) * 2  # checks + refine reserved up front
    assert [g["refined"] for g in info["generated"]] == [6, 6]
    for g in info["generated"]:
        within = [e.accuracy for e in problem.history if e.latency_ms <= g["budget_ms"]]
        assert g["met"] and g["accuracy"] == max(within)
