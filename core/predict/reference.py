"""Fill a target's unmeasured cells from its own few measurements and other targets' tables.

Measuring every (layer, op) cell on an expensive configuration (TVM with
MetaSchedule tuning: tens of seconds per cell, or a remote board) takes hours;
cheap references (the same compiler with rule-based schedules, onnxruntime on
the host, anything already in the store) measure the whole grid in minutes.
:func:`fill_unmeasured` trains a
:class:`~hwnas.predict.cross_target.CrossTargetPredictor` on the workloads the
target measured, with the references' tables as inputs, and replaces every
cell the target did not measure by its prediction. With no reference it
still chooses, by cross-validation, between the target's own models (the
primitive-kernel additive model, XGBoost on features, or their blend).
Those cells stay ``predicted``; measured cells are never changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.predict.cross_target import CrossTargetPredictor
from hwnas.predict.model import StoreLatencyModel

#: Fewest workloads measured on the target the cross-target model is trained on.
MIN_PAIRS = 4


def fill_unmeasured(
    model: StoreLatencyModel, references: Sequence[StoreLatencyModel] = (), seed: int = 0
) -> dict[str, Any]:
    """Replace ``model``'s predicted cells by the cross-target prediction (in place).

    All models cover the same space. Returns what was done: the references,
    the workloads trained on, the cells filled and which model
    cross-validation chose (with every candidate's error).
    """
    cells = {(i, model.choices[i].index(c)): w for (i, c), w in model.cells.items()}
    workloads = {w.key: w for w in cells.values()}
    measured = measured_by_key(model)
    if len(measured) < MIN_PAIRS:
        names = ", ".join(r.target_name for r in references) or "none"
        raise HwnasError(
            f"only {len(measured)} workloads are measured on the target (references: {names}); "
            f"predicting the rest needs at least {MIN_PAIRS}",
            f"raise --measure to at least {MIN_PAIRS}",
        )
    labels = [_label(r, references) for r in references]
    tables = {label: measured_by_key(r) for label, r in zip(labels, references, strict=True)}
    keys = list(measured)
    features = {k: w.features for k, w in workloads.items()}
    predictor = CrossTargetPredictor(tables, seed=seed, workloads=features).fit(
        keys, [workloads[k].features for k in keys], [measured[k] for k in keys]
    )
    todo = sorted(cell for cell in cells if not model.measured[cell])
    if todo:
        predicted = predictor.predict(
            [cells[c].key for c in todo], [cells[c].features for c in todo]
        )
        rows, cols = np.array(todo).T
        model.table[rows, cols] = predicted
    return {
        "references": [r.fingerprint_key for r in references],
        "reference_names": labels,
        "trained_on_workloads": len(keys),
        "cells_filled": len(todo),
        **predictor.summary(),
        "rule": "unmeasured cell = cross-target prediction from the target's measured workloads "
        "and the references' tables (hwnas.predict.cross_target)",
    }


def measured_by_key(model: StoreLatencyModel) -> dict[str, float]:
    """The measured ms of each distinct layer workload of ``model`` (a repeated shape once)."""
    out = {}
    for (i, c), w in model.cells.items():
        j = model.choices[i].index(c)
        if model.measured[i, j]:
            out[w.key] = float(model.table[i, j])
    return out


def _label(reference: StoreLatencyModel, references: Sequence[StoreLatencyModel]) -> str:
    """The reference's target name, with its fingerprint key when two share a name."""
    same = [r for r in references if r.target_name == reference.target_name]
    name = reference.target_name
    return name if len(same) == 1 else f"{name}@{reference.fingerprint_key}"
