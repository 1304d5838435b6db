"""Proxy transfer on NAS-Bench-201 (27 recorded settings) and on a live pair (hurricane).

Protocol: benchmarks/PROTOCOLS.md, "Few-shot latency prediction" and "Pareto
search quality".

A. **HELP's 6 devices** (titan_rtx_256, gold_6226, pixel2, raspi4, eyeriss,
   fpga), N = 10 target samples drawn uniformly with
   ``numpy.random.default_rng(seed).choice(15625, 10, replace=False)``, seeds
   0..4, Spearman SRCC of the prediction on all 15,615 remaining
   architectures, mean over seeds. Proxies: HELP's 13 meta-training devices,
   and all allowed devices (never the target, never another setting of its
   hardware). Printed side by side with the baselines, computed in the same
   run: XGBoost on the one-hot encoding of the samples alone; ridge on
   effective op counts; best single proxy chosen on the samples; ridge and
   NNLS of the target's log latency on all proxies' log latencies. "ours" is
   :func:`hwnas.plugins.proxy.fewshot.fit_adaptation` (leave-one-out choice among
   NNLS on proxies and ridge on proxies + op counts, latency in ms). The same
   with the strategy's default ``spread`` sampling is printed too.
B. **All 27 settings, one proxy**: the best other device (highest full-table
   SRCC, same hardware excluded: what ``hwnas transfer analyze`` reports) and
   the fixed proxy ``pixel3``. SRCC between proxy and target before
   adaptation, and of the adapted model after k = 10 and k = 20 uniform
   samples, on all other architectures, mean over seeds 0..4.
C. **Search**: the ``proxy`` strategy as shipped (k = 10 spread samples,
   threshold 0.9, aging evolution for 1000 evaluations on the proxy or the
   adapted model, then the front re-timed on the target; at most 100 target
   measurements), seeds 0..4. HV ratio of the returned front (scored with
   CIFAR-10 test accuracy, :func:`hwnas.arena.score`) to the true front, the
   target measurements spent and how often it adapted. Reference: aging
   evolution with 100 target evaluations, in the same run.
D. **Live pairs** on ``hurricane`` (small profile): ``onnxruntime`` as proxy of
   ``torch`` and of ``openvino`` on this CPU. A pool of architectures is measured end to end
   (``arch_workload``, isolated workers, :class:`~hwnas.store.LatencyStore`) on
   both; the proxy model is that pool (hwnas.predict's StoreLatencyModel would
   need the per-layer table of the proxy, which is not measured here). For
   seeds 0..4: 10 target samples (spread and uniform), SRCC before and after
   adaptation on the rest of the pool, and the repeatability ceiling (20 of them
   timed again on the target in an independent run). Measurements are reused
   from ``benchmarks/results/transfer_live*.sqlite`` on a re-run.

E. **Leave one device out** (the main few-shot figure): each of NB201's and
   FBNet's 27 settings is the target in turn, the other settings minus the
   same hardware the proxies; N = 5, 10, 20; seeds 0..4; samples drawn
   uniformly (``default_rng(seed).choice(n, N, replace=False)``) and with the
   ``spread`` rule; SRCC on every architecture not drawn (NB201: 15,625 cells;
   FBNet: the 5,000 tabulated). "ours" is :func:`fit_adaptation` with the
   sampling rule the product uses at that N
   (:func:`hwnas.plugins.proxy.sampling.sampling_rule`); printed per N: mean
   over devices, worst device, share of (device, seed) fits below 0.5, for
   ours and the same-run baselines (best proxy chosen on the samples; that
   proxy + ridge on effective-edge op counts, FBNet: block counts; NNLS on the
   proxies' log latency), the rule LODO prefers, and how often the expected-
   SRCC interval covers the true SRCC; plus HELP's 6 at N = 10.

    python benchmarks/proxy_transfer.py [--parts A,B,C,D,E] [--no-live | --only-live]
                                        [--live-pool 50] [--no-search]
                                        [--data-dir PATH] [--out benchmarks/results]

``--parts lodo`` runs part E alone. Writes ``OUT/proxy_transfer.json`` (parts
A-D; parts not run keep their figures) and ``OUT/proxy_transfer_lodo.json``
(part E).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from hwnas.cli.common import jsonable
from hwnas.cpus import load_average
from hwnas.plugins.proxy.features import Features, arch_features
from hwnas.plugins.proxy.fewshot import fit_adaptation, fit_nnls, fit_ridge
from hwnas.plugins.proxy.monotonicity import allowed_proxies, best_proxies, srcc_matrix
from hwnas.plugins.proxy.sampling import select_samples
from hwnas.plugins.proxy.stats import spearman
from hwnas.targets.recorded import tables as data

HELP6 = ("titan_rtx_256", "gold_6226", "pixel2", "raspi4", "eyeriss", "fpga")
HELP_PUBLISHED = {
    "titan_rtx_256": 0.987,
    "gold_6226": 0.989,
    "pixel2": 0.802,
    "raspi4": 0.890,
    "eyeriss": 0.940,
    "fpga": 0.985,
}
HELP13 = (
    "1080ti_1",
    "1080ti_32",
    "1080ti_256",
    "silver_4114",
    "silver_4210r",
    "samsung_a50",
    "pixel3",
    "essential_ph_1",
    "samsung_s7",
    "titanx_1",
    "titanx_32",
    "titanx_256",
    "gold_6240",
)
#: Reference baselines of the protocol (N=10, HELP's 13 as proxies, mean SRCC over HELP's 6).
REFERENCE_BASELINES = {
    "xgb_onehot": 0.34,  # XGBoost on the one-hot encoding of the samples alone
    "ridge_eff_ops": 0.77,  # ridge on effective-edge op counts
    "best_single": 0.92,  # best single proxy chosen on the samples
    "ridge_nnls": 0.95,  # ridge / NNLS of the target on the proxies' log latencies
}
SEEDS = range(5)
FIXED_PROXY = "pixel3"


def say(text: str = "") -> None:
    print(text, flush=True)


class NB201:
    """The recorded table: latency matrix, encodings and features, loaded once."""

    def __init__(self, data_dir=None) -> None:
        from hwnas.spaces.nb201 import NB201Space

        self.table = data.nb201_table(data_dir)
        self.devices = list(data.NB201_DEVICES)
        self.space = NB201Space()
        self.archs = list(self.table.archs)
        self.n = len(self.archs)
        self.ms = np.column_stack([self.table.column(d).astype(float) for d in self.devices])
        self.log = np.log(self.ms)
        self.features: Features = arch_features(self.space, self.archs)
        self.onehot = np.stack([self.space.encode(a) for a in self.archs]).astype(float)
        self.effective = np.stack([self.space.effective_op_counts(a) for a in self.archs])
        self.rho = srcc_matrix(self.ms)

    def col(self, device: str) -> int:
        return self.devices.index(device)


def srcc_rest(pred: np.ndarray, truth_rank: np.ndarray, rest: np.ndarray) -> float:
    return float(np.corrcoef(rankdata(pred[rest]), truth_rank)[0, 1])


def predictions(t: NB201, target: str, proxies: list[str], rows: np.ndarray) -> dict:
    """Every method's prediction (any monotone scale) over the whole table."""
    y_log = t.log[rows, t.col(target)]
    y_ms = t.ms[rows, t.col(target)]
    cols = [t.col(p) for p in proxies]
    out = {}
    import xgboost as xgb

    params = {"max_depth": 3, "eta": 0.1, "nthread": 1, "objective": "reg:squarederror"}
    booster = xgb.train(params, xgb.DMatrix(t.onehot[rows], label=y_log), num_boost_round=200)
    out["xgb_onehot"] = booster.predict(xgb.DMatrix(t.onehot))
    fit, _ = fit_ridge(t.effective[rows].astype(float), y_log)
    out["ridge_eff_ops"] = fit(t.effective.astype(float))
    sample_srcc = [np.corrcoef(rankdata(t.log[rows, c]), rankdata(y_log))[0, 1] for c in cols]
    out["best_single"] = t.log[:, cols[int(np.nanargmax(sample_srcc))]]
    fit, _ = fit_ridge(t.log[rows][:, cols], y_log)
    out["ridge_log"] = fit(t.log[:, cols])
    fit, _ = fit_nnls(t.log[rows][:, cols], y_log)
    out["nnls_log"] = fit(t.log[:, cols])
    adaptation = fit_adaptation(
        t.ms[rows][:, cols], y_ms, t.features.rows(rows), proxies, pool_proxy_ms=t.ms[:, cols]
    )
    out["ours"] = adaptation.predict(t.ms[:, cols], t.features)
    out["_chosen"] = adaptation.chosen
    return out


def part_a(t: NB201) -> dict:
    say("=" * 100)
    say("A. Few-shot SRCC on HELP's 6 devices (PROTOCOLS.md protocol: N=10 uniform samples,")
    say("   default_rng(seed).choice(15625, 10, replace=False), seeds 0..4, SRCC on the other")
    say("   15,615 architectures, mean over seeds; target and its other settings never proxies)")
    methods = ["xgb_onehot", "ridge_eff_ops", "best_single", "ridge_log", "nnls_log", "ours"]
    report: dict = {}
    for pool_name, pool in (("help13", HELP13), ("all", tuple(t.devices))):
        rows_out = {}
        for target in HELP6:
            proxies = allowed_proxies(target, [p for p in pool if p != target])
            truth = t.log[:, t.col(target)]
            scores: dict[str, list] = {m: [] for m in [*methods, "ours_spread"]}
            chosen = []
            for seed in SEEDS:
                rows = np.random.default_rng(seed).choice(t.n, 10, replace=False)
                rest = np.setdiff1d(np.arange(t.n), rows)
                truth_rank = rankdata(truth[rest])
                preds = predictions(t, target, proxies, rows)
                chosen.append(preds.pop("_chosen"))
                for m in methods:
                    scores[m].append(srcc_rest(preds[m], truth_rank, rest))
                # the strategy's default sampling: spread over the proxies' latency range
                cols = [t.col(p) for p in proxies]
                srows = select_samples(t.ms[:, cols], 10, np.random.default_rng(seed), "spread")
                srest = np.setdiff1d(np.arange(t.n), srows)
                adaptation = fit_adaptation(
                    t.ms[srows][:, cols],
                    t.ms[srows, t.col(target)],
                    t.features.rows(srows),
                    pool_proxy_ms=t.ms[:, cols],
                )
                pred = adaptation.predict(t.ms[:, cols], t.features)
                scores["ours_spread"].append(srcc_rest(pred, rankdata(truth[srest]), srest))
            rows_out[target] = {
                "proxies": proxies,
                "mean": {m: float(np.mean(v)) for m, v in scores.items()},
                "per_seed": scores,
                "ours_chosen": chosen,
            }
        means = {
            m: float(np.mean([rows_out[d]["mean"][m] for d in HELP6]))
            for m in [*methods, "ours_spread"]
        }
        report[pool_name] = {"targets": rows_out, "mean_of_6": means}
        label = "HELP's 13 meta-training devices" if pool_name == "help13" else "all allowed"
        say("")
        say(f"proxies: {label}")
        head = (
            f"{'target':14s} {'HELP':>6s} {'xgb1hot':>8s} {'ridgeEff':>8s} {'best1':>7s} "
            f"{'ridgeLog':>8s} {'nnlsLog':>8s} {'OURS':>7s} {'ours(spread)':>12s}  "
            "chosen (seeds 0..4)"
        )
        say(head)
        for d in HELP6:
            m = rows_out[d]["mean"]
            say(
                f"{d:14s} {HELP_PUBLISHED[d]:6.3f} {m['xgb_onehot']:8.3f} "
                f"{m['ridge_eff_ops']:8.3f} "
                f"{m['best_single']:7.3f} {m['ridge_log']:8.3f} {m['nnls_log']:8.3f} "
                f"{m['ours']:7.3f} {m['ours_spread']:12.3f}  "
                + ",".join(
                    c.replace("ridge:proxies+", "r+").replace("nnls:proxies", "nnls")
                    for c in rows_out[d]["ours_chosen"]
                )
            )
        pub = float(np.mean(list(HELP_PUBLISHED.values())))
        say(
            f"{'MEAN of 6':14s} {pub:6.3f} {means['xgb_onehot']:8.3f} "
            f"{means['ridge_eff_ops']:8.3f} "
            f"{means['best_single']:7.3f} {means['ridge_log']:8.3f} {means['nnls_log']:8.3f} "
            f"{means['ours']:7.3f} {means['ours_spread']:12.3f}"
        )
    say("")
    ref = REFERENCE_BASELINES
    say(
        f"reference baselines (HELP's 13, mean of 6): xgb one-hot {ref['xgb_onehot']:.2f}, "
        f"ridge effective ops {ref['ridge_eff_ops']:.2f}, best single proxy "
        f"{ref['best_single']:.2f}, ridge/NNLS on proxies' log latency {ref['ridge_nnls']:.2f}; "
        f"HELP published {np.mean(list(HELP_PUBLISHED.values())):.3f}"
    )
    report["reference_baselines"] = dict(REFERENCE_BASELINES)
    return report


def part_b(t: NB201) -> dict:
    say("")
    say("=" * 100)
    say("B. One proxy per target, all 27 settings: SRCC on all other architectures before")
    say("   adaptation (proxy ranking) and after adaptation with k=10 / k=20 uniform samples")
    say("   (mean over seeds 0..4). best = best other device by full-table SRCC (same hardware")
    say("   excluded); fixed = pixel3.")
    best = best_proxies(t.rho, t.devices)
    out = {}
    say("")
    say(
        f"{'target':14s} | {'best proxy':13s} {'before':>6s} {'k=10':>6s} {'gated':>6s} "
        f"{'k=20':>6s} | {'pixel3 before':>13s} {'k=10':>6s} {'gated':>6s} {'k=20':>6s}"
    )
    agg: dict[str, list] = {}
    for target in t.devices:
        row = {}
        for label, proxy in (("best", best[target]["proxy"]), ("fixed", FIXED_PROXY)):
            if proxy == target:
                row[label] = None
                continue
            pc, tc = t.col(proxy), t.col(target)
            res = {
                "proxy": proxy,
                "before": [],
                "k10": [],
                "k20": [],
                "gated10": [],
                "chosen10": [],
            }
            for seed in SEEDS:
                for k in (10, 20):
                    rows = np.random.default_rng(seed).choice(t.n, k, replace=False)
                    rest = np.setdiff1d(np.arange(t.n), rows)
                    truth_rank = rankdata(t.ms[rest, tc])
                    if k == 10:
                        res["before"].append(srcc_rest(t.ms[:, pc], truth_rank, rest))
                    adaptation = fit_adaptation(
                        t.ms[rows][:, [pc]], t.ms[rows, tc], t.features.rows(rows), [proxy]
                    )
                    pred = adaptation.predict(t.ms[:, [pc]], t.features)
                    res[f"k{k}"].append(srcc_rest(pred, truth_rank, rest))
                    if k == 10:
                        res["chosen10"].append(adaptation.chosen)
                        # the strategy's gate: adapt only when the sample SRCC is below 0.9
                        clears = spearman(t.ms[rows, pc], t.ms[rows, tc]) >= 0.9
                        res["gated10"].append(res["before"][-1] if clears else res["k10"][-1])
            for key in ("before", "k10", "k20", "gated10"):
                res[f"{key}_mean"] = float(np.mean(res[key]))
                agg.setdefault(f"{label}_{key}", []).append(res[f"{key}_mean"])
            row[label] = res
        out[target] = row
        b, f = row["best"], row["fixed"]
        fixed = (
            f"{f['before_mean']:13.3f} {f['k10_mean']:6.3f} {f['gated10_mean']:6.3f} "
            f"{f['k20_mean']:6.3f}"
            if f
            else f"{'(is pixel3)':>13s}"
        )
        say(
            f"{target:14s} | {b['proxy']:13s} {b['before_mean']:6.3f} {b['k10_mean']:6.3f} "
            f"{b['gated10_mean']:6.3f} {b['k20_mean']:6.3f} | {fixed}"
        )
    means = {k: float(np.mean(v)) for k, v in agg.items()}
    say(
        f"{'MEAN':14s} | {'':13s} {means['best_before']:6.3f} {means['best_k10']:6.3f} "
        f"{means['best_gated10']:6.3f} {means['best_k20']:6.3f} | "
        f"{means['fixed_before']:13.3f} {means['fixed_k10']:6.3f} {means['fixed_gated10']:6.3f} "
        f"{means['fixed_k20']:6.3f}"
    )
    say("gated = what the strategy does with k=10: keep the proxy's ranking when the SRCC on the")
    say("samples is >= 0.9, else adapt (pixel3 row means exclude the pixel3 target itself)")
    return {"targets": out, "means": means}


def part_c(t: NB201, data_dir=None) -> dict:
    from hwnas.arena import ground_truth, score
    from hwnas.manager import get_plugin_manager
    from hwnas.problem import Problem

    say("")
    say("=" * 100)
    say("C. Search with the proxy strategy (k=10 spread samples, threshold 0.9, evolution x1000")
    say("   on the proxy/adapted model, front re-timed on the target, budget 100 target")
    say("   measurements), seeds 0..4; HV ratio vs the true front, scored with CIFAR-10 test")
    say("   accuracy. Reference: aging evolution with 100 target evaluations (same seeds).")
    pm = get_plugin_manager()
    best = best_proxies(t.rho, t.devices)
    out = {}
    say("")
    say(
        f"{'target':14s} | {'best proxy':13s} {'HV':>6s} {'meas':>5s} {'adapt':>5s} | "
        f"{'pixel3 HV':>9s} {'meas':>5s} {'adapt':>5s} | {'evo@100':>7s}"
    )
    agg: dict[str, list] = {}
    for target in t.devices:
        truth = ground_truth("nb201", target, "c10", data_dir, pm)
        row = {}
        for label, proxy in (("best", best[target]["proxy"]), ("fixed", FIXED_PROXY)):
            if proxy == target:
                row[label] = None
                continue
            hv, meas, adapted = [], [], []
            for seed in SEEDS:
                strategy = pm.create("strategy", "proxy", proxy=f"nb201/{proxy}", data_dir=data_dir)
                problem = Problem(truth.space, truth.latency, truth.accuracy, budget=100, seed=seed)
                result = strategy.search(problem)
                hv.append(score(result, truth)["hv_ratio"])
                meas.append(result.extra["target_measurements"])
                adapted.append(bool(result.extra["adapted"]))
            row[label] = {
                "proxy": proxy,
                "hv_ratio": hv,
                "hv_ratio_mean": float(np.mean(hv)),
                "measurements": meas,
                "measurements_mean": float(np.mean(meas)),
                "adapted_share": float(np.mean(adapted)),
            }
            agg.setdefault(f"{label}_hv", []).append(float(np.mean(hv)))
            agg.setdefault(f"{label}_meas", []).append(float(np.mean(meas)))
            agg.setdefault(f"{label}_adapt", []).append(float(np.mean(adapted)))
        evo = []
        for seed in SEEDS:
            problem = Problem(truth.space, truth.latency, truth.accuracy, budget=100, seed=seed)
            evo.append(score(pm.create("strategy", "evolution").search(problem), truth)["hv_ratio"])
        row["evolution_100"] = {"hv_ratio": evo, "hv_ratio_mean": float(np.mean(evo))}
        agg.setdefault("evo_hv", []).append(float(np.mean(evo)))
        out[target] = row
        b, f = row["best"], row["fixed"]
        fixed = (
            f"{f['hv_ratio_mean']:9.3f} {f['measurements_mean']:5.1f} {f['adapted_share']:5.1f}"
            if f
            else f"{'(pixel3)':>9s} {'':5s} {'':5s}"
        )
        say(
            f"{target:14s} | {b['proxy']:13s} {b['hv_ratio_mean']:6.3f} "
            f"{b['measurements_mean']:5.1f} {b['adapted_share']:5.1f} | {fixed} | "
            f"{np.mean(evo):7.3f}"
        )
    means = {k: float(np.mean(v)) for k, v in agg.items()}
    say(
        f"{'MEAN of 27':14s} | {'':13s} {means['best_hv']:6.3f} {means['best_meas']:5.1f} "
        f"{means['best_adapt']:5.2f} | {means['fixed_hv']:9.3f} {means['fixed_meas']:5.1f} "
        f"{means['fixed_adapt']:5.2f} | {means['evo_hv']:7.3f}"
    )
    six = ("raspi4", "pixel3", "eyeriss", "fpga", "titan_rtx_1", "gold_6226")
    arena6 = {
        "best": float(np.mean([out[d]["best"]["hv_ratio_mean"] for d in six])),
        "fixed": float(np.mean([out[d]["fixed"]["hv_ratio_mean"] for d in six if out[d]["fixed"]])),
        "evolution_100": float(np.mean([out[d]["evolution_100"]["hv_ratio_mean"] for d in six])),
    }
    say(
        f"arena devices ({', '.join(six)}): proxy(best) {arena6['best']:.3f}, proxy(pixel3, "
        f"5 devices) {arena6['fixed']:.3f}, evolution@100 {arena6['evolution_100']:.3f} "
        "(reference evolution@100: 0.797)"
    )
    say("meas = target measurements spent (k=10 samples + re-timed front); adapt = share of seeds")
    say("that adapted (sample SRCC below 0.9)")
    return {"targets": out, "means": means, "arena_devices_mean": arena6}


#: (proxy, target) live pairs of part D: two runtimes on this CPU.
LIVE_PAIRS = (("onnxruntime", "torch"), ("onnxruntime", "openvino"))


def part_d(pool_size: int, out_dir: Path) -> dict:
    from hwnas.live_latency import MeasuredLatencyModel
    from hwnas.manager import get_plugin_manager
    from hwnas.plugins.proxy.stats import estimate_srcc
    from hwnas.store import LatencyStore

    say("")
    say("=" * 100)
    pairs = ", ".join(f"{p} -> {t}" for p, t in LIVE_PAIRS)
    say(f"D. Live pairs on hurricane (small profile): {pairs}, {pool_size} random")
    say("   architectures measured end to end on both (arch_workload, isolated workers); 10 target")
    say("   samples per seed (0..4), SRCC before/after adaptation on the rest of the pool.")
    pm = get_plugin_manager()
    space = pm.create("space", "hurricane")
    store = LatencyStore(out_dir / "transfer_live.sqlite")
    rng = np.random.default_rng(2024)
    pool = list(dict.fromkeys(space.sample(rng) for _ in range(pool_size)))
    report: dict = {"space": "hurricane", "profile": "small", "pool": len(pool), "pairs": {}}
    report["load_average"] = {"before": load_average()}
    say(f"load average before: {report['load_average']['before']}")
    feats = arch_features(space, pool)
    for proxy_name, target_name in LIVE_PAIRS:
        started = time.perf_counter()
        proxy = MeasuredLatencyModel(proxy_name, space, store, show_progress=False)
        target = MeasuredLatencyModel(target_name, space, store, show_progress=False)
        try:
            proxy.prefetch(pool)
            target.prefetch(pool)
        except Exception as exc:  # a live target may be unavailable here
            say(f"   {proxy_name} -> {target_name}: skipped ({exc})")
            report["pairs"][f"{proxy_name}->{target_name}"] = {"skipped": str(exc)}
            continue
        ok = [a for a in pool if a in proxy._ms and a in target._ms]
        idx = np.array([pool.index(a) for a in ok])
        p_ms = np.array([proxy._ms[a] for a in ok])
        t_ms = np.array([target._ms[a] for a in ok])
        f = feats.rows(idx)
        n = len(ok)
        full = spearman(p_ms, t_ms)
        noise = {
            name: {
                "median_cv": float(np.median([model.measurements[a].cv for a in ok])),
                "noisy_share": float(np.mean([bool(model.measurements[a].noisy) for a in ok])),
            }
            for name, model in ((proxy_name, proxy), (target_name, target))
        }
        res: dict = {
            "architectures": n,
            "new_measurements": {
                proxy_name: proxy.new_measurements,
                target_name: target.new_measurements,
            },
            "seconds": time.perf_counter() - started,
            "srcc_whole_pool": full,
            "measurement_noise": noise,
            "proxy_ms_range": [float(p_ms.min()), float(p_ms.max())],
            "target_ms_range": [float(t_ms.min()), float(t_ms.max())],
        }
        for mode in ("spread", "uniform"):
            before, after, est, chosen, decide = [], [], [], [], []
            for seed in SEEDS:
                rows = select_samples(p_ms, 10, np.random.default_rng(seed), mode)
                rest = np.setdiff1d(np.arange(n), rows)
                e = estimate_srcc(p_ms[rows], t_ms[rows], 0.9, seed=seed)
                est.append(e.srcc)
                decide.append("transfer" if e.srcc >= 0.9 else "adapt")
                before.append(spearman(p_ms[rest], t_ms[rest]))
                a = fit_adaptation(p_ms[rows][:, None], t_ms[rows], f.rows(rows), [proxy_name])
                pred = a.predict(p_ms[rest][:, None], f.rows(rest))
                # a constant prediction (NNLS with zero weight) ranks nothing: SRCC 0
                after.append(float(np.nan_to_num(spearman(pred, t_ms[rest]), nan=0.0)))
                chosen.append(a.chosen)
            res[mode] = {
                "sample_srcc_estimate": est,
                "decision": decide,
                "srcc_before": before,
                "srcc_after": after,
                "chosen": chosen,
                "before_mean": float(np.mean(before)),
                "after_mean": float(np.mean(after)),
                "estimate_mean": float(np.mean(est)),
            }
        report["pairs"][f"{proxy_name}->{target_name}"] = res
        say("")
        say(
            f"{proxy_name} -> {target_name}: {n} architectures, proxy {p_ms.min():.2f}-"
            f"{p_ms.max():.2f} ms, target {t_ms.min():.2f}-{t_ms.max():.2f} ms; SRCC over the "
            f"whole pool {full:.3f}; new measurements {res['new_measurements']} "
            f"({res['seconds']:.0f} s)"
        )
        say(
            "timing noise (median coefficient of variation of the repeats; share flagged noisy "
            "by the protocol): "
            + "; ".join(
                f"{n} CV {v['median_cv']:.2f}, noisy {v['noisy_share']:.0%}"
                for n, v in noise.items()
            )
        )
        # Repeatability ceiling (PROTOCOLS.md): the first 20 architectures timed again on the
        # target in an independent run (its own store), compared with the first run.
        repeat = MeasuredLatencyModel(
            target_name,
            space,
            LatencyStore(out_dir / "transfer_live_repeat.sqlite"),
            show_progress=False,
        )
        again = ok[:20]
        second = repeat.latencies(again)
        first = np.array([target._ms[a] for a in again])
        res["repeatability"] = {
            "architectures": len(again),
            "srcc_run1_vs_run2": spearman(first, second),
            "share_within_10pct": float(np.mean(np.abs(second / first - 1) < 0.1)),
        }
        say(
            f"repeatability ceiling: {target_name} timed twice on {len(again)} architectures: "
            f"SRCC {res['repeatability']['srcc_run1_vs_run2']:.3f}, "
            f"{res['repeatability']['share_within_10pct']:.0%} within +-10%"
        )
        if max(v["median_cv"] for v in noise.values()) > 0.1:
            say(
                "WARNING: the measurements are noise-dominated (the machine is shared and this "
                "run is niced); the SRCC figures below reflect that noise, not the two runtimes."
            )
        say(
            f"{'sampling':9s} {'estimate(k=10)':>14s} {'before':>7s} {'after':>7s}  "
            "chosen / decision"
        )
        for mode in ("spread", "uniform"):
            r = res[mode]
            say(
                f"{mode:9s} {r['estimate_mean']:14.3f} {r['before_mean']:7.3f} "
                f"{r['after_mean']:7.3f}  "
                + ",".join(
                    c.replace("ridge:proxies+", "r+").replace("nnls:proxies", "nnls")
                    for c in r["chosen"]
                )
                + " / "
                + ",".join(r["decision"])
            )
    report["load_average"]["after"] = load_average()
    say(f"load average after: {report['load_average']['after']}")
    say("")
    say("Part D scores the transfer decision and the adaptation (the latency side). A full")
    say("proxy search on hurricane also needs accuracies: the 'supernet' source with a")
    say("checkpoint of 'hwnas supernet train' over the whole space (not run here).")
    return report


# ---------------------------------------------------------------------------
# E. leave one device out (the main few-shot figure)
# ---------------------------------------------------------------------------

LODO_NS = (5, 10, 20)
LODO_SPACES = ("nb201", "fbnet")
LODO_BASELINES = ("best_single", "proxy_eff_ridge", "nnls_log")
LOW_SRCC = 0.5


class Recorded:
    """One space's recorded table (NB201: 15,625 cells; FBNet: the 5,000 tabulated)."""

    def __init__(self, space: str, data_dir=None) -> None:
        from hwnas.manager import get_plugin_manager

        self.name = space
        self.space = get_plugin_manager().create("space", space)
        if space == "nb201":
            table, self.devices = data.nb201_table(data_dir), list(data.NB201_DEVICES)
        else:
            table, self.devices = data.sampled_table(space, data_dir), list(data.FBNET_DEVICES)
        self.archs = list(table.archs)
        self.n = len(self.archs)
        self.ms = np.column_stack([table.column(d).astype(float) for d in self.devices])
        self.log = np.log(self.ms)
        self.features: Features = arch_features(self.space, self.archs)
        if space == "nb201":  # the baseline's features: op counts on effective edges
            self.counts = np.stack([self.space.effective_op_counts(a) for a in self.archs])[:, 1:]
        else:  # FBNet: how many layers take each block
            self.counts = self.features.values[:, list(self.features.groups["choices"])]
        self.counts = self.counts.astype(float)

    def col(self, device: str) -> int:
        return self.devices.index(device)


def lodo_baselines(t: Recorded, target: str, cols: list[int], rows: np.ndarray) -> dict:
    """The same-run baselines (any monotone scale, whole table)."""
    y_log = t.log[rows, t.col(target)]
    logs = t.log[:, cols]
    sample_srcc = [spearman(logs[rows, j], y_log) for j in range(len(cols))]
    best = int(np.nanargmax(np.nan_to_num(sample_srcc, nan=-2.0)))
    out = {"best_single": logs[:, best]}
    x = np.column_stack([logs[:, best], t.counts])
    fit, _ = fit_ridge(x[rows], y_log)
    out["proxy_eff_ridge"] = fit(x)
    fit, _ = fit_nnls(logs[rows], y_log)
    out["nnls_log"] = fit(logs)
    return out


def lodo_score(pred: np.ndarray, truth: np.ndarray, rest: np.ndarray) -> float:
    """SRCC on the architectures not drawn; a constant prediction ranks nothing (0)."""
    return float(np.nan_to_num(spearman(pred[rest], truth[rest]), nan=0.0))


def lodo_summary(scores: dict[str, list[float]]) -> dict:
    """Mean over devices (of the seeds' mean), the worst device, share of fits below 0.5."""
    means = {d: float(np.mean(v)) for d, v in scores.items()}
    worst = min(means, key=means.get)
    fits = np.concatenate([np.asarray(v) for v in scores.values()])
    return {
        "mean": float(np.mean(list(means.values()))),
        "worst": means[worst],
        "worst_device": worst,
        "share_below_0.5": float(np.mean(fits < LOW_SRCC)),
        "min_fit": float(fits.min()),
        "devices": means,
    }


def lodo_space(t: Recorded, ns=LODO_NS, devices=None) -> dict:
    """Every device the target in turn; ours (both sampling rules) and the baselines."""
    from hwnas.plugins.proxy.sampling import sampling_rule

    out: dict = {}
    methods = ("ours_uniform", "ours_spread", *LODO_BASELINES)
    for n_samples in ns:
        scores: dict[str, dict[str, list]] = {m: {} for m in methods}
        chosen: dict[str, list] = {}
        intervals: dict[str, list] = {}
        for target in devices or t.devices:
            proxies = allowed_proxies(target, [d for d in t.devices if d != target])
            cols = [t.col(p) for p in proxies]
            truth = t.ms[:, t.col(target)]
            for seed in SEEDS:
                for rule in ("uniform", "spread"):
                    rng = np.random.default_rng(seed)
                    rows = select_samples(t.ms[:, cols], n_samples, rng, rule)
                    rest = np.setdiff1d(np.arange(t.n), rows)
                    adaptation = fit_adaptation(
                        t.ms[rows][:, cols],
                        truth[rows],
                        t.features.rows(rows),
                        proxies,
                        pool_proxy_ms=t.ms[:, cols],
                    )
                    pred = adaptation.predict(t.ms[:, cols], t.features)
                    score = lodo_score(pred, truth, rest)
                    scores[f"ours_{rule}"].setdefault(target, []).append(score)
                    if rule == sampling_rule(n_samples):
                        chosen.setdefault(target, []).append(adaptation.chosen)
                        e = adaptation.expected_srcc
                        if e.get("estimate") is not None:
                            intervals.setdefault(target, []).append(
                                [score, e["low"], e["high"], *e["bootstrap"], *e["fisher"]]
                            )
                    if rule == "uniform":
                        base = lodo_baselines(t, target, cols, rows)
                        for m in LODO_BASELINES:
                            scores[m].setdefault(target, []).append(
                                lodo_score(base[m], truth, rest)
                            )
        summary = {m: lodo_summary(scores[m]) for m in methods}
        rule = sampling_rule(n_samples)
        summary["ours"] = summary[f"ours_{rule}"]
        cover = np.array([row for rows in intervals.values() for row in rows]).reshape(-1, 7)
        covered = {  # share of fits whose true SRCC lies in each interval
            name: float(np.mean((cover[:, lo] <= cover[:, 0]) & (cover[:, 0] <= cover[:, lo + 1])))
            if len(cover)
            else None
            for name, lo in (("union", 1), ("bootstrap", 3), ("fisher", 5))
        }
        out[str(n_samples)] = {
            "summary": summary,
            "sampling_rule": rule,
            "better_rule_by_lodo": max(
                ("uniform", "spread"), key=lambda r: summary[f"ours_{r}"]["mean"]
            ),
            "per_seed": scores,
            "chosen": chosen,
            "interval_coverage": covered["union"],
            "interval_coverage_by_method": covered,
        }
    return out


def print_lodo(space: str, report: dict) -> None:
    say("")
    say(f"{space}: leave one device out ({len(next(iter(report.values()))['chosen'])} devices)")
    head = (
        f"{'N':>3s} | {'ours mean/worst/<0.5':22s} | "
        + " | ".join(f"{m + ' mean/worst/<0.5':28s}" for m in LODO_BASELINES)
        + " | rule (LODO's pick; other rule's mean)"
    )
    say(head)
    for n_samples, row in report.items():
        s = row["summary"]
        cells = [
            f"{s[m]['mean']:.3f} / {s[m]['worst']:.3f} / {s[m]['share_below_0.5']:4.1%}"
            for m in ("ours", *LODO_BASELINES)
        ]
        other = "spread" if row["sampling_rule"] == "uniform" else "uniform"
        say(
            f"{n_samples:>3s} | {cells[0]:22s} | "
            + " | ".join(f"{c:28s}" for c in cells[1:])
            + f" | {row['sampling_rule']} ({row['better_rule_by_lodo']}; {other} "
            f"{s['ours_' + other]['mean']:.3f})"
        )
    for n_samples, row in report.items():
        s = row["summary"]["ours"]
        say(
            f"   N={n_samples}: worst device {s['worst_device']} ({s['worst']:.3f}), lowest fit "
            f"{s['min_fit']:.3f}"
            + (
                f"; expected-SRCC interval covers the true SRCC in {row['interval_coverage']:.0%}"
                " of fits (bootstrap alone "
                f"{row['interval_coverage_by_method']['bootstrap']:.0%}, Fisher z alone "
                f"{row['interval_coverage_by_method']['fisher']:.0%})"
                if row["interval_coverage"] is not None
                else ""
            )
        )


def part_e(data_dir=None, spaces=LODO_SPACES, ns=LODO_NS) -> dict:
    say("")
    say("=" * 100)
    say("E. Leave one device out (PROTOCOLS.md): every recorded setting the target in turn, the")
    say("   other settings minus the same hardware as proxies; N samples (uniform: ")
    say("   default_rng(seed).choice(n, N, replace=False); spread: the product's other rule),")
    say("   seeds 0..4; SRCC on every other architecture. mean = over devices of the seeds' mean;")
    say("   worst = lowest device mean; <0.5 = share of (device, seed) fits below 0.5. Baselines")
    say("   on the uniform samples: best proxy chosen on the samples, that proxy + ridge on")
    say("   effective-edge op counts (FBNet: block counts), NNLS on the proxies' log latency.")
    out: dict = {}
    for space in spaces:
        t = Recorded(space, data_dir)
        out[space] = lodo_space(t, ns)
        print_lodo(space, out[space])
    t = Recorded("nb201", data_dir)
    help6 = lodo_space(t, (10,), HELP6)["10"]
    out["help6_n10"] = {
        "ours": help6["summary"]["ours"],
        **{m: help6["summary"][m] for m in LODO_BASELINES},
        "help_published": float(np.mean(list(HELP_PUBLISHED.values()))),
    }
    h = out["help6_n10"]
    say("")
    say(
        f"HELP's 6 (N=10, all allowed proxies): ours {h['ours']['mean']:.3f}, "
        + ", ".join(f"{m} {h[m]['mean']:.3f}" for m in LODO_BASELINES)
        + f"; HELP published {h['help_published']:.3f} (its authors' rerun 0.955)"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--no-live", action="store_true", help="skip the live hurricane pair")
    parser.add_argument("--no-search", action="store_true", help="skip part C (search)")
    parser.add_argument("--live-pool", type=int, default=50)
    parser.add_argument(
        "--parts",
        default="A,B,C,D,E",
        help="comma-separated parts to run (E, alias lodo: leave one device out); parts not run "
        "keep their figures from an existing JSON. E writes OUT/proxy_transfer_lodo.json",
    )
    parser.add_argument(
        "--only-live",
        action="store_true",
        help="run part D alone (alone on the machine), keeping parts A-C of an existing JSON",
    )
    args = parser.parse_args(argv)
    parts = {p.strip().upper() for p in args.parts.split(",") if p.strip()}
    parts = {"E" if p == "LODO" else p for p in parts}
    if args.no_live:
        parts.discard("D")
    if args.no_search:
        parts.discard("C")
    if args.only_live:
        parts = {"D"}
    unknown = parts - set("ABCDE")
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; use A, B, C, D, E (lodo)")
    started = time.perf_counter()
    path = args.out / "proxy_transfer.json"
    report: dict = {
        "protocol": "benchmarks/PROTOCOLS.md few-shot latency prediction and Pareto "
        "search quality; see this script's docstring",
    }
    if path.exists() and not parts >= {"A", "B", "C", "D"}:
        report = json.loads(path.read_text(encoding="utf-8"))  # keep the parts not run
    if parts & {"A", "B", "C"}:
        t = NB201(args.data_dir)
        if "A" in parts:
            report["A_help6"] = part_a(t)
        if "B" in parts:
            report["B_single_proxy"] = part_b(t)
        if "C" in parts:
            report["C_search"] = part_c(t, args.data_dir)
    if "D" in parts:
        report["D_live"] = part_d(args.live_pool, args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    if "E" in parts:
        lodo_started = time.perf_counter()
        lodo = part_e(args.data_dir)
        lodo["seconds"] = time.perf_counter() - lodo_started
        lodo["protocol"] = (
            "benchmarks/PROTOCOLS.md, few-shot latency prediction, leave one device out"
        )
        lodo_path = args.out / "proxy_transfer_lodo.json"
        lodo_path.write_text(
            json.dumps(jsonable(lodo), indent=1, default=float) + "\n", encoding="utf-8"
        )
        say(f"wrote {lodo_path}")
    if parts - {"E"}:
        report["seconds"] = time.perf_counter() - started
        path.write_text(
            json.dumps(jsonable(report), indent=1, default=float) + "\n", encoding="utf-8"
        )
        say("")
        say(f"wrote {path} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
