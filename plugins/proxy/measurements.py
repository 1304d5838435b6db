"""A user's own latency measurements in, predicted latency for a whole space out.

**Measurements** (``hwnas transfer adapt --measurements FILE.csv``): a header
``arch,latency_ms`` and one row per architecture measured on the user's
device, architecture strings as ``hwnas arch`` writes them (FBNet's contain
commas: quote them, as any CSV writer does). Rejected with one line: another
header, a row without exactly two fields, an architecture the space does not
parse, a latency that is not a finite number > 0, an architecture listed
twice, fewer than :data:`MIN_ROWS` rows.

**Predictions** (what ``hwnas transfer adapt --out PRED.csv`` writes and
``hwnas search --strategy proxy --predictions PRED.csv`` reads): header
``arch,latency_ms,low_ms,high_ms,source``; ``source`` is ``measured`` (the
user's own row, ``low_ms = high_ms = latency_ms``) or ``predicted`` (the
adapted model; ``low_ms``/``high_ms`` a 95 % band from the leave-one-out
error of log latency). A JSON sidecar ``PRED.json`` holds the space, the
chosen model, its leave-one-out score and the expected-SRCC interval.
:class:`PredictedLatencyModel` answers the architectures of such a file with
that provenance.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.latency import Latency, LatencyModel
from hwnas.space import Architecture, SearchSpace

HEADER = ("arch", "latency_ms")
PREDICTION_HEADER = ("arch", "latency_ms", "low_ms", "high_ms", "source")
MIN_ROWS = 3


def _rows(text: str, source: str, header: Sequence[str]) -> list[tuple[int, list[str]]]:
    """CSV rows after the header (numbered from 2 as a spreadsheet shows them)."""
    text = text.lstrip("\ufeff")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise HwnasError(
            f"{source} is not a CSV file: {exc}", "write it with any CSV writer"
        ) from None
    rows = [(i + 1, r) for i, r in enumerate(rows) if any(cell.strip() for cell in r)]
    if not rows:
        raise HwnasError(f"{source} is empty", f"write a header {','.join(header)} and rows")
    line, first = rows[0]
    if [c.strip().lower() for c in first] != list(header):
        raise HwnasError(
            f"{source} line {line}: header is {','.join(first)!r}, expected {','.join(header)!r}",
            f"start the file with the line {','.join(header)}",
        )
    return rows[1:]


def _latency(value: str, source: str, line: int, column: str = "latency_ms") -> float:
    try:
        ms = float(value)
    except ValueError:
        raise HwnasError(
            f"{source} line {line}: {column} {value!r} is not a number", "write milliseconds > 0"
        ) from None
    if not math.isfinite(ms) or ms <= 0:
        raise HwnasError(
            f"{source} line {line}: {column} must be a finite number > 0, got {value.strip()!r}",
            "write milliseconds > 0",
        )
    return ms


def parse_measurements(
    text: str, space: SearchSpace, source: str = "measurements"
) -> dict[Architecture, float]:
    """``arch -> latency_ms`` from CSV text (see the module docstring for the rules)."""
    out: dict[Architecture, float] = {}
    lines: dict[Architecture, int] = {}
    for line, row in _rows(text, source, HEADER):
        if len(row) != 2:
            raise HwnasError(
                f"{source} line {line}: {len(row)} fields, expected 2 (arch,latency_ms)",
                "quote architecture strings that contain commas",
            )
        try:
            arch = space.parse(row[0].strip())
        except HwnasError as exc:
            raise HwnasError(
                f"{source} line {line}: not a {space.name} architecture: {exc.message}",
                "write architectures as 'hwnas arch sample' prints them",
            ) from None
        if arch in out:
            raise HwnasError(
                f"{source} line {line}: architecture listed twice (first on line {lines[arch]})",
                "keep one measurement per architecture (e.g. the median of repeats)",
            )
        out[arch] = _latency(row[1], source, line)
        lines[arch] = line
    if len(out) < MIN_ROWS:
        raise HwnasError(
            f"{source} has {len(out)} measurement(s); adaptation needs at least {MIN_ROWS}",
            "measure more architectures on the device (10-20 is typical)",
        )
    return out


def read_measurements(path: str | os.PathLike, space: SearchSpace) -> dict[Architecture, float]:
    """The measurements in ``path`` (one-line errors)."""
    return parse_measurements(_read(path), space, str(path))


def _read(path: str | os.PathLike) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HwnasError(f"no such file: {path}", "check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HwnasError(f"cannot read {path}: {exc}") from None


def write_measurements(path: str | os.PathLike, space: SearchSpace, rows) -> Path:
    """Write ``(arch, ms)`` rows as a measurements CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for arch, ms in rows:
            writer.writerow([space.format(arch), repr(float(ms))])
    return path


def write_predictions(
    path: str | os.PathLike,
    space: SearchSpace,
    archs: Sequence[Architecture],
    predicted_ms: np.ndarray,
    measured: dict[Architecture, float],
    band_log: float,
    summary: dict[str, Any],
) -> tuple[Path, Path]:
    """PRED.csv (every architecture) and its PRED.json sidecar."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    factor = math.exp(1.96 * band_log) if math.isfinite(band_log) else float("inf")
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(PREDICTION_HEADER)
        for arch, ms in zip(archs, predicted_ms, strict=True):
            if arch in measured:
                m = measured[arch]
                writer.writerow(
                    [space.format(arch), f"{m:.6g}", f"{m:.6g}", f"{m:.6g}", "measured"]
                )
            else:
                writer.writerow(
                    [
                        space.format(arch),
                        f"{ms:.6g}",
                        f"{ms / factor:.6g}",
                        f"{ms * factor:.6g}",
                        "predicted",
                    ]
                )
    sidecar = path.with_suffix(".json")
    from hwnas.files import jsonable

    text = json.dumps(jsonable(summary), indent=1, default=float, allow_nan=False)
    sidecar.write_text(text + "\n", encoding="utf-8")
    return path, sidecar


class PredictedLatencyModel(LatencyModel):
    """The architectures of a PRED.csv (``hwnas transfer adapt``) with their provenance.

    ``measured`` rows answer with ``source="measured"``, the others with
    ``source="predicted"`` (``measured_fraction=0``). An architecture not in
    the file is a one-line error; ``pool_archs`` lists the file's rows.
    """

    def __init__(self, path: str | os.PathLike, space: SearchSpace) -> None:
        self.path = Path(path)
        self.search_space = space
        self.space = space.name
        self.name = f"predicted:{self.path.name}"
        self._ms: dict[Architecture, float] = {}
        self._source: dict[Architecture, str] = {}
        source = str(self.path)
        for line, row in _rows(_read(self.path), source, PREDICTION_HEADER):
            if len(row) != len(PREDICTION_HEADER):
                raise HwnasError(
                    f"{source} line {line}: {len(row)} fields, expected {len(PREDICTION_HEADER)}",
                    "write it with 'hwnas transfer adapt'",
                )
            try:
                arch = space.parse(row[0].strip())
            except HwnasError as exc:
                raise HwnasError(
                    f"{source} line {line}: not a {space.name} architecture: {exc.message}",
                    f"pass the {space.name} predictions or the matching --space",
                ) from None
            kind = row[4].strip()
            if kind not in ("measured", "predicted"):
                raise HwnasError(
                    f"{source} line {line}: source {kind!r} is not 'measured' or 'predicted'"
                )
            self._ms[arch] = _latency(row[1], source, line)
            self._source[arch] = kind
        if not self._ms:
            raise HwnasError(f"{source} holds no architecture", "run 'hwnas transfer adapt'")
        self._archs = list(self._ms)

    def latency(self, arch: Architecture) -> Latency:
        """The file's latency of ``arch`` (measured or predicted)."""
        ms = self._ms.get(arch)
        if ms is None:
            raise HwnasError(
                f"{self.path} has no latency for {self.search_space.format(arch)}",
                "search the architectures the predictions cover",
            )
        kind = self._source[arch]
        return Latency(ms, kind, 1.0 if kind == "measured" else 0.0)

    def latencies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Latencies (ms) of many architectures."""
        return np.array([self.latency(a).ms for a in archs], dtype=float)

    def pool_archs(self) -> list[Architecture]:
        """Every architecture of the file."""
        return list(self._archs)

    def measured(self) -> dict[Architecture, float]:
        """The user's own measurements in the file."""
        return {a: ms for a, ms in self._ms.items() if self._source[a] == "measured"}

    def fingerprint(self) -> dict:
        """The file (and its sidecar summary when present)."""
        out: dict[str, Any] = {"model": self.name, "space": self.space, "path": str(self.path)}
        sidecar = self.path.with_suffix(".json")
        if sidecar.exists():
            with contextlib.suppress(ValueError):
                out["adaptation"] = json.loads(sidecar.read_text(encoding="utf-8"))
        return out
