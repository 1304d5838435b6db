"""The ground-truth arena: run strategies on a fully tabulated space and score them exactly.

Protocol (``benchmarks/PROTOCOLS.md``, "Pareto search quality"):

- The search sees the accuracy source's search accuracy (NB201 CIFAR-10:
  validation); every result is scored with the report (test) accuracy.
- Normalised objectives, both minimised: latency scaled by the space's min and
  max on the device; error = 100 - accuracy scaled so the best report error of
  the space maps to 0 and the median one to 1, clipped to 1. Reference point
  (1, 1); exact 2-D hypervolume.
- HV ratio = HV(the search's front over what it evaluated, scored with report
  accuracy) / HV(the true report-accuracy front of the space).
- Regret at latency budgets on the 20/35/50/65/80 % quantiles of the device's
  latency over the space: the true best report accuracy under the budget minus
  the report accuracy of the search's pick (its highest search-accuracy
  evaluated architecture within the budget); ``nan`` when it evaluated none.
- Budgets count every evaluation, repeats included; seeds 0..n-1, by default
  10 for ``random`` and 5 for any other strategy.

Any strategy plugin runs here unchanged, and any space qualifies whose
recorded target answers every architecture of the space
(:class:`~hwnas.latency.TabulatedLatency`) and which has an accuracy source:
the arena only builds a :class:`~hwnas.problem.Problem` and calls
``strategy.search(problem)``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.accuracy import AccuracySource, default_accuracy
from hwnas.errors import HwnasError
from hwnas.latency import TabulatedLatency, recorded_devices
from hwnas.manager import PluginManager, get_plugin_manager
from hwnas.pareto import (
    Normaliser,
    best_under_budget,
    latency_budgets,
    regret,
    true_front,
)
from hwnas.problem import Problem
from hwnas.space import Architecture
from hwnas.strategy import SearchResult

QUANTILES = (0.2, 0.35, 0.5, 0.65, 0.8)


def protocol_seeds(
    strategy: str, seeds: int | None = None, plugin_manager: PluginManager | None = None
) -> int:
    """``seeds`` if given, else the strategy's declared ``arena_seeds`` (the protocol's count)."""
    if seeds is not None:
        return int(seeds)
    pm = plugin_manager or get_plugin_manager()
    return pm.get("strategy", strategy).spec.arena_seeds


def check_device(space: str, device: str, plugin_manager: PluginManager | None = None) -> None:
    """One-line error for a space without recorded targets or a device it has none for."""
    devices = recorded_devices(space, plugin_manager)
    if not devices:
        raise HwnasError(
            f"the arena needs a space with recorded devices; {space!r} has none",
            "see 'hwnas targets --recorded'",
        )
    if device not in devices:
        raise HwnasError(
            f"unknown {space} device {device!r}", f"choose one of: {', '.join(devices)}"
        )


@dataclass
class GroundTruth:
    """A whole space on one device: every latency, search and report accuracy, and the truth."""

    space: Any
    device: str
    latency: Any
    accuracy: AccuracySource
    archs: Sequence[Architecture]
    lat: np.ndarray
    search_acc: np.ndarray
    report_acc: np.ndarray
    normaliser: Normaliser
    true_front: np.ndarray
    true_hv: float
    budgets_ms: np.ndarray
    true_best: np.ndarray
    row_of: dict

    def rows(self, archs) -> np.ndarray:
        """Table rows of ``archs``."""
        get = self.row_of.__getitem__
        return np.fromiter((get(a) for a in archs), dtype=np.int64, count=len(archs))

    def hypervolume(self, rows: np.ndarray) -> float:
        """Normalised HV of the rows scored with report accuracy."""
        return self.normaliser.hypervolume(self.lat[rows], self.report_acc[rows])


def ground_truth(
    space: str,
    device: str,
    dataset: str = "c10",
    data_dir: str | os.PathLike | None = None,
    plugin_manager: PluginManager | None = None,
) -> GroundTruth:
    """Load the table of ``space`` on ``device`` and compute the true front, HV and budgets.

    ``dataset`` and ``data_dir`` go to the space's default accuracy source
    when it takes them.
    """
    pm = plugin_manager or get_plugin_manager()
    check_device(space, device, pm)
    options = {} if data_dir is None else {"data_dir": str(data_dir)}
    latency = pm.create("target", f"{space}/{device}", **options)
    search_space = pm.create("space", space)
    archs = list(latency.architectures()) if isinstance(latency, TabulatedLatency) else []
    if len(archs) != search_space.size:
        raise HwnasError(
            f"{space}/{device} records {len(archs):,} of the {search_space.size:,} "
            f"architectures of {space}: the arena needs every one",
            "use a fully tabulated space (see 'hwnas targets --recorded')",
        )
    accuracy = default_accuracy(space, pm, dataset=dataset, **options)
    lat = latency.all_latencies()
    search_acc = np.asarray(accuracy.accuracies(archs), dtype=float)
    report_acc = np.asarray(accuracy.report_accuracies(archs), dtype=float)
    normaliser = Normaliser.from_table(lat, report_acc)
    front = true_front(lat, report_acc)
    budgets = latency_budgets(lat, QUANTILES)
    return GroundTruth(
        space=search_space,
        device=device,
        latency=latency,
        accuracy=accuracy,
        archs=archs,
        lat=lat,
        search_acc=search_acc,
        report_acc=report_acc,
        normaliser=normaliser,
        true_front=front,
        true_hv=normaliser.hypervolume(lat[front], report_acc[front]),
        budgets_ms=budgets,
        true_best=np.array([best_under_budget(lat, report_acc, b) for b in budgets]),
        row_of={a: i for i, a in enumerate(archs)},
    )


def score(result: SearchResult, truth: GroundTruth) -> dict[str, Any]:
    """HV ratio of the returned front (scored with report accuracy), regrets, evaluations used."""
    front_rows = truth.rows([e.arch for e in result.front])
    history_rows = truth.rows([e.arch for e in result.history])
    hv = truth.hypervolume(front_rows)
    lat = np.array([e.latency_ms for e in result.history])
    seen = np.array([e.accuracy for e in result.history])
    reported = truth.report_acc[history_rows]
    regrets = [
        regret(lat, seen, reported, b, best)
        for b, best in zip(truth.budgets_ms, truth.true_best, strict=True)
    ]
    return {
        "hv": hv,
        "hv_ratio": hv / truth.true_hv,
        "regret": regrets,
        "evaluations": result.evaluations,
        "unique": len({e.arch for e in result.history}),
        "front_rows": front_rows.tolist(),
    }


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if not len(arr):
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def run_arena(
    space: str,
    device: str,
    strategies: Sequence[str],
    evals: Sequence[int] = (100, 300, 1000),
    seeds: int | None = None,
    dataset: str = "c10",
    data_dir: str | os.PathLike | None = None,
    strategy_options: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
    plugin_manager: PluginManager | None = None,
    runs_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Run every strategy at every budget over its seeds; return the JSON-ready report.

    ``progress(label)`` is called after each run (for a progress bar). With
    ``runs_dir`` each run's score is kept there as it finishes and a run
    found there is not run again (an interrupted arena resumes; the caller
    makes sure the folder belongs to the same arena).
    Validation errors (space, device, strategy, budgets, data) are one-line
    :class:`~hwnas.errors.HwnasError` s raised before anything runs.
    """
    pm = plugin_manager or get_plugin_manager()
    check_device(space, device)
    evals = validate_evals(evals)
    for name in strategies:
        info = pm.get("strategy", name)
        if not info.available:
            raise HwnasError(f"strategy {name!r} is unavailable: {info.reason}")
    if seeds is not None and seeds < 1:
        raise HwnasError(f"--seeds must be >= 1, got {seeds}", "e.g. --seeds 5")
    truth = ground_truth(space, device, dataset, data_dir, pm)
    options = strategy_options or {}
    results: list[dict[str, Any]] = []
    fronts: dict[str, list] = {}
    for name in strategies:
        for budget in evals:
            runs = []
            started = time.perf_counter()
            for seed in range(protocol_seeds(name, seeds, pm)):
                kept = None if runs_dir is None else Path(runs_dir) / f"{name}-{budget}-{seed}.json"
                if kept is not None and kept.is_file():
                    runs.append(json.loads(kept.read_text(encoding="utf-8")))
                else:
                    strategy = pm.create("strategy", name, **options.get(name, {}))
                    problem = Problem(
                        truth.space,
                        truth.latency,
                        truth.accuracy,
                        budget=budget,
                        seed=seed,
                        strategy_name=name,
                        plugin_manager=pm,
                    )
                    result = strategy.search(problem)  # fires hwnas_search_finished
                    runs.append(score(result, truth))
                    if kept is not None:
                        _keep(kept, runs[-1])
                if budget == max(evals) and seed == 0:
                    fronts[name] = _front_rows(truth, runs[-1]["front_rows"])
                if progress:
                    progress(f"{name} {budget} seed {seed}")
            results.append(_summarise(name, budget, runs, time.perf_counter() - started))
    return {
        "protocol": _protocol_text(dataset),
        "space": space,
        "device": device,
        "dataset": dataset,
        "search_accuracy": truth.accuracy.search_label,
        "report_accuracy": truth.accuracy.report_label,
        "latency_target": truth.latency.name,
        "normalisation": {
            "lat_min_ms": truth.normaliser.lat_min,
            "lat_max_ms": truth.normaliser.lat_max,
            "err_best": truth.normaliser.err_best,
            "err_median": truth.normaliser.err_median,
            "reference": list(truth.normaliser.reference),
        },
        "true_hv": truth.true_hv,
        "latency_budgets_ms": truth.budgets_ms.tolist(),
        "budget_quantiles": list(QUANTILES),
        "true_best_accuracy": truth.true_best.tolist(),
        "true_front": _front_rows(truth, truth.true_front.tolist()),
        "results": results,
        "fronts_at_largest_budget_seed0": fronts,
    }


MAX_EVALS = 100_000


def _keep(path: Path, run: dict[str, Any]) -> None:
    """Write one run's score atomically (an interrupt leaves the old file or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(run) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def validate_evals(evals: Sequence[int]) -> list[int]:
    """Budgets as ints >= 1 (one-line error otherwise)."""
    out = []
    for value in evals:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise HwnasError(
                f"bad evaluation budget {value!r}", "e.g. --evals 100,300,1000"
            ) from None
        if not 1 <= number <= MAX_EVALS:
            raise HwnasError(
                f"evaluation budget must be >= 1 and <= {MAX_EVALS:,}, got {number}",
                "e.g. --evals 100",
            )
        out.append(number)
    if not out:
        raise HwnasError("no evaluation budget given", "e.g. --evals 100,300,1000")
    return out


def _front_rows(truth: GroundTruth, rows: Sequence[int]) -> list[dict[str, Any]]:
    return [
        {
            "arch": truth.space.format(truth.archs[r]),
            "latency_ms": float(truth.lat[r]),
            "search_accuracy": float(truth.search_acc[r]),
            "report_accuracy": float(truth.report_acc[r]),
        }
        for r in sorted(rows, key=lambda r: truth.lat[r])
    ]


def _summarise(name: str, budget: int, runs: list[dict], seconds: float) -> dict[str, Any]:
    ratios = [r["hv_ratio"] for r in runs]
    mean, std = _mean_std(ratios)
    regrets = np.array([r["regret"] for r in runs], dtype=float)
    return {
        "strategy": name,
        "evals": budget,
        "seeds": len(runs),
        "hv_ratio_mean": mean,
        "hv_ratio_std": std,
        "hv_ratio": ratios,
        "regret_mean": [_mean_std(col)[0] for col in regrets.T],
        "regret_mean_all": _mean_std(regrets.ravel())[0],
        "regret": regrets.tolist(),
        "no_feasible_pick": [int(np.isnan(col).sum()) for col in regrets.T],
        "evaluations_mean": float(np.mean([r["evaluations"] for r in runs])),
        "unique_mean": float(np.mean([r["unique"] for r in runs])),
        "seconds": seconds,
    }


def _protocol_text(dataset: str) -> str:
    return (
        "ground-truth arena (benchmarks/PROTOCOLS.md): search sees the search accuracy, "
        "fronts scored with report (test) accuracy; latency normalised by the space's "
        "min/max on the device, error (100-acc) normalised best->0, median->1 (clipped at 1); "
        "reference (1,1); exact 2-D HV; HV ratio vs the true report-accuracy front; regret "
        "at the 20/35/50/65/80% latency quantiles (pick = best search accuracy among "
        "feasible evaluated); budgets count repeats; seeds 0..n-1 "
        f"(default 10 random, 5 others); dataset {dataset}"
    )


def plot_arena(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """PNG: the true report-accuracy front and each strategy's front at the largest budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    true = report["true_front"]
    ax.step(
        [p["latency_ms"] for p in true],
        [p["report_accuracy"] for p in true],
        where="post",
        color="black",
        lw=1.6,
        label=f"true front ({len(true)} archs)",
    )
    budget = max(r["evals"] for r in report["results"]) if report["results"] else 0
    markers = "osD^vP*X"
    for i, (name, front) in enumerate(report["fronts_at_largest_budget_seed0"].items()):
        row = next(r for r in report["results"] if r["strategy"] == name and r["evals"] == budget)
        ax.plot(
            [p["latency_ms"] for p in front],
            [p["report_accuracy"] for p in front],
            marker=markers[i % len(markers)],
            ms=4,
            lw=0.8,
            alpha=0.85,
            drawstyle="steps-post",
            label=f"{name} (HV ratio {row['hv_ratio'][0]:.3f}, seed 0)",
        )
    norm = report["normalisation"]
    ax.set_ylim(100 - norm["err_median"] - 0.5, 100 - norm["err_best"] + 0.3)
    ax.set_xlim(0, norm["lat_max_ms"] * 1.02)
    ax.set_xlabel(f"latency on {report['device']} (ms, recorded)")
    ax.set_ylabel(f"test accuracy (%) [{report['report_accuracy']}]")
    ax.set_title(
        f"{report['space']} on {report['device']}: fronts after {budget} evaluations "
        f"(search sees {report['search_accuracy']})",
        fontsize=10,
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def finite(value: float) -> bool:
    """Whether ``value`` is a finite number (for table printing)."""
    return value is not None and math.isfinite(value)
