"""Reading a store export (``hwnas store import``): every row checked before any is written.

A row is rejected with its number (data rows count from 1) and the column
that is wrong: non-UTF-8 text, a missing or extra field, an unknown status,
a latency that is not a finite number > 0, a count that is not a whole
number >= 0, a JSON column that is not the JSON it must be.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError

FIX = "fix that row, or export the store again with 'hwnas store export'"
STATUSES = ("ok", "failed")
TEXT = ("fingerprint", "workload", "source")
OPTIONAL_TEXT = ("label", "reason")
REALS = ("iqr_ms", "cv", "compile_s")
COUNTS = ("number", "attempts", "threads")


def read_store_csv(path: str | Path, columns: tuple[str, ...]) -> list[tuple]:
    """The rows of a store export as tuples in ``columns`` order (one-line error at the first
    bad one)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HwnasError(
            f"cannot read {path}: {exc.strerror}", "give an exported store CSV"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise HwnasError(f"{path} line {line} is not UTF-8 text", FIX) from None
    if not text.strip():
        raise HwnasError(f"{path} is empty", "give a CSV written by 'hwnas store export'")
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise HwnasError(f"{path} line {line} contains a NUL byte", FIX)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise HwnasError(
            f"{path} is not a store export: missing column(s) {', '.join(missing)}",
            "write it with 'hwnas store export'",
        )
    rows = []
    try:
        for number, record in enumerate(reader, 1):
            rows.append(check_row(record, columns, f"{path} row {number}"))
    except csv.Error as exc:
        raise HwnasError(f"{path} line {reader.line_num}: {exc}", FIX) from None
    return rows


def check_row(record: dict[str | None, Any], columns: tuple[str, ...], where: str) -> tuple:
    """One CSV record -> the store row, or a one-line error naming ``where`` and the column."""
    if record.get(None):
        raise HwnasError(f"{where} has more fields than the header", FIX)
    for column in columns:
        if record.get(column) is None:
            raise HwnasError(f"{where} has no {column} field", FIX)
    value: dict[str, Any] = {}
    for column in TEXT:
        if not record[column].strip():
            raise HwnasError(f"{where}: {column} is empty", FIX)
        value[column] = record[column]
    for column in OPTIONAL_TEXT:
        value[column] = record[column] or None
    status = record["status"]
    if status not in STATUSES:
        raise HwnasError(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}", FIX)
    value["status"] = status
    median = _real(record, "median_ms", where, required=status == "ok")
    if median is not None and median <= 0:
        raise HwnasError(f"{where}: median_ms must be > 0, got {median:g}", FIX)
    value["median_ms"] = median
    for column in REALS:
        value[column] = _real(record, column, where)
        if value[column] is not None and value[column] < 0:
            raise HwnasError(f"{where}: {column} must be >= 0, got {value[column]:g}", FIX)
    created = _real(record, "created", where, required=True)
    value["created"] = created
    for column in COUNTS:
        value[column] = _count(record, column, where)
    noisy = _count(record, "noisy", where)
    if noisy not in (None, 0, 1):
        raise HwnasError(f"{where}: noisy must be 0 or 1, got {noisy}", FIX)
    value["noisy"] = noisy
    repeats = _json(record, "repeats_ms", where)
    if not isinstance(repeats, list) or not all(
        isinstance(r, int | float) and not isinstance(r, bool) and r > 0 for r in repeats
    ):
        raise HwnasError(f"{where}: repeats_ms must be a JSON list of numbers > 0", FIX)
    value["repeats_ms"] = record["repeats_ms"]
    if not isinstance(_json(record, "features", where), dict):
        raise HwnasError(f"{where}: features must be a JSON object", FIX)
    value["features"] = record["features"]
    return tuple(value[c] for c in columns)


def _real(record, column: str, where: str, required: bool = False) -> float | None:
    text = record[column].strip()
    if not text:
        if required:
            raise HwnasError(f"{where}: {column} is empty", FIX)
        return None
    try:
        number = float(text)
    except ValueError:
        raise HwnasError(f"{where}: {column} {text!r} is not a number", FIX) from None
    if not math.isfinite(number):
        raise HwnasError(f"{where}: {column} must be a finite number, got {text}", FIX)
    return number


def _count(record, column: str, where: str) -> int | None:
    text = record[column].strip()
    if not text:
        return None
    try:
        number = int(text)
    except ValueError:
        raise HwnasError(f"{where}: {column} {text!r} is not a whole number", FIX) from None
    if number < 0:
        raise HwnasError(f"{where}: {column} must be >= 0, got {number}", FIX)
    return number


def _json(record, column: str, where: str) -> Any:
    def no_constants(name: str):
        raise ValueError(f"{name} is not allowed")

    try:
        return json.loads(record[column], parse_constant=no_constants)
    except ValueError as exc:
        raise HwnasError(f"{where}: {column} is not valid JSON ({exc})", FIX) from None
