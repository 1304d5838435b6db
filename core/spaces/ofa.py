"""Built-in plugin: the Once-for-All MobileNetV3 space (kernel, expand, depth, resolution)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwnas.errors import ArchitectureError, HwnasError
from hwnas.hookspecs import hookimpl
from hwnas.space import Architecture, Position, SearchSpace
from hwnas.types import SpaceSpec

KERNELS = (3, 5, 7)
EXPANDS = (3, 4, 6)
DEPTHS = (2, 3, 4)
RESOLUTIONS = tuple(range(128, 225, 4))
NUM_STAGES, BLOCKS_PER_STAGE = 5, 4
NUM_BLOCKS = NUM_STAGES * BLOCKS_PER_STAGE
_FIELDS = ("ks", "e", "d", "r")


class OFASpace(SearchSpace):
    """OFA MobileNetV3: per-block kernel (20) and expansion (20), per-stage depth (5), resolution.

    Strings look like ``ks=3,5,...;e=4,6,...;d=2,3,4,2,3;r=224`` (20, 20, 5, 1
    values). Blocks beyond a stage's depth are inactive: they are kept in the
    architecture but :meth:`encode` zeroes them, as OFA's accuracy predictor does.
    ``resolutions`` (e.g. ``"160,176,192"``) keeps a subset of the input
    resolutions 128..224 (step 4), for a latency model that answers only those
    (``ofa/note10``'s lookup table declares its five).
    """

    name = "ofa"

    def __init__(self, resolutions: str | int | Sequence[int] | None = None) -> None:
        self.resolutions = parse_resolutions(resolutions)
        super().__init__(
            [Position(f"ks{i}", KERNELS) for i in range(NUM_BLOCKS)]
            + [Position(f"e{i}", EXPANDS) for i in range(NUM_BLOCKS)]
            + [Position(f"d{s}", DEPTHS) for s in range(NUM_STAGES)]
            + [Position("r", self.resolutions)]
        )

    def parse(self, text: str) -> Architecture:
        """Parse ``ks=..;e=..;d=..;r=..``."""
        fields: dict[str, list[int]] = {}
        for part in filter(None, (p.strip() for p in text.strip().split(";"))):
            key, sep, values = part.partition("=")
            if not sep or key.strip() not in _FIELDS:
                raise ArchitectureError(
                    f"ofa string: bad part {part!r}", "write ks=...;e=...;d=...;r=..."
                )
            try:
                fields[key.strip()] = [int(v) for v in values.split(",")]
            except ValueError as exc:
                raise ArchitectureError(f"ofa string: {key} must be integers: {values!r}") from exc
        return self.from_ofa(fields)

    def from_ofa(self, data: dict) -> Architecture:
        """From OFA's own dict ``{"ks": [...], "e": [...], "d": [...], "r": int}``."""
        missing = [f for f in _FIELDS if f not in data]
        if missing:
            raise ArchitectureError(
                f"ofa architecture lacks {', '.join(missing)}", "give ks, e, d and r"
            )
        r = data["r"] if isinstance(data["r"], int) else data["r"][0]
        return self.architecture([*data["ks"], *data["e"], *data["d"], r])

    def to_ofa(self, arch: Architecture) -> dict:
        """OFA's dict form."""
        c = list(arch.choices)
        return {
            "ks": c[:NUM_BLOCKS],
            "e": c[NUM_BLOCKS : 2 * NUM_BLOCKS],
            "d": c[2 * NUM_BLOCKS : -1],
            "r": c[-1],
        }

    def format(self, arch: Architecture) -> str:
        """``ks=..;e=..;d=..;r=..``."""
        self._check_space(arch)
        ofa = self.to_ofa(arch)
        return ";".join(
            f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in ofa.items()
        )

    def active_blocks(self, arch: Architecture) -> np.ndarray:
        """Boolean mask of the 20 blocks that the stage depths keep."""
        depths = self.to_ofa(arch)["d"]
        return np.array(
            [b % BLOCKS_PER_STAGE < depths[b // BLOCKS_PER_STAGE] for b in range(NUM_BLOCKS)]
        )

    def encode(self, arch: Architecture) -> np.ndarray:
        """OFA's 128-float encoding: 60 kernel one-hots, 60 expand one-hots, 8 resolution slots."""
        ofa = self.to_ofa(arch)
        active = self.active_blocks(arch)
        vector = np.zeros(128, dtype=np.float32)
        for b in np.flatnonzero(active):
            vector[3 * b + KERNELS.index(ofa["ks"][b])] = 1.0
            vector[60 + 3 * b + EXPANDS.index(ofa["e"][b])] = 1.0
        vector[120 + (ofa["r"] - 112) // 16] = 1.0
        return vector


def parse_resolutions(value: str | int | Sequence[int] | None) -> tuple[int, ...]:
    """The resolutions kept (all of 128..224 step 4 for None); one-line error otherwise."""
    if value is None:
        return RESOLUTIONS
    parts = str(value).replace(";", ",").split(",") if isinstance(value, str | int) else value
    try:
        kept = sorted({int(str(p).strip()) for p in parts if str(p).strip()})
    except ValueError:
        raise HwnasError(
            f"ofa: resolutions must be integers, got {value!r}", "e.g. resolutions=160,176,192"
        ) from None
    bad = [r for r in kept if r not in RESOLUTIONS]
    if bad or not kept:
        raise HwnasError(
            f"ofa: resolutions {bad or value!r} are not in 128..224 (step 4)",
            "e.g. resolutions=160,176,192,208,224",
        )
    return tuple(kept)


@hookimpl
def hwnas_search_spaces():
    """Declare ``ofa``."""
    yield SpaceSpec(
        name="ofa",
        summary="Once-for-All MobileNetV3: kernel/expand per block, depth per stage, resolution",
        factory=OFASpace,
    )
