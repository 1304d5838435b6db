"""The latency store: every measurement, keyed by (target fingerprint, workload key), in SQLite.

WAL journal, one transaction per measurement: a run killed with ``kill -9``
keeps everything committed before it and leaves no partial row; several
processes may write at once (SQLite serialises them, ``busy_timeout`` waits).

A store carries a marker (SQLite ``application_id`` :data:`APPLICATION_ID`,
``user_version`` :data:`SCHEMA_VERSION`). An existing file is checked before
anything is written: another program's SQLite file (or no SQLite file at
all) is refused; a store from before the marker (exactly hwnas's tables) is
given the marker.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwnas import interrupt
from hwnas.errors import HwnasError
from hwnas.timing import Measurement

SCHEMA = """
CREATE TABLE IF NOT EXISTS targets (
    fingerprint TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS measurements (
    fingerprint TEXT NOT NULL,
    workload TEXT NOT NULL,
    label TEXT,
    status TEXT NOT NULL,
    median_ms REAL,
    iqr_ms REAL,
    cv REAL,
    number INTEGER,
    attempts INTEGER,
    noisy INTEGER,
    threads INTEGER,
    compile_s REAL,
    repeats_ms TEXT NOT NULL,
    reason TEXT,
    source TEXT NOT NULL,
    features TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (fingerprint, workload)
);
"""
APPLICATION_ID = 0x68776E73  # "hwns"
SCHEMA_VERSION = 1
TARGET_COLUMNS = ("fingerprint", "name", "details")
COLUMNS = (
    "fingerprint",
    "workload",
    "label",
    "status",
    "median_ms",
    "iqr_ms",
    "cv",
    "number",
    "attempts",
    "noisy",
    "threads",
    "compile_s",
    "repeats_ms",
    "reason",
    "source",
    "features",
    "created",
)


@dataclass(frozen=True)
class StoredMeasurement:
    """A row of the store: which target and workload, and the measurement."""

    fingerprint: str
    workload: str
    label: str | None
    measurement: Measurement
    features: dict[str, Any]
    created: float


class LatencyStore:
    """SQLite-backed store of measurements (safe for concurrent processes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            check_store_file(self.path)  # before anything is written
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db:
                db.executescript(
                    f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; "
                    f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
        except (OSError, sqlite3.DatabaseError) as exc:
            raise HwnasError(
                f"cannot open latency store {self.path}: {exc}",
                "pass --store with a writable path to an hwnas SQLite file",
            ) from exc
        interrupt.store_opened(self.path)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    # -- writing -----------------------------------------------------------
    def register_target(self, fingerprint: str, name: str, details: dict[str, Any]) -> None:
        """Remember what a fingerprint key stands for (device, versions, flags)."""
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO targets VALUES (?, ?, ?)",
                (fingerprint, name, json.dumps(details, sort_keys=True, default=str)),
            )

    def put(
        self,
        fingerprint: str,
        workload: str,
        measurement: Measurement,
        label: str | None = None,
        features: dict[str, Any] | None = None,
    ) -> None:
        """Insert or replace one measurement, atomically."""
        m = measurement
        row = (
            fingerprint,
            workload,
            label,
            m.status,
            m.median_ms,
            m.iqr_ms,
            m.cv,
            m.number,
            m.attempts,
            int(m.noisy),
            m.threads,
            m.compile_s,
            json.dumps(m.repeats_ms),
            m.reason,
            m.source,
            json.dumps(features or {}, default=str),
            time.time(),
        )
        with closing(self._connect()) as db, db:
            db.execute(f"INSERT OR REPLACE INTO measurements VALUES ({_marks(COLUMNS)})", row)
        interrupt.measurement_kept(self.path)

    # -- reading -----------------------------------------------------------
    def get(self, fingerprint: str, workload: str) -> StoredMeasurement | None:
        """The stored measurement of ``workload`` on ``fingerprint``, if any."""
        rows = list(self._select("WHERE fingerprint = ? AND workload = ?", (fingerprint, workload)))
        return rows[0] if rows else None

    def keys(self, fingerprint: str, status: str | None = None) -> set[str]:
        """Workload keys stored for ``fingerprint`` (optionally only those with ``status``)."""
        query = "SELECT workload FROM measurements WHERE fingerprint = ?"
        params: tuple = (fingerprint,)
        if status:
            query, params = query + " AND status = ?", (fingerprint, status)
        with closing(self._connect()) as db:
            return {row[0] for row in db.execute(query, params)}

    def failures(self, fingerprint: str) -> dict[str, str]:
        """Workload key -> reason of every failed measurement stored for ``fingerprint``."""
        query = "SELECT workload, reason FROM measurements WHERE fingerprint = ? AND status != 'ok'"
        with closing(self._connect()) as db:
            return {key: reason or "" for key, reason in db.execute(query, (fingerprint,))}

    def measurements(self, fingerprint: str | None = None) -> list[StoredMeasurement]:
        """Every stored row (of one fingerprint, or all)."""
        if fingerprint is None:
            return list(self._select("", ()))
        return list(self._select("WHERE fingerprint = ?", (fingerprint,)))

    def targets(self) -> dict[str, dict[str, Any]]:
        """Fingerprint key -> ``{"name": ..., "details": {...}}`` of every known target."""
        with closing(self._connect()) as db:
            return {
                fp: {"name": name, "details": json.loads(details)}
                for fp, name, details in db.execute("SELECT * FROM targets")
            }

    def _select(self, where: str, params: tuple) -> Iterator[StoredMeasurement]:
        with closing(self._connect()) as db:
            rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM measurements {where}", params)
            yield from (_row_to_stored(dict(zip(COLUMNS, row, strict=True))) for row in rows)

    def copy_to(self, path: str | Path) -> LatencyStore:
        """A consistent copy of this store at ``path`` (replaced if present), opened.

        SQLite's online backup: safe while other processes write to this store.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
            stale.unlink(missing_ok=True)
        with closing(self._connect()) as src, closing(sqlite3.connect(path)) as dst:
            src.backup(dst)
        return LatencyStore(path)

    # -- CSV -----------------------------------------------------------------
    def export_csv(self, path: str | Path) -> int:
        """Write every measurement to CSV (raw repeats and features as JSON); returns rows."""
        with closing(self._connect()) as db, open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            count = 0
            for row in db.execute(f"SELECT {', '.join(COLUMNS)} FROM measurements"):
                writer.writerow(row)
                count += 1
        return count

    def import_csv(self, path: str | Path) -> int:
        """Merge measurements from a CSV written by :meth:`export_csv`; returns rows."""
        from hwnas.store_csv import read_store_csv

        return self.import_rows(read_store_csv(path, COLUMNS))

    def import_rows(self, rows: list[tuple]) -> int:
        """Insert rows checked by :func:`hwnas.store_csv.read_store_csv`, in one transaction."""
        with closing(self._connect()) as db, db:
            db.executemany(f"INSERT OR REPLACE INTO measurements VALUES ({_marks(COLUMNS)})", rows)
        return len(rows)


def _marks(columns: Iterable[str]) -> str:
    return ", ".join("?" for _ in columns)


def _row_to_stored(row: dict[str, Any]) -> StoredMeasurement:
    measurement = Measurement(
        status=row["status"],
        median_ms=row["median_ms"],
        iqr_ms=row["iqr_ms"],
        cv=row["cv"],
        repeats_ms=tuple(json.loads(row["repeats_ms"])),
        number=row["number"] or 0,
        attempts=row["attempts"] or 0,
        noisy=bool(row["noisy"]),
        threads=row["threads"],
        compile_s=row["compile_s"],
        reason=row["reason"],
        source=row["source"],
    )
    return StoredMeasurement(
        row["fingerprint"],
        row["workload"],
        row["label"],
        measurement,
        json.loads(row["features"]),
        row["created"],
    )


def check_store_file(path: Path) -> None:
    """Raise a one-line error unless ``path`` is absent, empty, or an hwnas store (read only)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    fix = "give --store a new file or one written by hwnas"
    try:
        with closing(sqlite3.connect(path, timeout=30.0)) as db:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            tables = {
                name: tuple(row[1] for row in db.execute(f"PRAGMA table_info('{name}')"))
                for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
    except sqlite3.DatabaseError:
        raise HwnasError(
            f"{path} is not an hwnas latency store (not an SQLite file)", fix
        ) from None
    if app_id == APPLICATION_ID:
        return
    if app_id != 0:
        raise HwnasError(
            f"{path} is not an hwnas latency store (SQLite application id {app_id})", fix
        )
    ours = {"targets": TARGET_COLUMNS, "measurements": COLUMNS}
    if any(ours.get(name) != columns for name, columns in tables.items()):
        raise HwnasError(
            f"{path} is not an hwnas latency store (it holds tables "
            f"{', '.join(sorted(tables))} of another program)",
            fix,
        )


def default_store() -> Path:
    """The latency store used when none is given: ``$HWNAS_STORE`` or ``<cache>/latency.sqlite``."""
    from hwnas.onnx_cache import cache_dir

    return Path(os.environ.get("HWNAS_STORE") or cache_dir() / "latency.sqlite")
