"""PNAG training: REINFORCE on the generator with the evaluator's reward, evaluator refreshes.

1. **Initial data.** ``initial`` (M) architectures drawn uniformly (among the
   allowed choices) are evaluated: latency from the latency model, accuracy
   from the accuracy source (the caller's ``evaluate``, which counts).
2. **Budgets.** K training budgets spread over ``budget_range`` (default:
   the min..max latency of the initial data), ``linear`` (the paper) or at
   ``quantile`` s of the initial latencies.
3. **Evaluator.** R(arch | b) is fitted with the pairwise Pareto ranking loss
   on all data at all K budgets (:func:`hwnas.plugins.pnag.evaluator.fit_evaluator`).
4. **Policy gradient.** Each iteration draws ``batch`` budgets uniformly from
   the K, samples one architecture per budget, rewards it with R(arch | b)
   and takes an Adam step on ``-reward_scale * A * log p - entropy * H / P``:
   the advantage A = R - baseline_b, the baseline a per-budget exponential
   moving average of the reward, A divided by its running RMS (R's scale
   changes with every evaluator refit); H / P is the sequence entropy per
   position (P positions), so one temperature ``entropy / reward_scale``
   suits short (NB201: 6) and long (OFA: 56) token sequences.
5. **Refresh.** At evenly spaced iterations, ``refresh`` new (not yet seen)
   architectures sampled from the generator at uniformly drawn budgets are
   evaluated and added to the data; R is fitted again (warm start). Before
   they are added, R's Kendall tau on them (scipy) and the share meeting the
   budget they were sampled for are logged. Refreshes stop when the
   evaluation allowance is spent.

Everything random comes from one seed (a ``torch.Generator`` and a numpy
``Generator``), so a run is reproducible; :meth:`Trainer.state_dict` holds
the complete training state (models, optimisers, baselines, data, RNG states,
iteration) and :meth:`Trainer.from_state` resumes it bit for bit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from hwnas.errors import HwnasError
from hwnas.plugins.pnag.encoding import Encoder
from hwnas.plugins.pnag.evaluator import LOSSES, Evaluator, fit_evaluator, kendall_tau
from hwnas.plugins.pnag.generator import Generator
from hwnas.space import Architecture, SearchSpace

SPACINGS = ("linear", "quantile")

#: ``evaluate(arch) -> (latency ms, search-visible accuracy)``; every call may count.
EvaluateFn = Callable[[Architecture], tuple[float, float]]


@dataclass
class PNAGConfig:
    """Hyper-parameters of generator, evaluator and training (defaults in the strategy docs)."""

    budgets: int = 10
    hidden: int = 64
    entropy: float = 1e-3
    reward_scale: float = 5e-4
    iterations: int = 1500
    batch: int = 16
    lr: float = 3e-3
    baseline_decay: float = 0.9
    initial: int | None = None
    refresh: int = 20
    spacing: str = "quantile"
    budget_range: tuple[float, float] | None = None
    evaluator_hidden: int = 128
    evaluator_embed: int = 16
    evaluator_lr: float = 3e-3
    evaluator_steps: int = 300
    refresh_steps: int = 100
    pairs: int = 1024
    loss: str = "hinge"
    margin: float = 1.0
    focus: float = 0.5
    normalize: bool = True

    def validate(self) -> PNAGConfig:
        """Raise a one-line :class:`HwnasError` for a bad value; return self."""
        checks = [
            (self.budgets >= 2, f"budgets (K) must be >= 2, got {self.budgets}"),
            (self.hidden >= 1, f"hidden must be >= 1, got {self.hidden}"),
            (self.entropy >= 0, f"entropy must be >= 0, got {self.entropy}"),
            (self.reward_scale > 0, f"reward_scale must be > 0, got {self.reward_scale}"),
            (self.iterations >= 0, f"iterations must be >= 0, got {self.iterations}"),
            (self.batch >= 1, f"batch must be >= 1, got {self.batch}"),
            (self.lr > 0 and self.evaluator_lr > 0, "learning rates must be > 0"),
            (0 <= self.baseline_decay < 1, "baseline_decay must be in [0, 1)"),
            (self.initial is None or self.initial >= 2, f"initial must be >= 2: {self.initial}"),
            (self.refresh >= 1, f"refresh must be >= 1, got {self.refresh}"),
            (self.spacing in SPACINGS, f"spacing must be one of {SPACINGS}: {self.spacing!r}"),
            (self.loss in LOSSES, f"loss must be one of {LOSSES}, got {self.loss!r}"),
            (self.evaluator_steps >= 0 and self.refresh_steps >= 0, "steps must be >= 0"),
            (self.pairs >= 1 and self.margin > 0, "pairs must be >= 1 and margin > 0"),
            (0 <= self.focus <= 1, f"focus must be in [0, 1], got {self.focus}"),
        ]
        if self.budget_range is not None:
            lo, hi = self.budget_range
            checks.append((0 <= lo < hi, f"budget_range must be lo < hi, got {lo}, {hi}"))
        for ok, message in checks:
            if not ok:
                raise HwnasError(f"strategy pnag: {message}")
        return self


def budget_grid(
    latencies: np.ndarray, k: int, spacing: str = "linear", budget_range=None
) -> list[float]:
    """K strictly increasing training budgets (ms) over the range of ``latencies``.

    ``quantile``: at evenly spaced quantiles of ``latencies`` (falls back to
    ``linear`` when those are not distinct, e.g. a device with few latency
    levels); ``linear``: evenly spaced from min to max (or ``budget_range``).
    """
    lat = np.asarray(latencies, float)
    lo, hi = (float(lat.min()), float(lat.max())) if budget_range is None else budget_range
    grid = np.linspace(lo, hi, k)
    if spacing == "quantile" and budget_range is None:
        quantiles = np.quantile(lat, np.linspace(0.0, 1.0, k))
        if np.all(np.diff(quantiles) > 0):  # few distinct latencies (eyeriss): stay linear
            grid = quantiles
    if not np.all(np.diff(grid) > 0):
        raise HwnasError(
            f"pnag: the {k} training budgets over {lo:g}-{hi:g} ms are not distinct",
            "use fewer budgets, spacing=linear, or a wider budget_range",
        )
    return [float(b) for b in grid]


def random_tokens(
    vocab: list[int], mask: list[list[bool]] | None, rng: np.random.Generator
) -> tuple[int, ...]:
    """One architecture's tokens, uniform over the allowed choices of every position."""
    out = []
    for i, v in enumerate(vocab):
        allowed = np.arange(v) if mask is None else np.flatnonzero(mask[i])
        out.append(int(allowed[rng.integers(len(allowed))]))
    return tuple(out)


@dataclass
class RefreshLog:
    """What one evaluator refresh saw on its new architectures (before fitting on them)."""

    iteration: int
    evaluations: int
    new: int
    tau: float
    met: float
    loss: float


@dataclass
class Trainer:
    """Trains one generator + evaluator pair on one space (see the module docstring)."""

    space: SearchSpace
    config: PNAGConfig
    evals: int
    seed: int = 0
    mask: list[list[bool]] | None = None
    iteration: int = 0
    evaluations: int = 0
    log: list[RefreshLog] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config.validate()
        self.encoder = Encoder(self.space)
        self.torch_rng = torch.Generator().manual_seed(int(self.seed))
        self.np_rng = np.random.default_rng(int(self.seed))
        self.tokens: list[tuple[int, ...]] = []
        self.lat: list[float] = []
        self.acc: list[float] = []
        self.seen: set[tuple[int, ...]] = set()
        self.generator: Generator | None = None
        self.evaluator: Evaluator | None = None
        self.baselines: torch.Tensor | None = None
        self.adv_ms: float | None = None
        self.initial = self.config.initial or max(2, self.evals // 2)
        if self.evals < 2:
            raise HwnasError(
                f"pnag needs at least 2 training evaluations, got {self.evals}",
                "raise --evals",
            )
        self.initial = min(self.initial, self.evals)

    # -- data --------------------------------------------------------------
    def _add(self, tokens: tuple[int, ...], evaluate: EvaluateFn) -> None:
        lat, acc = evaluate(self.encoder.arch(tokens))
        self.tokens.append(tokens)
        self.lat.append(float(lat))
        self.acc.append(float(acc))
        self.seen.add(tokens)
        self.evaluations += 1

    def _tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.encoder.features(self.tokens)
        return (
            x,
            torch.tensor(self.lat, dtype=torch.float64),
            torch.tensor(self.acc, dtype=torch.float64),
        )

    def _fit(self, steps: int) -> float:
        x, lat, acc = self._tensors()
        losses = fit_evaluator(
            self.evaluator,
            self.opt_e,
            x,
            lat,
            acc,
            steps,
            self.config.pairs,
            self.config.loss,
            self.config.margin,
            self.torch_rng,
            self.config.focus,
        )
        return losses[-1] if losses else float("nan")

    # -- setup ---------------------------------------------------------------
    def setup(self, evaluate: EvaluateFn) -> None:
        """Evaluate the initial architectures, place the K budgets, build and fit the models."""
        cfg = self.config
        tries = 0
        while self.evaluations < self.initial and tries < 50 * self.initial:
            tokens = random_tokens(self.encoder.vocab, self.mask, self.np_rng)
            tries += 1
            if tokens not in self.seen:
                self._add(tokens, evaluate)
        if len(self.tokens) < 2:
            raise HwnasError("pnag: the space has fewer than 2 distinct architectures")
        budgets = budget_grid(np.array(self.lat), cfg.budgets, cfg.spacing, cfg.budget_range)
        with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
            torch.manual_seed(int(self.seed))
            self.generator = Generator(self.encoder.vocab, budgets, cfg.hidden, self.mask)
            self.evaluator = Evaluator(
                self.encoder.width, budgets, cfg.evaluator_embed, cfg.evaluator_hidden
            )
        self._optimisers()
        self.baselines = torch.full((cfg.budgets,), float("nan"), dtype=torch.float32)
        self._fit(cfg.evaluator_steps)

    def _optimisers(self) -> None:
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.config.lr)
        self.opt_e = torch.optim.Adam(self.evaluator.parameters(), lr=self.config.evaluator_lr)

    @property
    def budgets_ms(self) -> list[float]:
        """The K training budgets."""
        return self.generator.budget.budgets.tolist()

    def refresh_points(self) -> set[int]:
        """Iterations after which the evaluator is refreshed (evenly spaced)."""
        left = self.evals - self.initial
        n = math.ceil(left / self.config.refresh) if left > 0 else 0
        iters = self.config.iterations
        return {round((r + 1) * iters / (n + 1)) for r in range(n)} if iters > 0 else set()

    # -- one policy-gradient step ---------------------------------------------
    def policy_step(self) -> float:
        """One REINFORCE step; returns the batch's mean reward."""
        cfg = self.config
        self.generator.train()
        k = torch.randint(cfg.budgets, (cfg.batch,), generator=self.torch_rng)
        tokens, log_p, entropy = self.generator.sample_at(k, self.torch_rng)
        with torch.no_grad():
            reward = self.evaluator.forward_at(self.encoder.features(tokens), k).float()
            base = self.baselines[k]
            base = torch.where(torch.isnan(base), reward.mean(), base)
            advantage = reward - base
            if cfg.normalize:  # unit-free step: divide by a running RMS of the advantage
                rms = float(advantage.pow(2).mean())
                self.adv_ms = rms if self.adv_ms is None else 0.9 * self.adv_ms + 0.1 * rms
                advantage = advantage / (math.sqrt(self.adv_ms) + 1e-8)
        # entropy bonus per position, so one temperature suits 6 (NB201) and 56 (OFA) tokens
        per_position = entropy / len(self.encoder.vocab)
        loss = -(cfg.reward_scale * advantage * log_p).mean() - cfg.entropy * per_position.mean()
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()
        with torch.no_grad():
            sums = torch.zeros(cfg.budgets).index_add_(0, k, reward)
            counts = torch.zeros(cfg.budgets).index_add_(0, k, torch.ones_like(reward))
            hit = counts > 0
            means = sums[hit] / counts[hit]
            old = self.baselines[hit]
            d = cfg.baseline_decay
            self.baselines[hit] = torch.where(torch.isnan(old), means, d * old + (1 - d) * means)
        return float(reward.mean())

    # -- evaluator refresh -------------------------------------------------------
    def refresh(self, evaluate: EvaluateFn) -> RefreshLog:
        """Evaluate up to ``refresh`` new generator samples, log R's quality on them, refit R."""
        cfg = self.config
        want = min(cfg.refresh, self.evals - self.evaluations)
        new: list[tuple[int, ...]] = []
        conditioned: list[float] = []
        self.generator.eval()
        for _ in range(8):
            if len(new) >= want:
                break
            k = torch.randint(cfg.budgets, (2 * want,), generator=self.torch_rng)
            with torch.no_grad():
                tokens = self.generator.sample_at(k, self.torch_rng)[0]
            for row, kk in zip(tokens.tolist(), k.tolist(), strict=True):
                key = tuple(row)
                if key not in self.seen and key not in new and len(new) < want:
                    new.append(key)
                    conditioned.append(self.budgets_ms[kk])
        generated = len(new)
        while len(new) < want:  # a collapsed generator: top up with random architectures
            key = random_tokens(self.encoder.vocab, self.mask, self.np_rng)
            if key not in self.seen and key not in new:
                new.append(key)
        with torch.no_grad():
            x = self.encoder.features(new)
            scores = {
                b: self.evaluator(x, torch.tensor([b], dtype=torch.float64)).numpy()
                for b in self.budgets_ms
            }
        start = len(self.lat)
        for key in new:
            self._add(key, evaluate)
        lat, acc = np.array(self.lat[start:]), np.array(self.acc[start:])
        taus = [kendall_tau(s, lat, acc, b) for b, s in scores.items()]
        taus = [t for t in taus if np.isfinite(t)]
        met = float(np.mean(lat[:generated] <= np.array(conditioned))) if generated else 0.0
        loss = self._fit(cfg.refresh_steps)
        entry = RefreshLog(
            self.iteration,
            self.evaluations,
            len(new),
            float(np.mean(taus)) if taus else float("nan"),
            met,
            loss,
        )
        self.log.append(entry)
        return entry

    # -- the loop -------------------------------------------------------------------
    def run(
        self,
        evaluate: EvaluateFn,
        progress: Callable[[Trainer], None] | None = None,
        checkpoint: Callable[[Trainer], None] | None = None,
        checkpoint_every: int = 0,
        stop_at: int | None = None,
    ) -> Trainer:
        """Set up (unless resumed) and train up to ``config.iterations`` (or ``stop_at``)."""
        if self.generator is None:
            self.setup(evaluate)
        points = self.refresh_points()
        end = self.config.iterations if stop_at is None else min(stop_at, self.config.iterations)
        while self.iteration < end:
            self.policy_step()
            self.iteration += 1
            if self.iteration in points and self.evaluations < self.evals:
                self.refresh(evaluate)
            if progress is not None:
                progress(self)
            if (
                checkpoint is not None
                and checkpoint_every
                and self.iteration % checkpoint_every == 0
            ):
                checkpoint(self)
        # allowance left over (e.g. iterations=0): spend it on refreshes now
        while self.evaluations < self.evals and self.config.iterations == 0:
            before = self.evaluations
            self.refresh(evaluate)
            if self.evaluations == before:
                break
        return self

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The complete training state (tensors, numbers, strings: ``weights_only``-safe)."""
        return {
            "config": json.dumps(asdict(self.config)),
            "evals": self.evals,
            "seed": self.seed,
            "mask": json.dumps(self.mask),
            "iteration": self.iteration,
            "evaluations": self.evaluations,
            "initial": self.initial,
            "tokens": torch.tensor(self.tokens, dtype=torch.long),
            "lat": torch.tensor(self.lat, dtype=torch.float64),
            "acc": torch.tensor(self.acc, dtype=torch.float64),
            "generator": {
                "config": json.dumps(self.generator.config()),
                "state": self.generator.state_dict(),
            },
            "evaluator": {
                "config": json.dumps(self.evaluator.config()),
                "state": self.evaluator.state_dict(),
            },
            "opt_g": self.opt_g.state_dict(),
            "opt_e": self.opt_e.state_dict(),
            "baselines": self.baselines.clone(),
            "adv_ms": -1.0 if self.adv_ms is None else self.adv_ms,
            "torch_rng": self.torch_rng.get_state(),
            "np_rng": json.dumps(self.np_rng.bit_generator.state),
            "log": json.dumps([asdict(e) for e in self.log]),
        }

    @classmethod
    def from_state(
        cls,
        space: SearchSpace,
        state: dict[str, Any],
        evals: int | None = None,
        iterations: int | None = None,
    ) -> Trainer:
        """Resume from :meth:`state_dict` (optionally a larger allowance or more iterations)."""
        config = json.loads(state["config"])
        if config.get("budget_range") is not None:
            config["budget_range"] = tuple(config["budget_range"])
        if iterations is not None:
            config["iterations"] = int(iterations)
        trainer = cls(
            space,
            PNAGConfig(**config),
            int(state["evals"] if evals is None else evals),
            int(state["seed"]),
            json.loads(state["mask"]),
            int(state["iteration"]),
            int(state["evaluations"]),
            [RefreshLog(**e) for e in json.loads(state["log"])],
        )
        trainer.initial = int(state["initial"])
        trainer.tokens = [tuple(r) for r in state["tokens"].tolist()]
        trainer.lat = state["lat"].tolist()
        trainer.acc = state["acc"].tolist()
        trainer.seen = set(trainer.tokens)
        trainer.generator = Generator.from_config(json.loads(state["generator"]["config"]))
        trainer.generator.load_state_dict(state["generator"]["state"])
        trainer.evaluator = Evaluator.from_config(json.loads(state["evaluator"]["config"]))
        trainer.evaluator.load_state_dict(state["evaluator"]["state"])
        trainer._optimisers()
        trainer.opt_g.load_state_dict(state["opt_g"])
        trainer.opt_e.load_state_dict(state["opt_e"])
        trainer.baselines = state["baselines"].clone()
        trainer.adv_ms = None if state["adv_ms"] < 0 else float(state["adv_ms"])
        trainer.torch_rng.set_state(state["torch_rng"])
        trainer.np_rng.bit_generator.state = json.loads(state["np_rng"])
        return trainer
