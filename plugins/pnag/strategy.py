"""Built-in strategy ``pnag``: one budget-conditioned generator for every latency budget.

After Guo et al., "Pareto-aware Neural Architecture Generation for Diverse
Computational Budgets" (CVPR 2023 workshops; code: github.com/guoyongcs/PNAG).
Instead of one search per latency budget, PNAG trains once a generator
f(B; theta) that approximates the whole Pareto front and then writes an
architecture for any budget B in its trained range by inference.

- **Generator** (:mod:`hwnas.plugins.pnag.generator`): an LSTM (``hidden`` = 64)
  emitting one choice per position of the space, conditioned on a learnable
  budget embedding g(B); K (``budgets`` = 10) training budgets spread over the
  target's latency range; between two training budgets g(B) is their linear
  interpolation.
- **Evaluator** (:mod:`hwnas.plugins.pnag.evaluator`): R(arch | B), three fully
  connected layers on (architecture encoding, budget embedding), trained with
  a pairwise ranking loss (``loss`` = ``hinge`` as in the paper, or
  ``logistic``) whose pair labels follow the Pareto-dominance rule: both
  within B, the more accurate wins; otherwise the faster wins.
- **Training** (:mod:`hwnas.plugins.pnag.train`): REINFORCE with a per-budget
  moving-average baseline and an entropy bonus (``entropy`` = 1e-3), budgets
  drawn uniformly from the K, reward R(arch | b); the evaluator is refreshed
  with new generator samples evaluated through ``problem.evaluate`` (latency
  from the Problem's latency model, search-visible accuracy from its accuracy
  source); every evaluation counts against the Problem's budget. Checkpoints
  (the complete training state) go into the generator file; ``resume``
  continues from one. One seed (drawn from ``problem.rng``) makes a run
  reproducible.
- **Generation** (:mod:`hwnas.plugins.pnag.generate`): ``samples`` (100) draws from
  f(B) plus the greedy decode, ranked by R(arch | B); the top ``checks`` (3)
  are evaluated (continuing down the ranking until one meets B, as far as the
  evaluation budget allows); then a best-first local search under B
  (:mod:`hwnas.plugins.pnag.refine`, ``refine`` counted evaluations, off by default)
  walks from the most accurate architectures evaluated so far (training data
  included, shared across budgets) to their neighbours that the latency model
  places within B, ranked by R at the largest training budget (an accuracy
  order once feasibility is settled); the most accurate evaluated
  architecture within B is the answer.

Options (``-s KEY=VALUE``), defaults in brackets:

- generator and training: ``budgets`` K [10]; ``hidden`` [64]; ``entropy``
  [1e-3] (weight of the mean per-position entropy); ``reward_scale`` [5e-4]
  (the policy term is ``reward_scale x advantage``, the advantage scaled to
  unit RMS; the release multiplies raw rewards by 1e-3 and sums the entropy
  over positions); ``lr`` [3e-3]; ``iterations`` [1500]; ``batch`` [16];
  ``initial`` M [half the training evaluations]; ``refresh`` architectures
  per refresh [20]; ``spacing`` [``quantile``: budgets at evenly spaced
  quantiles of the initial architectures' latencies] or ``linear`` (evenly
  spaced in ms, as the paper); ``budget_range`` ``LO,HI`` ms [min..max of the
  initial latencies];
- evaluator: ``loss`` [hinge]; ``margin`` [1.0]; ``focus`` [0.5] (share of
  each budget's training pairs drawn among architectures meeting it);
  ``evaluator_hidden`` [128]; ``evaluator_lr`` [3e-3]; ``evaluator_steps``
  [300]; ``refresh_steps`` [100];
- generation: ``samples`` [100]; ``checks`` [3]; ``refine`` local-search
  evaluations per budget [0: none; the benchmark uses 40; ``hwnas search``'s
  default ``--evals 400`` over 11 budgets leaves room for about 10];
  ``pool`` front size of that search [16]; ``reach`` positions a move may
  change once a member's one-position moves are used up [2]; ``above``
  members just over B (up to 1.5 B) whose neighbours within B compete too
  [0]; ``screen`` distinct uniformly drawn architectures (all of them when the
  space has fewer; drawn and scored by the evaluator once after training,
  shared by every budget) whose members within B compete too [0]; the sources
  take turns; ``band`` [0.9]: with a latency model, candidates must also
  reach band x B (0: off);
  ``generate`` budgets (ms, ``a,b,c``) to generate after training [the K
  training budgets, plus the Problem's latency limit when set; ``none``:
  train only];
- files and running: ``model`` path of the generator file
  [``workdir``/generator.pt when ``hwnas search --out`` is given, else none];
  an interrupted run's ``model`` file (same options, seed and allowance) is
  resumed automatically, its evaluations counted in this run's history
  (``fresh``, i.e. ``hwnas search --fresh``: train anew);
  ``resume`` a generator file to continue training from; ``checkpoint_every``
  iterations [250]; ``threads`` torch threads [1]; ``progress`` [when stderr
  is a terminal].

``hwnas search --strategy pnag`` defaults to ``--evals 400``. Evaluations:
the Problem's budget is split into training (initial + refresh
samples) and generation (``checks`` + ``refine`` per generated budget,
reserved up front). Latency-model queries that only find which choices the latency model
can answer at all (e.g. the resolutions of ``ofa/note10``'s lookup table) are
not evaluations; they are counted in ``result.extra["pnag"]["choice_probes"]``
and skipped for live (measured) latency models. The strategy never reads
report (test) accuracy.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwnas.errors import HwnasError
from hwnas.problem import Problem
from hwnas.space import Architecture
from hwnas.strategy import SearchResult, Strategy

GENERATOR_FILE = "generator.pt"


def _floats(value, name: str) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in ("", "none"):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, str):
        parts = [p for p in value.replace(";", ",").split(",") if p.strip()]
    else:
        parts = list(value)
    try:
        return [float(p) for p in parts]
    except (TypeError, ValueError):
        raise HwnasError(f"strategy pnag: {name} must be numbers, got {value!r}") from None


def choice_mask(space, latency, rng: np.random.Generator, tries: int = 200):
    """Which choices the latency model can answer: ``(mask or None, queries made)``.

    Finds one answerable architecture (random draws), then varies one position
    at a time. Live (measuring) latency models are not probed.
    """
    from hwnas.latency import MeasuringLatencyModel

    if isinstance(latency, MeasuringLatencyModel):
        return None, 0
    queries = 0
    base = None
    for _ in range(tries):
        arch = space.sample(rng)
        queries += 1
        try:
            latency.latency(arch)
        except HwnasError:
            continue
        base = arch
        break
    if base is None:
        return None, queries
    mask = []
    for i, position in enumerate(space.positions):
        row = []
        for choice in position.choices:
            if choice == base.choices[i]:
                row.append(True)
                continue
            probe = Architecture(space.name, (*base.choices[:i], choice, *base.choices[i + 1 :]))
            queries += 1
            try:
                latency.latency(probe)
                row.append(True)
            except HwnasError:
                row.append(False)
        mask.append(row)
    if all(all(row) for row in mask):
        return None, queries
    return mask, queries


class PNAG(Strategy):
    """Pareto-aware neural architecture generation (see the module docstring)."""

    name = "pnag"

    def __init__(
        self,
        budgets: int = 10,
        hidden: int = 64,
        entropy: float = 1e-3,
        reward_scale: float = 5e-4,
        lr: float = 3e-3,
        iterations: int = 1500,
        batch: int = 16,
        initial: int | None = None,
        refresh: int = 20,
        spacing: str = "quantile",
        budget_range: str | list[float] | None = None,
        loss: str = "hinge",
        margin: float = 1.0,
        focus: float = 0.5,
        evaluator_hidden: int = 128,
        evaluator_lr: float = 3e-3,
        evaluator_steps: int = 300,
        refresh_steps: int = 100,
        samples: int = 100,
        checks: int = 3,
        refine: int = 0,
        pool: int = 16,
        reach: int = 2,
        above: int = 0,
        screen: int = 0,
        band: float = 0.9,
        generate: str | list[float] | None = None,
        model: str | None = None,
        workdir: str | None = None,
        resume: str | None = None,
        checkpoint_every: int = 250,
        threads: int = 1,
        progress: bool | None = None,
        fresh: bool = False,
    ) -> None:
        from hwnas.plugins.pnag.train import PNAGConfig

        rng_range = _floats(budget_range, "budget_range") or None
        if rng_range is not None and len(rng_range) != 2:
            raise HwnasError(
                f"strategy pnag: budget_range needs LO,HI, got {budget_range!r}",
                "e.g. -s budget_range=10,60",
            )
        self.config = PNAGConfig(
            budgets=int(budgets),
            hidden=int(hidden),
            entropy=float(entropy),
            reward_scale=float(reward_scale),
            iterations=int(iterations),
            batch=int(batch),
            lr=float(lr),
            initial=None if initial is None else int(initial),
            refresh=int(refresh),
            spacing=str(spacing),
            budget_range=None if rng_range is None else (rng_range[0], rng_range[1]),
            evaluator_hidden=int(evaluator_hidden),
            evaluator_lr=float(evaluator_lr),
            evaluator_steps=int(evaluator_steps),
            refresh_steps=int(refresh_steps),
            loss=str(loss),
            margin=float(margin),
            focus=float(focus),
        ).validate()
        if int(samples) < 0 or int(checks) < 1:
            raise HwnasError("strategy pnag: samples must be >= 0 and checks >= 1")
        if min(int(refine), int(above), int(screen)) < 0 or min(int(pool), int(reach)) < 1:
            raise HwnasError(
                "strategy pnag: refine, above and screen must be >= 0, pool and reach >= 1; "
                f"got refine={refine}, pool={pool}, reach={reach}, above={above}, "
                f"screen={screen}",
                "e.g. -s refine=40 -s pool=8 -s reach=2",
            )
        if not 0.0 <= float(band) < 1.0:
            raise HwnasError(
                f"strategy pnag: band must be in [0, 1), got {band}", "e.g. -s band=0.9"
            )
        self.band = float(band)
        self.reach = int(reach)
        self.above = int(above)
        self.screen = int(screen)
        self.refine = int(refine)
        self.pool = int(pool)
        if int(threads) < 1 or int(checkpoint_every) < 0:
            raise HwnasError("strategy pnag: threads must be >= 1 and checkpoint_every >= 0")
        self.samples = int(samples)
        self.checks = int(checks)
        self.generate_budgets = _floats(generate, "generate")
        self.model_path = (
            Path(model) if model else (Path(workdir) / GENERATOR_FILE if workdir else None)
        )
        self.resume = Path(resume) if resume else None
        self.fresh = bool(fresh)
        self._sources: list[str] = []  # latency source of each training evaluation
        self.checkpoint_every = int(checkpoint_every)
        self.threads = int(threads)
        self.progress = sys.stderr.isatty() if progress is None else bool(progress)
        self.trainer = None
        self._archive = None
        self._generation_evaluations = 0
        self.screen_seconds = 0.0
        self.generated: list = []
        self.extra: dict[str, Any] = {}

    # -- the search ----------------------------------------------------------------
    def search(self, problem: Problem) -> SearchResult:
        """Train, generate, and return the Pareto front of everything evaluated."""
        self.extra = {}
        result = super().search(problem)
        result.extra.update(self.extra)
        return result

    def _n_generate(self, problem: Problem) -> int:
        if self.generate_budgets is not None:
            return len(self.generate_budgets)
        return self.config.budgets + (problem.latency_limit_ms is not None)

    def ask_and_tell(self, problem: Problem) -> None:
        """Train the generator and evaluator, save the generator, generate the front."""
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            self._run(problem)
        finally:
            torch.set_num_threads(previous)

    def _run(self, problem: Problem) -> None:
        from hwnas.plugins.pnag.train import Trainer

        reserve = (self.checks + self.refine) * self._n_generate(problem)
        train_evals = problem.remaining - reserve
        if train_evals < 2:
            raise HwnasError(
                f"strategy pnag: --evals {problem.budget} leaves {train_evals} training "
                f"evaluations after reserving {reserve} for generation",
                f"use --evals {reserve + 100} or more, or fewer -s checks / -s refine / "
                "-s generate budgets",
            )
        seed = int(problem.rng.integers(2**31 - 1))
        mask, probes = choice_mask(problem.space, problem.latency, np.random.default_rng(seed))
        started = time.perf_counter()
        resumed_from = None
        self._sources = []
        checkpoint = self.resume or self._own_checkpoint(train_evals, seed)
        if checkpoint is not None:
            self.trainer = self._resume(problem, train_evals, checkpoint)
            resumed_from = self.trainer.iteration
        else:
            self.trainer = Trainer(problem.space, self.config, train_evals, seed, mask)

        def evaluate(arch: Architecture) -> tuple[float, float]:
            e = problem.evaluate(arch)
            self._sources.append(e.latency_source)
            return e.latency_ms, e.accuracy

        with self._progress_bar() as (bar, task):

            def progress(trainer) -> None:
                if bar is not None:
                    last = trainer.log[-1] if trainer.log else None
                    note = f"tau {last.tau:.2f}, met {last.met:.0%}" if last else ""
                    bar.update(
                        task,
                        completed=trainer.iteration,
                        description=f"pnag {trainer.evaluations} evals {note}",
                    )

            self.trainer.run(
                evaluate,
                progress=progress,
                checkpoint=(lambda t: self._save(t, problem)) if self.model_path else None,
                checkpoint_every=self.checkpoint_every,
            )
        train_seconds = time.perf_counter() - started
        if self.model_path is not None:
            self._save(self.trainer, problem, train_seconds)
        before = problem.evaluations
        self.generated = self._generate_front(problem, seed) if self._n_generate(problem) else []
        self._generation_evaluations = problem.evaluations - before
        self.extra["pnag"] = self._summary(problem, train_seconds, probes, resumed_from)

    def _progress_bar(self):
        from contextlib import contextmanager

        @contextmanager
        def bar():
            if not self.progress:
                yield None, None
                return
            from hwnas.progress import progress_bar

            with progress_bar(transient=True, terminal_only=False) as p:
                yield p, p.add_task("pnag", total=self.config.iterations)

        return bar()

    def _own_checkpoint(self, train_evals: int, seed: int) -> Path | None:
        """The generator file of an interrupted run of this very search, if ``model`` holds one.

        Only a file whose training state has this configuration, seed and
        training allowance is resumed; anything else is trained anew (and
        overwritten), as is everything with ``fresh``.
        """
        import json
        from dataclasses import asdict

        from hwnas.plugins.pnag.model_file import load_generator

        path = self.model_path
        if self.fresh or path is None or not path.is_file():
            return None
        training = load_generator(path).training
        if training is None:
            return None
        config = json.loads(json.dumps(asdict(self.config)))
        same = (
            json.loads(training["config"]) == config
            and int(training["seed"]) == seed
            and int(training["evals"]) == train_evals
        )
        return path if same else None

    def _resume(self, problem: Problem, train_evals: int, path: Path):
        from hwnas.plugins.pnag.model_file import load_generator
        from hwnas.plugins.pnag.train import Trainer
        from hwnas.problem import Evaluation

        model = load_generator(path)
        model.check_space(problem.space)
        model.check_target(problem.latency.name, problem.latency.fingerprint())
        if model.training is None:
            raise HwnasError(
                f"generator file {path} holds no training state",
                "resume from a file written by hwnas search --strategy pnag",
            )
        trainer = Trainer.from_state(
            problem.space,
            model.training,
            evals=max(int(model.training["evaluations"]), train_evals),
            iterations=max(self.config.iterations, int(model.training["iteration"])),
        )
        print(
            f"resuming pnag from {path} (iteration {trainer.iteration}, "
            f"{trainer.evaluations} evaluations)",
            file=sys.stderr,
        )
        # The evaluations made before the checkpoint count in this run's history and budget.
        sources = list(model.summary.get("latency_sources") or [])
        for i, (tokens, lat, acc) in enumerate(
            zip(trainer.tokens, trainer.lat, trainer.acc, strict=True)
        ):
            source = sources[i] if i < len(sources) else "resumed"
            arch = trainer.encoder.arch(tokens)
            problem.record(Evaluation(arch, float(lat), source, float(acc), i), notify=False)
            self._sources.append(source)
        return trainer

    def _save(self, trainer, problem: Problem, seconds: float | None = None) -> None:
        from hwnas.plugins.pnag.model_file import save_generator

        save_generator(
            self.model_path,
            problem.space,
            problem.latency,
            problem.accuracy,
            trainer.generator,
            trainer.evaluator,
            summary={
                "iteration": trainer.iteration,
                "evaluations": trainer.evaluations,
                "train_seconds": seconds,
                "refresh_log": [vars(e) for e in trainer.log],
                "seed": problem.seed,
                "latency_sources": self._sources[: trainer.evaluations],
            },
            training=trainer.state_dict(),
        )

    def archive(self, trainer):
        """An :class:`~hwnas.plugins.pnag.refine.Archive` holding the trainer's evaluations."""
        from hwnas.plugins.pnag.refine import Archive

        archive = Archive(trainer.encoder, trainer.mask)
        archive.extend(trainer.tokens, trainer.lat, trainer.acc, "training")
        return archive

    @staticmethod
    def latency_lookup(latency):
        """``[arch] -> [ms]`` from a tabulated latency model; None for a live (measuring) one."""
        from hwnas.latency import MeasuringLatencyModel

        if isinstance(latency, MeasuringLatencyModel):
            return None
        if hasattr(latency, "latencies"):
            return lambda archs: [float(ms) for ms in latency.latencies(archs)]
        return lambda archs: [latency.latency(a).ms for a in archs]

    def _generate_front(self, problem: Problem, seed: int) -> list:
        from hwnas.plugins.pnag.generate import generate

        lo, hi = self.trainer.budgets_ms[0], self.trainer.budgets_ms[-1]
        budgets = list(self.generate_budgets or self.trainer.budgets_ms)
        limit = problem.latency_limit_ms
        if self.generate_budgets is None and limit is not None and lo <= limit <= hi:
            budgets.append(float(limit))
        out = []
        rng = torch.Generator().manual_seed(seed)
        self._archive = self.archive(self.trainer)
        self.screen_seconds = self.prepare_screen(self._archive, problem.latency, seed)
        share = self.checks + self.refine
        for n, b in enumerate(budgets):
            if not lo <= b <= hi:
                raise HwnasError(
                    f"strategy pnag: generate budget {b:g} ms is outside the trained range "
                    f"{lo:.4g}-{hi:.4g} ms",
                    "choose budgets in that range, or train with -s budget_range=LO,HI",
                )
            if problem.remaining <= 0:
                break
            out.append(
                generate(
                    self.trainer.generator,
                    self.trainer.evaluator,
                    self.trainer.encoder,
                    b,
                    problem.evaluate,
                    self.samples,
                    self.checks,
                    rng,
                    # extra checks (none of the top ones met B) never eat a later budget's share
                    limit=problem.remaining - share * (len(budgets) - n - 1),
                    archive=self._archive,
                    steps=self.refine,
                    pool=self.pool,
                    latency_of=self.latency_lookup(problem.latency),
                    reach=self.reach,
                    above=self.above,
                    screen=self.screen,
                    band=self.band,
                )
            )
        return out

    def prepare_screen(self, archive, latency, seed: int) -> float:
        """Draw and score the ``screen`` architectures once (before any budget); seconds."""
        from hwnas.plugins.pnag.refine import prepare_screen

        if self.refine <= 0 or self.screen <= 0:
            return 0.0
        started = time.perf_counter()
        rng = np.random.default_rng(seed)
        evaluator = self.trainer.evaluator
        prepare_screen(evaluator, archive, self.screen, rng, self.latency_lookup(latency))
        return time.perf_counter() - started

    def _summary(self, problem: Problem, seconds: float, probes: int, resumed_from) -> dict:
        trainer = self.trainer
        return {
            "budgets_ms": trainer.budgets_ms,
            "budget_range_ms": [trainer.budgets_ms[0], trainer.budgets_ms[-1]],
            "model": None if self.model_path is None else str(self.model_path),
            "train_evaluations": trainer.evaluations,
            "initial": trainer.initial,
            "iterations": trainer.iteration,
            "resumed_from_iteration": resumed_from,
            "train_seconds": seconds,
            "generation_evaluations": self._generation_evaluations,
            "latency_lookups": 0 if self._archive is None else self._archive.lookups,
            "screened": 0 if self._archive is None else len(self._archive.screened),
            "screen_seconds": self.screen_seconds,
            "choice_probes": probes,
            "refresh_log": [vars(e) for e in trainer.log],
            "generated": [
                {
                    "budget_ms": g.budget_ms,
                    "arch": problem.space.format(g.arch),
                    "latency_ms": g.latency_ms,
                    "latency_source": g.latency_source,
                    "accuracy": g.accuracy,
                    "met": g.met,
                    "checked": g.checked,
                    "refined": g.refined,
                    "proposed": g.proposed,
                    "generation_ms": 1000 * g.seconds,
                }
                for g in self.generated
            ],
        }
