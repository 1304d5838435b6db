"""The published measurement tables (NB201, FBNet, OFA): where they live, and cached loaders.

The tables ship inside hwnas as package data (``hwnas/targets/recorded/data``,
gzip-compressed; see ``PROVENANCE.md`` and ``MANIFEST.json`` there). A data
directory holds ``nb201/``, ``fbnet/`` and ``ofa/``; it is found, in this
order, from an explicit ``data_dir`` (a CLI flag such as ``--data-dir`` or a
config key ``data_dir``), the environment variable ``HWNAS_DATA``, then the
shipped folder. Each file may be plain or gzip-compressed (``latency.csv`` or
``latency.csv.gz``); the readers decompress transparently. A missing
directory or file raises :class:`~hwnas.errors.HwnasError` naming the path
that was expected.

Loaders are lazy and cached per resolved file (a table is read once per
process) and use only safe formats: CSV, JSON, YAML through PyYAML's safe
loader, and ``numpy.load(..., allow_pickle=False)``.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import importlib.resources
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.errors import HwnasError
from hwnas.space import Architecture

DATA_ENV = "HWNAS_DATA"
_FIX = (
    f"pass --data-dir or set {DATA_ENV} to a folder with nb201/, fbnet/, ofa/ "
    "(the tables ship with hwnas; reinstall it if they are missing)"
)
MANIFEST_NAME = "MANIFEST.json"
# Files documenting the shipped folder itself (not listed in its manifest).
_SHIPPED_DOCS = (MANIFEST_NAME, "PROVENANCE.md", "LICENSES.md")

# Column names of the latency tables (kept here so listing plugins reads no file).
NB201_DEVICES: tuple[str, ...] = (
    "1080ti_1", "1080ti_256", "1080ti_32", "2080ti_1", "2080ti_256", "2080ti_32",
    "essential_ph_1", "eyeriss", "fpga", "gold_6226", "gold_6240", "pixel2", "pixel3",
    "raspi4", "samsung_a50", "samsung_s7", "silver_4114", "silver_4210r", "titan_rtx_1",
    "titan_rtx_256", "titan_rtx_32", "titanx_1", "titanx_256", "titanx_32", "titanxp_1",
    "titanxp_256", "titanxp_32",
)  # fmt: skip
FBNET_DEVICES: tuple[str, ...] = tuple(
    d.replace("_256", "_64") for d in NB201_DEVICES
)  # same settings, GPU batch 64 instead of 256
OFA_DEVICES: tuple[str, ...] = tuple(
    f"{gpu}_{batch}" for gpu in ("2080ti", "titan_rtx", "titan_xp", "v100") for batch in (1, 32, 64)
)
NOTE10_RESOLUTIONS: tuple[int, ...] = (160, 176, 192, 208, 224)
NB201_DATASETS = ("c10", "c100", "in16")
# Every table the loaders read, as shipped (relative to the shipped folder).
_SHIPPED_TABLES: tuple[str, ...] = (
    "nb201/latency.csv.gz", "nb201/accuracy.csv.gz",
    "fbnet/archs.json.gz", "fbnet/latency.csv.gz",
    "ofa/archs.json.gz", "ofa/latency.csv.gz", "ofa/acc_predictor_mbv3.npz",
    *(f"ofa/note10_lut/{r}_lookup_table.yaml.gz" for r in NOTE10_RESOLUTIONS),
)  # fmt: skip


def shipped_data_dir() -> Path:
    """The folder of tables shipped inside the installed hwnas package (may be incomplete)."""
    ref = importlib.resources.files("hwnas.targets.recorded") / "data"
    if isinstance(ref, Path):  # a regular install, a wheel or an editable install
        return ref
    raise HwnasError(
        f"the shipped tables of hwnas are not on the file system ({ref})",
        f"install hwnas as a regular (unzipped) package, or {_FIX}",
    )


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir``, else ``$HWNAS_DATA``, else the shipped tables."""
    if data_dir is not None and str(data_dir) != "":
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise HwnasError(f"data directory {path} not found", _FIX)
        return path.resolve()
    env = os.environ.get(DATA_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise HwnasError(f"data directory {path} (from ${DATA_ENV}) not found", _FIX)
        return path.resolve()
    path = shipped_data_dir()
    if not path.is_dir():
        raise HwnasError(f"the shipped data directory {path} is missing", _FIX)
    return path.resolve()


def data_file(relative: str, data_dir: str | os.PathLike | None = None) -> Path:
    """``<data dir>/<relative>`` or, failing that, ``<relative>.gz``; checked to exist."""
    base = resolve_data_dir(data_dir)
    path = base / relative
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.is_file():
            return candidate
    raise HwnasError(
        f"data file {path} not found (nor {path.name}.gz)",
        f"the data directory must contain {relative} or {relative}.gz; {_FIX}",
    )


def open_text(path: Path, newline: str | None = None):
    """``path`` opened for reading text (UTF-8), gunzipped when it ends with ``.gz``."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline=newline)
    return path.open(encoding="utf-8", newline=newline)


def read_text(path: Path) -> str:
    """The text of data file ``path`` (gunzipped if needed); a one-line error if unreadable."""
    try:
        with open_text(path) as handle:
            return handle.read()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise HwnasError(f"cannot read data file {path}: {exc}", _FIX) from exc


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open_text(path, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows = list(reader)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise HwnasError(f"cannot read data file {path}: {exc}", _FIX) from exc
    if header is None:
        raise HwnasError(f"data file {path} is empty", _FIX)
    if not rows:
        raise HwnasError(f"data file {path} has a header but no rows", _FIX)
    short = next((i for i, row in enumerate(rows, 2) if len(row) != len(header)), None)
    if short is not None:
        raise HwnasError(
            f"data file {path} line {short} has {len(rows[short - 2])} fields, the header "
            f"{len(header)}",
            _FIX,
        )
    return header, rows


def _columns(path: Path, header: list[str], rows: list[list[str]], skip: int) -> dict:
    try:
        matrix = np.array([row[skip:] for row in rows], dtype=float)
    except ValueError as exc:
        raise HwnasError(f"data file {path} has non-numeric values: {exc}", _FIX) from None
    return {name: matrix[:, j] for j, name in enumerate(header[skip:])}


# ---------------------------------------------------------------------------
# NAS-Bench-201
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A table of architectures: ``archs`` in row order, numeric ``columns`` and a row index.

    ``row_of`` maps a *canonical* key (see :func:`canonical_key`) to the row.
    """

    path: Path
    archs: tuple[Architecture, ...]
    columns: dict[str, np.ndarray]
    row_of: dict

    def rows(self, keys: Sequence) -> np.ndarray:
        """Row numbers of ``keys``; raises ``KeyError`` on the first absent one."""
        get = self.row_of.__getitem__
        return np.fromiter((get(k) for k in keys), dtype=np.int64, count=len(keys))

    def column(self, name: str, valid: Sequence[str] | None = None) -> np.ndarray:
        """One column; an unknown name is a one-line error listing the valid ones."""
        if name not in self.columns:
            names = valid or sorted(self.columns)
            raise HwnasError(
                f"no column {name!r} in {self.path}", f"choose one of: {', '.join(names)}"
            )
        return self.columns[name]


def canonical_key(arch: Architecture):
    """The key recorded tables index architectures by.

    NB201 and FBNet: the choices. OFA: the choices of the *active* blocks only
    (blocks beyond a stage's depth do not exist in the network), plus depths
    and resolution, so two strings that build the same subnet share a key.
    """
    if arch.space != "ofa":
        return arch.choices
    c = arch.choices
    ks, e, d, r = c[:20], c[20:40], c[40:45], c[45]
    active = tuple(b for b in range(20) if b % 4 < d[b // 4])
    return (tuple(ks[b] for b in active), tuple(e[b] for b in active), tuple(d), r)


@functools.lru_cache(maxsize=8)
def _nb201(path_latency: Path, path_accuracy: Path) -> Table:
    from hwnas.spaces.nb201 import NB201Space

    space = NB201Space()
    lat_header, lat_rows = _read_csv(path_latency)
    acc_header, acc_rows = _read_csv(path_accuracy)
    if len(lat_rows) != len(acc_rows):
        raise HwnasError(
            f"{path_latency} has {len(lat_rows)} rows but {path_accuracy} has {len(acc_rows)}",
            _FIX,
        )
    archs = []
    for i, (lrow, arow) in enumerate(zip(lat_rows, acc_rows, strict=True)):
        if lrow[1] != arow[1] or lrow[0] != str(i):
            raise HwnasError(f"row {i} of {path_latency} and {path_accuracy} disagree", _FIX)
        archs.append(space.parse(lrow[1]))
    columns = {
        **_columns(path_latency, lat_header, lat_rows, 2),
        **_columns(path_accuracy, acc_header, acc_rows, 2),
    }
    row_of = {a.choices: i for i, a in enumerate(archs)}
    return Table(path_latency.parent, tuple(archs), columns, row_of)


def nb201_table(data_dir: str | os.PathLike | None = None) -> Table:
    """All 15,625 NB201 cells: 27 latency columns and the accuracy columns (cached)."""
    return _nb201(
        data_file("nb201/latency.csv", data_dir), data_file("nb201/accuracy.csv", data_dir)
    )


# ---------------------------------------------------------------------------
# FBNet and OFA sampled tables
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _sampled(space_name: str, path_archs: Path, path_latency: Path) -> Table:
    from hwnas.spaces.fbnet import FBNetSpace
    from hwnas.spaces.ofa import OFASpace

    try:
        records = json.loads(read_text(path_archs))["archs"]
    except (ValueError, KeyError, TypeError) as exc:
        raise HwnasError(f"{path_archs} is not the expected JSON: {exc!r}", _FIX) from None
    if not isinstance(records, list):
        raise HwnasError(f"{path_archs}: 'archs' is not a list", _FIX)
    space = FBNetSpace() if space_name == "fbnet" else OFASpace()
    archs = []
    for i, record in enumerate(records):
        try:
            if space_name == "fbnet":
                archs.append(space.architecture(record["ops"]))
            else:
                archs.append(space.from_ofa(record))
        except HwnasError as exc:
            raise HwnasError(f"{path_archs} archs[{i}]: {exc.message}", _FIX) from None
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise HwnasError(f"{path_archs} archs[{i}] is malformed ({exc!r})", _FIX) from None
    header, rows = _read_csv(path_latency)
    if len(rows) != len(archs) or any(row[0] != str(i) for i, row in enumerate(rows)):
        raise HwnasError(f"{path_latency} rows do not match {path_archs}", _FIX)
    row_of: dict = {}
    for i, arch in enumerate(archs):
        row_of.setdefault(canonical_key(arch), i)
    return Table(path_latency.parent, tuple(archs), _columns(path_latency, header, rows, 1), row_of)


def sampled_table(space_name: str, data_dir: str | os.PathLike | None = None) -> Table:
    """The 5,000 sampled FBNet or OFA architectures and their latency columns (cached)."""
    return _sampled(
        space_name,
        data_file(f"{space_name}/archs.json", data_dir),
        data_file(f"{space_name}/latency.csv", data_dir),
    )


# ---------------------------------------------------------------------------
# OFA Note10 lookup table and accuracy predictor
# ---------------------------------------------------------------------------


def parse_lut_yaml(text: str, source: str = "lookup table") -> dict[str, dict[str, float]]:
    """Parse OFA's lookup-table YAML (``KEY: {mean, std, count}``) with PyYAML's safe loader."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        table = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise HwnasError(f"{source} is not valid YAML: {exc}".splitlines()[0]) from exc
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise HwnasError(f"{source}: expected 'KEY: {{mean: ..., std: ..., count: ...}}' entries")
    return table


@functools.lru_cache(maxsize=16)
def _lut(path: Path) -> dict[str, float]:
    table = parse_lut_yaml(read_text(path), str(path))
    missing = [key for key, entry in table.items() if "mean" not in entry]
    if missing:
        raise HwnasError(f"{path}: entry {missing[0]!r} has no mean")
    return {key: entry["mean"] for key, entry in table.items()}


def note10_lut(resolution: int, data_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """OFA's Note10 per-operator mean latency (ms) at ``resolution`` (160..224 step 16)."""
    return _lut(data_file(f"ofa/note10_lut/{resolution}_lookup_table.yaml", data_dir))


@functools.lru_cache(maxsize=4)
def _npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: np.asarray(data[key], dtype=np.float64) for key in data.files}
    except (OSError, ValueError) as exc:
        raise HwnasError(f"cannot read {path} as a numpy .npz (no pickles): {exc}") from exc


def ofa_predictor_weights(data_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Weights of OFA's ImageNet accuracy predictor (keys ``0__weight`` ... ``6__bias``)."""
    return _npz(data_file("ofa/acc_predictor_mbv3.npz", data_dir))


# ---------------------------------------------------------------------------
# The shipped tables: manifest and integrity check
# ---------------------------------------------------------------------------


def shipped_manifest() -> list[dict]:
    """Entries of the shipped ``MANIFEST.json``, one per shipped file.

    Keys: ``path``, ``uncompressed_name``, ``source``, ``licence``, ``bytes``
    (size), ``sha256`` (of the shipped file) and ``content_sha256`` (of its
    content, see :func:`content_sha256`, equal to the published original's).
    """
    path = shipped_data_dir() / MANIFEST_NAME
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except FileNotFoundError as exc:
        raise HwnasError(f"manifest {path} not found", _FIX) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HwnasError(f"cannot read manifest {path}: {exc!r}", _FIX) from exc
    if not isinstance(files, list) or not all(isinstance(e, dict) for e in files):
        raise HwnasError(f"manifest {path}: 'files' must be a list of objects", _FIX)
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(path: Path) -> str:
    """SHA-256 of a table's *content*, independent of how it is stored.

    A ``.gz`` file hashes its decompressed bytes; an ``.npz`` hashes each array
    (name, dtype, shape, raw bytes, in name order); anything else its bytes.
    The manifest's ``content_sha256`` was computed this way from the
    published originals, so a match proves the shipped table equals them.
    """
    digest = hashlib.sha256()
    if path.name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as arrays:
            for name in sorted(arrays.files):
                array = np.ascontiguousarray(arrays[name])
                digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
                digest.update(array.tobytes())
        return digest.hexdigest()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_shipped() -> list[str]:
    """Check the shipped tables against their manifest; the problems found (empty if none)."""
    try:
        root = shipped_data_dir()
        entries = shipped_manifest()
    except HwnasError as exc:
        return [str(exc)]
    problems: list[str] = []
    listed: set[str] = set()
    for entry in entries:
        relative = entry.get("path")
        if not isinstance(relative, str) or not relative:
            problems.append(f"manifest entry without a path: {entry!r}")
            continue
        listed.add(relative)
        path = root / relative
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        size = path.stat().st_size
        if size != entry.get("bytes"):
            problems.append(f"{path}: {size} bytes, manifest says {entry.get('bytes')}")
        digest = _sha256(path)
        if digest != entry.get("sha256"):
            problems.append(f"{path}: sha256 {digest} differs from the manifest's")
        elif content_sha256(path) != entry.get("content_sha256"):
            problems.append(f"{path}: its content differs from the published original's")
    problems.extend(
        f"{root / relative}: a table hwnas needs is not in {MANIFEST_NAME}"
        for relative in _SHIPPED_TABLES
        if relative not in listed
    )
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative not in listed and relative not in _SHIPPED_DOCS:
            problems.append(f"{path}: not listed in {MANIFEST_NAME}")
    return problems
