"""MetaSchedule tuning with a persistent database that is reused across workloads and runs.

The flow is TVM's ``static_shape_tuning`` pipeline split in two so that a
task (a fused TIR function, keyed by structural equality) already in the
database is never tuned again: ``prepare`` lowers the Relax module to fused
TIR functions; :func:`tune_and_apply` extracts the tuning tasks, tunes only
those without a record in ``work_dir``'s JSON database, and applies the best
records. Layers that share an operator shape share records, and a second
compile of a known workload costs seconds, not minutes.

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
    still have no valid record afterwards (they fall back to TVM's default
    schedules).
    """

    ran: bool
    tasks: int
    tasks_reused: int
    tasks_tuned: int
    tasks_untuned: int
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


def _has_record(database, task, target) -> bool:
    return database.query_tuning_record(task.dispatched[0], target, task.task_name) is not None


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

    from hwnas.targets.tvm import parser_speedup

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    tasks = ms.relax_integration.extract_tasks(mod, target)
    start = time.perf_counter()
    tuned = 0
    with _locked(work_dir):
        database = ms.Database.create("json", work_dir=str(work_dir), module_equality="structural")
        missing = [task for task in tasks if not _has_record(database, task, target)]
        if missing and trials > 0:
            parser_speedup.install()
            per_task = max_trials_per_task or max(1, math.ceil(trials / len(missing)))
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
            with _env("TVM_NUM_THREADS", str(threads)):
                ms.tune_tasks(
                    tasks=contexts,
                    task_weights=weights,
                    work_dir=str(work_dir),
                    max_trials_global=trials,
                    max_trials_per_task=per_task,
                    num_trials_per_iter=min(64, per_task),
                    builder=ms.builder.LocalBuilder(
                        max_workers=threads,
                        timeout_sec=BUILDER_TIMEOUT_S,
                        initializer=parser_speedup.worker_initializer,
                    ),
                    runner=ms.runner.LocalRunner(
                        timeout_sec=RUNNER_TIMEOUT_S,
                        initializer=parser_speedup.worker_initializer,
                    ),
                    database=database,
                )
            tuned = len(missing)
        untuned = sum(not _has_record(database, task, target) for task in tasks)
        with target, database:
            scheduled = relax.transform.MetaScheduleApplyDatabase()(mod)
    report = TuningReport(
        ran=tuned > 0,
        tasks=len(tasks),
        tasks_reused=len(tasks) - len(missing),
        tasks_tuned=tuned,
        tasks_untuned=untuned,
        trials=trials if tuned else 0,
        tune_s=round(time.perf_counter() - start, 3),
        work_dir=str(work_dir),
    )
    return scheduled, report
