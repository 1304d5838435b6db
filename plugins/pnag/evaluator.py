"""The PNAG evaluator R(arch | B; w): an MLP that ranks architectures for a latency budget.

R scores an architecture's encoding together with a budget embedding (the
same interpolating :class:`~hwnas.plugins.pnag.generator.BudgetEmbedding` as the
generator, with its own parameters). It is trained with a pairwise ranking
loss on architectures with known (latency, accuracy) at the K training
budgets. The label of a pair under budget B follows the Pareto-dominance rule
of the paper:

- both within the budget (latency <= B): the more accurate one wins;
- otherwise: the faster one wins (so a feasible one always beats an
  infeasible one, and of two infeasible ones the one closer to B wins).

Ties (equal accuracy, or equal latency) carry no label. Loss: hinge
``max(0, margin - y (R_i - R_j))`` (the paper's) or logistic
``log(1 + exp(-y (R_i - R_j)))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F

from hwnas.plugins.pnag.generator import BudgetEmbedding

LOSSES = ("hinge", "logistic")


def pair_labels(
    lat_i: torch.Tensor,
    lat_j: torch.Tensor,
    acc_i: torch.Tensor,
    acc_j: torch.Tensor,
    budget_ms: torch.Tensor | float,
) -> torch.Tensor:
    """+1 where i should rank above j under the budget, -1 where j should, 0 for a tie."""
    both_in = (lat_i <= budget_ms) & (lat_j <= budget_ms)
    by_accuracy = torch.sign(acc_i - acc_j)
    by_latency = torch.sign(lat_j - lat_i)
    return torch.where(both_in, by_accuracy, by_latency)


def ranking_loss(
    score_i: torch.Tensor,
    score_j: torch.Tensor,
    labels: torch.Tensor,
    kind: str = "hinge",
    margin: float = 1.0,
) -> torch.Tensor:
    """Mean pairwise ranking loss over the labelled (non-tie) pairs (0 when there are none)."""
    if kind not in LOSSES:
        raise ValueError(f"ranking loss must be one of {LOSSES}, got {kind!r}")
    valid = labels != 0
    if not bool(valid.any()):
        return score_i.sum() * 0.0
    z = labels[valid] * (score_i[valid] - score_j[valid])
    per_pair = F.relu(margin - z) if kind == "hinge" else F.softplus(-z)
    return per_pair.mean()


def utility(lat: np.ndarray, acc: np.ndarray, budget_ms: float) -> np.ndarray:
    """A scalar consistent with the pair rule: any feasible beats any infeasible one."""
    lat, acc = np.asarray(lat, float), np.asarray(acc, float)
    feasible = lat <= budget_ms
    top = float(np.max(np.abs(lat), initial=0.0)) + 1.0
    return np.where(feasible, top + acc - acc.min(initial=0.0), -lat)


def kendall_tau(scores: np.ndarray, lat: np.ndarray, acc: np.ndarray, budget_ms: float) -> float:
    """Kendall's tau (scipy) between R's scores and the pair rule's order under one budget."""
    tau = stats.kendalltau(np.asarray(scores, float), utility(lat, acc, budget_ms)).statistic
    return float(tau)


class Evaluator(nn.Module):
    """R(arch | B): three fully connected layers on [encoding, g(B)] -> one score."""

    def __init__(
        self,
        in_features: int,
        budgets_ms: Sequence[float],
        embed: int = 16,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.embed = int(embed)
        self.hidden = int(hidden)
        self.budget = BudgetEmbedding(budgets_ms, self.embed)
        self.net = nn.Sequential(
            nn.Linear(self.in_features + self.embed, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, 1),
        )

    def config(self) -> dict:
        """What :meth:`from_config` needs (besides the state dict)."""
        return {
            "in_features": self.in_features,
            "budgets_ms": self.budget.budgets.tolist(),
            "embed": self.embed,
            "hidden": self.hidden,
        }

    @classmethod
    def from_config(cls, config: dict) -> Evaluator:
        """An untrained evaluator with the shapes of ``config``."""
        return cls(config["in_features"], config["budgets_ms"], config["embed"], config["hidden"])

    def forward(self, x: torch.Tensor, budget_ms: torch.Tensor) -> torch.Tensor:
        """Scores ``(n,)`` of ``n`` encodings under ``n`` budgets (or one budget for all)."""
        b = torch.as_tensor(budget_ms, dtype=torch.float64).reshape(-1)
        if len(b) == 1 and len(x) != 1:
            b = b.expand(len(x))
        return self.net(torch.cat([x, self.budget(b)], dim=1)).squeeze(1)

    def forward_at(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Scores under training budgets given by index."""
        return self.net(torch.cat([x, self.budget.at_index(k)], dim=1)).squeeze(1)


def fit_evaluator(
    evaluator: Evaluator,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    lat: torch.Tensor,
    acc: torch.Tensor,
    steps: int,
    pairs: int = 1024,
    kind: str = "hinge",
    margin: float = 1.0,
    rng: torch.Generator | None = None,
    focus: float = 0.5,
) -> list[float]:
    """``steps`` Adam steps of the ranking loss: every step, ``pairs`` random pairs per budget.

    Every step scores all architectures under all K training budgets and
    draws fresh pairs, so the K budgets are trained together. A share
    ``focus`` of each budget's pairs is drawn among the architectures that
    meet that budget (the pairs that decide which feasible architecture R
    prefers; uniform pairs are dominated by latency comparisons); the rest
    uniformly. Returns the loss per step.
    """
    n, k = len(x), evaluator.budget.k
    if n < 2:
        return []
    budgets = evaluator.budget.budgets.to(lat.dtype)
    feasible = (lat.unsqueeze(0) <= budgets.unsqueeze(1)).to(torch.float64)  # (k, n)
    # per budget: sampling weights over the feasible ones (uniform when fewer than two)
    enough = feasible.sum(dim=1, keepdim=True) >= 2
    weights = torch.where(enough, feasible, torch.ones_like(feasible))
    n_focus = round(pairs * focus)
    losses = []
    evaluator.train()
    for _ in range(steps):
        kk = torch.arange(k).repeat_interleave(n)
        scores = evaluator.forward_at(x.repeat(k, 1), kk).view(k, n)
        i = torch.randint(n, (k, pairs - n_focus), generator=rng)
        j = torch.randint(n, (k, pairs - n_focus), generator=rng)
        if n_focus:
            fi = torch.multinomial(weights, n_focus, replacement=True, generator=rng)
            fj = torch.multinomial(weights, n_focus, replacement=True, generator=rng)
            i, j = torch.cat([i, fi], dim=1), torch.cat([j, fj], dim=1)
        labels = pair_labels(lat[i], lat[j], acc[i], acc[j], budgets.unsqueeze(1))
        loss = ranking_loss(
            scores.gather(1, i).reshape(-1),
            scores.gather(1, j).reshape(-1),
            labels.reshape(-1).to(scores.dtype),
            kind,
            margin,
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    evaluator.eval()
    return losses
