"""hwnas: hardware-aware neural architecture search wired into real compilers.

The names a plugin author needs are importable from here::

    import hwnas

    @hwnas.hookimpl
    def hwnas_targets():
        yield hwnas.TargetSpec(name="my-board", summary="...", factory=MyBoard)
"""

from hwnas.errors import HwnasError
from hwnas.hookspecs import hookimpl, hookspec
from hwnas.space import Architecture, Position, SearchSpace
from hwnas.target import Target
from hwnas.timing import Measurement, TimingProtocol
from hwnas.types import AccuracySourceSpec, CommandSpec, SpaceSpec, StrategySpec, TargetSpec
from hwnas.workload import Workload

__version__ = "0.1.0"
__all__ = [
    "AccuracySourceSpec",
    "Architecture",
    "CommandSpec",
    "HwnasError",
    "Measurement",
    "Position",
    "SearchSpace",
    "SpaceSpec",
    "StrategySpec",
    "Target",
    "TargetSpec",
    "TimingProtocol",
    "Workload",
    "hookimpl",
    "hookspec",
]
