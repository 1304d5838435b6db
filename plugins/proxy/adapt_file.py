"""``hwnas transfer adapt``: a user's measurements -> predicted latency of a whole space.

The proxies are recorded devices of the space (all of them by default; never
a device listed in ``exclude`` nor another setting of its hardware). The
measured architectures must be in the proxies' table (NB201: every cell;
FBNet: the 5,000 tabulated architectures). The adaptation is
:func:`hwnas.plugins.proxy.fewshot.fit_adaptation`, the one the ``proxy``
strategy and the benchmark use.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.files import jsonable


def adapt_measurements(
    space_name: str,
    measurements: str | os.PathLike,
    out: str | os.PathLike,
    proxies: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    data_dir: str | os.PathLike | None = None,
    plugin_manager=None,
) -> dict[str, Any]:
    """Fit on ``measurements``; write ``out`` (CSV) and its ``.json`` summary; return it."""
    from hwnas.manager import get_plugin_manager
    from hwnas.plugins.proxy.features import arch_features
    from hwnas.plugins.proxy.fewshot import fit_adaptation
    from hwnas.plugins.proxy.measurements import read_measurements, write_predictions
    from hwnas.plugins.proxy.monotonicity import (
        device_name,
        recorded_table,
        same_hardware,
        tabulated_models,
    )

    pm = plugin_manager or get_plugin_manager()
    space = pm.create("space", space_name)
    measured = read_measurements(measurements, space)
    known = list(tabulated_models(space_name, data_dir, pm))
    if not known:
        raise HwnasError(
            f"no recorded {space_name} devices to use as proxies", "use --space nb201 or fbnet"
        )
    names = [device_name(p) for p in (proxies or known)]
    bad = [p for p in [*names, *map(device_name, exclude)] if p not in known]
    if bad:
        raise HwnasError(
            f"no recorded {space_name} latencies for {bad[0]!r}", f"choose from: {', '.join(known)}"
        )
    names = [p for p in names if not any(same_hardware(p, x) for x in exclude)]
    if len(set(names)) != len(names):
        raise HwnasError("a proxy is listed twice", "list each proxy once")
    if not names:
        raise HwnasError("every proxy is excluded", "keep at least one proxy device")
    table = recorded_table(space_name, names, data_dir, pm)
    row_of = {a: i for i, a in enumerate(table.archs)}
    missing = [a for a in measured if a not in row_of]
    if missing:
        raise HwnasError(
            f"{len(missing)} measured architecture(s) are not in the recorded {space_name} table "
            f"(first: {space.format(missing[0])}); the proxies have no latency for them",
            f"measure architectures of the table ({len(table.archs):,} of them)",
        )
    archs = list(measured)
    rows = np.array([row_of[a] for a in archs])
    target_ms = np.array([measured[a] for a in archs])
    features = arch_features(space, table.archs)
    adaptation = fit_adaptation(
        table.latencies[rows],
        target_ms,
        features.rows(rows),
        table.names,
        pool_proxy_ms=table.latencies,
    )
    predicted = adaptation.predict(table.latencies, features)
    expected = adaptation.expected_srcc
    band = expected.get("loo_rmse_log")
    summary: dict[str, Any] = {
        "space": space_name,
        "measurements": len(archs),
        "measurements_file": str(measurements),
        "proxies": table.names,
        "excluded": list(exclude),
        "architectures": len(table.archs),
        "chosen": adaptation.chosen,
        "expected_srcc": expected,
        "adaptation": adaptation.as_dict(),
        "interval": "low_ms/high_ms: prediction x/÷ exp(1.96 x leave-one-out RMSE of log latency)",
    }
    out = Path(out)
    csv_path, json_path = write_predictions(
        out,
        space,
        table.archs,
        predicted,
        measured,
        band if band is not None and math.isfinite(band) else float("inf"),
        jsonable(summary),
    )
    summary["predictions"] = str(csv_path)
    summary["summary"] = str(json_path)
    return summary
