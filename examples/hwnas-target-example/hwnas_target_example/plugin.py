"""The plugin module named by the ``hwnas`` entry point: it declares the target.

Keep this module cheap to import: hwnas imports every installed plugin just to
list what exists. ``target.py`` imports torch (your vendor runtime) only inside
its methods; if your target module imports the runtime at the top, point
``factory`` at a small function that imports it lazily instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import hwnas
from hwnas_target_example.target import TorchThreadsTarget


@hwnas.hookimpl
def hwnas_targets() -> Iterator[hwnas.TargetSpec]:
    """Declare ``example-torch``; options to ``factory`` come from ``pm.create(..., **options)``.

    A vendor sets ``requires`` to the runtime's module (e.g. ``("myboard_runtime",)``)
    and ``extra`` to the pip extra that installs it, so a host without the SDK lists
    the target as unavailable, with the fix, instead of failing.
    """
    yield hwnas.TargetSpec(
        name="example-torch",
        summary="PyTorch eager on the host CPU with a chosen thread count (example plugin)",
        factory=TorchThreadsTarget,
        requires=("torch",),
    )
