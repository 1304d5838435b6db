"""The PNAG generator f(B; theta): an LSTM that writes an architecture token by token for budget B.

The budget enters through :class:`BudgetEmbedding` g(B): K learnable vectors
attached to K training budgets b_1 < ... < b_K (milliseconds); for
b_k <= B <= b_{k+1}, g(B) is the linear interpolation of g(b_k) and
g(b_{k+1}), so any budget in [b_1, b_K] has an embedding.

The token sequence is one choice per position of the search space, in the
space's position order (NB201: 6 edge ops; OFA: 20 kernels, 20 expansions, 5
depths, resolution; HURRICANE: 20 layer ops). Position i has its own output
head (its number of choices) and its own token embedding; ``mask`` can forbid
choices (e.g. resolutions a latency table cannot answer).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

MASKED_LOGIT = -1e9  # finite, so masked choices contribute exactly 0 to the entropy


class BudgetEmbedding(nn.Module):
    """g(B): a learnable vector per training budget, linearly interpolated in between.

    ``budgets_ms`` must be strictly increasing (at least two). :meth:`forward`
    takes budgets in milliseconds; a budget outside ``[b_1, b_K]`` raises
    ``ValueError`` (callers check the range first and say so to the user).
    """

    def __init__(self, budgets_ms: Sequence[float], dim: int, init_range: float = 0.1) -> None:
        super().__init__()
        budgets = torch.as_tensor(list(budgets_ms), dtype=torch.float64)
        if budgets.ndim != 1 or len(budgets) < 2:
            raise ValueError("BudgetEmbedding needs at least two training budgets")
        if not bool((budgets[1:] > budgets[:-1]).all()):
            raise ValueError(f"training budgets must increase strictly, got {budgets.tolist()}")
        self.register_buffer("budgets", budgets)
        self.table = nn.Parameter(torch.empty(len(budgets), dim).uniform_(-init_range, init_range))

    @property
    def k(self) -> int:
        """Number of training budgets."""
        return len(self.budgets)

    def neighbours(self, budget_ms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lower index, weight of the upper neighbour)`` for every budget (float ms)."""
        b = torch.as_tensor(budget_ms, dtype=torch.float64).reshape(-1).contiguous()
        lo_ms, hi_ms = float(self.budgets[0]), float(self.budgets[-1])
        tol = 1e-6 * max(hi_ms - lo_ms, abs(hi_ms))  # float32 round-off at the ends
        b = torch.where((b < lo_ms) & (b >= lo_ms - tol), torch.full_like(b, lo_ms), b)
        b = torch.where((b > hi_ms) & (b <= hi_ms + tol), torch.full_like(b, hi_ms), b)
        if bool(((b < lo_ms) | (b > hi_ms)).any()):
            bad = b[(b < lo_ms) | (b > hi_ms)][0].item()
            raise ValueError(f"budget {bad:g} ms outside the trained range [{lo_ms:g}, {hi_ms:g}]")
        upper = torch.searchsorted(self.budgets, b, right=True).clamp(1, self.k - 1)
        lower = upper - 1
        span = self.budgets[upper] - self.budgets[lower]
        weight = ((b - self.budgets[lower]) / span).clamp(0.0, 1.0)
        return lower, weight

    def forward(self, budget_ms: torch.Tensor) -> torch.Tensor:
        """``(n, dim)`` embeddings of ``n`` budgets (ms)."""
        lower, weight = self.neighbours(budget_ms)
        w = weight.to(self.table.dtype).unsqueeze(1)
        return (1.0 - w) * self.table[lower] + w * self.table[lower + 1]

    def at_index(self, k: torch.Tensor) -> torch.Tensor:
        """Embeddings of training budgets by index (exactly ``g(b_k)``)."""
        return self.table[k]


class Generator(nn.Module):
    """f(B; theta): LSTM (``hidden`` units) emitting one choice index per position.

    The first input is g(B); every later input is the embedding of the
    previous choice plus g(B) (the budget is re-injected at every step so the
    condition cannot fade over long sequences such as OFA's 46 tokens).
    """

    def __init__(
        self,
        vocab: Sequence[int],
        budgets_ms: Sequence[float],
        hidden: int = 64,
        mask: Sequence[Sequence[bool]] | None = None,
        init_range: float = 0.1,
    ) -> None:
        super().__init__()
        self.vocab = [int(v) for v in vocab]
        self.hidden = int(hidden)
        self.budget = BudgetEmbedding(budgets_ms, self.hidden, init_range)
        offsets = [0]
        for v in self.vocab[:-1]:
            offsets.append(offsets[-1] + v)
        self.offsets = offsets
        total = sum(self.vocab)
        self.token = nn.Embedding(total, self.hidden)
        self.lstm = nn.LSTMCell(self.hidden, self.hidden)
        self.head = nn.Linear(self.hidden, total)
        for p in self.parameters():
            if p is not self.budget.table:
                nn.init.uniform_(p, -init_range, init_range)
        allowed = torch.ones(total, dtype=torch.bool)
        if mask is not None:
            if len(mask) != len(self.vocab):
                raise ValueError("mask needs one row per position")
            for i, row in enumerate(mask):
                if len(row) != self.vocab[i] or not any(row):
                    raise ValueError(f"mask row {i} must have {self.vocab[i]} entries, one True")
                allowed[offsets[i] : offsets[i] + self.vocab[i]] = torch.tensor(list(row))
        self.register_buffer("allowed", allowed)

    def config(self) -> dict:
        """What :func:`from_config` needs (besides the state dict)."""
        return {
            "vocab": list(self.vocab),
            "budgets_ms": self.budget.budgets.tolist(),
            "hidden": self.hidden,
            "mask": self.mask_rows(),
        }

    @classmethod
    def from_config(cls, config: dict) -> Generator:
        """An untrained generator with the shapes of ``config``."""
        return cls(config["vocab"], config["budgets_ms"], config["hidden"], config["mask"])

    def mask_rows(self) -> list[list[bool]]:
        """Allowed choices per position."""
        return [
            self.allowed[o : o + v].tolist() for o, v in zip(self.offsets, self.vocab, strict=True)
        ]

    def _logits(self, h: torch.Tensor, i: int) -> torch.Tensor:
        o, v = self.offsets[i], self.vocab[i]
        logits = F.linear(h, self.head.weight[o : o + v], self.head.bias[o : o + v])
        return logits.masked_fill(~self.allowed[o : o + v], MASKED_LOGIT)

    def _run(
        self,
        cond: torch.Tensor,
        tokens: torch.Tensor | None,
        rng: torch.Generator | None,
        greedy: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = cond.shape[0]
        h = torch.zeros(n, self.hidden, dtype=cond.dtype)
        c = torch.zeros_like(h)
        x = cond
        chosen, log_probs, entropies = [], [], []
        for i in range(len(self.vocab)):
            h, c = self.lstm(x, (h, c))
            log_p = F.log_softmax(self._logits(h, i), dim=-1)
            if tokens is not None:
                choice = tokens[:, i]
            elif greedy:
                choice = log_p.argmax(dim=-1)
            else:
                choice = torch.multinomial(log_p.exp(), 1, generator=rng).squeeze(1)
            chosen.append(choice)
            log_probs.append(log_p.gather(1, choice.unsqueeze(1)).squeeze(1))
            entropies.append(-(log_p.exp() * log_p).sum(dim=-1))
            if i + 1 < len(self.vocab):
                x = self.token(choice + self.offsets[i]) + cond
        return (
            torch.stack(chosen, dim=1),
            torch.stack(log_probs, dim=1).sum(dim=1),
            torch.stack(entropies, dim=1).sum(dim=1),
        )

    def sample(
        self,
        budget_ms: torch.Tensor,
        rng: torch.Generator | None = None,
        greedy: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample (or, ``greedy``, decode the most likely) choices for each budget.

        Returns ``(tokens (n, positions) long, log-probability (n,), entropy (n,))``;
        log-probability and entropy are summed over positions and carry gradients.
        """
        return self._run(self.budget(budget_ms), None, rng, greedy)

    def sample_at(
        self, k: torch.Tensor, rng: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like :meth:`sample`, conditioned on training budgets given by index."""
        return self._run(self.budget.at_index(k), None, rng, False)

    def log_prob(self, budget_ms: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Log-probability of given token sequences under budget(s) (teacher forcing)."""
        return self._run(self.budget(budget_ms), tokens, None, False)[1]
