"""Built-in plugin: the NAS-Bench-201 cell space (6 edges x 5 ops, 15,625 cells)."""

from __future__ import annotations

import re

import numpy as np

from hwnas.errors import ArchitectureError
from hwnas.hookspecs import hookimpl
from hwnas.space import Architecture, Position, SearchSpace
from hwnas.types import SpaceSpec

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to_node, from_node) for the 6 edges, in NB201 string order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
_TOKEN = re.compile(r"^([a-z0-9_]+)~(\d)$")


class NB201Space(SearchSpace):
    """NAS-Bench-201: a 4-node cell; each of 6 edges carries one of 5 ops.

    Strings use the standard form
    ``|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...~0|...~1|...~2|``; the
    comma form ``op,op,op,op,op,op`` in edge order is accepted too.
    """

    name = "nb201"

    def __init__(self) -> None:
        super().__init__(Position(f"edge{j}<-{i}", OPS) for j, i in EDGES)

    def parse(self, text: str) -> Architecture:
        """Parse the NB201 string (or the comma form)."""
        text = text.strip()
        if not text.startswith("|"):
            return super().parse(text)
        ops = []
        for node, group in enumerate(text.split("+"), start=1):
            tokens = [t for t in group.strip().strip("|").split("|") if t]
            if len(tokens) != node:
                raise ArchitectureError(
                    f"nb201 string: node {node} needs {node} edges, got {len(tokens)}",
                    "use the form |op~0|+|op~0|op~1|+|op~0|op~1|op~2|",
                )
            for source, token in enumerate(tokens):
                match = _TOKEN.match(token)
                if not match or int(match.group(2)) != source:
                    raise ArchitectureError(
                        f"nb201 string: bad edge token {token!r} (node {node}, input {source})",
                        f"write it as OP~{source} with OP one of: {', '.join(OPS)}",
                    )
                ops.append(match.group(1))
        return self.architecture(ops)

    def format(self, arch: Architecture) -> str:
        """The standard NB201 string."""
        self._check_space(arch)
        ops = iter(arch.choices)
        groups = [
            "|" + "|".join(f"{next(ops)}~{i}" for i in range(node)) + "|" for node in (1, 2, 3)
        ]
        return "+".join(groups)

    def effective_edges(self, arch: Architecture) -> tuple[bool, ...]:
        """Whether each edge lies on an input->output path of non-``none`` edges."""
        live = [op != "none" for op in arch.choices]
        reach_from_input = {0}
        for (to, src), ok in zip(EDGES, live, strict=True):
            if ok and src in reach_from_input:
                reach_from_input.add(to)
        reaches_output = {3}
        for (to, src), ok in reversed(list(zip(EDGES, live, strict=True))):
            if ok and to in reaches_output:
                reaches_output.add(src)
        return tuple(
            ok and src in reach_from_input and to in reaches_output
            for (to, src), ok in zip(EDGES, live, strict=True)
        )

    def effective_op_counts(self, arch: Architecture) -> np.ndarray:
        """How many effective edges carry each op (a strong latency feature)."""
        counts = np.zeros(len(OPS), dtype=np.int64)
        for op, effective in zip(arch.choices, self.effective_edges(arch), strict=True):
            if effective:
                counts[OPS.index(op)] += 1
        return counts


@hookimpl
def hwnas_search_spaces():
    """Declare ``nb201``."""
    yield SpaceSpec(
        name="nb201",
        summary="NAS-Bench-201 cell: 6 edges x 5 ops (15,625 architectures)",
        factory=NB201Space,
    )
