"""Recorded targets: latency answered from published measurements (``source="recorded"``).

These are :class:`~hwnas.latency.LatencyModel` s, not :class:`~hwnas.target.Target` s:
they answer *architectures* of one search space from a table, and cannot
compile or time workloads. Registered names:

- ``nb201/<device>``: all 15,625 NAS-Bench-201 cells on 27 device settings
  (HELP / HW-NAS-Bench).
- ``fbnet/<device>``: 5,000 sampled FBNet architectures on 27 settings.
- ``ofa/<device>``: 5,000 sampled OFA MobileNetV3 subnets on 12 GPU settings.
- ``ofa/note10``: any OFA subnet at resolution 160/176/192/208/224, as the sum
  of OFA's measured per-operator Note10 lookup table.

Every factory takes ``data_dir`` (default ``$HWNAS_DATA``, then the tables
shipped with hwnas; see :mod:`hwnas.targets.recorded.tables`). Tables are read
lazily on the first answer and cached per process; listing the plugins reads
no file.

An FBNet/OFA architecture absent from the sampled table raises
:class:`~hwnas.errors.HwnasError` by default; with ``predict_missing=True`` it
is answered by the architecture-level predictor of
:mod:`hwnas.targets.recorded.predictor` (trained on every recorded architecture of that
device) and marked ``source="predicted"``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from hwnas.errors import ArchitectureError, HwnasError
from hwnas.latency import Latency, LatencyModel
from hwnas.space import Architecture
from hwnas.targets.recorded import tables as data

_SOURCES = {
    "nb201": "HELP (NeurIPS 2021) / HW-NAS-Bench (ICLR 2021), nb201/latency.csv",
    "fbnet": "HELP (NeurIPS 2021) / HW-NAS-Bench (ICLR 2021), fbnet/latency.csv",
    "ofa": "HELP (NeurIPS 2021), ofa/latency.csv",
}
_DEVICES = {"nb201": data.NB201_DEVICES, "fbnet": data.FBNET_DEVICES, "ofa": data.OFA_DEVICES}
_FILES = {
    "nb201": ("nb201/latency.csv", "nb201/accuracy.csv"),
    "fbnet": ("fbnet/archs.json", "fbnet/latency.csv"),
    "ofa": ("ofa/archs.json", "ofa/latency.csv"),
}


def recorded_devices(space: str) -> tuple[str, ...]:
    """The device settings recorded for ``space`` (``ofa`` includes ``note10``)."""
    if space not in _DEVICES:
        raise HwnasError(
            f"no recorded latencies for space {space!r}", f"choose one of: {', '.join(_DEVICES)}"
        )
    return (*_DEVICES[space], "note10") if space == "ofa" else _DEVICES[space]


class _Recorded(LatencyModel):
    """Shared parts: the space, the device, the data directory, the table files."""

    space = ""
    free = True  # a published table or lookup table: answering costs no measurement

    def __init__(self, space: str, device: str, data_dir: str | os.PathLike | None = None) -> None:
        self.space = space
        self.device = device
        self.name = f"{space}/{device}"
        self.data_dir = data.resolve_data_dir(data_dir)

    def _check(self, arch: Architecture) -> None:
        if arch.space != self.space:
            raise ArchitectureError(
                f"target {self.name} answers {self.space} architectures, not {arch.space!r}",
                f"use a {arch.space}/<device> target",
            )

    # Target-like conveniences so ``hwnas targets`` can list these rows.
    def available(self) -> str | None:
        """Always ``None`` once constructed (construction checked the data files)."""
        return None

    def close(self) -> None:
        """Nothing to release."""

    def fingerprint(self) -> dict[str, Any]:
        """Space, device and the table the numbers come from (reads no file)."""
        return {
            "model": self.name,
            "space": self.space,
            "device": self.device,
            "source": "recorded",
            "data_dir": str(self.data_dir),
        }


class RecordedTable(_Recorded):
    """Latency of ``space`` architectures on ``device`` from a published table.

    ``latencies`` is vectorised (all 15,625 NB201 cells in milliseconds). An
    FBNet/OFA architecture that is not one of the 5,000 sampled ones raises
    :class:`~hwnas.errors.HwnasError`, or with ``predict_missing=True`` is
    predicted (:func:`hwnas.targets.recorded.predictor.predict_recorded`) and marked
    ``predicted``.
    """

    def __init__(
        self,
        space: str,
        device: str,
        data_dir: str | os.PathLike | None = None,
        predict_missing: bool = False,
    ) -> None:
        devices = recorded_devices(space)
        if device not in devices or (device == "note10" and space == "ofa"):
            valid = [d for d in devices if d != "note10"]
            raise HwnasError(
                f"no recorded {space} latencies for device {device!r}",
                f"choose one of: {', '.join(valid)}",
            )
        super().__init__(space, device, data_dir)
        for relative in _FILES[space]:
            data.data_file(relative, self.data_dir)
        self._latency: np.ndarray | None = None
        self.predict_missing = bool(predict_missing)

    @property
    def table(self) -> data.Table:
        """The cached table (read on first use, then kept on the instance)."""
        table = self.__dict__.get("_table")
        if table is None:
            if self.space == "nb201":
                table = data.nb201_table(self.data_dir)
            else:
                table = data.sampled_table(self.space, self.data_dir)
            self._table = table
        return table

    def _column(self) -> np.ndarray:
        if self._latency is None:
            self._latency = self.table.column(self.device, _DEVICES[self.space])
        return self._latency

    def _rows(self, archs: Sequence[Architecture]) -> np.ndarray:
        table = self.table
        try:
            return table.rows([data.canonical_key(a) for a in archs])
        except KeyError:
            missing = next(a for a in archs if data.canonical_key(a) not in table.row_of)
            self._check(missing)
            from hwnas.manager import get_plugin_manager

            text = get_plugin_manager().create("space", self.space).format(missing)
            raise HwnasError(
                f"{self.space} architecture {text} is not in the recorded table "
                f"({len(table.archs):,} sampled architectures)",
                "use one of the recorded architectures, or create the target with "
                "predict_missing=True to predict the rest",
            ) from None

    def latency(self, arch: Architecture) -> Latency:
        """The recorded latency (ms) of ``arch`` (or its prediction, see ``predict_missing``)."""
        self._check(arch)
        if self.predict_missing and data.canonical_key(arch) not in self.table.row_of:
            return Latency(float(self._predict([arch])[0]), "predicted", 0.0)
        return Latency(float(self._column()[self._rows([arch])[0]]), "recorded")

    def latencies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Recorded latencies (ms) of many architectures (vectorised)."""
        for arch in archs[:1]:
            self._check(arch)
        if not self.predict_missing:
            return self._column()[self._rows(archs)].astype(float)
        row_of = self.table.row_of
        found = np.array([data.canonical_key(a) in row_of for a in archs], dtype=bool)
        out = np.empty(len(archs))
        hits = np.flatnonzero(found)
        out[hits] = self._column()[self._rows([archs[i] for i in hits])]
        if not found.all():
            out[~found] = self._predict([archs[i] for i in np.flatnonzero(~found)])
        return out

    def _predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        from hwnas.targets.recorded.predictor import predict_recorded

        return predict_recorded(self.space, self.device, archs, self.data_dir)

    def architectures(self) -> tuple[Architecture, ...]:
        """The recorded architectures, in table row order."""
        return self.table.archs

    def all_latencies(self) -> np.ndarray:
        """The whole column, in table row order (``self.table.archs``)."""
        return self._column().astype(float)

    def fingerprint(self) -> dict[str, Any]:
        """Adds the source of the table."""
        return {**super().fingerprint(), "table": _SOURCES[self.space]}


# ---------------------------------------------------------------------------
# OFA on the Samsung Note10: sum of the per-operator lookup table
# ---------------------------------------------------------------------------

# OFA MobileNetV3 with width multiplier 1.2 (the network the Note10 table was
# measured for; its keys read 24 -> 32 -> 48 -> 96 -> 136 -> 192 channels).
FIRST_CONV_CHANNELS = 24
STAGE_WIDTHS = (32, 48, 96, 136, 192)
STAGE_STRIDES = (2, 2, 2, 1, 2)
STAGE_SE = (0, 1, 0, 1, 1)
STAGE_HSWISH = (0, 0, 1, 1, 1)
FINAL_EXPAND, FEATURE_MIX, NUM_CLASSES = 1152, 1536, 1000


def _shape(*dims: int) -> str:
    return "x".join(map(str, dims))


def note10_keys(ofa: dict) -> list[str]:
    """The lookup-table keys of one OFA subnet (``{"ks", "e", "d", "r"}``), in network order.

    Mirrors OFA's ``MBv3LatencyTable.predict_network_latency_given_spec``: the
    first conv (stride 2), the fixed first block (24 -> 24, expand 24, k3,
    identity skip), then per stage the active blocks (the first one strided,
    without skip; the others stride 1 with skip; mid channels = in x expand),
    the final 1x1 expand, global pooling, the feature-mix conv and the logits.
    """
    r = ofa["r"]
    size = (r + 1) // 2
    keys = [
        f"Conv-input:{_shape(r, r, 3)}-output:{_shape(size, size, FIRST_CONV_CHANNELS)}",
        f"expanded_conv-input:{_shape(size, size, 24)}-output:{_shape(size, size, 24)}"
        "-expand:24-kernel:3-stride:1-idskip:1-se:0-hs:0",
    ]
    channels = FIRST_CONV_CHANNELS
    for block in range(20):
        stage, depth = divmod(block, 4)
        if depth >= ofa["d"][stage]:
            continue
        stride = STAGE_STRIDES[stage] if depth == 0 else 1
        out_size = (size - 1) // stride + 1
        out_channels = STAGE_WIDTHS[stage]
        mid = round(channels * ofa["e"][block])
        keys.append(
            f"expanded_conv-input:{_shape(size, size, channels)}"
            f"-output:{_shape(out_size, out_size, out_channels)}"
            f"-expand:{mid}-kernel:{ofa['ks'][block]}-stride:{stride}"
            f"-idskip:{0 if depth == 0 else 1}-se:{STAGE_SE[stage]}-hs:{STAGE_HSWISH[stage]}"
        )
        size, channels = out_size, out_channels
    keys += [
        f"Conv_1-input:{_shape(size, size, channels)}-output:{_shape(size, size, FINAL_EXPAND)}",
        f"AvgPool2D-input:{_shape(size, size, FINAL_EXPAND)}-output:{_shape(1, 1, FINAL_EXPAND)}",
        f"Conv_2-input:{_shape(1, 1, FINAL_EXPAND)}-output:{_shape(1, 1, FEATURE_MIX)}",
        f"Logits-input:{_shape(1, 1, FEATURE_MIX)}-output:{NUM_CLASSES}",
    ]
    return keys


class OFANote10(_Recorded):
    """Any OFA subnet on the Samsung Note10 CPU: the sum of OFA's per-operator table (ms).

    Only resolutions 160, 176, 192, 208 and 224 have a table; others are a
    one-line error. The answer is ``recorded`` (a sum of measured entries).
    """

    def __init__(self, data_dir: str | os.PathLike | None = None) -> None:
        super().__init__("ofa", "note10", data_dir)
        for r in data.NOTE10_RESOLUTIONS:
            data.data_file(f"ofa/note10_lut/{r}_lookup_table.yaml", self.data_dir)
        self._cache: dict = {}
        self._luts: dict[int, dict[str, float]] = {}
        self._space = None

    def latency(self, arch: Architecture) -> Latency:
        """Sum of the lookup-table entries of ``arch``'s operators."""
        self._check(arch)
        key = data.canonical_key(arch)
        ms = self._cache.get(key)
        if ms is None:
            if self._space is None:
                from hwnas.spaces.ofa import OFASpace

                self._space = OFASpace()
            ofa = self._space.to_ofa(arch)
            if ofa["r"] not in data.NOTE10_RESOLUTIONS:
                raise HwnasError(
                    f"ofa/note10 has no lookup table for resolution {ofa['r']}",
                    f"use r in {', '.join(map(str, data.NOTE10_RESOLUTIONS))}",
                )
            lut = self._luts.get(ofa["r"])
            if lut is None:
                lut = self._luts[ofa["r"]] = data.note10_lut(ofa["r"], self.data_dir)
            try:
                ms = float(sum(lut[k] for k in note10_keys(ofa)))
            except KeyError as exc:
                raise HwnasError(
                    f"ofa/note10 lookup table at r={ofa['r']} lacks operator {exc.args[0]}",
                    "the table does not match OFA MobileNetV3 w1.2",
                ) from None
            self._cache[key] = ms
        return Latency(ms, "recorded")

    def latencies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Latencies (ms) of many subnets (each key summed once, then cached)."""
        return np.array([self.latency(a).ms for a in archs], dtype=float)

    def fingerprint(self) -> dict[str, Any]:
        """Adds the source of the table."""
        return {**super().fingerprint(), "table": "once-for-all note10_lut (Samsung Note10 CPU)"}
