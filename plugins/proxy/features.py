"""Architecture features for few-shot latency adaptation, in named groups.

A target's latency is adapted from proxies *plus* these features, so that
what the proxies cannot explain (an op that is relatively slower on the
target) can still be learnt from k samples. Features are additive counts, to
be used in a linear model of latency in milliseconds.

**NB201** (three groups, the ``none`` op dropped):

- ``all_edges``: how many of the 6 edges carry each op. Latency tables that
  run every edge (HELP's GPU, CPU, phone, Eyeriss and FPGA columns) are almost
  exactly additive in these: a least-squares fit over all 15,625 cells has
  SRCC >= 0.96 on all 21 GPU, server-CPU, Eyeriss and FPGA settings (>= 0.99
  on 9 of them) and 0.91-0.98 on the four integer-ms phones.
- ``used_edges``: the same counts over edges whose destination node reaches
  the output through non-``none`` edges (an exporter's dead-code elimination
  drops the rest). HW-NAS-Bench's ``raspi4`` and ``pixel3`` follow these (SRCC
  0.965 vs 0.943 for all edges).

- ``effective_edges``: the same counts over edges on an input->output path of
  non-``none`` edges (``NB201Space.effective_op_counts``). On the shipped
  columns their full-table linear fit reaches only 0.81-0.91 SRCC (those
  cells compute an edge whose input is cut off: its input is zeros, not
  absent), but a runtime that prunes dead subgraphs follows them (0.92-0.99
  on other published NB201 latency columns), so they stay a candidate and
  the few-shot selection decides per device.

**Any other space** (group ``choices``): for every set of positions sharing
the same choice tuple, how many positions take each choice; plus group
``cost`` (FLOPs and parameters in millions) when the space computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hwnas.space import Architecture, SearchSpace

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


@dataclass(frozen=True)
class Features:
    """``values`` (architectures x features), column ``names`` and ``groups`` (name -> columns)."""

    values: np.ndarray
    names: tuple[str, ...]
    groups: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def rows(self, rows) -> Features:
        """The features of a subset of architectures."""
        return Features(self.values[np.asarray(rows)], self.names, self.groups)


def _index_matrix(space: SearchSpace, archs: Sequence[Architecture]) -> np.ndarray:
    from hwnas.predict.model import index_matrix

    return index_matrix(space, list(archs))


def nb201_features(space: SearchSpace, archs: Sequence[Architecture]) -> Features:
    """NB201 op counts on all edges, on edges whose output is used, on effective edges."""
    idx = _index_matrix(space, archs)  # (n, 6), 0 = none
    live = idx != 0
    ones = np.ones(len(idx), dtype=bool)
    # Edges in NB201 order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2; node 3 is the output.
    node2 = live[:, 5]
    node1 = live[:, 4] | (live[:, 2] & node2)
    used = np.column_stack([node1, node2, node2, ones, ones, ones])
    # reached from the input (node 0) through live edges
    from1 = live[:, 0]
    from2 = live[:, 1] | (live[:, 2] & from1)
    sources = np.column_stack([ones, ones, from1, ones, from1, from2])
    effective = live & used & sources
    onehot = idx[:, :, None] == np.arange(1, len(NB201_OPS))[None, None, :]
    counts = [(onehot & mask[:, :, None]).sum(axis=1) for mask in (live, used, effective)]
    ops = NB201_OPS[1:]
    names = tuple(f"{prefix}:{op}" for prefix in ("all", "used", "eff") for op in ops)
    k = len(ops)
    return Features(
        np.column_stack(counts).astype(float),
        names,
        {
            "all_edges": tuple(range(k)),
            "used_edges": tuple(range(k, 2 * k)),
            "effective_edges": tuple(range(2 * k, 3 * k)),
        },
    )


def choice_features(space: SearchSpace, archs: Sequence[Architecture]) -> Features:
    """Counts of each choice over positions sharing a choice tuple, plus FLOPs/params if known."""
    idx = _index_matrix(space, archs)
    by_choices: dict[tuple, list[int]] = {}
    for i, position in enumerate(space.positions):
        by_choices.setdefault(tuple(position.choices), []).append(i)
    columns, names = [], []
    for g, (choices, positions) in enumerate(by_choices.items()):
        sub = idx[:, positions]
        for j, choice in enumerate(choices):
            columns.append((sub == j).sum(axis=1))
            names.append(f"g{g}:{choice}" if len(by_choices) > 1 else f"{choice}")
    groups = {"choices": tuple(range(len(columns)))}
    costs = [space.cost(a) for a in archs[:1]]
    if archs and costs[0] is not None:
        cost = np.array([[c.flops / 1e6, c.params / 1e6] for c in map(space.cost, archs)])
        groups["cost"] = (len(columns), len(columns) + 1)
        columns += [cost[:, 0], cost[:, 1]]
        names += ["mflops", "mparams"]
    values = np.column_stack(columns).astype(float) if columns else np.zeros((len(archs), 0))
    return Features(values, tuple(names), groups)


def arch_features(space: SearchSpace, archs: Sequence[Architecture]) -> Features:
    """The adaptation features of ``archs`` (NB201-specific, or generic choice counts)."""
    if space.name == "nb201":
        return nb201_features(space, archs)
    return choice_features(space, archs)
