"""Make TVMScript parsing fast enough for MetaSchedule on this stack.

TVM's TVMScript decorators call ``inspect.stack()`` for every parsed function.
``inspect.stack()`` resolves the source file of every frame, and for frames
without a file on disk (``<frozen importlib._bootstrap>``, present while a
module is being imported) :func:`inspect.getmodule` scans all of
``sys.modules`` (about 2000 after ``import tvm``) on every call. Importing
``tvm.s_tir.tensor_intrin`` (~250 TVMScript functions), which MetaSchedule
does when it creates a tuning context and in *every* builder worker process,
took 25-35 s here instead of ~2 s; with the builder's 30 s timeout most
candidates then "failed to build" and tuning produced nothing.

:func:`install` gives the TVMScript parser modules an ``inspect`` whose
``stack``/``getouterframes`` build the same ``FrameInfo`` records from the
frames and :mod:`linecache` directly (same frames, line numbers and one line
of code context, which is all the parser reads). Nothing else changes.
:func:`hwnas.targets.tvm.tuning.worker_initializer` does the same in
MetaSchedule's worker processes.
"""

from __future__ import annotations

import importlib
import inspect
import linecache
import sys
import types

_PARSER_MODULES = (
    "tvm.script.parser.core.parser",
    "tvm.script.parser.ir.entry",
    "tvm.tirx.script.parser.entry",
    "tvm.tirx.script.builder.ir",
    "tvm.relax.script.parser.entry",
)


def _frame_info(frame, context: int) -> inspect.FrameInfo:
    filename = frame.f_code.co_filename
    lineno = frame.f_lineno or 0
    code_context = index = None
    if context > 0 and lineno > 0:
        start = max(lineno - 1 - context // 2, 0)
        lines = [linecache.getline(filename, n + 1) for n in range(start, start + context)]
        if any(lines):
            code_context, index = lines, lineno - 1 - start
    return inspect.FrameInfo(frame, filename, lineno, frame.f_code.co_name, code_context, index)


def getouterframes(frame, context: int = 1) -> list[inspect.FrameInfo]:
    """``inspect.getouterframes`` without the per-frame module lookup."""
    infos = []
    while frame is not None:
        infos.append(_frame_info(frame, context))
        frame = frame.f_back
    return infos


def stack(context: int = 1) -> list[inspect.FrameInfo]:
    """``inspect.stack`` without the per-frame module lookup."""
    return getouterframes(sys._getframe(1), context)


class _FastInspect(types.ModuleType):
    """The real :mod:`inspect` with ``stack`` and ``getouterframes`` replaced."""

    stack = staticmethod(stack)
    getouterframes = staticmethod(getouterframes)

    def __getattr__(self, name):
        return getattr(inspect, name)


_SHIM = _FastInspect("inspect")


def install() -> None:
    """Patch the TVMScript parser modules of this process (idempotent)."""
    for name in _PARSER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a TVM without this module: nothing to speed up
            continue
        if getattr(module, "inspect", None) is inspect:
            module.inspect = _SHIM
