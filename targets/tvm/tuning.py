"""MetaSchedule tuning with a persistent database that is reused across workloads and runs.

The flow is TVM's ``static_shape_tuning`` pipeline split in two so that a
task (a fused TIR function, keyed by structural equality) already in the
database is never tuned again: ``prepare`` lowers the Relax module to fused
TIR functions; :func:`tune_and_apply` extracts the tuning tasks, tunes only
those without a record in ``work_dir``'s JSON database, and applies the best
records. Layers that share an operator shape share records, and a second
compile of a known workload costs seconds, not minutes.

Every task is seeded with the rule-based schedule of
:mod:`hwnas.targets.tvm.rules`: its trace is measured by MetaSchedule's own
builder and runner and committed as a tuning record before the search, so
the evolutionary search starts from it and the applied schedule is never
slower than the rules (as MetaSchedule measured them). Candidates are built
with the rules' pass configuration (tail loops split off) so both sides are
built alike.

A file lock in ``work_dir`` serialises tuning between processes that share
the database, so two workers never tune the same task twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: MetaSchedule's builder timeout is 30 s; a cold worker on 2 busy cores needs more headroom.
BUILDER_TIMEOUT_S = 120.0
RUNNER_TIMEOUT_S = 60.0
DEFAULT_POPULATION = 512


@dataclass(frozen=True)
class TuningReport:
    """What :func:`tune_and_apply` did for one module (JSON-friendly via :meth:`as_dict`).

    ``ran`` is whether MetaSchedule searched at all; ``tasks_reused`` had
    records already; ``tasks_tuned`` were searched now; ``tasks_untuned``
    still have no valid record afterwards (they get the rule-based schedule);
    ``tasks_seeded`` got the rule-based schedule as a measured record before
    the search and ``tasks_rules_best`` kept it (the search found nothing
    faster).
    """

    ran: bool
    tasks: int
    tasks_reused: int
    tasks_tuned: int
    tasks_untuned: int
    tasks_seeded: int
    tasks_rules_best: int
    trials: int
    tune_s: float
    work_dir: str

    def as_dict(self) -> dict:
        """Plain dict for ``Measurement.extra``."""
        return asdict(self)


def population_size(trials_per_task: int) -> int:
    """Evolutionary-search population for a per-task budget: MetaSchedule's 512 from 32 trials up.

    Evolving 512 candidates for 4 trials cost ~20 s per task here and buys
    nothing; small budgets get 16 candidates per trial (at least 64).
    """
    return int(min(DEFAULT_POPULATION, max(64, 16 * trials_per_task)))


def prepare(mod, target):
    """Lower a Relax module to fused TIR functions, as the static-shape tuning pipeline does."""
    import tvm
    from tvm import relax

    with target:
        return tvm.transform.Sequential(
            [
                relax.transform.DecomposeOpsForInference(),
                relax.transform.CanonicalizeBindings(),
                relax.pipeline.zero_pipeline(),
            ]
        )(mod)


@contextlib.contextmanager
def _locked(work_dir: Path) -> Iterator[None]:
    with open(work_dir / "tuning.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _best_record(database, task, target):
    return database.query_tuning_record(task.dispatched[0], target, task.task_name)


def _mean_secs(record) -> float:
    secs = [float(v) for v in record.run_secs]
    return sum(secs) / len(secs)


def _has_record(database, task, target) -> bool:
    return _best_record(database, task, target) is not None


#: Name of the candidate build function registered in MetaSchedule's workers.
BUILD_FUNC = "hwnas.meta_schedule.build_with_rules_config"


def build_with_rules_config(mod, target, _params=None):
    """MetaSchedule's default build under the rules' pass configuration (tails split off)."""
    import tvm
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    from hwnas.targets.tvm.rules import PASS_CONFIG

    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    with tvm.transform.PassContext(opt_level=3, config=PASS_CONFIG):
        return tvm_build(mod, target=target)


def worker_initializer() -> None:
    """Initializer of MetaSchedule's builder and runner workers: fast parser, our build."""
    import tvm

    from hwnas.targets.tvm import parser_speedup

    parser_speedup.install()
    tvm.register_global_func(BUILD_FUNC, build_with_rules_config, override=True)


def seed_with_rules(database, tasks, target, builder, runner) -> list[float | None]:
    """Commit each task's rule-based schedule as a measured tuning record.

    The trace is built and timed by MetaSchedule's ``builder`` and ``runner``
    (the same measurement as every searched candidate). Returns each task's
    mean measured seconds, ``None`` where no rule applied or it failed.
    """
    from tvm.s_tir import meta_schedule as ms

    from hwnas.targets.tvm import rules

    seeds = []
    for task in tasks:
        workload_mod = task.dispatched[0]
        sch, _ = rules.schedule_function(workload_mod["main"], target)
        if sch is None:
            seeds.append(None)
            continue
        (built,) = builder.build([ms.builder.BuilderInput(sch.mod, target)])
        if built.error_msg:
            log.info("rules seed of %s did not build: %s", task.task_name, built.error_msg[:200])
            seeds.append(None)
            continue
        args_info = ms.arg_info.ArgInfo.from_prim_func(workload_mod["main"])
        (future,) = runner.run([ms.runner.RunnerInput(built.artifact_path, "cpu", args_info)])
        result = future.result()
        if result.error_msg or not result.run_secs:
            seeds.append(None)
            continue
        record = ms.database.TuningRecord(
            sch.trace,
            database.commit_workload(workload_mod),
            [float(v) for v in result.run_secs],
            target,
            args_info,
        )
        database.commit_tuning_record(record)
        seeds.append(_mean_secs(record))
    return seeds


def tune_and_apply(
    mod,
    target,
    work_dir: str | Path,
    trials: int,
    max_trials_per_task: int | None,
    threads: int,
):
    """Tune the tasks of ``mod`` missing from ``work_dir``'s database, then apply the database.

    ``mod`` comes from :func:`prepare`. ``trials`` bounds the total
    MetaSchedule trials of this call (spent only on missing tasks);
    ``max_trials_per_task`` defaults to an even split of ``trials`` over them.
    Candidates are measured with ``threads`` runtime threads. Returns the
    scheduled module (compile it with ``tvm.compile``) and a
    :class:`TuningReport`.
    """
    from tvm import relax
    from tvm.s_tir import meta_schedule as ms

    from hwnas.targets.tvm import parser_speedup, rules

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    # Tasks see the same 32-bit indices as the rules, so a seeded trace replays on them.
    mod = rules.int32_indices_module(mod)
    tasks = ms.relax_integration.extract_tasks(mod, target)
    start = time.perf_counter()
    tuned = 0
    seeds: list[float | None] = []
    with _locked(work_dir):
        database = ms.Database.create("json", work_dir=str(work_dir), module_equality="structural")
        missing = [task for task in tasks if not _has_record(database, task, target)]
        if missing and trials > 0:
            parser_speedup.install()
            per_task = max_trials_per_task or max(1, math.ceil(trials / len(missing)))
            builder = ms.builder.LocalBuilder(
                max_workers=threads,
                timeout_sec=BUILDER_TIMEOUT_S,
                f_build=BUILD_FUNC,
                initializer=worker_initializer,
            )
            runner = ms.runner.LocalRunner(
                timeout_sec=RUNNER_TIMEOUT_S, initializer=worker_initializer
            )
            with _env("TVM_NUM_THREADS", str(threads)):
                seeds = seed_with_rules(database, missing, target, builder, runner)
                contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
                    missing,
                    work_dir=str(work_dir),
                    strategy=ms.search_strategy.EvolutionarySearch(
                        population_size=population_size(per_task)
                    ),
                    num_threads=threads,
                    seed=0,
                )
                log.info(
                    "MetaSchedule: tuning %d of %d tasks in %s", len(missing), len(tasks), work_dir
                )
                ms.tune_tasks(
                    tasks=contexts,
                    task_weights=weights,
                    work_dir=str(work_dir),
                    max_trials_global=trials,
                    max_trials_per_task=per_task,
                    num_trials_per_iter=min(64, per_task),
                    builder=builder,
                    runner=runner,
                    database=database,
                )
            tuned = len(missing)
        untuned = sum(not _has_record(database, task, target) for task in tasks)
        rules_best = sum(
            seed is not None and _mean_secs(_best_record(database, task, target)) >= seed
            for task, seed in zip(missing, seeds, strict=False)
        )
        with target, database:
            scheduled = relax.transform.MetaScheduleApplyDatabase()(mod)
    report = TuningReport(
        ran=tuned > 0,
        tasks=len(tasks),
        tasks_reused=len(tasks) - len(missing),
        tasks_tuned=tuned,
        tasks_untuned=untuned,
        tasks_seeded=sum(seed is not None for seed in seeds),
        tasks_rules_best=rules_best,
        trials=trials if tuned else 0,
        tune_s=round(time.perf_counter() - start, 3),
        work_dir=str(work_dir),
    )
    return scheduled, report
