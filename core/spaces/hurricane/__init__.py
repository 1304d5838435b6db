"""Built-in plugin: the HURRICANE search space (32-operator pool)."""

from __future__ import annotations

from hwnas.hookspecs import hookimpl
from hwnas.types import SpaceSpec


def _space(
    profile: str = "small",
    resolution: int | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    ops=None,
    generated: str | None = None,
):
    """Build the space (torch is imported only now, not when plugins are listed).

    ``generated=FILE`` loads a hardware-specific space written by
    ``hwnas space generate`` (its profile and per-layer ops).
    """
    from hwnas.spaces.hurricane.space import HurricaneSpace

    if generated is not None:
        from hwnas.spaces.hurricane.generated import GeneratedSpace

        return GeneratedSpace.load(generated).space()
    return HurricaneSpace(profile, resolution, in_channels, num_classes, ops)


@hookimpl
def hwnas_search_spaces():
    """Declare ``hurricane``."""
    yield SpaceSpec(
        name="hurricane",
        summary="HURRICANE: 20 layers x 32 ops (SEP/MB/ShuffleNetV2 blocks, with/without SE)",
        factory=_space,
        requires=("torch",),
    )
