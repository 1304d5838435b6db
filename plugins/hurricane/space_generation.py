"""Hardware-specific HURRICANE spaces: keep, per layer, the ops this target runs well.

Zhang et al., "Fast Hardware-Aware Neural Architecture Search" (CVPRW 2020):
for learnable layer ``i`` and op ``o``::

    score(i, o) = (FLOPs(i, o) * params(i, o)) ** alpha / latency(i, o, target)

keep the ``p`` best-scored ops per layer and, in the last ``explore_layers``
layers, one extra *exploring* op chosen for accuracy capacity (the largest
FLOPs x params among the ops not kept). ``alpha = 0`` keeps the fastest ops;
``alpha = 0.5`` scores roughly FLOPs per millisecond (the target's efficiency
on that op); larger ``alpha`` favours capacity. Latencies come from the
target's latency model: measured where the store has a measurement, predicted
by the XGBoost kernel predictor elsewhere, and every score says which.

``cost="flops"`` is the hardware-agnostic ablation: the same score with the
op's FLOPs in place of its latency on the target (no measurement decides).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwnas.errors import HwnasError
from hwnas.spaces.hurricane.generated import GeneratedSpace, OpScore
from hwnas.spaces.hurricane.space import HurricaneSpace

#: What an op's capacity is divided by: its latency on the target, or its FLOPs.
COSTS = ("latency", "flops")


def score_ops(
    space: HurricaneSpace,
    latency: dict[tuple[int, str], dict],
    alpha: float,
    cost: str = "latency",
) -> list[list[OpScore]]:
    """Score every op of every layer: ``(FLOPs * params) ** alpha / latency_ms`` (or / FLOPs)."""
    if cost not in COSTS:
        raise HwnasError(f"unknown op cost {cost!r}", f"use one of: {', '.join(COSTS)}")
    scores = []
    for i, position in enumerate(space.positions):
        row = []
        for op in position.choices:
            layer = space.layer_cost(i, op)
            cell = latency[(i, op)]
            ms = float(cell["ms"])
            if ms <= 0:
                raise HwnasError(f"layer {i} {op}: latency {ms} ms is not positive")
            capacity = float(layer.flops) * float(max(layer.params, 1))
            divisor = ms if cost == "latency" else float(max(layer.flops, 1))
            row.append(
                OpScore(
                    op, ms, cell["source"], layer.flops, layer.params, capacity**alpha / divisor
                )
            )
        scores.append(row)
    return scores


def fixed_space(
    space: HurricaneSpace,
    ops: list[str],
    latency: dict[tuple[int, str], dict],
    target: str,
    fingerprint: str,
    alpha: float = 0.5,
) -> GeneratedSpace:
    """A hand-designed space (the same ``ops`` in every layer), scored like a generated one.

    The baseline of the space-generation ablation: a_win0 is still the
    top-scored of ``ops`` per layer, so only the candidate set differs.
    """
    narrowed = space.restrict([ops] * len(space.positions))
    scores = score_ops(narrowed, latency, alpha)
    return GeneratedSpace(
        space_options=dict(space.options),
        ops=[list(ops) for _ in space.positions],
        exploring=[None] * len(space.positions),
        scores=scores,
        target=target,
        fingerprint=fingerprint,
        alpha=float(alpha),
        p=len(ops),
        explore_layers=0,
        notes={"hand_designed": True},
    )


def generate_space(
    space: HurricaneSpace,
    latency: dict[tuple[int, str], dict],
    target: str,
    fingerprint: str,
    alpha: float = 0.5,
    p: int = 4,
    explore_layers: int = 4,
    cost: str = "latency",
) -> GeneratedSpace:
    """Keep the top ``p`` ops per layer; add one exploring op in the last ``explore_layers``.

    ``cost``: divide capacity by the op's latency (default) or by its FLOPs
    (the hardware-agnostic ablation). ``latency`` maps (layer, op) to
    ``{"ms": ..., "source": "measured[-<mode>]"|"predicted"}``
    (see :func:`hwnas.predict.build.layer_table`).
    """
    n = len(space.positions)
    if alpha < 0:
        raise HwnasError(f"alpha must be >= 0, got {alpha}", "e.g. --alpha 0.5")
    widths = {len(p_.choices) for p_ in space.positions}
    if not 1 <= p <= min(widths):
        raise HwnasError(f"p must be in 1..{min(widths)}, got {p}", "e.g. --p 4")
    if not 0 <= explore_layers <= n:
        raise HwnasError(f"explore layers must be in 0..{n}, got {explore_layers}", "e.g. 4")
    scores = score_ops(space, latency, alpha, cost)
    ops, exploring = [], []
    for i, row in enumerate(scores):
        ranked = sorted(row, key=lambda s: -s.score)
        kept = [s.op for s in ranked[:p]]
        explore = None
        rest = [s for s in row if s.op not in kept]
        if i >= n - explore_layers and rest:
            explore = max(rest, key=lambda s: (s.flops * s.params, -s.ms)).op
            kept.append(explore)
        ops.append(kept)
        exploring.append(explore)
    measured = sum(s.source.startswith("measured") for row in scores for s in row)
    total = sum(len(row) for row in scores)
    return GeneratedSpace(
        space_options=dict(space.options),
        ops=ops,
        exploring=exploring,
        scores=scores,
        target=target,
        fingerprint=fingerprint,
        alpha=float(alpha),
        p=int(p),
        explore_layers=int(explore_layers),
        notes={"latency_cells_measured": measured, "latency_cells": total, "cost": cost},
    )


def build_generated_space(
    target: str,
    options: dict[str, Any],
    space,
    store,
    alpha: float,
    p: int,
    explore: int,
    measure: int | None,
    calibrate: int,
    show_progress: bool,
    references: Sequence[tuple[str, dict[str, Any]]] = (),
):
    """Measure (or reuse) the target's layer table, then score and keep ops per layer.

    ``references`` (target name, options) are cheap targets measured on every
    cell; cells the target itself did not measure (``measure`` N) are predicted
    from its measurements and their tables (:mod:`hwnas.predict.reference`).
    """
    from hwnas.predict.build import fastest_latency_ms, layer_latency_model, layer_table

    if space.restricted:
        raise HwnasError(
            "space generation starts from the full 32-op space", "drop -o generated=/-o ops="
        )
    model = layer_latency_model(
        target,
        options,
        space,
        store,
        measure=measure,
        calibrate=calibrate,
        show_progress=show_progress,
        references=references,
    )
    generated = generate_space(
        space,
        layer_table(model, space),
        target,
        model.fingerprint_key,
        alpha=alpha,
        p=p,
        explore_layers=explore,
    )
    reduced = generated.space()
    generated.notes.update(
        {
            "latency_model": model.fingerprint(),
            "fastest_ms_full": fastest_latency_ms(model, space),
            "fastest_ms_generated": fastest_latency_ms(model, reduced),
            "full_size": space.size,
        }
    )
    if model.fill_report is not None:
        generated.notes["fill"] = model.fill_report
    return generated, model
