"""Built-in strategy ``surrogate``: multi-objective search guided by a surrogate of accuracy.

Accuracy costs an evaluation; on a recorded device latency does not
(:meth:`hwnas.problem.Problem.latency_of`). So the search models only
accuracy: an XGBoost regressor on the one-hot encoding of the choices,
refitted on everything evaluated so far, predicts the accuracy of a
candidate pool (the whole space when it has at most ``enumerate_limit``
architectures, else random samples plus one- and two-position mutations of
the current front), and each batch is picked greedily by expected
hypervolume improvement over the evaluated front (latency exact, accuracy
predicted; each pick joins the front as believed before the next one).
Works on any space through ``space.positions``; when latency is not free it
is modelled the same way from the evaluated latencies.
"""

from __future__ import annotations

import itertools

import numpy as np

import hwnas
from hwnas.problem import Problem
from hwnas.space import Architecture, SearchSpace
from hwnas.strategy import Strategy


def one_hot(space: SearchSpace, idx: np.ndarray) -> np.ndarray:
    """One-hot rows of choice-index rows ``idx`` (n x positions) of ``space``."""
    widths = np.array([len(p.choices) for p in space.positions])
    offsets = np.concatenate([[0], np.cumsum(widths)[:-1]])
    out = np.zeros((len(idx), int(widths.sum())), dtype=np.float32)
    rows = np.repeat(np.arange(len(idx)), idx.shape[1])
    out[rows, (idx + offsets).ravel()] = 1.0
    return out


def hv_improvement(
    lat: np.ndarray, acc: np.ndarray, front: np.ndarray, ref: tuple[float, float]
) -> np.ndarray:
    """Exact 2-D hypervolume gained by adding each (lat, acc) point to ``front``.

    ``front``: (latency, accuracy) rows, latency minimised, accuracy
    maximised; ``ref`` = (worst latency, worst accuracy). The gain of a point
    is the integral over latency x in [lat, ref lat] of how far its accuracy
    rises above the best front accuracy at latency <= x (and above ref acc).
    """
    lat_ref, acc_ref = ref
    front = front[front[:, 0] < lat_ref] if len(front) else front
    order = np.argsort(front[:, 0], kind="stable") if len(front) else np.zeros(0, int)
    f_lat = front[order, 0] if len(front) else np.zeros(0)
    f_acc = np.maximum.accumulate(front[order, 1]) if len(front) else np.zeros(0)
    starts = np.concatenate([[-np.inf], f_lat])
    ends = np.concatenate([f_lat, [lat_ref]])
    levels = np.maximum(np.concatenate([[acc_ref], f_acc]), acc_ref)
    width = np.clip(ends[None, :] - np.maximum(starts[None, :], lat[:, None]), 0.0, None)
    height = np.clip(acc[:, None] - levels[None, :], 0.0, None)
    return (width * height).sum(axis=1)


class SurrogateSearch(Strategy):
    """Surrogate-assisted multi-objective search (XGBoost accuracy model, greedy HV improvement).

    ``init`` random architectures first, then rounds: refit the accuracy model
    on every evaluation, predict the candidate pool, evaluate the ``batch``
    candidates that add most predicted hypervolume (``explore`` of them drawn
    at random from the pool instead). Nothing is evaluated twice. With
    ``problem.latency_limit_ms`` set (and latency free) the pool holds only
    feasible architectures and the hypervolume's latency reference is the
    limit, so the search spends everything under it.
    """

    name = "surrogate"

    def __init__(
        self,
        init: int = 20,
        batch: int = 10,
        explore: float = 0.1,
        pool: int = 4000,
        enumerate_limit: int = 100_000,
        trees: int = 150,
        depth: int = 4,
    ) -> None:
        if init < 2 or batch < 1 or pool < 10 or not 0.0 <= explore < 1.0:
            raise hwnas.HwnasError(
                "surrogate: needs init >= 2, batch >= 1, pool >= 10 and 0 <= explore < 1",
                "e.g. init=20, batch=10, pool=4000, explore=0.1",
            )
        self.init = int(init)
        self.batch = int(batch)
        self.explore = float(explore)
        self.pool = int(pool)
        self.enumerate_limit = int(enumerate_limit)
        self.trees = int(trees)
        self.depth = int(depth)

    # -- the model -----------------------------------------------------------------
    def _fit(self, x: np.ndarray, y: np.ndarray, seed: int):
        import xgboost as xgb

        params = {
            "max_depth": self.depth,
            "eta": 0.1,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "nthread": 1,
            "seed": seed,
            "verbosity": 0,
        }
        return xgb.train(params, xgb.DMatrix(x, label=y, nthread=1), num_boost_round=self.trees)

    # -- the candidate pool ------------------------------------------------------
    def _enumerate(self, space: SearchSpace) -> np.ndarray:
        widths = [len(p.choices) for p in space.positions]
        return np.array(list(itertools.product(*map(range, widths))), dtype=np.int64)

    def _sampled_pool(self, space: SearchSpace, parents: np.ndarray, rng) -> np.ndarray:
        """Random rows plus children of ``parents`` at one or two changed positions."""
        widths = np.array([len(p.choices) for p in space.positions])
        n_random = self.pool // 2 if len(parents) else self.pool
        random = (rng.random((n_random, len(widths))) * widths).astype(np.int64)
        if not len(parents):
            return random
        n_mut = self.pool - n_random
        children = parents[rng.integers(len(parents), size=n_mut)].copy()
        for step in range(2):
            rows = np.arange(n_mut) if step == 0 else np.flatnonzero(rng.random(n_mut) < 0.5)
            pos = rng.integers(len(widths), size=len(rows))
            shift = 1 + (rng.random(len(rows)) * (widths[pos] - 1)).astype(np.int64)
            children[rows, pos] = (children[rows, pos] + shift) % np.maximum(widths[pos], 1)
        return np.unique(np.concatenate([random, children]), axis=0)

    # -- the loop ------------------------------------------------------------------
    def ask_and_tell(self, problem: Problem) -> None:
        """Random warm start, then surrogate rounds until the budget is spent."""
        import xgboost as xgb

        space, rng = problem.space, problem.rng
        self.fits, self.checks, self.latency_free = 0, [], problem.latency_is_free
        choices = [p.choices for p in space.positions]

        def arch(row: np.ndarray) -> Architecture:
            return Architecture(space.name, tuple(c[i] for c, i in zip(choices, row, strict=True)))

        free = problem.latency_is_free
        limit = problem.latency_limit_ms
        whole = space.size <= self.enumerate_limit
        seen: set[tuple] = set()
        rows: list[np.ndarray] = []
        lats: list[float] = []
        accs: list[float] = []

        def evaluate(row: np.ndarray, candidate: Architecture) -> None:
            seen.add(tuple(row.tolist()))
            evaluation = problem.evaluate(candidate)
            rows.append(row)
            lats.append(evaluation.latency_ms)
            accs.append(evaluation.accuracy)

        if whole:  # the candidates are the whole space (the feasible part under a limit)
            pool_idx = self._enumerate(space)
            pool_arch = [arch(r) for r in pool_idx]
            pool_lat = problem.latency_of(pool_arch) if free else None
            if pool_lat is not None and limit is not None and (pool_lat <= limit).any():
                keep = np.flatnonzero(pool_lat <= limit)
                pool_idx, pool_lat = pool_idx[keep], pool_lat[keep]
                pool_arch = [pool_arch[i] for i in keep]
            pool_x = xgb.DMatrix(one_hot(space, pool_idx), nthread=1)
            open_ = np.ones(len(pool_idx), dtype=bool)  # not evaluated yet
            for i in rng.choice(len(pool_idx), size=min(self.init, len(pool_idx)), replace=False):
                open_[i] = False
                evaluate(pool_idx[i], pool_arch[i])
        else:
            for _ in range(self.init * 20):
                if len(rows) >= self.init:
                    break
                candidate = space.sample(rng)
                row = space.indices(candidate)
                if tuple(row.tolist()) not in seen:
                    evaluate(row, candidate)

        while True:
            lat_seen, acc_seen = np.array(lats), np.array(accs)
            x = one_hot(space, np.array(rows))
            y = np.maximum(acc_seen, np.quantile(acc_seen, 0.25))  # the low tail only distracts
            seed = int(rng.integers(2**31))
            if whole:
                cand = np.flatnonzero(open_)
                if not len(cand):
                    return  # every architecture of the pool is evaluated
                cand_x, cand_lat = pool_x.slice(cand), None if pool_lat is None else pool_lat[cand]
            else:
                front = np.array(rows)[self._front_mask(lat_seen, acc_seen)]
                cand_idx = self._sampled_pool(space, front, rng)
                fresh = [tuple(r) not in seen for r in cand_idx.tolist()]
                cand_idx = cand_idx[np.array(fresh, dtype=bool)]
                if not len(cand_idx):
                    continue
                cand_arch = [arch(r) for r in cand_idx]
                cand_x = xgb.DMatrix(one_hot(space, cand_idx), nthread=1)
                cand_lat = problem.latency_of(cand_arch) if free else None
            pred_acc = self._fit(x, y, seed).predict(cand_x).astype(float)
            self.fits += 1
            if cand_lat is None:  # latency costs evaluations: model it too
                cand_lat = np.exp(self._fit(x, np.log(lat_seen), seed).predict(cand_x))
            for j in self._pick(cand_lat, pred_acc, lat_seen, acc_seen, limit, rng):
                if whole:
                    open_[cand[j]] = False
                    evaluate(pool_idx[cand[j]], pool_arch[cand[j]])
                else:
                    evaluate(cand_idx[j], cand_arch[j])
                self.checks.append((pred_acc[j], accs[-1]))  # prediction, then the truth

    def summary(self, result) -> list[str]:
        """Model fits, and how well the model predicted what it picked (SRCC, MAE)."""
        from scipy.stats import spearmanr

        if not getattr(self, "checks", None):
            return []
        pred, seen = np.array(self.checks).T
        rho = spearmanr(pred, seen).statistic if len(pred) > 2 and np.ptp(seen) > 0 else np.nan
        latency = "free (latency_of)" if self.latency_free else "modelled (costs evaluations)"
        return [
            f"surrogate: {self.fits} model fits; on its {len(pred)} picks predicted vs seen "
            f"accuracy SRCC {rho:.2f}, MAE {np.mean(np.abs(pred - seen)):.2f}; latency {latency}"
        ]

    @staticmethod
    def _front_mask(lat: np.ndarray, acc: np.ndarray) -> np.ndarray:
        from hwnas.pareto import non_dominated_mask

        return non_dominated_mask(np.column_stack([lat, -acc]))

    def _pick(self, lat, acc, lat_seen, acc_seen, limit, rng) -> list[int]:
        """The batch: greedy predicted HV improvement (picks believed), some at random."""
        n = min(self.batch, len(lat))
        lat_ref = float(limit) if limit is not None else float(max(lat.max(), lat_seen.max()))
        lat_ref *= 1.0 + 1e-9
        acc_ref = float(np.median(acc_seen))
        mask = self._front_mask(lat_seen, acc_seen)
        front = np.column_stack([lat_seen[mask], acc_seen[mask]])
        n_explore = int(rng.binomial(n, self.explore)) if n > 1 else 0
        available = np.ones(len(lat), dtype=bool)
        picks: list[int] = []
        for _ in range(n - n_explore):
            gap = acc - np.maximum(self._attained(front, lat), acc_ref)
            hopeful = np.flatnonzero(available & (gap > 0) & (lat < lat_ref))
            if len(hopeful):
                gain = hv_improvement(lat[hopeful], acc[hopeful], front, (lat_ref, acc_ref))
                j = int(hopeful[np.argmax(gain)])
            else:  # nothing predicted to help: the closest to the front
                j = int(np.argmax(np.where(available, gap, -np.inf)))
            picks.append(j)
            available[j] = False
            front = np.vstack([front, [lat[j], acc[j]]])
        rest = np.flatnonzero(available)
        if n_explore and len(rest):
            picks.extend(int(j) for j in rng.choice(rest, size=min(n_explore, len(rest)),
                                                    replace=False))  # fmt: skip
        return picks

    @staticmethod
    def _attained(front: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """The best front accuracy at latency <= each ``lat`` (-inf before the fastest)."""
        order = np.argsort(front[:, 0])
        f_lat, f_acc = front[order, 0], np.maximum.accumulate(front[order, 1])
        pos = np.searchsorted(f_lat, lat, side="right") - 1
        return np.where(pos >= 0, f_acc[np.maximum(pos, 0)], -np.inf)


@hwnas.hookimpl
def hwnas_strategies():
    """Declare ``surrogate``."""
    yield hwnas.StrategySpec(
        name="surrogate",
        summary="Surrogate-assisted multi-objective search (XGBoost accuracy model, "
        "greedy hypervolume improvement over free latencies)",
        factory=SurrogateSearch,
    )
