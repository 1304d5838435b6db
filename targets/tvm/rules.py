"""Rule-based CPU schedules for TVM (Relax), no search: ``mode=rules`` of tvm-cpu and tvm-arm.

TVM 0.27's CPU pipeline schedules no convolution (its DLight CPU rules cover
GEMV and row reductions only), so untuned code runs one scalar loop nest per
operator. These rules, in DLight's style, look at each fused TIR function
after lowering and schedule the patterns the search spaces produce:

- :class:`ConvolutionRule`: one reduction block with a spatial output
  (pointwise, depthwise and dense convolutions, the SE block's fully
  connected layers) plus its padding producer and elementwise epilogue (bias,
  ReLU/ReLU6, residual add, SE scaling). The output is tiled into a block of
  rows that fits the vector registers, accumulated in a local buffer over the
  reduction, and the epilogue is applied to the tile before it is stored.
- :class:`RowReductionRule`: global average pooling and other reductions to
  one value per row (``S..R`` blocks).
- :class:`InjectiveRule`: reshapes, transposes, slices and concatenations
  (channel split and shuffle): everything inlined into one loop nest,
  vectorised inside (outer loops parallel only with ``PARALLEL``).

:func:`apply_rules` tries the rules in that order on every function; a
function no rule schedules, or whose schedule fails, keeps TVM's default
code, so a build never fails because of a rule. Which rule handled each
function is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Vector registers a tile may use for its accumulators (16 on AVX2 and NEON,
#: a few left for inputs and weights).
ACCUMULATOR_REGISTERS = 12
#: Longest innermost loop vectorised whole; longer ones are split.
MAX_VECTOR_EXTENT = 32


@dataclass
class RulesReport:
    """Which rule scheduled each fused function (JSON-friendly via :meth:`as_dict`)."""

    applied: dict[str, str] = field(default_factory=dict)
    fallback: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Counts per rule, and the functions left to TVM's default code with the reason."""
        counts: dict[str, int] = {}
        for rule in self.applied.values():
            counts[rule] = counts.get(rule, 0) + 1
        return {"rules": counts, "fallback": dict(self.fallback)}


def vector_lanes(target) -> int:
    """float32 lanes of the target's vector unit: 16 with AVX-512, 8 with AVX, else 4 (SSE, NEON).

    Read from the CPU features LLVM reports for the target (its
    ``llvm_get_vector_width`` says 512 for CPUs without AVX-512).
    """
    from tvm.target.codegen import llvm_cpu_has_features

    for feature, lanes in (("avx512f", 16), ("avx", 8)):
        try:
            if llvm_cpu_has_features([feature], target):
                return lanes
        except Exception:  # a triple LLVM cannot query (e.g. another arch)
            break
    return 4


def _extent(sch, loop) -> int | None:
    from tvm import tirx

    extent = sch.get(loop).extent
    return int(extent.value) if isinstance(extent, tirx.IntImm) else None


#: Outer loops are left serial: a TVM thread pool started in a process that later
#: forks (hwnas's measuring workers, multiprocessing) crashed a long test run.
PARALLEL = False


def _parallel(sch, loop) -> None:
    """Mark ``loop`` parallel when :data:`PARALLEL` is set."""
    if PARALLEL:
        sch.parallel(loop)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _vector_width(extent: int, lanes: int) -> int:
    """The innermost tile: the whole loop when short, else its largest divisor that is a
    multiple of ``lanes`` (or, failing that, its largest divisor) up to ``MAX_VECTOR_EXTENT``."""
    if extent <= MAX_VECTOR_EXTENT:
        return extent
    fits = [d for d in _divisors(extent) if d <= MAX_VECTOR_EXTENT]
    aligned = [d for d in fits if d % lanes == 0]
    return max(aligned or fits)


def _row_block(rows: int, width: int, lanes: int) -> int:
    """How many output rows one tile accumulates: the largest divisor of ``rows`` whose
    accumulators fit in ``ACCUMULATOR_REGISTERS`` vector registers."""
    per_row = -(-width // lanes)
    fits = [d for d in _divisors(rows) if d * per_row <= ACCUMULATOR_REGISTERS]
    return max(fits or [1])


class Rule:
    """One schedule rule: ``apply(func, target)`` returns a ``Schedule`` or ``None``."""

    name = "rule"

    def apply(self, func, target):  # pragma: no cover - interface
        """Schedule ``func`` for ``target``, or ``None`` when the pattern does not match."""
        raise NotImplementedError


def _blocks(sch):
    from tvm.s_tir.dlight.analysis import normalize_prim_func

    return normalize_prim_func(sch)


def _vectorize_inner(sch, block, lanes: int) -> None:
    """Fuse a spatial block's loops and vectorise the inner part (outer: see ``PARALLEL``)."""
    loops = sch.get_loops(block)
    if not loops:
        return
    fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
    extent = _extent(sch, fused)
    if extent is None or extent < 2:
        return
    inner = _vector_width(extent, lanes)
    if inner == extent:
        sch.vectorize(fused)
        return
    outer, inner_loop = sch.split(fused, factors=[None, inner])
    sch.vectorize(inner_loop)
    _parallel(sch, outer)


class InjectiveRule(Rule):
    """Functions of spatial blocks only (reshape, transpose, slice, concat): one loop nest."""

    name = "injective"

    def apply(self, func, target):
        from tvm import s_tir
        from tvm.s_tir.dlight.base import try_inline_contiguous_spatial

        sch = s_tir.Schedule(func)
        infos = _blocks(sch)
        if not infos or not all(info.is_injective() for info in infos):
            return None
        infos = try_inline_contiguous_spatial(sch, infos)
        lanes = vector_lanes(target)
        for info in infos:
            _vectorize_inner(sch, info.block_rv, lanes)
        return sch


class RowReductionRule(Rule):
    """Reductions to one value per row (global average pooling): parallel rows,
    the reduction split into vector-length chunks, the epilogue inlined."""

    name = "row-reduction"

    def apply(self, func, target):
        from tvm import s_tir
        from tvm.s_tir.dlight.base import try_inline_contiguous_spatial

        sch = s_tir.Schedule(func)
        infos = try_inline_contiguous_spatial(sch, _blocks(sch))
        if not infos:
            return None
        reductions = [info for info in infos if not info.is_injective()]
        if len(reductions) != 1 or len(infos) > 2:
            return None
        reduction = reductions[0]
        if len(sch.get(reduction.block_rv).reads) != 1:  # a convolution, not a row reduction
            return None
        kinds = reduction.dom_kind()
        if kinds != "S" * kinds.count("S") + "R" * kinds.count("R") or "S" not in kinds:
            return None
        epilogue = infos[1].block_rv if len(infos) == 2 and infos[1] is not reduction else None
        loops = sch.get_loops(reduction.block_rv)
        spatial = loops[: kinds.count("S")]
        row = sch.fuse(*spatial) if len(spatial) > 1 else spatial[0]
        if epilogue is not None:
            sch.reverse_compute_at(epilogue, row, preserve_unit_loops=True)
        reduce_loops = sch.get_loops(reduction.block_rv)[1:]
        inner = sch.fuse(*reduce_loops) if len(reduce_loops) > 1 else reduce_loops[0]
        extent = _extent(sch, inner)
        lanes = vector_lanes(target)
        if extent and extent > lanes and extent % lanes == 0:
            _, unrolled = sch.split(inner, factors=[None, lanes])
            sch.unroll(unrolled)
        _parallel(sch, row)
        return sch


class ConvolutionRule(Rule):
    """A reduction block with a spatial output, its padding and its elementwise epilogue.

    Shapes handled (after TVM's loop normalisation drops unit axes):

    - pointwise convolution ``(C, H, W | K)``: the plane ``H*W`` is vectorised,
      a block of output channels accumulates per tile (a GEMM micro-kernel);
    - depthwise convolution ``(C, H, W | KH, KW)``: the width is vectorised,
      a block of output rows accumulates per tile;
    - dense convolution ``(C, H, W | K, KH, KW)``: the width is vectorised,
      a block of output channels accumulates per tile;
    - fully connected ``(C | K)`` (the SE block's layers): output channels
      vectorised.

    Accumulators live in a local buffer sized to the vector registers; the
    reduction loops run outside them; padding is computed per tile input
    (inlined); the epilogue (bias, activation, residual, SE scaling) runs on
    the finished tile before it is stored. Blocks after the epilogue over a
    larger domain (the SE multiply) get their own vectorised loop nest.
    """

    name = "convolution"

    def apply(self, func, target):
        from tvm import s_tir

        sch = s_tir.Schedule(func)
        infos = _blocks(sch)
        if not infos:
            return None
        reductions = [i for i, info in enumerate(infos) if not info.is_injective()]
        if len(reductions) != 1:
            return None
        r = reductions[0]
        conv = infos[r]
        kinds = conv.dom_kind()
        n_spatial = len(kinds) - len(kinds.lstrip("S"))
        n_reduce = len(kinds) - n_spatial
        if n_spatial == 0 or "S" in kinds[n_spatial:] or n_reduce > 3:
            return None
        if n_spatial == 1 and n_reduce != 1:
            return None
        lanes = vector_lanes(target)
        epilogue, tail = _split_epilogue(conv, infos[r + 1 :], n_spatial)
        for block in epilogue[:-1]:
            sch.compute_inline(block)
        depthwise = n_spatial >= 3 and n_reduce == 2
        if not depthwise:
            for info in infos[:r]:
                sch.compute_inline(info.block_rv)
        if n_spatial == 3 and n_reduce == 1:  # pointwise: one flat plane, any size
            _flatten_plane(sch, conv.block_rv, epilogue[-1] if epilogue else None)
            n_spatial = 2
        loops = sch.get_loops(conv.block_rv)
        tile, first_reduce = _tile_conv(sch, loops[:n_spatial], loops[n_spatial:], lanes)
        if depthwise:  # pad one channel at a time: no branch in the vector loop
            channel = sch.get_loops(conv.block_rv)[0]
            for info in reversed(infos[:r]):
                sch.compute_at(info.block_rv, channel, preserve_unit_loops=True)
                loops = sch.get_loops(info.block_rv)
                if (_extent(sch, loops[-1]) or 0) >= 2:
                    sch.vectorize(loops[-1])
        if epilogue:
            store = epilogue[-1]
            sch.set_scope(conv.block_rv, 0, "local")
        else:
            store = sch.cache_write(conv.block_rv, 0, "local")
        sch.reverse_compute_at(store, tile, preserve_unit_loops=True)
        _vectorize_tile_block(sch, store, tile)
        init = sch.decompose_reduction(conv.block_rv, first_reduce)
        _vectorize_tile_block(sch, init, tile)
        for info in tail:
            _vectorize_inner(sch, info.block_rv, lanes)
        return sch


def _split_epilogue(conv, consumers, n_spatial: int):
    """Consumers over the reduction's output domain (epilogue blocks) vs. the rest (tail)."""
    size = [int(d) for d in conv.dom()[:n_spatial]]
    epilogue, tail = [], []
    for info in consumers:
        same = not tail and info.is_injective() and [int(d) for d in info.dom()] == size
        (epilogue if same else tail).append(info)
    return [info.block_rv for info in epilogue], tail


def _flatten_plane(sch, conv, epilogue) -> None:
    """Give a pointwise convolution and its epilogue one plane axis ``h * W + w`` (and the
    accumulator buffer the matching layout), so a tile of the plane is contiguous whatever
    the row width."""
    stmt = sch.get(conv)
    width = int(stmt.iter_vars[2].dom.extent)
    sch.transform_block_layout(conv, lambda c, h, w, k: (c, h * width + w, k))
    if len(stmt.writes[0].source.shape) == 4:
        sch.transform_layout(conv, ("write", 0), lambda n, c, h, w: (n, c, h * width + w))
    if epilogue is not None:
        sch.transform_block_layout(epilogue, lambda c, h, w: (c, h * width + w))


def _tile_conv(sch, spatial, reduce, lanes: int):
    """Tile a convolution's output: ``rows`` x ``width`` accumulators, reductions outside.

    Vector loops are whole multiples of ``lanes`` (LLVM's code for odd vector
    widths is scalar shuffles); a plane or row that is not a multiple gets a
    tail tile, which the build separates (``s_tir.LoopPartition``). Returns the
    loop the epilogue is attached to and the outermost reduction loop (where
    the accumulators are initialised).
    """
    if len(spatial) == 1:  # fully connected: vectorise the output channels
        width = _lane_width(_extent(sch, spatial[0]), lanes, 1)
        tile, inner = sch.split(spatial[0], factors=[None, width])
        sch.reorder(tile, *reduce, inner)
        sch.vectorize(inner)
        _parallel(sch, tile)
        return tile, reduce[0]
    if len(spatial) == 2:  # pointwise on a flat plane: channel rows x plane vectors
        (rows_axis, plane), outer = spatial, []
        inner_width = _lane_width(_extent(sch, plane), lanes, 2)
    else:
        *outer, height, width = spatial
        if len(reduce) == 2:  # depthwise: output rows over the width
            rows_axis, plane = height, width
        else:  # dense: channel rows over the width, one output row at a time
            rows_axis, plane, outer = outer[-1], width, [*outer[:-1], height]
        inner_width = _lane_width(_extent(sch, plane), lanes, 1)
    plane_extent = _extent(sch, plane)
    plane_outer, plane_inner = sch.split(plane, factors=[None, inner_width])
    if plane_extent % inner_width:  # a tail tile: let the build split it off
        sch.annotate(plane_outer, "pragma_loop_partition_hint", 1)
    rows = _row_block(_extent(sch, rows_axis), inner_width, lanes)
    rows_outer, rows_inner = sch.split(rows_axis, factors=[None, rows])
    if len(reduce) == 2:
        order = [*outer, rows_outer, plane_outer, *reduce, rows_inner, plane_inner]
    else:
        order = [rows_outer, *outer, plane_outer, *reduce, rows_inner, plane_inner]
    sch.reorder(*order)
    sch.unroll(rows_inner)
    sch.vectorize(plane_inner)
    _parallel(sch, order[0])
    return plane_outer, reduce[0]


def _lane_width(extent: int, lanes: int, most: int) -> int:
    """The vector loop: up to ``most`` vector registers, never more than the loop."""
    if extent <= lanes:
        return extent
    return lanes * max(1, min(most, extent // lanes))


def _vectorize_tile_block(sch, block, tile=None) -> None:
    """Vectorise a tile-level block's innermost loop and unroll its other loops inside
    ``tile``, so the accumulators are indexed by constants and stay in registers."""
    loops = sch.get_loops(block)
    if not loops:
        return
    inside = loops
    if tile is not None:
        tile_stmt = sch.get(tile)
        for i, loop in enumerate(loops):
            if sch.get(loop).same_as(tile_stmt):
                inside = loops[i + 1 :]
                break
    if not inside:
        return
    extent = _extent(sch, inside[-1])
    if extent and extent >= 2:
        sch.vectorize(inside[-1])
    for loop in inside[:-1]:
        if (_extent(sch, loop) or 0) > 1:
            sch.unroll(loop)


#: The rules, most specific first.
RULES: tuple[Rule, ...] = (InjectiveRule(), ConvolutionRule(), RowReductionRule())


def schedule_function(func, target, rules: tuple[Rule, ...] = RULES):
    """Schedule one fused TIR function with the first rule that applies.

    Returns ``(schedule, rule name)``, or ``(None, why not)`` when no rule
    scheduled it. The schedule's trace replays the rule (MetaSchedule seeds
    its search with it, see :mod:`hwnas.targets.tvm.tuning`).
    """
    reason = "no rule matched"
    func = int32_indices(func)
    for rule in rules:
        try:
            sch = rule.apply(func, target)
        except Exception as exc:  # a rule that cannot schedule falls back
            reason = f"{rule.name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            continue
        if sch is not None:
            return sch, rule.name
    return None, reason


def apply_rules(mod, target, rules: tuple[Rule, ...] = RULES):
    """Schedule every fused TIR function of ``mod`` (from :func:`prepare`) with the first rule
    that applies; functions no rule handles keep TVM's default code.

    Returns the scheduled module and a :class:`RulesReport`.
    """
    from tvm import tirx

    report = RulesReport()
    updated = {}
    for gvar, func in mod.functions_items():
        if not isinstance(func, tirx.PrimFunc) or func.attrs.get("tirx.is_scheduled"):
            continue
        sch, outcome = schedule_function(func, target, rules)
        if sch is None:
            report.fallback[gvar.name_hint] = outcome
            continue
        updated[gvar] = sch.mod["main"].with_attr("tirx.is_scheduled", True)
        report.applied[gvar.name_hint] = outcome
    for gvar, func in updated.items():
        mod[gvar] = func
    return mod, report


def int32_indices_module(mod):
    """``mod`` with every TIR function passed through :func:`int32_indices`."""
    from tvm import tirx

    for gvar, func in list(mod.functions_items()):
        if isinstance(func, tirx.PrimFunc):
            mod[gvar] = int32_indices(func)
    return mod


def int32_indices(func):
    """``func`` with 32-bit loop and index types (the build's ``NarrowDataType`` would
    otherwise rebuild the loops and drop the tail-partition hints); unchanged if it cannot."""
    import tvm
    from tvm import tirx

    try:
        return tirx.transform.ForceNarrowIndexToInt32()(tvm.IRModule({"main": func}))["main"]
    except Exception:  # keep 64-bit indices: correct, tails just stay scalar
        return func


def prepare(mod, target):
    """Lower a Relax module to fused TIR functions (the same steps tuning uses)."""
    from hwnas.targets.tvm.tuning import prepare as lower

    return lower(mod, target)


#: Build options the rules rely on: tail tiles of non-multiple vector loops split off.
PASS_CONFIG = {"s_tir.LoopPartition": {"partition_const_loop": True}}


def build(mod, target):
    """``tvm.compile`` a module scheduled by :func:`apply_rules` with :data:`PASS_CONFIG`."""
    import tvm

    with tvm.transform.PassContext(opt_level=3, config=PASS_CONFIG):
        return tvm.compile(mod, target=target)


def compile_with_rules(mod, target):
    """Import-to-executable for ``mode=rules``: fold constants with numpy, lower to fused TIR,
    schedule every function with :data:`RULES`, build. Returns the executable and the
    report (which rule scheduled what, what fell back to TVM's default code)."""
    from hwnas.targets.tvm.fold import fold_with_numpy

    scheduled, report = apply_rules(prepare(fold_with_numpy(mod), target), target)
    return build(scheduled, target), report
