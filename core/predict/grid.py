"""Profile a layered space's (layer x op) grid: measure actively, predict the rest.

:func:`active_profile_grid` measures at most N workloads of the grid chosen
by active sampling (plus the fixed stem/head); :func:`fill_predictions` fills
every unmeasured cell from the kernel predictor, with provenance. Used by
``hwnas profile --measure N --fill predict`` and by
:func:`hwnas.predict.build.layer_latency_model`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console


def active_profile_grid(
    target: str,
    options: dict[str, Any],
    space,
    grid: dict,
    store,
    budget: int,
    protocol,
    workers: int = 1,
    timeout_s: float = 600.0,
    rounds: int = 4,
    batch: int = 1,
    show_progress: bool = True,
):
    """Active measurement over a profile grid (+ the space's fixed layers).

    Returns a :class:`~hwnas.profile.ProfileResult` over the grid's workloads
    (what the store now holds for them) and report extras (``active``, ``fixed``).
    """
    from hwnas.predict.active import active_profile, multiplicities
    from hwnas.profile import ProfileResult, probe_target

    info = probe_target(target, options)
    fp = info.fingerprint_key
    before = store.keys(fp)
    cells = list(grid.values())
    fixed = space.fixed_workloads(batch)
    weight: dict[str, float] = dict(multiplicities(cells))
    for w in fixed.values():
        weight[w.key] = float(len(space.positions))
    active, _ = active_profile(
        target,
        options,
        [*cells, *fixed.values()],
        store,
        budget,
        protocol,
        workers=workers,
        timeout_s=timeout_s,
        weight=weight,
        must=[w.key for w in fixed.values()],
        rounds=rounds,
        show_progress=show_progress,
        console=_terminal_console(),
        info=info,
    )
    unique = {w.key for w in cells}
    result = ProfileResult(
        info,
        measured=len(active.chosen),
        reused=len(unique & before),
        failed=len(active.failed & set(active.chosen)),
    )
    for key in unique:
        stored = store.get(fp, key)
        if stored is not None:
            result.results[key] = stored.measurement
    fixed_info = {}
    for part, w in fixed.items():
        stored = store.get(fp, w.key)
        ok = stored is not None and stored.measurement.ok
        fixed_info[part] = {
            "key": w.key,
            "ms": stored.measurement.median_ms if ok else None,
            "source": "measured" if ok else None,
            "features": w.features,
        }
    extras = {
        "active": {
            "budget": budget,
            "spent": active.new_measurements,
            "measured_ok": len(active.measured),
            "rounds": [r.as_dict() for r in active.rounds],
        },
        "fixed": fixed_info,
    }
    return result, extras


def fill_predictions(result, grid: dict, store, fixed: dict | None = None) -> dict[str, Any]:
    """Predict every grid cell (and fixed part) without an ``ok`` measurement; report extras."""
    from hwnas.predict.kernel import predictor_path, train_predictor

    fp = result.target.fingerprint_key
    missing = {}
    for w in grid.values():
        m = result.results.get(w.key)
        if m is None or not m.ok:
            missing[w.key] = w.features
    for info in (fixed or {}).values():
        if info["ms"] is None:
            missing[info["key"]] = info["features"]
    if not missing:
        return {}
    predictor = train_predictor(store, fp)
    keys = sorted(missing)
    pred = predictor.predict([missing[k] for k in keys])
    predictions = {
        k: (float(ms), float(s)) for k, ms, s in zip(keys, pred.ms, pred.spread, strict=True)
    }
    out: dict[str, Any] = {
        "predictions": predictions,
        "predictor": {
            "trained_on": len(predictor.trained_keys),
            "path": str(predictor_path(store, fp)),
        },
    }
    if fixed:
        out["fixed"] = {
            part: {
                **{k: v for k, v in info.items() if k != "features"},
                **(
                    {"ms": predictions[info["key"]][0], "source": "predicted"}
                    if info["key"] in predictions
                    else {}
                ),
            }
            for part, info in fixed.items()
        }
    return out


# ---------------------------------------------------------------------------
# hwnas predict ...
# ---------------------------------------------------------------------------


def _terminal_console() -> Console | None:
    """A stderr console for the round-by-round notes, only when stderr is a terminal.

    Captured output keeps the one-line error contract and ``--json`` clean.
    """
    console = Console(stderr=True)
    return console if console.is_terminal else None
