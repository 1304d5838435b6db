"""PNAG: budget embedding, Pareto pair labels, ranking loss, training, save/load, end to end.

Real data: the NAS-Bench-201 table (latency on raspi4, CIFAR-10 validation
accuracy for the search, test accuracy to judge). The HURRICANE test uses real
ONNX Runtime layer measurements (benchmarks/results/profile.sqlite) for
latency; its accuracy stand-in (a monotone function of FLOPs) is plumbing
only, since no HURRICANE accuracy source exists without a trained supernet.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from hwnas.accuracy import AccuracySource
from hwnas.arena import ground_truth
from hwnas.errors import HwnasError
from hwnas.plugins.pnag.encoding import Encoder
from hwnas.plugins.pnag.evaluator import Evaluator, fit_evaluator, pair_labels, ranking_loss
from hwnas.plugins.pnag.generate import generate
from hwnas.plugins.pnag.generator import BudgetEmbedding, Generator
from hwnas.plugins.pnag.model_file import load_generator, save_generator
from hwnas.plugins.pnag.strategy import PNAG
from hwnas.plugins.pnag.train import PNAGConfig, Trainer, budget_grid
from hwnas.problem import Problem

FAST = {"iterations": 40, "evaluator_steps": 40, "refresh_steps": 10, "refresh": 10, "batch": 8}


@pytest.fixture(autouse=True)
def one_thread():
    """Small models: one torch thread is fastest, and the machine is shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def table_evaluate(truth):
    """Deterministic (latency, search accuracy) from the NB201 table, no counting."""

    def evaluate(arch):
        row = truth.rows([arch])[0]
        return float(truth.lat[row]), float(truth.search_acc[row])

    return evaluate


# ---------------------------------------------------------------------------
# generator: g(B)
# ---------------------------------------------------------------------------


def test_budget_embedding_is_linear_between_neighbours_and_exact_at_training_budgets():
    torch.manual_seed(0)
    budgets = [2.0, 5.0, 11.0, 30.0]
    g = BudgetEmbedding(budgets, 8)
    table = g.table.detach()
    at = g(torch.tensor(budgets, dtype=torch.float64)).detach()
    torch.testing.assert_close(at, table)
    for k in range(len(budgets) - 1):
        lo, hi = budgets[k], budgets[k + 1]
        for w in (0.1, 0.5, 0.9):
            b = lo + w * (hi - lo)
            got = g(torch.tensor([b], dtype=torch.float64)).detach()[0]
            torch.testing.assert_close(got, (1 - w) * table[k] + w * table[k + 1])
        # affine in B inside the interval: equal steps give equal differences
        pts = g(torch.linspace(lo, hi, 5, dtype=torch.float64)).detach()
        steps = pts[1:] - pts[:-1]
        torch.testing.assert_close(steps, steps[:1].expand_as(steps), rtol=1e-4, atol=1e-6)
    # the neighbours of a budget are the two training budgets around it, never others
    lower, weight = g.neighbours(torch.tensor([6.0], dtype=torch.float64))
    assert int(lower[0]) == 1 and float(weight[0]) == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="outside the trained range"):
        g(torch.tensor([1.0], dtype=torch.float64))
    with pytest.raises(ValueError):
        BudgetEmbedding([3.0, 3.0], 4)


def test_generator_samples_valid_tokens_respects_the_mask_and_reports_log_probs():
    mask = [[True, False, True], [False, True, False], [True, True, True]]
    gen = Generator([3, 3, 3], [1.0, 2.0], hidden=16, mask=mask)
    rng = torch.Generator().manual_seed(0)
    tokens, log_p, entropy = gen.sample(torch.full((200,), 1.5, dtype=torch.float64), rng)
    assert tokens.shape == (200, 3)
    assert set(tokens[:, 0].tolist()) == {0, 2} and set(tokens[:, 1].tolist()) == {1}
    torch.testing.assert_close(
        log_p, gen.log_prob(torch.full((200,), 1.5, dtype=torch.float64), tokens)
    )
    # entropy: position 1 has one allowed choice, so at most ln2 + 0 + ln3
    assert float(entropy.detach().max()) <= np.log(2) + np.log(3) + 1e-5


# ---------------------------------------------------------------------------
# evaluator: pair labels and the ranking loss
# ---------------------------------------------------------------------------


def test_pair_labels_follow_the_pareto_dominance_rule():
    t = torch.tensor
    budget = 10.0
    # (lat_i, lat_j, acc_i, acc_j, expected)
    cases = [
        (5.0, 8.0, 90.0, 80.0, 1),  # both within: more accurate wins (even if slower or not)
        (8.0, 5.0, 90.0, 80.0, 1),
        (8.0, 5.0, 70.0, 80.0, -1),
        (5.0, 8.0, 80.0, 80.0, 0),  # both within, same accuracy: tie, no label
        (10.0, 12.0, 10.0, 99.0, 1),  # at the budget counts as within; j outside: faster wins
        (12.0, 9.0, 99.0, 10.0, -1),  # i outside, j within: j wins despite accuracy
        (15.0, 12.0, 99.0, 10.0, -1),  # both outside: the faster wins
        (12.0, 15.0, 10.0, 99.0, 1),
        (12.0, 12.0, 10.0, 99.0, 0),  # both outside, same latency: tie
    ]
    lat_i, lat_j, acc_i, acc_j, want = (t([c[n] for c in cases]) for n in range(5))
    got = pair_labels(lat_i, lat_j, acc_i, acc_j, budget)
    assert got.tolist() == want.tolist()
    # antisymmetric
    assert (pair_labels(lat_j, lat_i, acc_j, acc_i, budget) == -got).all()


def test_ranking_losses_are_zero_when_ordered_with_margin_and_skip_ties():
    s_i, s_j = torch.tensor([3.0, 0.0, 1.0]), torch.tensor([1.0, 2.0, 1.0])
    labels = torch.tensor([1.0, -1.0, 0.0])
    assert float(ranking_loss(s_i, s_j, labels, "hinge", margin=1.0)) == 0.0
    assert float(ranking_loss(s_i, s_j, -labels, "hinge", margin=1.0)) == pytest.approx(3.0)
    logistic = float(ranking_loss(s_i, s_j, labels, "logistic"))
    assert logistic == pytest.approx(float(torch.nn.functional.softplus(torch.tensor(-2.0))))
    with pytest.raises(ValueError):
        ranking_loss(s_i, s_j, labels, "square")


@pytest.mark.parametrize("kind", ["hinge", "logistic"])
def test_ranking_loss_decreases_and_the_evaluator_learns_the_pareto_order(truth, kind):
    rng = np.random.default_rng(0)
    rows = rng.choice(len(truth.lat), 60, replace=False)
    encoder = Encoder(truth.space)
    archs = [truth.accuracy.table.archs[r] for r in rows]
    x = encoder.features([encoder.tokens(a) for a in archs])
    lat = torch.tensor(truth.lat[rows], dtype=torch.float64)
    acc = torch.tensor(truth.search_acc[rows], dtype=torch.float64)
    budgets = budget_grid(truth.lat[rows], 4, "quantile")
    torch.manual_seed(0)
    evaluator = Evaluator(encoder.width, budgets)
    opt = torch.optim.Adam(evaluator.parameters(), lr=3e-3)
    losses = fit_evaluator(
        evaluator, opt, x, lat, acc, 150, 256, kind, rng=torch.Generator().manual_seed(0)
    )
    assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:10])
    from hwnas.plugins.pnag.evaluator import kendall_tau

    with torch.no_grad():
        taus = [
            kendall_tau(evaluator(x, torch.tensor([b])).numpy(), lat.numpy(), acc.numpy(), b)
            for b in budgets
        ]
    assert min(taus) > 0.8, taus


# ---------------------------------------------------------------------------
# training: determinism, checkpoint/resume, save/load
# ---------------------------------------------------------------------------


def _params(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_training_is_deterministic_with_a_seed(truth):
    runs = []
    for seed in (3, 3, 4):
        trainer = Trainer(truth.space, PNAGConfig(**FAST), evals=50, seed=seed)
        trainer.run(table_evaluate(truth))
        runs.append(trainer)
    a, b, c = runs
    assert a.tokens == b.tokens and a.budgets_ms == b.budgets_ms
    for p, q in zip(
        _params(a.generator) + _params(a.evaluator),
        _params(b.generator) + _params(b.evaluator),
        strict=True,
    ):
        assert torch.equal(p, q)
    assert a.tokens != c.tokens
    assert a.evaluations == 50 and len(a.log) == 3  # 25 initial + 3 refreshes of <= 10


def test_checkpoint_resume_continues_bit_for_bit(truth, tmp_path):
    evaluate = table_evaluate(truth)
    whole = Trainer(truth.space, PNAGConfig(**FAST), evals=50, seed=1).run(evaluate)
    first = Trainer(truth.space, PNAGConfig(**FAST), evals=50, seed=1).run(evaluate, stop_at=20)
    assert first.iteration == 20 and first.evaluations < 50
    path = tmp_path / "state.pt"
    torch.save(first.state_dict(), path)
    state = torch.load(path, weights_only=True)
    resumed = Trainer.from_state(truth.space, state).run(evaluate)
    assert resumed.iteration == whole.iteration == FAST["iterations"]
    assert resumed.tokens == whole.tokens and resumed.evaluations == whole.evaluations
    for p, q in zip(_params(resumed.generator), _params(whole.generator), strict=True):
        assert torch.equal(p, q)
    for p, q in zip(_params(resumed.evaluator), _params(whole.evaluator), strict=True):
        assert torch.equal(p, q)


def test_generator_file_round_trip_and_validation(truth, tmp_path):
    trainer = Trainer(truth.space, PNAGConfig(**FAST), evals=40, seed=0).run(table_evaluate(truth))
    path = save_generator(
        tmp_path / "g.pt",
        truth.space,
        truth.latency,
        truth.accuracy,
        trainer.generator,
        trainer.evaluator,
        {"note": "test"},
        trainer.state_dict(),
    )
    model = load_generator(path)
    assert model.space == "nb201" and model.target == "nb201/raspi4"
    assert model.target_fingerprint["device"] == "raspi4"
    assert model.budgets_ms == pytest.approx(trainer.budgets_ms)
    assert model.budget_range == (trainer.budgets_ms[0], trainer.budgets_ms[-1])
    for p, q in zip(_params(model.generator), _params(trainer.generator), strict=True):
        assert torch.equal(p, q)
    # same sampling from the loaded generator
    b = torch.full((5,), float(np.mean(model.budget_range)), dtype=torch.float64)
    with torch.no_grad():
        t1 = model.generator.sample(b, torch.Generator().manual_seed(2))[0]
        t2 = trainer.generator.sample(b, torch.Generator().manual_seed(2))[0]
    assert torch.equal(t1, t2)
    # resumable from the file
    assert Trainer.from_state(truth.space, model.training).iteration == FAST["iterations"]
    # validation
    lo, hi = model.budget_range
    assert model.check_budget(lo) == lo
    with pytest.raises(HwnasError, match="outside the generator's trained range"):
        model.check_budget(hi * 2)
    with pytest.raises(HwnasError, match="trained for target 'nb201/raspi4'"):
        model.check_target("nb201/pixel3")
    with pytest.raises(HwnasError, match="has changed"):
        model.check_target("nb201/raspi4", {**model.target_fingerprint, "device": "pixel3"})
    from hwnas.spaces.ofa import OFASpace

    with pytest.raises(HwnasError, match="trained for space 'nb201'"):
        model.check_space(OFASpace())
    (tmp_path / "bad.pt").write_bytes(path.read_bytes()[:500])
    with pytest.raises(HwnasError, match="cannot read PNAG generator file"):
        load_generator(tmp_path / "bad.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(HwnasError, match="not a PNAG generator file"):
        load_generator(tmp_path / "other.pt")
    with pytest.raises(HwnasError, match="not found"):
        load_generator(tmp_path / "missing.pt")


def test_strategy_checkpoints_into_the_generator_file_and_resumes(truth, tmp_path):
    path = tmp_path / "generator.pt"
    first = Problem(truth.space, truth.latency, truth.accuracy, budget=60, seed=0)
    options = {k: v for k, v in FAST.items() if k != "iterations"}
    PNAG(iterations=40, model=str(path), generate="none", checkpoint_every=20, **options).search(
        first
    )
    saved = load_generator(path)
    assert saved.training["iteration"] == 40 and saved.summary["evaluations"] == 60
    second = Problem(truth.space, truth.latency, truth.accuracy, budget=80, seed=0)
    strategy = PNAG(iterations=80, resume=str(path), model=str(path), generate="none", **options)
    info = strategy.search(second).extra["pnag"]
    assert info["resumed_from_iteration"] == 40 and info["iterations"] == 80
    # honest across the resume: the 60 evaluations before the checkpoint count here too
    assert info["train_evaluations"] == 80 and second.evaluations == 80
    assert load_generator(path).training["iteration"] == 80
    other = ground_truth("nb201", "pixel3")
    elsewhere = Problem(other.space, other.latency, other.accuracy, budget=80, seed=0)
    with pytest.raises(HwnasError, match="trained for target 'nb201/raspi4'"):
        PNAG(resume=str(path), generate="none").search(elsewhere)


# ---------------------------------------------------------------------------
# end to end on nb201/raspi4
# ---------------------------------------------------------------------------


def test_short_training_on_raspi4_generates_for_the_budget(truth):
    problem = Problem(truth.space, truth.latency, truth.accuracy, budget=150, seed=0)
    strategy = PNAG(
        iterations=300, evaluator_steps=150, refresh_steps=50, generate="none", progress=False
    )
    result = strategy.search(problem)
    assert result.evaluations == problem.evaluations == 150  # all through problem.evaluate
    trainer = strategy.trainer
    quantiles = (0.2, 0.35, 0.5, 0.65, 0.8)
    met, mean_lat = [], []
    for b in truth.budgets_ms:
        with torch.no_grad():
            tokens = trainer.generator.sample(
                torch.full((200,), float(b), dtype=torch.float64), torch.Generator().manual_seed(0)
            )[0]
        rows = truth.rows([trainer.encoder.arch(r) for r in tokens.tolist()])
        met.append(float((truth.lat[rows] <= b).mean()))
        mean_lat.append(float(truth.lat[rows].mean()))
    # a random architecture meets the budget at quantile q with probability q
    assert np.mean(met) > np.mean(quantiles) + 0.2, met
    assert met[0] > 2 * quantiles[0], met  # the tightest budget: 20 % of random ones meet it
    # ... and the generator is conditioned: bigger budgets, slower architectures
    assert stats.spearmanr(truth.budgets_ms, mean_lat).statistic > 0.8, mean_lat
    # generation (ranked by R, 3 candidates evaluated): budgets met, counted evaluations
    counting = Problem(truth.space, truth.latency, truth.accuracy, budget=1000, seed=0)
    regrets = []
    for b, best in zip(truth.budgets_ms, truth.true_best, strict=True):
        g = generate(
            trainer.generator, trainer.evaluator, trainer.encoder, b, counting.evaluate, 100, 3
        )
        assert g.met and g.latency_ms <= b and g.checked >= 3
        regrets.append(best - truth.accuracy.report_accuracy(g.arch))
    assert counting.evaluations == sum(1 for _ in counting.history) >= 15
    # better than the median architecture under each budget
    medians = [
        best - np.median(truth.report_acc[truth.lat <= b])
        for b, best in zip(truth.budgets_ms, truth.true_best, strict=True)
    ]
    assert np.mean(regrets) < np.mean(medians), (regrets, medians)


# ---------------------------------------------------------------------------
# any space: hurricane with a latency model from a small store of real measurements
# ---------------------------------------------------------------------------


class FlopsAccuracy(AccuracySource):
    """Plumbing stand-in: a monotone function of analytic FLOPs (not an accuracy)."""

    name = "flops-standin"
    space = "hurricane"

    def __init__(self, space) -> None:
        self._space = space

    def accuracy(self, arch) -> float:
        return 50.0 + 5.0 * float(np.log10(self._space.cost(arch).flops))


# Four ops of different cost in every layer: enough spread for budgets to mean something,
# few enough distinct workloads to measure live here in well under a minute.
STORE_OPS = ["SEP_k3", "MB_k3_e3", "MB_k5_e6", "MB_k7_e6_SE"]


def test_hurricane_with_a_store_latency_model(tmp_path):
    from hwnas.predict.model import StoreLatencyModel
    from hwnas.profile import profile_workloads
    from hwnas.spaces.hurricane.space import HurricaneSpace
    from hwnas.store import LatencyStore

    space = HurricaneSpace().restrict([STORE_OPS] * 20)
    cells = [space.layer_workload(i, op) for i in range(20) for op in STORE_OPS]
    store = LatencyStore(tmp_path / "store.sqlite")
    measured = profile_workloads(
        "onnxruntime",
        {"threads": 1},
        [*cells, *space.fixed_workloads().values()],
        store,
        show_progress=False,
    )
    assert measured.failed == 0
    fp = measured.target.fingerprint_key
    latency = StoreLatencyModel(space, store, fp, name="onnxruntime")
    assert latency.measured.all()  # every cell timed on ONNX Runtime, nothing predicted
    accuracy = FlopsAccuracy(space)
    problem = Problem(space, latency, accuracy, budget=120, seed=0)
    strategy = PNAG(
        budgets=5,
        iterations=400,
        evaluator_steps=100,
        refresh_steps=30,
        checks=3,
        model=str(tmp_path / "generator.pt"),
        progress=False,
    )
    result = strategy.search(problem)
    assert problem.evaluations <= 120
    info = result.extra["pnag"]
    assert info["choice_probes"] > 0 and len(info["generated"]) == 5
    assert len(info["generated"]) == 5
    # conditioning: raw generator samples vs uniformly random architectures, same latency model
    trainer, rng = strategy.trainer, np.random.default_rng(0)
    random_ms = latency.latencies([space.sample(rng) for _ in range(300)])
    near = lambda ms, b: float(((ms <= b) & (ms >= 0.8 * b)).mean())  # noqa: E731
    landed, random_landed, mean_ms = [], [], []
    for b in trainer.budgets_ms:
        with torch.no_grad():
            tokens = trainer.generator.sample(
                torch.full((100,), b, dtype=torch.float64), torch.Generator().manual_seed(0)
            )[0]
        ms = latency.latencies([trainer.encoder.arch(t) for t in tokens.tolist()])
        landed.append(near(ms, b))
        random_landed.append(near(random_ms, b))
        mean_ms.append(float(ms.mean()))
    # Inner budgets (the outer two are the fastest and slowest of the initial random sample):
    # samples land just under the budget (within 20 %) more often than random ones. Whether
    # they fall just over or just under is live-timing noise (0.45-0.99 met here), so the test
    # asks for the landing band, where 7 runs gave 0.57-0.94 against 0.34-0.36 for random.
    assert np.mean(landed[1:-1]) > np.mean(random_landed[1:-1]) + 0.1, (landed, random_landed)
    assert stats.spearmanr(trainer.budgets_ms, mean_ms).statistic > 0.8, mean_ms
    model = load_generator(tmp_path / "generator.pt")
    assert model.space == "hurricane" and model.target == "onnxruntime"
    assert model.space_options["profile"] == "small"
    model.check_space(space)
    model.check_target("onnxruntime", latency.fingerprint())
    with pytest.raises(HwnasError, match="other choices"):
        model.check_space(HurricaneSpace().restrict([["SEP_k3", "MB_k3_e3"]] * 20))
    lo, hi = model.budget_range
    counting = Problem(space, latency, accuracy, budget=100, seed=0)
    g = generate(
        model.generator, model.evaluator, model.encoder(space), (lo + hi) / 2, counting.evaluate
    )
    assert g.arch.space == "hurricane" and g.latency_source in ("layer-sum", "predicted")
