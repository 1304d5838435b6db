"""Fill an expensive target's unmeasured cells from a cheap reference target's measurements.

Measuring every (layer, op) cell on an expensive configuration (TVM with
MetaSchedule tuning: tens of seconds per cell) takes hours; a cheap reference
(the same compiler with rule-based schedules: about a second per cell)
measures the whole grid in minutes. :func:`fill_from_reference` trains a
ratio model (:class:`~hwnas.predict.tuned.TunedLatencyPredictor`: target ms /
reference ms as a function of the workload's features) on the cells measured
on both, and replaces every cell the target did not measure, but the
reference did, by ``reference ms x predicted ratio``. Those cells stay
``predicted``; measured cells are never changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.predict.model import StoreLatencyModel
from hwnas.predict.tuned import TunedLatencyPredictor

#: Fewest cells measured on both targets the ratio model is trained on.
MIN_PAIRS = 4


def fill_from_reference(model: StoreLatencyModel, reference: StoreLatencyModel) -> dict[str, Any]:
    """Replace ``model``'s predicted cells by reference ms x a learned ratio (in place).

    Both models cover the same space. Returns what was done: the reference's
    fingerprint key, the workloads trained on, the cells filled and
    which ratio model cross-validation chose.
    """
    both = model.measured & reference.measured
    todo = ~model.measured & reference.measured
    cells = {(i, model.choices[i].index(c)): w for (i, c), w in model.cells.items()}
    distinct = {cells[cell].key: cell for cell in sorted(cells) if both[cell]}
    pairs = list(distinct.values())  # one per workload: a shape repeated over layers counts once
    if len(pairs) < MIN_PAIRS:
        raise HwnasError(
            f"only {len(pairs)} workloads are measured on both the target and the reference "
            f"{reference.target_name}; the ratio model needs at least {MIN_PAIRS}",
            f"raise --measure to at least {MIN_PAIRS}",
        )
    ratio = TunedLatencyPredictor().fit(
        [cells[c].features for c in pairs],
        [reference.table[c] for c in pairs],
        [model.table[c] for c in pairs],
    )
    filled = sorted(cell for cell in cells if todo[cell])
    if filled:
        predicted = ratio.predict(
            [cells[c].features for c in filled], [reference.table[c] for c in filled]
        )
        rows, cols = np.array(filled).T
        model.table[rows, cols] = predicted
    return {
        "reference": reference.fingerprint_key,
        "reference_name": reference.target_name,
        "trained_on_workloads": len(pairs),
        "cells_filled": len(filled),
        "ratio_model": ratio.choice,
        "cv_error": ratio.cv_error,
        "rule": "unmeasured cell = reference measured ms x predicted target/reference ratio",
    }
