"""Built-in strategy ``hurricane``: hardware-specific space, then two-stage one-shot search.

Zhang et al., "Fast Hardware-Aware Neural Architecture Search" (CVPRW 2020):

1. **Space generation** for the target (:mod:`hwnas.plugins.hurricane.space_generation`):
   per layer the ``p`` ops with the best ``(FLOPs*params)^alpha / latency``, plus
   an exploring op in the last ``explore_layers`` layers. Latencies come from
   the target's layer model (measured, XGBoost-predicted where not measured,
   overhead calibrated on whole networks measured end to end).
2. **a_win0** takes the top-scored op of every layer.
3. **Stage 1**: layers ``t..n-1`` are searched, the first ``t`` fixed to a_win0;
   the SPOS supernet trains until its panel accuracy stops improving, then
   aging evolution under the latency limit gives a_win1.
4. **Stage 2**: the first ``t`` layers are searched, the rest fixed to a_win1;
   the supernet keeps its weights and trains on, evolution gives a_win2.
   ``t = 0`` is the one-stage baseline (all layers searched at once).

Supernet training runs in chunks of ``chunk_steps`` SGD steps (cosine within
a chunk, i.e. warm restarts); after each chunk the mean accuracy of a fixed
panel of paths is measured and training stops when the panel's best has not
grown by ``min_delta`` points for two chunks (once it is 5 points above
chance), or at ``max_steps``.
The iterations a stage needs are therefore measured, not set. Everything is
saved in ``workdir`` (the ``--out`` folder): the generated space, supernet
weights, chunk checkpoints and stage results; a rerun resumes where the last
one stopped (``fresh``, i.e. ``hwnas search --fresh``, starts over).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from hwnas import interrupt
from hwnas.cpus import load_average
from hwnas.errors import HwnasError
from hwnas.files import read_json_file
from hwnas.host_speed import sample_host, summarise
from hwnas.problem import BudgetExhausted, Evaluation, Problem
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.strategy import SearchResult, Strategy

# What a run leaves in its workdir to resume from (``fresh`` removes them first).
STATE_FILES = (
    "space.json",
    "stage*.json",
    "stage*.pt",
    "final.json",
    "scratch.json",
    "winner.pt",
    "winner*.onnx",
)


@dataclass
class StageReport:
    """What one stage did: searched layers, training spent, evaluations, winner."""

    stage: int
    searched_layers: list[int]
    steps: int
    images: int
    train_seconds: float
    panel_accuracy: list[float]
    search_seconds: float
    evaluations: int
    winner: list[str]
    winner_latency_ms: float
    winner_accuracy: float
    history: list[dict[str, Any]] = field(default_factory=list)


class Hurricane(Strategy):
    """HURRICANE: generate the target's space, then two-stage SPOS search under a latency limit.

    Options (``-s KEY=VALUE``): ``t`` (8; layers fixed in stage 1, 0 = one
    stage), ``alpha`` (0.5), ``p`` (4), ``explore_layers`` (4), ``generated``
    (a saved space instead of generating), ``measure`` (layer workloads to
    measure, rest predicted; None = all), ``calibrate`` (5 whole networks),
    ``limit_calibration`` (5: whole networks the layer model puts just under
    the limit, measured end to end before the search so that the overhead is
    refitted where the search will operate; a relative limit, ``N%``, is then
    resolved again with the refitted overhead; 0 = off),
    ``data_dir`` (images; default Fashion-MNIST), ``chunk_steps`` (50),
    ``max_steps`` (300 per stage), ``min_delta`` (1.0 point; stop when the
    panel's best has not grown by it for ``patience`` = 2 chunks), ``panel`` (6),
    ``batch_size`` (128), ``lr`` (0.1), ``population``/``tournament`` (50/10),
    ``scratch_epochs`` (0.5), ``val_images`` (500), ``bn_images`` (128),
    ``threads`` (torch intra-op threads; default and upper bound: the CPUs
    this process may use, :func:`hwnas.cpus.available_cpus`), ``final_candidates`` (5: the most
    accurate architectures the layer model puts within the limit, measured end
    to end before one is retrained), ``final_rounds`` (3: when none of a round
    meets the limit as measured, the recalibrated layer model proposes the next
    ``final_candidates``), ``confirm`` (true: the candidate about to be kept is
    measured again in ``confirm_sessions`` = 3 fresh sessions that read nothing
    from the store, and kept only if the slowest of them meets the limit too; a
    noisy first measurement, or a lucky session on a host whose sessions
    differ, cannot sneak a slow network under the limit),
    ``device`` (cpu; auto, cuda, cuda:N, mps: where the
    supernet and the winner train), ``amp`` (true: float16 autocast on CUDA),
    ``channels_last`` (true), ``loader_workers`` (0: DataLoader workers).
    The evaluation budget (``--evals``, default 160) is split evenly between
    the stages; the paper evaluates 1,000 per search (``--evals 1000``), which
    on a 2-core CPU costs about 10 minutes more.
    """

    name = "hurricane"
    resolves_limit_share = True

    def __init__(
        self,
        t: int = 8,
        alpha: float = 0.5,
        p: int = 4,
        explore_layers: int = 4,
        generated: str | None = None,
        measure: int | None = None,
        calibrate: int = 5,
        limit_calibration: int = 5,
        data_dir: str | None = None,
        workdir: str | None = None,
        chunk_steps: int = 50,
        max_steps: int = 300,
        min_delta: float = 1.0,
        panel: int = 6,
        batch_size: int = 128,
        lr: float = 0.1,
        population: int = 50,
        tournament: int = 10,
        scratch_epochs: float = 0.5,
        val_images: int = 500,
        bn_images: int = 128,
        threads: int | None = None,
        final_candidates: int = 5,
        final_rounds: int = 3,
        confirm: bool = True,
        confirm_sessions: int = 3,
        device: str = "cpu",
        amp: bool = True,
        channels_last: bool = True,
        loader_workers: int = 0,
        show_progress: bool = True,
        fresh: bool = False,
    ) -> None:
        if t < 0:
            raise HwnasError(f"hurricane: t must be >= 0, got {t}", "e.g. -s t=8 (0 = one stage)")
        if chunk_steps < 1 or max_steps < chunk_steps:
            raise HwnasError(
                "hurricane: need 1 <= chunk_steps <= max_steps",
                "e.g. -s chunk_steps=100 -s max_steps=2000",
            )
        if final_candidates < 1 or final_rounds < 1:
            raise HwnasError(
                "hurricane: final_candidates and final_rounds must be >= 1",
                "e.g. -s final_candidates=5 -s final_rounds=2",
            )
        self.t = int(t)
        self.final_candidates, self.final_rounds = int(final_candidates), int(final_rounds)
        self.confirm = _flag(confirm)
        if int(confirm_sessions) < 1:
            raise HwnasError(
                f"hurricane: confirm_sessions must be >= 1, got {confirm_sessions}",
                "e.g. -s confirm_sessions=3 (or -s confirm=false)",
            )
        self.confirm_sessions = int(confirm_sessions)
        from hwnas.plugins.hurricane.supernet.device import check_device

        self.device = check_device(str(device))
        self.amp, self.channels_last = _flag(amp), _flag(channels_last)
        if int(loader_workers) < 0:
            raise HwnasError(
                f"hurricane: loader_workers must be >= 0, got {loader_workers}",
                "e.g. -s loader_workers=2 (0: batches in the training process)",
            )
        self.loader_workers = int(loader_workers)
        self.alpha, self.p, self.explore_layers = float(alpha), int(p), int(explore_layers)
        self.generated_path = generated
        self.measure = None if measure is None else int(measure)
        self.calibrate = int(calibrate)
        if int(limit_calibration) < 0:
            raise HwnasError(
                f"hurricane: limit_calibration must be >= 0, got {limit_calibration}",
                "e.g. -s limit_calibration=5 (0 = off)",
            )
        self.limit_calibration = int(limit_calibration)
        self.data_dir = data_dir
        self.workdir = Path(workdir) if workdir else None
        self.chunk_steps, self.max_steps = int(chunk_steps), int(max_steps)
        self.min_delta, self.panel = float(min_delta), int(panel)
        self.batch_size, self.lr = int(batch_size), float(lr)
        self.population, self.tournament = int(population), int(tournament)
        self.scratch_epochs = float(scratch_epochs)
        self.val_images, self.bn_images = int(val_images), int(bn_images)
        self.threads = threads
        self.show_progress = show_progress
        self.fresh = bool(fresh)
        self._extra: dict[str, Any] = {}
        self._last_stage: list[Evaluation] = []
        self._layer_model = None
        self._unmet: str | None = None

    # -- the search ------------------------------------------------------------
    def ask_and_tell(self, problem: Problem) -> None:
        """Generate the space, run the stages, then measure and retrain the winner."""
        from hwnas.cpus import available_cpus, set_torch_threads
        from hwnas.plugins.hurricane.supernet.data import load_for_space
        from hwnas.plugins.hurricane.supernet.device import resolve_device
        from hwnas.profile import probe_target

        live = live_target(problem)
        self._extra["host"] = {
            "cpus_available": available_cpus(),
            "torch_threads": set_torch_threads(self.threads),
            "device": str(resolve_device(self.device)),
        }
        space = problem.space
        if not isinstance(space, HurricaneSpace):
            raise HwnasError(
                f"strategy hurricane searches the hurricane space, not {space.name!r}",
                "use --space hurricane (the default for this strategy)",
            )
        if problem.latency_limit_ms is None and problem.latency_limit_share is None:
            raise HwnasError(
                "strategy hurricane needs a latency limit",
                "pass --latency-ms MS, or N% of the generated space's latency range",
            )
        workdir = self.workdir or Path("runs") / "hurricane"
        workdir.mkdir(parents=True, exist_ok=True)
        if self.fresh:
            for pattern in STATE_FILES:
                for old in workdir.glob(pattern):
                    old.unlink()
        images = load_for_space(space, self.data_dir)
        self._known = len(
            live["store"].keys(probe_target(live["target"], live["options"]).fingerprint_key)
        )
        generated, layer_model = self._space(problem, live, workdir)
        self._extra["generated_space"] = {
            "path": str(workdir / "space.json"),
            "size": generated.size,
            "ops": generated.ops,
            "exploring": generated.exploring,
            "notes": {k: v for k, v in generated.notes.items() if k != "latency_model"},
        }
        gspace = generated.space()
        relative, calibration = resolve_limit(
            problem,
            layer_model,
            gspace,
            lambda: self._calibrate_near_limit(problem, live, layer_model, gspace),
        )
        if relative:
            self._extra["latency_limit"] = relative
        self._extra["limit_calibration"] = calibration
        winner = feasible_start(generated, layer_model, problem.latency_limit_ms, self.t)
        self._extra["a_win0"] = list(generated.initial_winner())
        self._extra["a_win0_used"] = list(winner)
        train, val, test = images.splits(val_size=min(5000, len(images.train_y) // 5), seed=0)
        supernet = self._supernet(gspace, problem.seed)
        stages = self._plan(len(gspace.positions))
        self._layer_model = layer_model
        self._budgets = split_budget(problem.remaining, len(stages))
        reports = []
        for number, searched in enumerate(stages, start=1):
            report, winner = self._stage(
                problem, number, searched, gspace, winner, supernet, train, val, workdir
            )
            reports.append(report)
        self._extra["stages"] = [
            {k: v for k, v in asdict(r).items() if k != "history"} for r in reports
        ]
        self._extra["supernet_steps"] = sum(r.steps for r in reports)
        self._extra["supernet_seconds"] = sum(r.train_seconds for r in reports)
        self._final(problem, live, train, test, workdir)

    def _calibrate_near_limit(self, problem, live, model, gspace) -> dict[str, Any] | None:
        """Measure networks just under the limit end to end; refit the overhead on every one.

        The calibration networks of space generation spread over the whole
        latency range; the search and its final candidates sit just under the
        limit, where a small bias of the layer model decides whether the winner
        meets it. Returns what was measured and the overhead before and after.
        """
        if not self.limit_calibration:
            return None
        limit = problem.latency_limit_ms
        rng = np.random.default_rng(problem.seed)
        pool = [gspace.sample(rng) for _ in range(NEAR_LIMIT_POOL)]
        picks = near_limit_picks(pool, model.latencies(pool), limit, self.limit_calibration)
        if not picks:
            return None
        full = problem.space.full()
        archs = [full.architecture(a.choices) for a in picks]
        before = model.overhead.as_dict()
        predicted = np.asarray(model.latencies(archs), dtype=float)
        measured = np.asarray(live["model"].latencies(archs), dtype=float)
        whole = model.stored_whole_archs()
        model.calibrate(list(whole), list(whole.values()))
        return {
            "archs": [full.format(a) for a in archs],
            "predicted_ms": predicted.tolist(),
            "measured_ms": measured.tolist(),
            "overhead_before": before,
            "overhead": model.overhead.as_dict(),
            "whole_networks": len(whole),
        }

    def _space(self, problem: Problem, live: dict[str, Any], workdir: Path):
        from hwnas.plugins.hurricane.space_generation import GeneratedSpace, build_generated_space
        from hwnas.predict.build import layer_latency_model

        path = workdir / "space.json"
        full = problem.space.full()
        resumed = self.generated_path is None and path.exists()
        source = self.generated_path or (path if resumed else None)
        if source is not None:
            generated = GeneratedSpace.load(source)
            if generated.space_options != full.options:
                raise HwnasError(
                    f"generated space {source} is for hurricane {generated.space_options}, "
                    f"not {full.options}",
                    "generate it with the same -o options, or drop -s generated=",
                )
            model = layer_latency_model(
                live["target"],
                live["options"],
                full,
                live["store"],
                measure=0 if resumed else self.measure,
                calibrate=self.calibrate,
                show_progress=self.show_progress,
            )
            if generated.fingerprint != model.fingerprint_key:
                raise HwnasError(
                    f"generated space {source} was made for {generated.target} "
                    f"({generated.fingerprint}), not this {live['target']} "
                    f"({model.fingerprint_key})",
                    "regenerate it for this target, or use another --out folder",
                )
        else:
            generated, model = build_generated_space(
                live["target"],
                live["options"],
                full,
                live["store"],
                self.alpha,
                self.p,
                self.explore_layers,
                self.measure,
                self.calibrate,
                self.show_progress,
            )
        generated.save(path)
        return generated, model

    def _plan(self, n: int) -> list[list[int]]:
        t = min(self.t, n)
        if t == 0:
            return [list(range(n))]
        return [list(range(t, n)), list(range(t))]

    def _supernet(self, gspace, seed: int):
        from hwnas.plugins.hurricane.supernet.device import resolve_device
        from hwnas.plugins.hurricane.supernet.model import Supernet

        return Supernet(gspace, seed=seed).to(resolve_device(self.device))

    def _stage(
        self,
        problem: Problem,
        number: int,
        searched: Sequence[int],
        gspace,
        winner: Sequence[str],
        supernet,
        train,
        val,
        workdir: Path,
    ) -> tuple[StageReport, list[str]]:
        done = workdir / f"stage{number}.json"
        weights = workdir / f"stage{number}-supernet.pt"
        choices = [
            list(gspace.positions[i].choices) if i in searched else [winner[i]]
            for i in range(len(gspace.positions))
        ]
        if done.exists() and weights.exists():
            report = _stage_report(done)
            load_weights(supernet, weights)
            self._replay(problem, gspace, report)
            stage_problem = self._stage_problem(
                problem, number, gspace, choices, supernet, train, val
            )
            self._result_accuracy = stage_problem.accuracy
            return report, list(report.winner)
        training = self._train(
            supernet, choices, train, val, problem.seed + number, workdir, number
        )
        save_weights(supernet, weights)
        started = time.perf_counter()
        stage_problem = self._stage_problem(problem, number, gspace, choices, supernet, train, val)
        first = problem.evaluations
        from hwnas.plugins.evolution import AgingEvolution

        with contextlib.suppress(BudgetExhausted):
            seeds = stage_seeds(self._layer_model, stage_problem, winner)
            AgingEvolution(self.population, self.tournament, initial=seeds).ask_and_tell(
                stage_problem
            )
        feasible = [e for e in stage_problem.history if stage_problem.feasible(e)]
        if not feasible:
            raise HwnasError(
                f"hurricane stage {number}: no evaluated architecture met "
                f"{problem.latency_limit_ms} ms",
                "raise --latency-ms or --evals",
            )
        best = max(feasible, key=lambda e: e.accuracy)
        report = StageReport(
            stage=number,
            searched_layers=list(searched),
            steps=training["steps"],
            images=training["images"],
            train_seconds=training["seconds"],
            panel_accuracy=training["panel"],
            search_seconds=time.perf_counter() - started,
            evaluations=len(stage_problem.history),
            winner=list(best.arch.choices),
            winner_latency_ms=best.latency_ms,
            winner_accuracy=best.accuracy,
            history=[evaluation_row(gspace, e) for e in stage_problem.history],
        )
        self._last_stage = problem.history[first:]  # counted in the problem by Problem.child
        self._result_accuracy = stage_problem.accuracy  # the front is judged by the last supernet
        with interrupt.deferred():
            done.write_text(json.dumps(asdict(report)) + "\n", encoding="utf-8")
        return report, list(best.arch.choices)

    def _stage_problem(self, problem, number, gspace, choices, supernet, train, val):
        from hwnas.plugins.hurricane.supernet.evaluate import SupernetAccuracy

        stage_space = gspace.restrict(choices)
        return problem.child(
            space=stage_space,
            latency=self._layer_model,
            accuracy=SupernetAccuracy(stage_space, self._evaluator(supernet, train, val)),
            budget=self._budgets[number - 1],
            label=f"stage {number}",
        )

    def _replay(self, problem: Problem, gspace, report: StageReport) -> None:
        """Re-add a finished stage's evaluations (resumed run) without evaluating again."""
        self._last_stage = []
        for r in report.history:
            if problem.remaining <= 0:
                break
            evaluation = Evaluation(
                gspace.full().parse(r["arch"]),
                r["latency_ms"],
                r["latency_source"],
                r["accuracy"],
                0,
            )
            self._last_stage.append(problem.record(evaluation, notify=False))

    def _evaluator(self, supernet, train, val):
        from hwnas.plugins.hurricane.supernet.evaluate import SubnetEvaluator

        return SubnetEvaluator(
            supernet,
            train,
            val,
            bn_batches=max(1, self.bn_images // 128),
            val_size=self.val_images,
            channels_last=self.channels_last,
        )

    def _train(self, supernet, choices, train, val, seed, workdir, number) -> dict[str, Any]:
        from hwnas.plugins.hurricane.supernet.train import TrainConfig, train_supernet

        progress_path = workdir / f"stage{number}-progress.json"
        state = {"steps": 0, "images": 0, "seconds": 0.0, "panel": [], "chunks": 0}
        if progress_path.exists():
            state = read_json_file(progress_path, "progress file", _foreign_fix(progress_path))
            load_weights(supernet, workdir / f"stage{number}-chunk-done.pt")
        rng = np.random.default_rng(seed)
        panel = [[c[int(rng.integers(len(c)))] for c in choices] for _ in range(self.panel)]
        evaluator = self._evaluator(supernet, train, val)
        checkpoint = workdir / f"stage{number}-chunk.pt"
        bar = ChunkProgress(f"stage {number}: supernet", self.max_steps, self.show_progress)
        bar.advance(state["steps"])
        with bar:
            chance = 100.0 / supernet.space.profile.num_classes
            while state["steps"] < self.max_steps and not converged(
                state["panel"], self.min_delta, chance
            ):
                config = TrainConfig(
                    steps=self.chunk_steps,
                    batch_size=self.batch_size,
                    lr=self.lr,
                    seed=seed * 1000 + state["chunks"],
                    checkpoint_every=max(1, self.chunk_steps // 2),
                    channels_last=self.channels_last,
                    device=self.device,
                    amp=self.amp,
                    loader_workers=self.loader_workers,
                )
                stats = train_supernet(
                    supernet,
                    train,
                    config,
                    choices,
                    checkpoint=checkpoint,
                    resume=True,
                    progress=bar.callback(state["steps"]),
                )
                evaluator.clear()
                accuracy = float(np.mean([evaluator.accuracy(ops) for ops in panel]))
                state["steps"] += stats.iterations
                state["images"] += stats.images
                state["seconds"] += stats.seconds
                state["chunks"] += 1
                state["panel"].append(accuracy)
                with interrupt.deferred():  # weights and the record of them change together
                    save_weights(supernet, workdir / f"stage{number}-chunk-done.pt")
                    progress_path.write_text(json.dumps(state) + "\n", encoding="utf-8")
                    checkpoint.unlink(missing_ok=True)
                bar.note(f"panel accuracy {accuracy:.1f}%")
        return state

    def _final(self, problem, live, train, test, workdir: Path) -> None:
        """Measure the best candidates end to end, keep the most accurate within the limit.

        The kept one is retrained from scratch and exported; the choice is saved
        in ``final.json`` so a resumed run keeps it (its layer model may have
        been calibrated on more whole networks since).
        """
        space = problem.space.full()
        limit = problem.latency_limit_ms
        final_path = workdir / "final.json"
        if final_path.exists():
            choice = read_json_file(final_path, "result file", _foreign_fix(final_path))
        else:
            choice = self._choose(problem, live, space, limit)
            with interrupt.deferred():
                final_path.write_text(json.dumps(choice) + "\n", encoding="utf-8")
        fp = self._layer_model.fingerprint_key
        self._extra["target_measurements"] = len(live["store"].keys(fp)) - self._known
        final: dict[str, Any] = {
            **choice,
            "limit_ms": limit,
            "latency_source": f"measured end to end on {live['target']}",
        }
        self._extra["final"] = final
        chosen = choice["chosen"]
        if chosen is None:
            best = min(choice["candidates"], key=lambda c: c["measured_ms"])
            self._unmet = (
                f"no candidate met the latency limit when measured end to end on "
                f"{live['target']}: best measured {best['measured_ms']:.3f} ms > limit "
                f"{limit:g} ms ({len(choice['candidates'])} candidates measured; the layer model "
                f"predicted {best['predicted_ms']:.3f} ms for it); nothing retrained or exported "
                f"(raise --latency-ms, or -s final_candidates=N to measure more)"
            )
            return
        arch = space.parse(chosen["arch"])
        scratch = self._scratch(problem, space, arch, train, test, workdir)
        files = export_winner_files(space, arch, workdir, live)
        final.update(
            arch=chosen["arch"],
            latency_ms=chosen["measured_ms"],
            confirmed_latency_ms=chosen.get("confirmed_ms"),
            confirm_sessions=self.confirm_sessions if self.confirm else 0,
            predicted_latency_ms=chosen["predicted_ms"],
            accuracy=chosen["accuracy"],
            scratch=scratch,
            files=files,
        )

    def _choose(self, problem, live, space, limit: float) -> dict[str, Any]:
        """Rank the last stage's candidates and measure them (see :func:`choose_final`)."""
        model = self._layer_model
        ranked = ranked_candidates(self._last_stage or problem.history, space, limit)

        def recalibrate() -> dict[str, Any]:
            whole = model.stored_whole_archs()  # the calibration networks and the candidates
            if whole:
                model.calibrate(list(whole), list(whole.values()))
            return model.overhead.as_dict()

        before = model.overhead.as_dict()
        choice = choose_final(
            ranked,
            space,
            lambda archs: np.asarray(model.latencies(archs), dtype=float),
            lambda archs: np.asarray(live["model"].latencies(archs), dtype=float),
            recalibrate,
            limit,
            self.final_candidates,
            self.final_rounds,
            confirm=(
                partial(confirm_whole, live, space, sessions=self.confirm_sessions)
                if self.confirm
                else None
            ),
        )
        choice["overhead_before"] = before
        return choice

    def _scratch(self, problem, space, arch, train, test, workdir: Path) -> dict[str, Any]:
        """Train ``arch`` from scratch (or read the saved result of this very arch)."""
        from hwnas.plugins.hurricane.supernet.scratch import train_from_scratch

        scratch_path = workdir / "scratch.json"
        text = space.format(arch)
        if scratch_path.exists():
            scratch = read_json_file(scratch_path, "result file", _foreign_fix(scratch_path))
            if scratch.get("arch") == text and (workdir / "winner.pt").exists():
                return scratch
        with ChunkProgress("winner: training from scratch", 1, self.show_progress) as bar:
            result = train_from_scratch(
                space,
                arch,
                train,
                test,
                epochs=self.scratch_epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                seed=problem.seed,
                progress=bar.follow,
                device=self.device,
                amp=self.amp,
                channels_last=self.channels_last,
            )
        scratch = {
            "arch": text,
            "test_accuracy": result.test_accuracy,
            "epochs": result.epochs,
            "images": result.images,
            "seconds": result.seconds,
        }
        with interrupt.deferred():
            save_weights(result.model, workdir / "winner.pt")
            scratch_path.write_text(json.dumps(scratch) + "\n", encoding="utf-8")
        return scratch

    # -- result -----------------------------------------------------------------
    def search(self, problem: Problem) -> SearchResult:
        """Run the stages; the front and best come from the last stage's supernet."""
        self._extra = {}
        self._last_stage = []
        self._result_accuracy = None
        self._unmet = None
        probe_before = sample_host(probe_seconds=1.0)
        load_before, began = load_average(), time.perf_counter()
        result = super().search(problem)
        host = self._extra.setdefault("host", {})
        host.update(
            loadavg_before=load_before,
            loadavg_after=load_average(),
            wall_seconds=time.perf_counter() - began,
        )
        steadiness = summarise([probe_before, sample_host(probe_seconds=1.0)])
        host.update(speed_probe=steadiness["overall"], host_warning=steadiness["warning"])
        result.extra["latency_limit_ms"] = problem.latency_limit_ms
        result.extra.update(self._extra)
        final = self._extra.get("final")
        if final is not None:
            # The winner is the one measured within the limit, not the supernet's favourite.
            chosen = (final.get("chosen") or {}).get("arch")
            fmt = problem.space.format
            matches = [e for e in self.front_candidates(problem) if fmt(e.arch) == chosen]
            result.best = matches[0] if matches else None
        result.unmet = self._unmet
        if self._layer_model is not None:
            target = getattr(problem.latency, "name", "the target")
            result.latency_label = f"predicted by the layer model ({target})"
        return result

    def plot(self, result: SearchResult, ax) -> str | None:
        """The final candidates at their measured latency; the winner labelled as measured."""
        final = result.extra.get("final")
        if not final or not final.get("candidates"):
            return None
        rows = final["candidates"]
        limit = result.extra.get("latency_limit_ms")
        for row in rows:  # predicted -> measured, at the candidate's supernet accuracy
            ax.plot(
                [row["predicted_ms"], row["measured_ms"]],
                [row["accuracy"]] * 2,
                ":",
                color="tab:blue",
                lw=0.8,
            )
        ok = [r for r in rows if r["within_limit"]]
        over = [r for r in rows if not r["within_limit"]]
        where = final["latency_source"]
        ax.set_xlabel(f"{ax.get_xlabel()}\nfinal candidates and winner: {where}")
        for group, side, style in (
            (ok, "within", {"mfc": "none", "color": "tab:blue"}),
            (over, "over", {"color": "black"}),
        ):
            if group:
                ax.plot(
                    [r["measured_ms"] for r in group],
                    [r["accuracy"] for r in group],
                    "v",
                    label=f"final candidates {side} the limit ({len(group)}; latency {where})",
                    **style,
                )
        chosen = final.get("chosen")
        if chosen is None:
            best = min(r["measured_ms"] for r in rows)
            return f"no candidate met the {limit:g} ms limit as measured (best {best:.3f} ms)"
        ax.plot(
            [chosen["measured_ms"]],
            [chosen["accuracy"]],
            "*",
            ms=14,
            color="gold",
            mec="black",
            label=f"winner: {chosen['measured_ms']:.3f} ms {where} "
            f"(layer model {chosen['predicted_ms']:.3f} ms)",
        )
        return (
            f"winner {chosen['measured_ms']:.3f} ms {where} "
            f"(limit {limit:g} ms; dotted: layer model -> measured)"
        )

    def result_accuracy(self, problem: Problem):
        """The last stage's supernet: the front's accuracies are its."""
        return self._result_accuracy or problem.accuracy

    def front_candidates(self, problem: Problem) -> list[Evaluation]:
        """The last stage's evaluations (earlier stages used a less-trained supernet)."""
        return self._last_stage or list(problem.history)

    def summary(self, result: SearchResult) -> list[str]:
        """Per stage: layers, supernet steps, evaluations; the winner, measured and retrained."""
        extra = result.extra
        relative = extra.get("latency_limit")
        lines = (
            [
                f"latency limit {100 * relative['share']:g}% of the generated space's range "
                f"({relative['fastest_ms']:.3f}-{relative['slowest_ms']:.3f} ms, layer model): "
                f"{relative['limit_ms']:.3f} ms"
                + (
                    f" (before the limit calibration: {first['limit_ms']:.3f} ms)"
                    if (first := relative.get("before_calibration"))
                    else ""
                )
            ]
            if relative
            else []
        )
        near = extra.get("limit_calibration")
        if near:
            lines.append(
                f"limit calibration: {len(near['archs'])} networks just under the limit measured "
                f"end to end (layer model {np.mean(near['predicted_ms']):.3f} ms, measured "
                f"{np.mean(near['measured_ms']):.3f} ms on average); overhead "
                f"{near['overhead_before']['kind']} -> {near['overhead']['kind']}, refitted on "
                f"{near['whole_networks']} whole networks"
            )
        lines += [
            f"stage {stage['stage']}: searched layers {stage['searched_layers'][0]}-"
            f"{stage['searched_layers'][-1]}, supernet {stage['steps']} steps "
            f"({stage['train_seconds']:.0f} s), {stage['evaluations']} evaluations "
            f"({stage['search_seconds']:.0f} s) -> {stage['winner_accuracy']:.2f}% supernet "
            f"accuracy at {stage['winner_latency_ms']:.3f} ms (layer model)"
            for stage in extra.get("stages", [])
        ]
        final = extra.get("final")
        if final:
            lines.extend(final_lines(final, extra.get("latency_limit_ms")))
        host = extra.get("host")
        if host:
            lines.append(host_line(host))
        return lines


def host_line(host: dict[str, Any]) -> str:
    """One summary line: CPUs, torch threads, load average before and after, wall time."""

    def load(values) -> str:
        return "/".join(f"{v:.2f}" for v in values) if values else "n/a"

    return (
        f"host: {host.get('cpus_available', '?')} CPUs available, "
        f"{host.get('torch_threads', '?')} torch threads, training on "
        f"{host.get('device', 'cpu')}; load average (1/5/15 min) "
        f"{load(host.get('loadavg_before'))} before, {load(host.get('loadavg_after'))} after; "
        f"wall time {host.get('wall_seconds', 0.0):.0f} s"
        + (f"; {host['host_warning']}" if host.get("host_warning") else "")
    )


def final_lines(final: dict[str, Any], limit: float | None) -> list[str]:
    """Summary lines of the final step: the measured candidates and the kept winner."""
    limit_text = "none" if limit is None else f"{limit:.4g}"
    rows = final.get("candidates", [])
    lines = [
        f"final candidates, measured end to end ({final['latency_source']}; limit {limit_text} ms):"
    ]
    for i, row in enumerate(rows):
        mark = "ok  " if row["within_limit"] else "OVER"
        again = ""
        if row.get("confirmed_ms") is not None:
            again = f" (again, slowest session: {row['confirmed_ms']:.3f} ms)"
        lines.append(
            f"  {mark} #{i + 1} supernet {row['accuracy']:.2f}%: layer model "
            f"{row['predicted_ms']:.3f} ms, measured {row['measured_ms']:.3f} ms{again}, "
            f"recalibrated model {row.get('recalibrated_ms', float('nan')):.3f} ms"
        )
    chosen = final.get("chosen")
    if chosen is None:
        lines.append(
            "[bold red]no candidate met the limit when measured: nothing retrained or "
            "exported[/bold red]"
        )
        return lines
    if final.get("chosen_rank"):
        lines.append(
            f"[bold]the winner is not the supernet's top candidate[/bold]: it is #"
            f"{final['chosen_rank'] + 1} by supernet accuracy (the more accurate ones "
            "missed the limit)"
        )
    scratch = final["scratch"]
    confirmed = final.get("confirmed_latency_ms")
    again = (
        ""
        if confirmed is None
        else f", slowest of {final.get('confirm_sessions', 1)} fresh sessions {confirmed:.3f} ms"
    )
    lines.append(
        f"[bold]winner[/bold] {final['arch']}\n"
        f"  latency {final['latency_ms']:.3f} ms{again} ({final['latency_source']}; layer model "
        f"{final['predicted_latency_ms']:.3f} ms; limit {limit_text} ms)\n"
        f"  test accuracy {scratch['test_accuracy']:.2f}% after {scratch['epochs']:.2g} "
        f"epoch(s) from scratch ({scratch['seconds']:.0f} s)\n  files: "
        + ", ".join(str(v) for v in final["files"].values())
    )
    return lines


def live_target(problem: Problem) -> dict[str, Any]:
    """The live target behind the problem's latency model (name, options, store, model)."""
    from hwnas.latency import MeasuringLatencyModel

    model = problem.latency
    if not isinstance(model, MeasuringLatencyModel):
        raise HwnasError(
            f"strategy hurricane needs a live target, not {model.name!r}",
            "pass a live target such as --target onnxruntime (see 'hwnas targets')",
        )
    return {"target": model.target, "options": model.options, "store": model.store, "model": model}


def resolve_limit(
    problem: Problem, model, space, calibrate: Callable[[], dict[str, Any] | None]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Resolve a relative limit, ``calibrate`` near it, then resolve it again.

    The calibration refits the layer model's overhead on networks measured
    just under the limit; a share (``N%``) means a place in the range the
    target actually has, so it is resolved again with the refitted model (the
    first resolution is kept as ``before_calibration``). An absolute limit
    stays as given. Returns (the relative limit's resolution or ``None``,
    what ``calibrate`` returned).
    """
    relative = None
    if problem.latency_limit_share is not None:
        relative = resolve_share(problem, model, space)
    calibration = calibrate()
    if relative and calibration:
        first, relative = relative, resolve_share(problem, model, space)
        relative["before_calibration"] = first
    return relative, calibration


def resolve_share(problem: Problem, model, space) -> dict[str, Any]:
    """Turn ``--latency-ms N%`` into ms on the generated space's range (layer model)."""
    from hwnas.predict.build import fastest_latency_ms, slowest_latency_ms

    fastest, slowest = fastest_latency_ms(model, space), slowest_latency_ms(model, space)
    limit = problem.resolve_limit_share(fastest, slowest)
    return {
        "share": problem.latency_limit_share,
        "fastest_ms": fastest,
        "slowest_ms": slowest,
        "limit_ms": limit,
        "rule": "limit = fastest + share x (slowest - fastest) of the generated space, "
        "predicted by the layer model",
    }


def feasible_start(generated, model, limit_ms: float, t: int) -> list[str]:
    """a_win0, with its fixed layers swapped to the fastest kept op when it cannot meet the limit.

    Stage 1 fixes the first ``t`` layers to a_win0; if even the fastest choices
    of the searched layers then miss ``limit_ms``, the fixed layers take their
    fastest kept op instead (reported as ``a_win0_used``).
    """
    from hwnas.predict.build import fastest_architecture, fastest_latency_ms

    gspace = generated.space()
    winner = generated.initial_winner()
    n = len(gspace.positions)
    fixed = [[winner[i]] if i < t else list(gspace.positions[i].choices) for i in range(n)]
    stage1 = gspace.restrict(fixed)
    fastest = fastest_latency_ms(model, gspace)
    if fastest > limit_ms:
        full = fastest_latency_ms(model, gspace.full())
        raise HwnasError(
            f"--latency-ms {limit_ms:g} is below the fastest architecture of the generated space: "
            f"{fastest:.3f} ms (the full 32-op space: {full:.3f} ms; predicted by the layer model)",
            f"raise --latency-ms to at least {fastest:.3f}, or lower -s alpha to keep faster ops",
        )
    if fastest_latency_ms(model, stage1) <= limit_ms:
        return list(winner)
    fastest = fastest_architecture(model, gspace).choices
    return [fastest[i] if i < t else op for i, op in enumerate(winner)]


def stage_seeds(model, stage_problem: Problem, winner: Sequence[str]) -> list:
    """The architectures a stage's evolution evaluates first.

    The carried winner (a_win0 in stage 1, a_win1 in stage 2); when the layer
    model says it misses the limit (a_win0's searched layers take the
    top-scored, often heaviest ops), also the stage's fastest architecture,
    which meets it whenever any architecture of the stage does.
    """
    from hwnas.predict.build import fastest_architecture

    carried = stage_problem.space.architecture(winner)
    limit = stage_problem.latency_limit_ms
    if limit is None or float(np.asarray(model.latencies([carried]))[0]) <= limit:
        return [carried]
    return [carried, fastest_architecture(model, stage_problem.space)]


NEAR_LIMIT_POOL = 2000


def near_limit_picks(pool: Sequence, predicted_ms, limit_ms: float, k: int) -> list:
    """``k`` distinct architectures of ``pool`` the model puts just under ``limit_ms``.

    Those within 15 % below the limit, spread evenly over that band by
    predicted latency; when fewer than ``k`` are, the ``k`` slowest within the
    limit.
    """
    predicted = np.asarray(predicted_ms, dtype=float)
    unique: dict[Any, tuple[Any, float]] = {}
    for arch, ms in zip(pool, predicted, strict=True):
        if ms <= limit_ms:
            unique.setdefault(arch.choices, (arch, float(ms)))
    within = sorted(unique.values(), key=lambda pair: pair[1])
    band = [pair for pair in within if pair[1] >= 0.85 * limit_ms]
    if len(band) < k:
        return [arch for arch, _ in within[-k:]] if k else []
    spots = np.linspace(0, len(band) - 1, k).round().astype(int)
    return [band[i][0] for i in spots]


def ranked_candidates(
    evaluations: Sequence[Evaluation], space, limit_ms: float
) -> list[dict[str, Any]]:
    """Distinct architectures the layer model puts within ``limit_ms``, most accurate first.

    Each is ``{"arch", "accuracy", "predicted_ms"}`` (``arch`` in ``space``); a
    tie in accuracy goes to the one evaluated first, as the stage's winner does.
    """
    best: dict[tuple[str, ...], Evaluation] = {}
    for e in evaluations:
        if e.latency_ms <= limit_ms:
            seen = best.get(e.arch.choices)
            if seen is None or e.accuracy > seen.accuracy:
                best[e.arch.choices] = e
    ordered = sorted(best.values(), key=lambda e: -e.accuracy)  # stable: ties keep their order
    return [
        {
            "arch": space.architecture(e.arch.choices),
            "accuracy": float(e.accuracy),
            "predicted_ms": float(e.latency_ms),
        }
        for e in ordered
    ]


def choose_final(
    ranked: Sequence[dict[str, Any]],
    space,
    predict,
    measure,
    recalibrate,
    limit_ms: float,
    k: int = 5,
    rounds: int = 2,
    confirm=None,
) -> dict[str, Any]:
    """Measure the ``k`` most accurate candidates end to end; keep the best within ``limit_ms``.

    ``confirm(archs)``, when given, measures again in a fresh session: the
    candidates of a round that met the limit are confirmed most accurate first
    until one's second measurement meets it too (``confirmed_ms``); one that
    fails is marked over (``within_limit`` false, ``confirm_failed``).

    ``ranked`` comes from :func:`ranked_candidates`; ``measure(archs)`` gives
    their measured latencies (ms) on the target, ``predict(archs)`` the layer
    model's, and ``recalibrate()`` refits the layer model's overhead on every
    whole network measured so far (returning the overhead as a dict). When no
    candidate of a round meets the limit as measured, the next round measures
    the next ``k`` that the recalibrated layer model still puts within it with
    room for its own leave-one-out error (:func:`safety_factor`; up to
    ``rounds``). Returns ``candidates`` (one row per measured architecture:
    arch, accuracy, predicted_ms, measured_ms, recalibrated_ms, round,
    within_limit), ``chosen`` (the most accurate row within the limit; None if
    none is), ``chosen_rank`` (its place in ``ranked``; 0 = the supernet's top
    candidate) and ``overhead`` (after the last recalibration).
    """
    rows: list[dict[str, Any]] = []
    measured: list = []
    overhead = None
    done = 0
    for number in range(1, rounds + 1):
        pool = [c for c in ranked if c["arch"] not in measured]
        if number > 1 and pool:
            now = predict([c["arch"] for c in pool]) * safety_factor(overhead)
            pool = [c for c, ms in zip(pool, now, strict=True) if ms <= limit_ms]
        batch = pool[:k]
        if not batch:
            break
        done = number
        for c, ms in zip(batch, measure([c["arch"] for c in batch]), strict=True):
            measured.append(c["arch"])
            rows.append(
                {
                    "arch": space.format(c["arch"]),
                    "accuracy": c["accuracy"],
                    "predicted_ms": c["predicted_ms"],
                    "measured_ms": float(ms),
                    "round": number,
                    "within_limit": bool(ms <= limit_ms),
                }
            )
        overhead = recalibrate()
        if confirm is not None:
            _confirm_round(rows, space, confirm, limit_ms)
        if any(r["within_limit"] for r in rows):
            break
    if measured:
        for row, ms in zip(rows, predict(measured), strict=True):
            row["recalibrated_ms"] = float(ms)
    ok = [(i, r) for i, r in enumerate(rows) if r["within_limit"]]
    chosen = max(ok, key=lambda pair: (pair[1]["accuracy"], -pair[0]))[1] if ok else None
    order = [space.format(c["arch"]) for c in ranked]
    return {
        "candidates": rows,
        "chosen": chosen,
        "chosen_rank": None if chosen is None else order.index(chosen["arch"]),
        "rounds": done,
        "overhead": overhead,
    }


def safety_factor(overhead: dict[str, Any] | None) -> float:
    """How much a recalibrated prediction is inflated before it is held against the limit.

    ``exp(loo_error)``: the recalibration's mean leave-one-out |log error| over
    the whole networks measured so far. Candidates just under the limit by the
    model were just over it when measured in the round before; the next round
    asks for room of one typical error.
    """
    error = (overhead or {}).get("loo_error")
    return float(np.exp(error)) if error is not None and np.isfinite(error) else 1.0


def _confirm_round(rows: list[dict[str, Any]], space, confirm, limit_ms: float) -> None:
    """Confirm this round's rows within the limit, most accurate first, until one holds."""
    waiting = [r for r in rows if r["within_limit"] and "confirmed_ms" not in r]
    for row in sorted(waiting, key=lambda r: -r["accuracy"]):
        row["confirmed_ms"] = float(confirm([space.parse(row["arch"])])[0])
        if row["confirmed_ms"] <= limit_ms:
            return
        row["within_limit"], row["confirm_failed"] = False, True


def confirm_whole(live: dict[str, Any], space, archs, sessions: int = 1) -> np.ndarray:
    """``archs`` measured end to end again in ``sessions`` fresh sessions; the slowest of each.

    Every session is a new worker process with a fresh store (nothing read
    from the real one), so a host whose sessions land on different speeds is
    judged by its slow one.
    """
    worst = np.zeros(len(archs))
    for _ in range(sessions):
        ms = measure_in_fresh_session(live["target"], live["options"], space, archs)
        missing = [a for a in archs if a not in ms]
        if missing:
            raise HwnasError(
                f"the second measurement of {space.format(missing[0])} on {live['target']} failed",
                "run again (the first measurements are kept), or -s confirm=false",
            )
        worst = np.maximum(worst, [ms[a] for a in archs])
    return worst


def measure_in_fresh_session(target: str, options: dict[str, Any], space, archs) -> dict:
    """End-to-end latency (ms) of ``archs`` in a new worker, into a temporary empty store."""
    import tempfile

    from hwnas.live_latency import measure_whole
    from hwnas.store import LatencyStore

    with tempfile.TemporaryDirectory() as tmp:
        store = LatencyStore(Path(tmp) / "fresh.sqlite")
        return measure_whole(target, options, space, list(archs), store, show_progress=False)


def export_winner_files(space, arch, workdir: Path, live: dict[str, Any]) -> dict[str, str]:
    """Export the retrained winner (ONNX and the target's artifact)."""
    from hwnas.artifacts import export_winner

    return export_winner(
        space, arch, workdir, live["target"], live["options"], workdir / "winner.pt"
    )


def split_budget(total: int, stages: int) -> list[int]:
    """Evaluations per stage: ``total`` split evenly (the first stages take the remainder)."""
    if total < stages:
        raise HwnasError(
            f"hurricane needs at least one evaluation per stage ({stages}), got {total}",
            "raise --evals",
        )
    return [total // stages + (1 if i < total % stages else 0) for i in range(stages)]


def converged(
    panel: Sequence[float], min_delta: float, chance: float = 0.0, patience: int = 2
) -> bool:
    """True once the panel's best accuracy has not grown by ``min_delta`` for ``patience`` chunks.

    A panel still within 5 points of ``chance`` (100 / classes) has not started
    learning yet; a flat start is not a plateau. Waiting ``patience`` chunks
    keeps a slow start or one noisy panel reading from ending training early.
    """
    if len(panel) <= patience or max(panel) < chance + 5.0:
        return False
    return max(panel[-patience:]) < max(panel[:-patience]) + min_delta


def evaluation_row(space, e: Evaluation) -> dict[str, Any]:
    """JSON form of one evaluation."""
    return {
        "arch": space.format(e.arch),
        "latency_ms": e.latency_ms,
        "latency_source": e.latency_source,
        "accuracy": e.accuracy,
    }


def save_weights(module, path: Path) -> None:
    """Atomically save a module's state dict (as CPU tensors, whatever device it trained on)."""
    from hwnas.files import atomic_torch_save

    atomic_torch_save({k: v.detach().cpu() for k, v in module.state_dict().items()}, path)


def _flag(value) -> bool:
    """A boolean option given as ``true``/``false``/``1``/``0`` (``-s amp=false``)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise HwnasError(
                f"hurricane: expected true or false, got {value!r}", "e.g. -s amp=false"
            )
        return text in ("true", "1", "yes")
    return bool(value)


def _foreign_fix(path: Path) -> str:
    return f"delete {path} (it is not this run's) and run the same command again"


def _stage_report(path: Path) -> StageReport:
    """A finished stage's report from its JSON file (one-line error for a foreign file)."""
    data = read_json_file(path, "stage report", _foreign_fix(path))
    try:
        return StageReport(**data)
    except TypeError:
        raise HwnasError(f"{path} is not a stage report of this run", _foreign_fix(path)) from None


def load_weights(module, path: Path) -> None:
    """Load a state dict saved by :func:`save_weights` (one-line error naming a damaged file)."""
    from hwnas.files import load_torch_file

    fix = _foreign_fix(path)
    state = load_torch_file(path, "weights file", fix)
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise HwnasError(f"weights file {path} does not fit this run ({reason})", fix) from None


class ChunkProgress:
    """A rich progress bar over supernet steps (silent when disabled)."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        from hwnas.progress import progress_bar

        self.enabled = enabled
        self.progress = progress_bar(enabled)
        self.task = self.progress.add_task(label, total=total)

    def __enter__(self) -> ChunkProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def advance(self, steps: int) -> None:
        """Move the bar to ``steps`` done."""
        self.progress.update(self.task, completed=steps)

    def callback(self, offset: int):
        """A ``progress(done, total)`` callable for one chunk starting at ``offset`` steps."""
        return lambda done, total: self.advance(offset + done)

    def follow(self, done: int, total: int) -> None:
        """A ``progress(done, total)`` callable that also sets the total."""
        self.progress.update(self.task, completed=done, total=total)

    def note(self, text: str) -> None:
        """Show ``text`` in the bar's description."""
        label = self.progress.tasks[0].description.split(" [")[0]
        self.progress.update(self.task, description=f"{label} [{text}]")
