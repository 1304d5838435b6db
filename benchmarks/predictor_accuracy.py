"""Benchmark: latency predictors on live CPU targets and on the recorded NB201/FBNet/OFA tables.

Protocol (printed with the results; benchmarks/PROTOCOLS.md "Latency predictors on live
targets" and "Few-shot latency prediction"):

Live targets (``hurricane`` space, small profile, batch 1):

1. Run A: every distinct (layer, op) workload (224) plus the stem and head is
   measured in a fresh store (default TimingProtocol); 8 calibration + 50 test
   random architectures are measured end to end (``arch_workload``).
   Run B, independent (fresh store, new worker processes, later in time):
   the same workloads and the 50 test architectures again. A vs B on the
   held-out items is the REPEATABILITY CEILING.
2. Kernel predictor, train on 30% of the layer workloads (+ stem and head,
   always measured), test on the rest, against run A:
   - active: :func:`hwnas.predict.active_sample` replays run A as the device
     (a pool-based simulation: the choice only sees what it asked for);
   - random: 30% drawn uniformly (``default_rng(seed)``);
   - FLOPs x one constant (geometric mean of ms/FLOPs on the same training set).
   Mean over seeds. Each arm is scored on its own held-out rest and on the
   common held-out set (workloads neither arm chose). "arch sum" compares,
   over 10,000 random architectures, the sum of the arm's measured-or-predicted
   table with the sum of the fully measured table (only where run A measured
   everything): it is what active sampling optimises.
3. Architecture latency model (:class:`hwnas.predict.StoreLatencyModel` with
   only the arm's 30% measured, the rest predicted, overhead fitted on the 8
   calibration architectures) vs the 50 test architectures measured end to end
   in run A; baseline FLOPs x one constant fitted on the 8; ceiling A vs B.
4. Throughput of vectorised queries (index matrix and Architecture objects).

Kernel latency of a new target from the other targets' tables, leave one
target out over every live target: benchmarks/kernel_transfer.py.

Recorded tables: for every device, N in {10, 20, 50, 100, 900} samples of that
device alone (``default_rng(seed)``, seeds 0-4), Spearman on all remaining
architectures, mean over seeds; FLOPs / params Spearman on the same rest.

    nice -n 19 python benchmarks/predictor_accuracy.py
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from hwnas.cli.common import parse_target_spec
from hwnas.cpus import load_average
from hwnas.errors import HwnasError
from hwnas.live_latency import measure_whole
from hwnas.predict import KernelPredictor, PredictorParams, StoreLatencyModel, active_sample
from hwnas.predict.active import multiplicities
from hwnas.predict.metrics import accuracy_report, within
from hwnas.predict.model import archs_from_indices, index_matrix, sample_indices
from hwnas.profile import probe_target, profile_workloads
from hwnas.spaces.hurricane.ops import OP_NAMES
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.store import LatencyStore
from hwnas.targets.recorded.predictor import ArchParams, few_shot
from hwnas.timing import TimingProtocol

console = Console(width=160)
DEFAULT_TARGETS = ("onnxruntime", "tvm-cpu:mode=default,threads=1")
HELP6 = ("titan_rtx_256", "gold_6226", "pixel2", "raspi4", "eyeriss", "fpga")
SHOTS = (10, 20, 50, 100, 900)
ANCHORS = {
    "nn-Meter (Cortex-A76, thousands of samples/kernel) within +-10%": 0.990,
    "HELP 10 samples + meta-learning, mean of 6 devices (SRCC)": 0.932,
    "BRP-NAS 900 samples (SRCC)": 0.789,
}


def _ok(store: LatencyStore, fp: str) -> dict[str, float]:
    return {
        r.workload: float(r.measurement.median_ms)
        for r in store.measurements(fp)
        if r.measurement.ok
    }


def _mean_reports(reports: list[dict]) -> dict:
    keys = [k for k in reports[0] if isinstance(reports[0][k], (int, float))]
    return {k: float(np.nanmean([r[k] for r in reports])) for k in keys}


# ---------------------------------------------------------------------------
# live targets
# ---------------------------------------------------------------------------


def measure_runs(label, name, options, space, workloads, calib, test, store_dir, protocol):
    """Run A (workloads, calibration + test archs) then run B (workloads, test archs)."""
    stores = {}
    timings = {}
    for run in ("a", "b"):
        store = LatencyStore(
            store_dir / f"{label.replace(':', '_').replace(',', '_')}_{run}.sqlite"
        )
        stores[run] = store
        start = time.perf_counter()
        console.print(f"[bold]{label}[/bold] run {run.upper()}: {len(workloads)} workloads")
        profile_workloads(name, options, workloads, store, protocol)
        archs = [*calib, *test] if run == "a" else test
        console.print(f"[bold]{label}[/bold] run {run.upper()}: {len(archs)} whole architectures")
        measure_whole(name, options, space, archs, store, protocol)
        timings[run] = time.perf_counter() - start
    return stores, timings


def kernel_arm(kind, seed, layer_keys, by_key, fixed, truth, n_train, weight):
    """Training keys and predictor of one arm (active or random)."""
    params = PredictorParams(seed=seed)
    known = {w.key: (w.features, truth[w.key]) for w in fixed if w.key in truth}
    if kind == "active":
        result = active_sample(
            [by_key[k] for k in layer_keys],
            n_train,
            lambda ws: {w.key: truth[w.key] for w in ws if w.key in truth},
            known=known,
            weight=weight,
            params=params,
        )
        return set(result.measured) | set(known), result.predictor
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(sorted(layer_keys), n_train, replace=False).tolist()) | set(known)
    keys = sorted(chosen)
    predictor = KernelPredictor(params).fit(
        [by_key[k].features for k in keys], [truth[k] for k in keys], keys
    )
    return chosen, predictor


def live_benchmark(label, name, options, args, store_dir) -> dict:
    """All live figures of one target."""
    try:
        info = probe_target(name, options)
    except HwnasError as exc:
        console.print(f"[red]{label}: unavailable: {exc}[/red]")
        return {"available": False, "reason": str(exc)}
    space = HurricaneSpace()
    cells = [space.layer_workload(i, op) for i in range(len(space.layers)) for op in OP_NAMES]
    weight = multiplicities(cells)
    unique = list({w.key: w for w in cells}.values())
    subset = args.subset.get(name)
    if subset and subset < len(unique):
        rng = np.random.default_rng(0)
        unique = [unique[i] for i in sorted(rng.choice(len(unique), subset, replace=False))]
    fixed = list(space.fixed_workloads().values())
    rng = np.random.default_rng(1000)
    n_arch = args.archs.get(name, args.archs["default"])
    n_calib = args.calib
    archs = [space.sample(rng) for _ in range(n_calib + n_arch)]
    calib, test = archs[:n_calib], archs[n_calib:]
    protocol = TimingProtocol()
    t0 = time.perf_counter()
    stores, timings = measure_runs(
        label, name, options, space, [*unique, *fixed], calib, test, store_dir, protocol
    )
    fp = info.fingerprint_key
    truth, second = _ok(stores["a"], fp), _ok(stores["b"], fp)
    by_key = {w.key: w for w in [*unique, *fixed]}
    layer_keys = [w.key for w in unique if w.key in truth]
    complete = len(layer_keys) == len({w.key for w in cells})
    n_train = round(args.fraction * len(layer_keys))
    flops = {k: by_key[k].features["flops"] for k in by_key}

    kernel: dict[str, list] = {"active": [], "random": [], "flops_active": [], "flops_random": []}
    common: dict[str, list] = {"active": [], "random": [], "flops": [], "ceiling": []}
    ceiling: dict[str, list] = {"active": [], "random": []}
    arch_sum: dict[str, list] = {"active": [], "random": []}
    arch_model: dict[str, list] = {"active": [], "random": []}
    arms: dict[str, dict] = {}
    e2e_a = {a: ms for a, ms in _whole(stores["a"], space, fp, archs).items()}
    e2e_b = _whole(stores["b"], space, fp, test)
    test_ok = [a for a in test if a in e2e_a]
    calib_ok = [a for a in calib if a in e2e_a]
    idx_10k = sample_indices(space, 10_000, seed=7)
    full_model = None
    if complete:
        full_model = StoreLatencyModel(space, stores["a"], fp)
        full_parts = full_model.parts_indices(idx_10k)
    for seed in range(args.seeds):
        chosen = {}
        for kind in ("active", "random"):
            keys, predictor = kernel_arm(
                kind, seed, layer_keys, by_key, fixed, truth, n_train, weight
            )
            chosen[kind] = keys
            held = [k for k in layer_keys if k not in keys]
            pred = predictor.predict([by_key[k].features for k in held]).ms
            kernel[kind].append(accuracy_report(pred, [truth[k] for k in held]))
            train = sorted(keys)
            c = math.exp(np.mean([math.log(truth[k] / flops[k]) for k in train]))
            kernel["flops_" + kind].append(
                accuracy_report([c * flops[k] for k in held], [truth[k] for k in held])
            )
            both = [k for k in held if k in second]
            ceiling[kind].append(
                accuracy_report([second[k] for k in both], [truth[k] for k in both])
            )
            # architecture latency model with only this arm's workloads measured
            exclude = set(truth) - keys
            model = StoreLatencyModel(space, stores["a"], fp, predictor, exclude=exclude)
            if full_model is not None:
                parts = model.parts_indices(idx_10k)
                arch_sum[kind].append(
                    {"within_10": within(parts, full_parts, 0.10), **_spear(parts, full_parts)}
                )
            if calib_ok and test_ok:
                model.calibrate(calib_ok, [e2e_a[a] for a in calib_ok])
                pred_arch = model.latencies(test_ok)
                fractions = model.measured_fractions_indices(index_matrix(space, test_ok))
                arch_model[kind].append(
                    {
                        **accuracy_report(pred_arch, [e2e_a[a] for a in test_ok]),
                        "mean_measured_fraction": float(np.mean(fractions)),
                        "overhead": model.overhead.as_dict(),
                    }
                )
            arms[kind] = {"model": model, "predictor": predictor}
        held_both = [
            k for k in layer_keys if k not in chosen["active"] and k not in chosen["random"]
        ]
        for kind in ("active", "random"):
            pred = arms[kind]["predictor"].predict([by_key[k].features for k in held_both]).ms
            common[kind].append(accuracy_report(pred, [truth[k] for k in held_both]))
        train = sorted(chosen["random"])
        c = math.exp(np.mean([math.log(truth[k] / flops[k]) for k in train]))
        common["flops"].append(
            accuracy_report([c * flops[k] for k in held_both], [truth[k] for k in held_both])
        )
        both = [k for k in held_both if k in second]
        common["ceiling"].append(
            accuracy_report([second[k] for k in both], [truth[k] for k in both])
        )

    out: dict = {
        "available": True,
        "target": label,
        "fingerprint_key": fp,
        "fingerprint": info.fingerprint,
        "layer_workloads": len(layer_keys),
        "subset": bool(subset),
        "train_fraction": args.fraction,
        "train_workloads": n_train,
        "seeds": args.seeds,
        "measure_seconds": timings,
        "kernel": {k: _mean_reports(v) for k, v in kernel.items()},
        "kernel_ceiling": {k: _mean_reports(v) for k, v in ceiling.items()},
        "kernel_common": {k: _mean_reports(v) for k, v in common.items()},
        "arch_sum_vs_fully_measured": {k: _mean_reports(v) for k, v in arch_sum.items() if v},
    }
    # architecture figures
    arch: dict = {"test_archs": len(test_ok), "calibration_archs": len(calib_ok)}
    if calib_ok and test_ok:
        true_ms = [e2e_a[a] for a in test_ok]
        for kind in ("active", "random"):
            arch[kind] = _mean_reports(arch_model[kind])
            arch[kind]["overhead_seed0"] = arch_model[kind][0]["overhead"]
        if full_model is not None:
            full_model.calibrate(calib_ok, [e2e_a[a] for a in calib_ok])
            arch["all_measured"] = accuracy_report(full_model.latencies(test_ok), true_ms)
            arch["all_measured"]["overhead"] = full_model.overhead.as_dict()
            sums = full_model.parts_indices(index_matrix(space, test_ok))
            arch["all_measured_no_overhead"] = accuracy_report(sums, true_ms)
        arch_flops = np.array([space.cost(a).flops for a in archs], dtype=float)
        f_of = dict(zip(archs, arch_flops, strict=True))
        c = math.exp(np.mean([math.log(e2e_a[a] / f_of[a]) for a in calib_ok]))
        arch["flops"] = accuracy_report([c * f_of[a] for a in test_ok], true_ms)
        both = [a for a in test_ok if a in e2e_b]
        arch["ceiling"] = accuracy_report([e2e_b[a] for a in both], [e2e_a[a] for a in both])
    out["arch"] = arch
    # throughput
    model = arms["active"]["model"]
    idx = sample_indices(space, 100_000, seed=3)
    start = time.perf_counter()
    model.latencies_indices(idx)
    rate_idx = len(idx) / (time.perf_counter() - start)
    objs = archs_from_indices(space, idx)
    start = time.perf_counter()
    model.latencies(objs)
    rate_obj = len(objs) / (time.perf_counter() - start)
    out["throughput"] = {"index_matrix_per_s": rate_idx, "architectures_per_s": rate_obj}
    out["summary_active_model"] = {
        k: v for k, v in model.summary().items() if k not in ("predictor", "overhead")
    }
    out["wall_seconds"] = time.perf_counter() - t0
    return out


def _whole(store, space, fp, archs) -> dict:
    out = {}
    for a in archs:
        row = store.get(fp, space.arch_workload(a).key)
        if row is not None and row.measurement.ok:
            out[a] = float(row.measurement.median_ms)
    return out


def _spear(a, b) -> dict:
    from hwnas.predict.metrics import spearman

    return {"spearman": spearman(a, b)}


def print_live(res: dict) -> None:
    """The live tables of one target."""
    if not res.get("available"):
        console.print(f"[red]unavailable: {res.get('reason')}[/red]")
        return
    k, c, cm = res["kernel"], res["kernel_ceiling"], res["kernel_common"]
    title = (
        f"{res['target']}: kernel predictor, {res['train_workloads']} of "
        f"{res['layer_workloads']} layer workloads ({100 * res['train_fraction']:.0f}%)"
        f"{' [random subset of workloads]' if res['subset'] else ''} + stem/head, "
        f"mean of {res['seeds']} seeds"
    )
    t = Table("predictor / test set", "n", "+-10%", "+-5%", "RMSE log", "Spearman", title=title)

    def row(name, r):
        t.add_row(
            name,
            f"{r['n']:.0f}",
            f"{100 * r['within_10']:.1f}%",
            f"{100 * r['within_5']:.1f}%",
            f"{r['rmse_log']:.3f}",
            f"{r['spearman']:.3f}",
        )

    for kind in ("active", "random"):
        row(f"XGBoost, {kind} 30% / its held-out rest", k[kind])
        row(f"FLOPs x constant, {kind} 30% / same rest", k["flops_" + kind])
        row("[italic]ceiling: run B vs A, same rest[/italic]", c[kind])
    row("XGBoost active / common held-out", cm["active"])
    row("XGBoost random / common held-out", cm["random"])
    row("FLOPs x constant / common held-out", cm["flops"])
    row("[italic]ceiling: run B vs A, common held-out[/italic]", cm["ceiling"])
    console.print(t)
    s = res.get("arch_sum_vs_fully_measured") or {}
    if s:
        console.print(
            "arch sum vs fully measured table (10,000 random archs): "
            + ", ".join(
                f"{kind} {100 * v['within_10']:.1f}% within +-10% (SRCC {v['spearman']:.3f})"
                for kind, v in s.items()
            ),
            highlight=False,
        )
    a = res["arch"]
    if "ceiling" in a:
        t = Table(
            "latency model",
            "n",
            "+-10%",
            "+-5%",
            "RMSE log",
            "Spearman",
            "measured share",
            title=f"{res['target']}: {a['test_archs']} random architectures measured end to end "
            f"vs predicted (overhead fitted on {a['calibration_archs']})",
        )
        for name, key in (
            ("active 30% measured + predicted + overhead", "active"),
            ("random 30% measured + predicted + overhead", "random"),
            ("all workloads measured + overhead", "all_measured"),
            ("all workloads measured, plain sum", "all_measured_no_overhead"),
            ("FLOPs x constant (fitted on calibration archs)", "flops"),
            ("[italic]ceiling: run B vs A[/italic]", "ceiling"),
        ):
            if key in a:
                r = a[key]
                share = r.get("mean_measured_fraction")
                t.add_row(
                    name,
                    f"{r['n']:.0f}",
                    f"{100 * r['within_10']:.1f}%",
                    f"{100 * r['within_5']:.1f}%",
                    f"{r['rmse_log']:.3f}",
                    f"{r['spearman']:.3f}",
                    "-" if share is None else f"{100 * share:.0f}%",
                )
        console.print(t)
        o = a["active"]["overhead_seed0"]
        console.print(
            f"overhead (active, seed 0): {o['kind']}, latency = {o['scale']:.3f} x parts "
            f"{o['offset']:+.4f} ms (leave-one-out error {100 * o['loo_error']:.1f}%)",
            highlight=False,
        )
    tp = res["throughput"]
    console.print(
        f"vectorised queries: {tp['index_matrix_per_s']:,.0f}/s (index matrix), "
        f"{tp['architectures_per_s']:,.0f}/s (Architecture objects); measuring took "
        + ", ".join(f"run {r.upper()} {s:.0f} s" for r, s in res["measure_seconds"].items()),
        highlight=False,
    )


# ---------------------------------------------------------------------------
# recorded tables
# ---------------------------------------------------------------------------


def recorded_benchmark(space: str, devices, shots, seeds) -> dict:
    """Few-shot Spearman per device and N, with FLOPs/params baselines."""
    rows = {}
    for device in devices:
        row: dict = {}
        flops, params = [], []
        for n in shots:
            runs = [few_shot(space, device, n, s, params=ArchParams()) for s in range(seeds)]
            row[str(n)] = float(np.mean([r["spearman"] for r in runs]))
            flops += [r["flops_spearman"] for r in runs if r["flops_spearman"] is not None]
            params += [r["params_spearman"] for r in runs if r["params_spearman"] is not None]
        row["flops"] = float(np.mean(flops)) if flops else None
        row["params"] = float(np.mean(params)) if params else None
        rows[device] = row
    return rows


def print_recorded(space: str, rows: dict, shots, seeds) -> None:
    """One table per recorded space."""
    t = Table(
        "device",
        *(f"N={n}" for n in shots),
        "FLOPs",
        "params",
        title=f"{space}: Spearman on all remaining architectures, N samples of the device alone, "
        f"mean of {seeds} seeds",
    )

    def fmt(v):
        return "-" if v is None else f"{v:.3f}"

    for device, row in rows.items():
        t.add_row(device, *(fmt(row[str(n)]) for n in shots), fmt(row["flops"]), fmt(row["params"]))
    groups = {"mean, all devices": list(rows)}
    if space == "nb201":
        groups = {"mean, HELP's 6": list(HELP6), **groups}
    for name, devs in groups.items():
        vals = [rows[d] for d in devs if d in rows]
        t.add_row(
            f"[bold]{name}[/bold]",
            *(fmt(np.mean([v[str(n)] for v in vals])) for n in shots),
            *(
                fmt(np.mean([v[k] for v in vals]) if all(v[k] is not None for v in vals) else None)
                for k in ("flops", "params")
            ),
        )
    console.print(t)


# ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--target",
        action="append",
        help="Target spec NAME[:K=V,...] (repeat); default: " + " ".join(DEFAULT_TARGETS),
    )
    parser.add_argument("--out", default="benchmarks/results/predictor_accuracy.json")
    parser.add_argument("--store-dir", default=None, help="Keep (and reuse) the run A/B stores.")
    parser.add_argument("--fraction", type=float, default=0.3)
    parser.add_argument("--seeds", type=int, default=3, help="Seeds of the live arms.")
    parser.add_argument("--calib", type=int, default=8)
    parser.add_argument("--archs", type=int, default=50)
    parser.add_argument("--tvm-archs", type=int, default=16)
    parser.add_argument("--tvm-subset", type=int, default=80)
    parser.add_argument("--recorded-seeds", type=int, default=5)
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-recorded", action="store_true")
    args = parser.parse_args()
    args.subset = {"tvm-cpu": args.tvm_subset}
    args.archs = {"default": args.archs, "tvm-cpu": args.tvm_archs}
    started = time.perf_counter()
    results: dict = {
        "protocol": __doc__,
        "anchors": ANCHORS,
        "live": {},
        "recorded": {},
    }
    console.print(__doc__, highlight=False)
    if not args.skip_live:
        results["load_average"] = {"before": load_average()}
        console.print(f"load average before: {results['load_average']['before']}")
        tmp = None
        if args.store_dir:
            store_dir = Path(args.store_dir)
            store_dir.mkdir(parents=True, exist_ok=True)
        else:
            tmp = store_dir = Path(tempfile.mkdtemp(prefix="hwnas-predictor-bench-"))
        try:
            for spec in args.target or DEFAULT_TARGETS:
                label, name, options = parse_target_spec(spec)
                res = live_benchmark(label, name, options, args, store_dir)
                results["live"][label] = res
                print_live(res)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        results["load_average"]["after"] = load_average()
        console.print(f"load average after: {results['load_average']['after']}")
    if not args.skip_recorded:
        from hwnas.targets.recorded import tables as data

        spaces = {
            "nb201": data.NB201_DEVICES,
            "fbnet": data.FBNET_DEVICES,
            "ofa": data.OFA_DEVICES,
        }
        for space, devices in spaces.items():
            start = time.perf_counter()
            rows = recorded_benchmark(space, devices, SHOTS, args.recorded_seeds)
            results["recorded"][space] = {
                "devices": rows,
                "seconds": time.perf_counter() - start,
            }
            print_recorded(space, rows, SHOTS, args.recorded_seeds)
    results["wall_seconds"] = time.perf_counter() - started
    console.print("anchors: " + "; ".join(f"{k}: {v}" for k, v in ANCHORS.items()), highlight=False)
    console.print(f"wall time {results['wall_seconds']:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
