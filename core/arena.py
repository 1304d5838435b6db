"""The ground-truth arena: run strategies on a recorded device and score them against the truth.

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

Any strategy plugin runs here unchanged: the arena only builds a
:class:`~hwnas.problem.Problem` and calls ``strategy.search(problem)``. A space
qualifies when it has an accuracy source and a recorded device that answers
every architecture:

- **tabulated** (:class:`~hwnas.latency.TabulatedLatency` holding the whole
  space, e.g. NB201): the truth is exact;
- **open** (a space too large to tabulate whose device answers any
  architecture, e.g. OFA on ``ofa/note10``'s lookup table, accuracy from OFA's
  predictor): the "true" front is the best known one, from a uniform sample
  (:data:`SAMPLE_SIZE` architectures; it also sets the latency budgets and
  the median error), reference searches (:data:`REFERENCE`) and every run the
  arena scores, so HV ratios are relative to that front and at most 1.
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
from hwnas.latency import TabulatedLatency, recorded_devices, target_space_options
from hwnas.manager import PluginManager, get_plugin_manager
from hwnas.pareto import (
    Normaliser,
    best_under_budget,
    latency_budgets,
    pick_under_budget,
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
    """The truth a search is scored against: latency, search and report accuracy per row.

    ``exact``: the rows are every architecture of the space (a fully
    tabulated device). Otherwise the rows are what is known: a uniform
    ``sample`` of the space, the reference searches' evaluations and whatever
    the scored runs returned (:meth:`add`); the front is then the best known
    one, and :meth:`settle` recomputes it after rows are added.
    ``sample`` (row indices) stands for the space: the latency budgets are its
    quantiles and the median error of the normalisation is its median.
    """

    space: Any
    device: str
    latency: Any
    accuracy: AccuracySource
    archs: list[Architecture]
    lat: np.ndarray
    search_acc: np.ndarray
    report_acc: np.ndarray
    sample: np.ndarray
    budgets_ms: np.ndarray
    row_of: dict
    exact: bool = True
    reference: dict | None = None
    normaliser: Normaliser | None = None
    true_front: np.ndarray | None = None
    true_hv: float = float("nan")
    true_best: np.ndarray | None = None

    def rows(self, archs) -> np.ndarray:
        """Table rows of ``archs`` (rows are added for unknown ones when not exact)."""
        if not self.exact:
            self.add(archs)
        get = self.row_of.__getitem__
        return np.fromiter((get(a) for a in archs), dtype=np.int64, count=len(archs))

    def add(self, archs: Sequence[Architecture], lat=None, search_acc=None) -> None:
        """Look up the unknown ``archs`` (latency and both accuracies) and append them."""
        new = list(dict.fromkeys(a for a in archs if a not in self.row_of))
        if not new:
            return
        if self.exact:
            raise HwnasError(f"{self.space.name} architecture not in the table: {new[0]}")
        if lat is None:
            lat, search_acc = latency_and_accuracy(self.latency, self.accuracy, new)
        else:
            keep = {a: i for i, a in enumerate(archs)}
            lat = np.asarray(lat, float)[[keep[a] for a in new]]
            search_acc = np.asarray(search_acc, float)[[keep[a] for a in new]]
        report = np.asarray(self.accuracy.report_accuracies(new), dtype=float)
        for a in new:
            self.row_of[a] = len(self.archs)
            self.archs.append(a)
        self.lat = np.concatenate([self.lat, lat])
        self.search_acc = np.concatenate([self.search_acc, search_acc])
        self.report_acc = np.concatenate([self.report_acc, report])
        self.true_front = None

    def settle(self) -> GroundTruth:
        """(Re)compute the normalisation, the front, its HV and the best under each budget."""
        if self.true_front is not None:
            return self
        lat, report = self.lat, self.report_acc
        median_err = float(np.median(100.0 - report[self.sample]))
        self.normaliser = Normaliser(
            float(lat.min()), float(lat.max()), float((100.0 - report).min()), median_err
        )
        self.true_front = true_front(lat, report)
        front = self.true_front
        self.true_hv = self.normaliser.hypervolume(lat[front], report[front])
        self.true_best = np.array([best_under_budget(lat, report, b) for b in self.budgets_ms])
        return self

    def hypervolume(self, rows: np.ndarray) -> float:
        """Normalised HV of the rows scored with report accuracy."""
        return self.settle().normaliser.hypervolume(self.lat[rows], self.report_acc[rows])


#: Open spaces (not every architecture tabulated): the uniform sample and the reference searches.
SAMPLE_SIZE = 5000
REFERENCE = {"strategy": "evolution", "evals": 10_000, "seeds": 2}


def reference_search(evals: int, seeds: int) -> dict[str, Any]:
    """The reference searches of an open space (:data:`REFERENCE` with these counts), checked."""
    if not 1 <= int(evals) <= MAX_EVALS:
        raise HwnasError(
            f"--reference-evals must be >= 1 and <= {MAX_EVALS:,}, got {evals}",
            "e.g. --reference-evals 10000",
        )
    if not 0 <= int(seeds) <= 100:
        raise HwnasError(
            f"--reference-seeds must be >= 0 and <= 100, got {seeds}", "e.g. --reference-seeds 2"
        )
    return {**REFERENCE, "evals": int(evals), "seeds": int(seeds)}


def latency_and_accuracy(latency, accuracy, archs) -> tuple[np.ndarray, np.ndarray]:
    """Latency (ms) and search accuracy of ``archs``; one line when the device cannot answer."""
    try:
        lat = np.asarray(latency.latencies(archs), dtype=float)
    except HwnasError as exc:
        raise HwnasError(
            f"{latency.name} cannot answer every architecture of the space ({exc.message}): "
            "the arena needs every one",
            "use a fully tabulated space or a device that answers any architecture "
            "(see 'hwnas targets --recorded')",
        ) from None
    return lat, np.asarray(accuracy.accuracies(archs), dtype=float)


def ground_truth(
    space: str,
    device: str,
    dataset: str = "c10",
    data_dir: str | os.PathLike | None = None,
    plugin_manager: PluginManager | None = None,
    reference: dict | None = None,
    exact_only: bool = False,
) -> GroundTruth:
    """The truth of ``space`` on ``device``: the whole table, or for a space too large to
    tabulate, a uniform sample plus reference searches (``reference``: strategy,
    evals, seeds; default :data:`REFERENCE`) whose best known front stands in for the true one.

    ``exact_only``: a one-line error instead of the (costly) best known front.

    ``dataset`` and ``data_dir`` go to the space's default accuracy source
    when it takes them.
    """
    pm = plugin_manager or get_plugin_manager()
    check_device(space, device, pm)
    options = {} if data_dir is None else {"data_dir": str(data_dir)}
    target = f"{space}/{device}"
    latency = pm.create("target", target, **options)
    search_space = pm.create("space", space, **target_space_options(target, space, pm))
    accuracy = default_accuracy(space, pm, dataset=dataset, **options)
    archs = list(latency.architectures()) if isinstance(latency, TabulatedLatency) else []
    if len(archs) == search_space.size:
        lat = latency.all_latencies()
        search_acc = np.asarray(accuracy.accuracies(archs), dtype=float)
        truth = GroundTruth(
            space=search_space,
            device=device,
            latency=latency,
            accuracy=accuracy,
            archs=archs,
            lat=lat,
            search_acc=search_acc,
            report_acc=np.asarray(accuracy.report_accuracies(archs), dtype=float),
            sample=np.arange(len(archs)),
            budgets_ms=latency_budgets(lat, QUANTILES),
            row_of={a: i for i, a in enumerate(archs)},
        )
        return truth.settle()
    if exact_only:
        raise HwnasError(
            f"{target} records {len(archs):,} of the {search_space.size:,} architectures of "
            f"{space}: no exact truth",
            "use a fully tabulated space (see 'hwnas targets --recorded')",
        )
    return _open_truth(search_space, device, latency, accuracy, reference or REFERENCE, pm)


def _open_truth(search_space, device, latency, accuracy, reference: dict, pm) -> GroundTruth:
    """A uniform sample of the space plus the reference searches' evaluations."""
    rng = np.random.default_rng(0)
    sample = list(dict.fromkeys(search_space.sample(rng) for _ in range(SAMPLE_SIZE)))
    lat, search_acc = latency_and_accuracy(latency, accuracy, sample)
    truth = GroundTruth(
        space=search_space,
        device=device,
        latency=latency,
        accuracy=accuracy,
        archs=[],
        lat=np.empty(0),
        search_acc=np.empty(0),
        report_acc=np.empty(0),
        sample=np.arange(len(sample)),
        budgets_ms=latency_budgets(lat, QUANTILES),
        row_of={},
        exact=False,
        reference={**reference, "sample": len(sample)},
    )
    truth.add(sample, lat, search_acc)
    for seed in range(int(reference["seeds"])):
        strategy = pm.create("strategy", reference["strategy"])
        problem = Problem(
            search_space,
            latency,
            accuracy,
            budget=int(reference["evals"]),
            seed=1000 + seed,
            strategy_name=reference["strategy"],
            plugin_manager=pm,
        )
        history = strategy.search(problem).history
        truth.add(
            [e.arch for e in history],
            [e.latency_ms for e in history],
            [e.accuracy for e in history],
        )
    return truth.settle()


def raw_score(result: SearchResult, truth: GroundTruth) -> dict[str, Any]:
    """What scoring needs from a run, independent of the front it is compared with.

    ``front``: the returned front (architecture strings); ``picks``: per
    latency budget, the evaluated architecture with the best search accuracy
    within it (None when none is).
    """
    lat = np.array([e.latency_ms for e in result.history])
    seen = np.array([e.accuracy for e in result.history])
    picks = []
    for budget in truth.budgets_ms:
        row = pick_under_budget(lat, seen, budget) if len(lat) else None
        picks.append(None if row is None else truth.space.format(result.history[row].arch))
    return {
        "front": [truth.space.format(e.arch) for e in result.front],
        "picks": picks,
        "evaluations": result.evaluations,
        "unique": len({e.arch for e in result.history}),
    }


def finalise(raw: dict[str, Any], truth: GroundTruth) -> dict[str, Any]:
    """HV ratio of the returned front (scored with report accuracy) and the regrets."""
    parse = truth.space.parse
    front_rows = truth.rows([parse(a) for a in raw["front"]])
    pick_rows = truth.rows([parse(a) for a in raw["picks"] if a is not None])
    truth.settle()
    picked = iter(truth.report_acc[pick_rows])
    regrets = [
        float("nan") if a is None else float(best - next(picked))
        for a, best in zip(raw["picks"], truth.true_best, strict=True)
    ]
    hv = truth.hypervolume(front_rows)
    return {
        **raw,
        "hv": hv,
        "hv_ratio": hv / truth.true_hv,
        "regret": regrets,
        "front_rows": front_rows.tolist(),
    }


def score(result: SearchResult, truth: GroundTruth) -> dict[str, Any]:
    """HV ratio of the returned front (scored with report accuracy), regrets, evaluations used.

    On an open space the run's architectures join the best known front first.
    """
    raw = raw_score(result, truth)
    return finalise(raw, truth)


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
    reference: dict | None = None,
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
    truth = ground_truth(space, device, dataset, data_dir, pm, reference)
    options = strategy_options or {}
    raws: dict[tuple[str, int], list[dict[str, Any]]] = {}
    seconds: dict[tuple[str, int], float] = {}
    for name in strategies:
        for budget in evals:
            runs = raws.setdefault((name, budget), [])
            started = time.perf_counter()
            for seed in range(protocol_seeds(name, seeds, pm)):
                kept = None if runs_dir is None else Path(runs_dir) / f"{name}-{budget}-{seed}.json"
                run = _kept(kept)
                if run is None:
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
                    run = raw_score(strategy.search(problem), truth)  # fires hwnas_search_finished
                    if kept is not None:
                        _keep(kept, run)
                runs.append(run)
                if progress:
                    progress(f"{name} {budget} seed {seed}")
            seconds[(name, budget)] = time.perf_counter() - started
    for runs in raws.values():  # on an open space every run joins the best known front first
        for run in runs:
            truth.rows([truth.space.parse(a) for a in run["front"] + run["picks"] if a])
    truth.settle()
    results, fronts = [], {}
    for (name, budget), runs in raws.items():
        scored = [finalise(run, truth) for run in runs]
        if budget == max(evals):
            fronts[name] = _front_rows(truth, scored[0]["front_rows"])
        results.append(_summarise(name, budget, scored, seconds[(name, budget)]))
    return {
        "protocol": _protocol_text(dataset, truth),
        "space": space,
        "device": device,
        "dataset": dataset,
        "search_accuracy": truth.accuracy.search_label,
        "report_accuracy": truth.accuracy.report_label,
        "latency_target": truth.latency.name,
        "truth": "exact (every architecture tabulated)"
        if truth.exact
        else "best known front (uniform sample + reference searches + every scored run)",
        "reference": truth.reference,
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


def _kept(path: Path | None) -> dict[str, Any] | None:
    """A finished run kept by an earlier arena (None when there is none in this format)."""
    if path is None or not path.is_file():
        return None
    run = json.loads(path.read_text(encoding="utf-8"))
    return run if "picks" in run else None


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


def _protocol_text(dataset: str, truth: GroundTruth) -> str:
    open_note = (
        ""
        if truth.exact
        else (
            "; the space is not tabulated: 'true' is the best known front of a uniform sample "
            f"({truth.reference['sample']} archs, which also sets the budgets and the median "
            f"error), {truth.reference['seeds']} {truth.reference['strategy']} runs of "
            f"{truth.reference['evals']} evaluations and every scored run"
        )
    )
    return (
        "ground-truth arena (benchmarks/PROTOCOLS.md): search sees the search accuracy, "
        "fronts scored with report (test) accuracy; latency normalised by the space's "
        "min/max on the device, error (100-acc) normalised best->0, median->1 (clipped at 1); "
        "reference (1,1); exact 2-D HV; HV ratio vs the true report-accuracy front; regret "
        "at the 20/35/50/65/80% latency quantiles (pick = best search accuracy among "
        "feasible evaluated); budgets count repeats; seeds 0..n-1 "
        f"(default 10 random, 5 others); dataset {dataset}{open_note}"
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
        label=f"{'true' if report.get('truth', 'exact').startswith('exact') else 'best known'} "
        f"front ({len(true)} archs)",
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
    held_out = report["report_accuracy"] != report["search_accuracy"]
    ax.set_ylabel(f"{'test ' if held_out else ''}accuracy (%) [{report['report_accuracy']}]")
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
