"""Build a live target's layer latency model in one call: profile, predict, calibrate.

:func:`layer_latency_model` is what a strategy calls when it needs the latency
of every (layer, op) of a layered space on a live target (HURRICANE's space
generation and its constrained search): it measures the layer table (all of it,
or ``measure`` workloads that together contain the most primitive kernel
instances, the rest predicted by :func:`~hwnas.predict.reference.fill_unmeasured`),
then measures ``calibrate`` whole architectures end to end to fit the overhead.
Everything measured lands in the store, so a second call measures nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.predict.model import StoreLatencyModel, archs_from_indices, sample_indices
from hwnas.predict.reference import MIN_PAIRS, fill_unmeasured, measured_by_key
from hwnas.space import LayeredSpace, SearchSpace


def layer_latency_model(
    target: str,
    options: dict[str, Any],
    space: SearchSpace,
    store,
    measure: int | None = None,
    calibrate: int = 5,
    protocol=None,
    timeout_s: float = 600.0,
    show_progress: bool = True,
    seed: int = 0,
    references: Sequence[tuple[str, dict[str, Any]]] = (),
) -> StoreLatencyModel:
    """A :class:`StoreLatencyModel` of ``space`` on live ``target``, measured into ``store``.

    :param measure: None measures every distinct layer workload; N measures at
        most N new ones, the fixed layers first, then
        (:func:`~hwnas.predict.active.design_sample`: the workloads that
        leave the primitive-instance model least unsure of all the others; in
        benchmarks/kernel_transfer.py it beats the instance cover, uncertainty
        sampling and random draws for the cross-target model at 30 %
        measured) and predicts the others; 0
        measures no layer workload (what the store holds, predicted elsewhere).
    :param calibrate: whole architectures measured end to end for the overhead
        (0 keeps the plain sum of parts).
    :param references: (target, options) of cheap targets measured on every
        cell; with ``measure`` set, the cells the target did not measure are
        predicted from its measurements and the references' tables
        (:func:`~hwnas.predict.reference.fill_unmeasured`; its report is the
        model's ``fill_report``). Without references the target's own models
        fill them once at least 4 workloads are measured.
    """
    from hwnas.predict.active import design_sample
    from hwnas.profile import probe_target, profile_workloads

    if not isinstance(space, LayeredSpace):
        raise HwnasError(
            f"space {space.name!r} has no per-layer workloads",
            "use a layered space (see 'hwnas space show')",
        )
    full = space.full()
    grid = {
        (i, op): full.layer_workload(i, op)
        for i, position in enumerate(full.positions)
        for op in position.choices
    }
    info = probe_target(target, options)
    fixed = list(full.fixed_workloads().values())
    unique = {w.key: w for w in grid.values()}
    if measure != 0:  # 0: the store's measurements as they are (a resumed run)
        todo = list(unique.values())
        if measure is not None:  # N new measurements: the fixed layers, then the best cover
            known = store.keys(info.fingerprint_key)
            fresh = [w for w in todo if w.key not in known]
            budget = max(0, measure - sum(w.key not in known for w in fixed))
            todo = [unique[k] for k in design_sample(fresh, budget, seed)]
        profile_workloads(
            target,
            options,
            [*todo, *fixed],
            store,
            protocol,
            timeout_s=timeout_s,
            show_progress=show_progress,
        )
    model = StoreLatencyModel(full, store, info.fingerprint_key, name=target)
    if measure is not None:  # fill the table first: the overhead is fitted on its sums
        cheap = [
            layer_latency_model(
                name,
                opts,
                space,
                store,
                protocol=protocol,
                calibrate=0,
                timeout_s=timeout_s,
                show_progress=show_progress,
            )
            for name, opts in references
        ]
        if cheap or len(measured_by_key(model)) >= MIN_PAIRS:
            model.fill_report = fill_unmeasured(model, cheap, seed=seed)
    calibrate_on_target(model, target, options, calibrate, protocol, show_progress, seed)
    return model


def calibrate_on_target(
    model: StoreLatencyModel,
    target: str,
    options: dict[str, Any],
    calibrate: int,
    protocol=None,
    show_progress: bool = True,
    seed: int = 0,
) -> None:
    """Fit ``model``'s overhead on ``calibrate`` whole architectures measured end to end.

    Architectures the store already holds are reused; 0 keeps the plain sum of parts.
    Call it after the model's table is final: the overhead is fitted on its sums.
    """
    from hwnas.live_latency import measure_whole

    if calibrate <= 0:
        return
    full = model.search_space
    archs = archs_from_indices(full, sample_indices(full, calibrate, seed))
    whole = model.stored_whole_archs()
    todo = [a for a in archs if a not in whole]
    if todo:
        whole.update(
            measure_whole(
                target, options, full, todo, model.store, protocol, show_progress=show_progress
            )
        )
    if whole:
        model.calibrate(list(whole), list(whole.values()))


def layer_table(model: StoreLatencyModel, space: SearchSpace) -> dict[tuple[int, str], dict]:
    """Per (layer, op) of ``space``: latency in ms and where it comes from.

    ``source`` is the model's ``measured_source`` ("measured", or
    "measured-<mode>" such as "measured-tuned" for targets with modes) for a
    measured cell, else "predicted".
    """
    measured_source = getattr(model, "measured_source", "measured")  # any table-backed model
    out = {}
    for i, position in enumerate(space.positions):
        column = {c: j for j, c in enumerate(model.choices[i])}
        for op in position.choices:
            j = column[op]
            out[(i, op)] = {
                "ms": float(model.table[i, j]),
                "source": measured_source if model.measured[i, j] else "predicted",
            }
    return out


def fastest_architecture(model: StoreLatencyModel, space: SearchSpace):
    """The architecture of ``space`` taking the fastest op of every layer under ``model``."""
    return _per_layer_extreme(model, space, min)


def _per_layer_extreme(model: StoreLatencyModel, space: SearchSpace, pick):
    """The architecture taking, per layer, the op ``pick`` (min or max) chooses by latency."""
    table = layer_table(model, space)
    return space.architecture(
        [
            pick(position.choices, key=lambda op, i=i: table[(i, op)]["ms"])
            for i, position in enumerate(space.positions)
        ]
    )


def fastest_latency_ms(model: StoreLatencyModel, space: SearchSpace) -> float:
    """The lowest latency any architecture of ``space`` can have under ``model``."""
    arch = fastest_architecture(model, space)
    return float(np.asarray(model.latencies([arch]))[0])


def slowest_latency_ms(model: StoreLatencyModel, space: SearchSpace) -> float:
    """The highest latency any architecture of ``space`` can have under ``model``."""
    arch = _per_layer_extreme(model, space, max)
    return float(np.asarray(model.latencies([arch]))[0])
