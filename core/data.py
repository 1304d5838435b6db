"""The published measurement tables (NB201, FBNet, OFA): where they live, and cached loaders.

The data directory holds ``nb201/``, ``fbnet/`` and ``ofa/`` (see its
README). It is found, in this order, from an explicit ``data_dir`` (a CLI
flag such as ``--data-dir`` or a config key ``data_dir``), the environment
variable ``HWNAS_DATA``, then ``../shared/data`` next to the hwnas checkout
or next to the current directory. A missing directory or file raises
:class:`~hwnas.errors.HwnasError` naming the path that was expected.

Loaders are lazy and cached per resolved file (a table is read once per
process) and use only safe formats: CSV, JSON, YAML parsed by hand, and
``numpy.load(..., allow_pickle=False)``.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.errors import HwnasError
from hwnas.space import Architecture

DATA_ENV = "HWNAS_DATA"
_FIX = f"pass --data-dir, set {DATA_ENV}, or put the data in ../shared/data"

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


def _repo_candidates() -> list[Path]:
    here = Path(__file__).resolve().parent.parent  # the checkout (core/ is hwnas)
    return [here.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir``, else ``$HWNAS_DATA``, else ``../shared/data``."""
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
    candidates = _repo_candidates()
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    raise HwnasError(f"data directory not found: expected {candidates[0]}", _FIX)


def data_file(relative: str, data_dir: str | os.PathLike | None = None) -> Path:
    """``<data dir>/<relative>``, checked to exist (one-line error naming the path if not)."""
    path = resolve_data_dir(data_dir) / relative
    if not path.is_file():
        raise HwnasError(
            f"data file {path} not found", f"the data directory must contain {relative}; {_FIX}"
        )
    return path


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, list(reader)


def _columns(path: Path, header: list[str], rows: list[list[str]], skip: int) -> dict:
    try:
        matrix = np.array([row[skip:] for row in rows], dtype=float)
    except ValueError as exc:
        raise HwnasError(f"data file {path} has non-numeric values: {exc}") from exc
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
            f"{path_latency} has {len(lat_rows)} rows but {path_accuracy} has {len(acc_rows)}"
        )
    archs = []
    for i, (lrow, arow) in enumerate(zip(lat_rows, acc_rows, strict=True)):
        if lrow[1] != arow[1] or int(lrow[0]) != i:
            raise HwnasError(f"row {i} of {path_latency} and {path_accuracy} disagree")
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
        records = json.loads(path_archs.read_text(encoding="utf-8"))["archs"]
    except (ValueError, KeyError) as exc:
        raise HwnasError(f"{path_archs} is not the expected JSON: {exc!r}") from exc
    if space_name == "fbnet":
        space = FBNetSpace()
        archs = [space.architecture(r["ops"]) for r in records]
    else:
        space = OFASpace()
        archs = [space.from_ofa(r) for r in records]
    header, rows = _read_csv(path_latency)
    if len(rows) != len(archs) or any(int(row[0]) != i for i, row in enumerate(rows)):
        raise HwnasError(f"{path_latency} rows do not match {path_archs}")
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
    table = parse_lut_yaml(path.read_text(encoding="utf-8"), str(path))
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
