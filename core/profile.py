"""Profile a target: measure workloads in isolated workers, store every result, skip the known."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hwnas.errors import HwnasError
from hwnas.manager import PluginManager, get_plugin_manager
from hwnas.progress import progress_bar
from hwnas.runner import IsolatedTarget, TargetInfo, runner_failure
from hwnas.store import LatencyStore
from hwnas.target import Target
from hwnas.timing import Measurement, TimingProtocol
from hwnas.workload import Workload


@dataclass
class ProfileResult:
    """What a profile run did: the target, and per workload key its measurement."""

    target: TargetInfo
    results: dict[str, Measurement] = field(default_factory=dict)
    measured: int = 0
    reused: int = 0
    failed: int = 0


def profile_workloads(
    target: str,
    options: dict[str, Any],
    workloads: Sequence[Workload],
    store: LatencyStore,
    protocol: TimingProtocol | None = None,
    workers: int = 1,
    timeout_s: float = 600.0,
    retry_failed: bool = False,
    show_progress: bool = True,
    plugin_manager: PluginManager | None = None,
) -> ProfileResult:
    """Measure every workload not yet in ``store`` for this target; return all results.

    ``workers`` isolated processes measure in parallel (for a device farm
    behind one RPC tracker key, each worker holds its own session). Each
    result is committed as soon as it arrives, so an interrupted run loses
    only the workloads in flight.
    """
    protocol = protocol or TimingProtocol()
    pm = plugin_manager or get_plugin_manager()
    unique = {w.key: w for w in workloads}
    info = probe_target(target, options, pm)
    farm = [IsolatedTarget(target, options, timeout_s) for _ in range(max(1, workers))]
    try:
        fp = info.fingerprint_key
        store.register_target(fp, target, info.fingerprint)
        known = store.keys(fp, status="ok" if retry_failed else None)
        known -= {k for k, why in store.failures(fp).items() if runner_failure(why)}
        todo: queue.Queue[Workload] = queue.Queue()
        for key, workload in unique.items():
            if key not in known:
                todo.put(workload)
        result = ProfileResult(info, reused=len(unique) - todo.qsize())
        lock = threading.Lock()
        extras: dict[str, dict] = {}  # what the store does not keep (output checks, ...)

        errors: list[BaseException] = []
        cancelled = threading.Event()  # set on an interrupt: keep no result from then on

        def drain(worker: IsolatedTarget, advance) -> None:
            try:
                if worker.start().fingerprint_key != fp:
                    raise HwnasError(f"{target}: a worker's fingerprint differs from the parent's")
                measure_queue(worker, advance)
            except BaseException as exc:  # re-raised in the calling thread
                if not cancelled.is_set():
                    errors.append(exc)

        def measure_queue(worker: IsolatedTarget, advance) -> None:
            while not cancelled.is_set():
                try:
                    workload = todo.get_nowait()
                except queue.Empty:
                    return
                measurement = worker.measure(workload, protocol)
                if runner_failure(measurement.reason):
                    cancelled.wait(1.0)  # a signal to the process group reaches workers first
                with lock:
                    if cancelled.is_set():  # the worker was ended under it: nothing to keep
                        return
                    store.put(fp, workload.key, measurement, workload.label, workload.features)
                    extras[workload.key] = measurement.extra
                pm.hook.hwnas_workload_measured(
                    target=info, workload=workload, measurement=measurement
                )
                with lock:
                    result.measured += 1
                    result.failed += not measurement.ok
                    advance(workload, measurement)

        with progress_bar(show_progress and todo.qsize() > 0) as progress:
            task = progress.add_task(f"{target}: measuring", total=todo.qsize())

            def advance(workload: Workload, measurement: Measurement) -> None:
                note = (
                    f"{workload.label}: {measurement.median_ms:.3f} ms"
                    if measurement.ok
                    else f"{workload.label}: FAILED"
                )
                progress.update(task, advance=1, description=f"{target}: {note}")

            threads = [
                threading.Thread(target=drain, args=(worker, advance), daemon=True)
                for worker in farm
            ]
            try:
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            except BaseException:  # an interrupt: end the workers, commit nothing more
                with lock:
                    cancelled.set()
                for worker in farm:
                    worker.stop(now=True)
                for thread in threads:
                    thread.join(10)
                raise
        if errors:
            raise errors[0]
    finally:
        for worker in farm:
            worker.stop()
    for key in unique:
        stored = store.get(fp, key)
        if stored is not None:
            result.results[key] = stored.measurement.with_(extra=extras.get(key, {}))
    return result


def probe_target(name: str, options: dict[str, Any], pm: PluginManager | None = None) -> TargetInfo:
    """Create the target here just to check it is available and read its fingerprint.

    Raises a one-line :class:`~hwnas.errors.HwnasError` when it is unknown or
    unavailable; nothing is compiled or timed in this process.
    """
    target = (pm or get_plugin_manager()).create("target", name, **options)
    if not isinstance(target, Target):
        raise HwnasError(
            f"{name!r} answers whole architectures from a table; it has no workloads to time",
            "profile a live target (see 'hwnas targets'), or query it with 'hwnas recorded'",
        )
    try:
        return TargetInfo(name, target.fingerprint(), target.fingerprint_key())
    finally:
        target.close()
