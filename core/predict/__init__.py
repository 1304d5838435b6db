"""Latency predictors: kernel-level XGBoost ensembles, active measurement, architecture models.

- :mod:`~hwnas.predict.kernel`: :class:`KernelPredictor`, one per target
  fingerprint, trained from the latency store, saved beside it as JSON.
- :mod:`~hwnas.predict.cross_target`: :class:`CrossTargetPredictor`, a new
  target's kernel latency from a few of its measurements and other targets' tables.
- :mod:`~hwnas.predict.active`: choose which workloads to measure under a budget.
- :mod:`~hwnas.predict.model`: :class:`StoreLatencyModel`, the architecture
  latency of a live target (measured-or-predicted layers + fixed layers +
  calibrated overhead) with provenance, vectorised.
- :mod:`~hwnas.predict.grid`: measure a layered space's (layer x op) grid
  actively and fill the rest with predictions;
- :mod:`~hwnas.predict.build`: a live target's layer latency model in one call.
- :mod:`~hwnas.predict.metrics`: the accuracy figures benchmarks report.
"""

from hwnas.predict.active import ActiveResult, active_profile, active_sample, multiplicities
from hwnas.predict.cross_target import CrossTargetPredictor
from hwnas.predict.kernel import (
    KernelPrediction,
    KernelPredictor,
    PredictorParams,
    ensure_predictor,
    load_predictor,
    predictor_path,
    save_predictor,
    train_predictor,
    training_rows,
)
from hwnas.predict.metrics import accuracy_report
from hwnas.predict.model import (
    Overhead,
    StoreLatencyModel,
    calibrate_overhead,
    fit_overhead,
    index_matrix,
)

__all__ = [
    "ActiveResult",
    "CrossTargetPredictor",
    "KernelPrediction",
    "KernelPredictor",
    "Overhead",
    "PredictorParams",
    "StoreLatencyModel",
    "accuracy_report",
    "active_profile",
    "active_sample",
    "calibrate_overhead",
    "ensure_predictor",
    "fit_overhead",
    "index_matrix",
    "load_predictor",
    "multiplicities",
    "predictor_path",
    "save_predictor",
    "train_predictor",
    "training_rows",
]
