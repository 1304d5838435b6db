"""Built-in plugin: the HURRICANE search space (32-operator pool)."""

from hwnas.hookspecs import hookimpl
from hwnas.types import SpaceSpec


def _space(**options):
    from hwnas.spaces.hurricane.space import HurricaneSpace

    return HurricaneSpace(**options)


@hookimpl
def hwnas_search_spaces():
    """Declare ``hurricane``."""
    yield SpaceSpec(
        name="hurricane",
        summary="HURRICANE: 20 layers x 32 ops (SEP/MB/ShuffleNetV2 blocks, with/without SE)",
        factory=_space,
        requires=("torch",),
    )
