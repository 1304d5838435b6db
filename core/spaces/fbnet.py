"""Built-in plugin: the FBNet space (22 searchable layers x 9 blocks)."""

from __future__ import annotations

from hwnas.hookspecs import hookimpl
from hwnas.space import Position, SearchSpace
from hwnas.types import SpaceSpec

# In FBNet's op_idx order (as in HW-NAS-Bench / HELP).
OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
NUM_LAYERS = 22


class FBNetSpace(SearchSpace):
    """FBNet: 22 layers, each one of 9 blocks (kernel, expansion, groups, or skip).

    Strings are the 22 block names joined by commas, e.g. ``k3_e1,skip,...``.
    """

    name = "fbnet"

    def __init__(self) -> None:
        super().__init__(Position(f"layer{i}", OPS) for i in range(NUM_LAYERS))


@hookimpl
def hwnas_search_spaces():
    """Declare ``fbnet``."""
    yield SpaceSpec(
        name="fbnet",
        summary="FBNet: 22 layers x 9 blocks (k3/k5, expand 1/3/6, groups, skip)",
        factory=FBNetSpace,
    )
