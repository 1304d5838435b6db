"""Built-in strategy ``proxy``: one proxy device is enough when latency rankings agree.

After Lu et al. (SIGMETRICS 2022), with few-shot adaptation when they do not.
The :class:`~hwnas.problem.Problem`'s latency model is the **target**; every
``problem.evaluate`` is one target measurement and the result reports how
many were spent. The proxy (one or more recorded tables or live latency
models of the same space) is queried freely.

1. **Samples.** From a candidate pool (the whole space when it has at most
   ``pool`` architectures, the proxies' shared table, a measured proxy's
   pool, or ``pool`` random architectures), pick ``samples`` (k, default 10)
   architectures with the sampling rule of k (``sampling="auto"``; or
   ``"spread"`` over the proxy's latency range, or ``"uniform"``) and measure
   them on the target: exactly k
   target measurements, all before anything else.
2. **Estimate** the proxy-target SRCC on the k pairs with a Fisher z and a
   bootstrap interval (:func:`hwnas.plugins.proxy.stats.estimate_srcc`). With
   several proxies the one with the best sample SRCC is *the* proxy.
3. **Transfer** when the estimate (``decision="estimate"``) or its lower
   bound (``decision="lower"``) is at least ``threshold`` (0.9): search on the
   proxy (its ranking, mapped to target milliseconds by a non-negative affine
   fit on the samples so latency limits keep their meaning).
4. **Adapt** otherwise: fit the target's latency from the proxies and
   additive architecture features on the k samples
   (:func:`hwnas.plugins.proxy.fewshot.fit_adaptation`: NNLS on the proxies,
   log-NNLS, ridge on proxies + op counts, averaged by leave-one-out likelihood,
   never a constant or backwards fit) and search on the
   adapted model. ``adapt="always"``/``"never"`` forces either branch;
   ``"always"`` leaves the choice to the leave-one-out selection, which can
   keep the proxy's ranking (NNLS on one proxy): on NB201 with ``pixel3`` as
   proxy of the 26 other settings it reached SRCC 0.935 against 0.920 for the
   threshold gate (k = 10 uniform samples, 5 seeds; benchmark part B).
5. **Search** with the inner strategy ``search`` (default ``evolution``) for
   ``evals`` evaluations on that model (free: no target measurement; when a
   proxy only answers a measured pool, the whole pool is ranked instead), then
   **re-time** its Pareto set on the target (measured), up to the remaining
   budget (evenly along the front when the budget is short; the rest is
   reported as predicted, outside the front). The returned front is the Pareto
   front of everything measured on the target (samples included).

``result.extra`` carries the target measurements spent, the SRCC estimate with
its intervals, the decision, the adaptation (chosen model, leave-one-out
table), ``expected_srcc`` (the adapted model's leave-one-out SRCC on the
samples and its bootstrap interval), the proxy front size and what was
re-timed.

``sampling="auto"`` (default) uses :func:`hwnas.plugins.proxy.sampling.sampling_rule`
(the rule with the better leave-one-device-out figure at the nearest
benchmarked k).

**Predictions of ``hwnas transfer adapt``** (``--predictions PRED.csv``, no
proxy needed): steps 1-4 are skipped (the user measured the samples); the
inner search runs on the file's latencies (rows ``measured`` or
``predicted``), then the front is re-timed on the target as above; front
points not re-timed keep the file's provenance.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.latency import LatencyModel, TabulatedLatency
from hwnas.problem import Problem
from hwnas.space import Architecture, SearchSpace
from hwnas.strategy import SearchResult, Strategy

DECISIONS = ("estimate", "lower")
ADAPT = ("auto", "always", "never")


def _names(proxy) -> list:
    if isinstance(proxy, str):
        return [p.strip() for p in proxy.split(",") if p.strip()]
    if isinstance(proxy, LatencyModel):
        return [proxy]
    return list(proxy or [])


def enumerate_space(space: SearchSpace) -> list[Architecture]:
    """Every architecture of a (small) space, in index order."""
    return [
        Architecture(space.name, choices)
        for choices in itertools.product(*(p.choices for p in space.positions))
    ]


class PoolSearch(Strategy):
    """Evaluate every architecture of a fixed pool once (the inner search on a finite proxy)."""

    name = "pool"

    def __init__(self, pool: Sequence[Architecture]) -> None:
        self.pool = list(pool)

    def ask_and_tell(self, problem: Problem) -> None:
        """Evaluate the pool in order."""
        for arch in self.pool:
            problem.evaluate(arch)


class ProxyTransfer(Strategy):
    """Proxy transfer with few-shot adaptation (see the module docstring for the steps)."""

    name = "proxy"
    _model: LatencyModel | None = None

    def __init__(
        self,
        proxy: str | LatencyModel | Sequence[str | LatencyModel] | None = None,
        samples: int = 10,
        threshold: float = 0.9,
        search: str = "evolution",
        evals: int = 1000,
        sampling: str = "auto",
        decision: str = "estimate",
        adapt: str = "auto",
        criterion: str = "bma",
        confidence: float = 0.95,
        pool: int = 20000,
        data_dir: str | None = None,
        store: str | None = None,
        search_options: dict[str, Any] | None = None,
        predictions: str | None = None,
    ) -> None:
        from hwnas.plugins.proxy.fewshot import CRITERIA
        from hwnas.plugins.proxy.sampling import SAMPLING

        self.proxy = _names(proxy)
        self.predictions = predictions
        if not self.proxy and not predictions:
            raise HwnasError(
                "strategy proxy needs a proxy device",
                "pass --proxy nb201/pixel3 (or -s proxy=...; several: a,b), or --predictions "
                "PRED.csv from 'hwnas transfer adapt'",
            )
        checks = [
            (int(samples) >= 3, f"samples must be >= 3 to estimate an SRCC, got {samples}"),
            (-1.0 <= float(threshold) <= 1.0, f"threshold must be in [-1, 1], got {threshold}"),
            (int(evals) >= 1, f"evals (inner search on the proxy) must be >= 1, got {evals}"),
            (
                sampling in (*SAMPLING, "auto"),
                f"sampling must be one of {(*SAMPLING, 'auto')}, got {sampling!r}",
            ),
            (decision in DECISIONS, f"decision must be one of {DECISIONS}, got {decision!r}"),
            (adapt in ADAPT, f"adapt must be one of {ADAPT}, got {adapt!r}"),
            (criterion in CRITERIA, f"criterion must be one of {CRITERIA}, got {criterion!r}"),
            (0.0 < float(confidence) < 1.0, f"confidence must be in (0, 1), got {confidence}"),
            (int(pool) >= 3, f"pool must be >= 3, got {pool}"),
        ]
        for ok, message in checks:
            if not ok:
                raise HwnasError(f"strategy proxy: {message}")
        self.samples = int(samples)
        self.threshold = float(threshold)
        self.search_name = search
        self.evals = int(evals)
        self.sampling = sampling
        self.decision = decision
        self.adapt_mode = adapt
        self.criterion = criterion
        self.confidence = float(confidence)
        self.pool_limit = int(pool)
        self.data_dir = data_dir
        self.store = store
        self.search_options = dict(search_options or {})
        self._extra: dict[str, Any] = {}

    # -- setup -------------------------------------------------------------
    def resolve_proxies(self, problem: Problem) -> list[LatencyModel]:
        """The proxy latency models, checked against the problem (one-line errors)."""
        from hwnas.live_latency import resolve_latency_model

        models = []
        for item in self.proxy:
            if isinstance(item, LatencyModel):
                model = item
                if model.space != problem.space.name:
                    raise HwnasError(
                        f"proxy {model.name} answers {model.space!r} architectures, not "
                        f"{problem.space.name!r}: no shared architectures",
                        f"use a {problem.space.name} proxy",
                    )
            else:
                model = resolve_latency_model(
                    item, problem.space, "proxy", self.data_dir, self.store
                )
            if model.name == problem.latency.name:
                raise HwnasError(
                    f"the proxy {model.name} is the target itself",
                    "choose another device as proxy (see 'hwnas transfer analyze')",
                )
            models.append(model)
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise HwnasError("a proxy is listed twice", "list each proxy once")
        return models

    def validate(self, problem: Problem) -> None:
        """Sample count against the space and the budget (one-line errors)."""
        if self.samples > problem.space.size:
            raise HwnasError(
                f"samples={self.samples} is larger than the {problem.space.name} space "
                f"({problem.space.size:,} architectures)",
                f"use --samples <= {problem.space.size}",
            )
        if self.samples > problem.budget:
            raise HwnasError(
                f"samples={self.samples} exceeds the target budget of {problem.budget} "
                "measurements",
                f"raise --evals to at least {self.samples} (k samples + the re-timed front)",
            )

    def candidate_pool(self, problem: Problem, proxies: list[LatencyModel]) -> list[Architecture]:
        """Architectures the samples and the SRCC ranking are drawn from (see module doc)."""
        pools = [p.pool_archs() for p in proxies if p.pool_archs() is not None]
        if pools:
            shared = set(pools[0]).intersection(*map(set, pools[1:]))
            pool = [a for a in pools[0] if a in shared]
        elif problem.space.size <= self.pool_limit:
            pool = enumerate_space(problem.space)
        else:
            tables = [p.architectures() for p in proxies if isinstance(p, TabulatedLatency)]
            if len(tables) == len(proxies) and len({id(t) for t in tables}) == 1:
                pool = list(dict.fromkeys(tables[0]))
            else:
                seen: dict[Architecture, None] = {}
                for _ in range(self.pool_limit * 20):
                    seen.setdefault(problem.space.sample(problem.rng))
                    if len(seen) >= self.pool_limit:
                        break
                pool = list(seen)
        if len(pool) < self.samples:
            raise HwnasError(
                f"the proxies share only {len(pool)} architectures, fewer than "
                f"samples={self.samples}",
                "measure more architectures on the proxy or lower --samples",
            )
        return pool

    # -- the loop -------------------------------------------------------------
    def ask_and_tell(self, problem: Problem) -> None:
        """Samples -> SRCC estimate -> transfer or adapt -> inner search -> re-time on target."""
        from hwnas.plugins.proxy.features import arch_features
        from hwnas.plugins.proxy.fewshot import AdaptedLatencyModel, fit_adaptation
        from hwnas.plugins.proxy.sampling import sampling_rule, select_samples
        from hwnas.plugins.proxy.stats import estimate_srcc

        if self.predictions:
            self._search_predictions(problem)
            return
        self.validate(problem)
        proxies = self.resolve_proxies(problem)
        extra = self._extra
        sampling = sampling_rule(self.samples) if self.sampling == "auto" else self.sampling
        extra.update(
            proxies=[p.name for p in proxies],
            target=problem.latency.name,
            samples=self.samples,
            sampling=sampling,
            threshold=self.threshold,
            decision_rule=self.decision,
        )
        pool = self.candidate_pool(problem, proxies)
        pool_ms = np.column_stack([np.asarray(p.latencies(pool), float) for p in proxies])
        extra["pool_size"] = len(pool)
        rows = select_samples(pool_ms, self.samples, problem.rng, sampling)
        sample_archs = [pool[i] for i in rows]
        problem.latency.prefetch(sample_archs)
        target_ms = np.array([problem.evaluate(a).latency_ms for a in sample_archs])
        extra["measurements_before_retiming"] = problem.evaluations
        extra["sample_archs"] = [problem.space.format(a) for a in sample_archs]

        estimates = [
            estimate_srcc(
                pool_ms[rows, j], target_ms, self.threshold, self.confidence, seed=problem.seed
            )
            for j in range(len(proxies))
        ]
        best = max(range(len(proxies)), key=lambda j: np.nan_to_num(estimates[j].srcc, nan=-2))
        estimate = estimates[best]
        value = estimate.srcc if self.decision == "estimate" else estimate.fisher_ci[0]
        transfer = self.adapt_mode == "never" or (
            self.adapt_mode == "auto" and np.isfinite(value) and value >= self.threshold
        )
        extra.update(
            proxy=proxies[best].name,
            srcc_estimate=estimate.as_dict(),
            srcc_statement=estimate.statement(),
            srcc_estimates={p.name: e.as_dict() for p, e in zip(proxies, estimates, strict=True)},
            clears_threshold=bool(np.isfinite(value) and value >= self.threshold),
            adapted=not transfer,
        )
        feats = arch_features(problem.space, sample_archs)
        if transfer:
            # The proxy's ranking, in target milliseconds (non-negative affine map).
            adaptation = fit_adaptation(
                pool_ms[rows][:, [best]],
                target_ms,
                feats,
                [proxies[best].name],
                only="nnls:proxies",
            )
            model = AdaptedLatencyModel(
                [proxies[best]],
                problem.space,
                adaptation,
                name=f"{proxies[best].name} (affine to target ms)",
            )
        else:
            adaptation = fit_adaptation(
                pool_ms[rows],
                target_ms,
                feats,
                [p.name for p in proxies],
                self.criterion,
                pool_proxy_ms=pool_ms,
            )
            model = AdaptedLatencyModel(proxies, problem.space, adaptation)
        extra["adaptation"] = adaptation.as_dict()
        extra["expected_srcc"] = adaptation.expected_srcc
        extra["search_model"] = model.name
        self._model = model
        self._search_and_retime(
            problem, model, pool, any(p.pool_archs() is not None for p in proxies)
        )

    def _search_predictions(self, problem: Problem) -> None:
        """Search on a PRED.csv of 'hwnas transfer adapt', then re-time the front on the target."""
        from hwnas.plugins.proxy.measurements import PredictedLatencyModel

        model = PredictedLatencyModel(self.predictions, problem.space)
        if model.name == problem.latency.name:
            raise HwnasError("the predictions are the target itself", "pass another --target")
        info = model.fingerprint().get("adaptation") or {}
        expected = info.get("expected_srcc") or {}
        estimate = expected.get("estimate")
        self._extra.update(
            predictions=str(self.predictions),
            target=problem.latency.name,
            proxy=model.name,
            proxies=info.get("proxies", []),
            samples=len(model.measured()),
            measurements_before_retiming=0,
            adapted=True,
            adaptation={"chosen": info.get("chosen", "unknown"), "expected_srcc": expected},
            expected_srcc=expected,
            srcc_statement=(
                f"predictions of {info.get('chosen', 'an adaptation')} from "
                f"{len(model.measured())} measurements"
                + (
                    f", leave-one-out SRCC {estimate:.3f} (95% interval "
                    f"{expected['low']:.2f}-{expected['high']:.2f})"
                    if isinstance(estimate, float)
                    else ""
                )
            ),
        )
        self._model = model
        self._search_and_retime(problem, model, model.pool_archs(), True)

    def _search_and_retime(
        self, problem: Problem, model: LatencyModel, pool: list[Architecture], finite: bool
    ) -> None:
        """Inner search on ``model`` (free), then the front re-timed on the target."""
        extra = self._extra
        inner_problem = problem.child(
            latency=model,
            budget=len(pool) if finite else self.evals,
            seed=problem.seed,
            counted=False,  # free: the model is the proxy, not the target
            label=f"proxy/{'pool' if finite else self.search_name}",
        )
        if finite:
            # A proxy that only answers its measured pool: rank the whole pool on the model.
            inner: Strategy = PoolSearch(pool)
        else:
            from hwnas.manager import get_plugin_manager

            inner = get_plugin_manager().create("strategy", self.search_name, **self.search_options)
            if isinstance(inner, ProxyTransfer):
                raise HwnasError("strategy proxy cannot search with itself", "use search=evolution")
        inner_result = inner.search(inner_problem)
        front = sorted(inner_result.front, key=lambda e: e.latency_ms)
        measured = {e.arch for e in problem.history}
        todo = [e for e in front if e.arch not in measured]
        room = problem.remaining
        skipped = []
        if len(todo) > room:
            keep = set(np.linspace(0, len(todo) - 1, room).round().astype(int).tolist())
            skipped = [e for i, e in enumerate(todo) if i not in keep]
            todo = [e for i, e in enumerate(todo) if i in keep]
        extra.update(
            search="exhaustive over the proxy's measured pool" if finite else self.search_name,
            search_evals=inner_result.evaluations,
            proxy_front_size=len(front),
            retimed=len(todo),
            unmeasured_front=[
                {
                    "arch": problem.space.format(e.arch),
                    "latency_ms": e.latency_ms,
                    "latency_source": e.latency_source,
                    "accuracy": e.accuracy,
                }
                for e in skipped
            ],
        )
        if todo:
            problem.latency.prefetch([e.arch for e in todo])
        for e in todo:
            problem.evaluate(e.arch)

    def search(self, problem: Problem) -> SearchResult:
        """Run the loop; ``extra`` reports target measurements, SRCC estimate, adaptation."""
        self._extra = {}
        self._model = None
        result = super().search(problem)
        result.extra.update(self._extra)
        result.extra["target_measurements"] = problem.evaluations
        return result

    def summary(self, result: SearchResult) -> list[str]:
        """The transfer decision, the SRCC estimate and the measurements it cost."""
        extra = result.extra
        if "srcc_statement" not in extra:
            return []
        decision = (
            f"adapted ({extra['adaptation']['chosen']})"
            if extra["adapted"]
            else "transferred (no adaptation)"
        )
        return [
            f"proxy {extra['proxy']}: {extra['srcc_statement']}; {decision}; "
            f"{extra['measurements_before_retiming']} samples + {extra['retimed']} re-timed "
            f"of a {extra['proxy_front_size']}-point proxy front"
        ]

    def plot(self, result: SearchResult, ax) -> str | None:
        """The proxy front points that were not re-timed, and the decision for the title."""
        extra = result.extra
        unmeasured = extra.get("unmeasured_front") or []
        if unmeasured:
            ax.plot(
                [p["latency_ms"] for p in unmeasured],
                [p["accuracy"] for p in unmeasured],
                "x",
                color="grey",
                label=f"not re-timed ({len(unmeasured)}, predicted latency, search accuracy)",
            )
        if "srcc_statement" not in extra:
            return None
        statement = extra["srcc_statement"].replace(" (", "\n(", 1)
        return (
            f"proxy {extra['proxy']}: {statement}; "
            f"{'adapted' if extra['adapted'] else 'transferred'}"
        )

    @property
    def search_model(self) -> LatencyModel | None:
        """The model the inner search ran on (the calibrated proxy or the adapted model)."""
        return self._model
