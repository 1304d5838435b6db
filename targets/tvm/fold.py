"""Fold constant Relax expressions with numpy before lowering.

TVM's ``FoldConstant`` builds and runs a TIR function with LLVM for every
constant subexpression; ONNX imports carry dozens of them (a bias reshaped
to ``(1, C, 1, 1)``, the ``isnan``/``where`` pair of every ``Clip``), which
cost about a second per block. :func:`fold_with_numpy` evaluates those few
operators with numpy instead, so ``FoldConstant`` finds nothing left to build.
"""

from __future__ import annotations

import numpy as np

_BINARY = {
    "relax.add": np.add,
    "relax.subtract": np.subtract,
    "relax.multiply": np.multiply,
    "relax.divide": np.divide,
}


def _evaluate(op_name: str, args: list):
    """numpy value of ``call`` given its constant (numpy) or shape arguments, or ``None``."""
    if op_name == "relax.reshape":
        return args[0].reshape([int(d) for d in args[1]])
    if op_name == "relax.isnan":
        return np.isnan(args[0])
    if op_name == "relax.where":
        return np.where(args[0], args[1], args[2])
    if op_name in _BINARY:
        return _BINARY[op_name](args[0], args[1])
    return None


def fold_with_numpy(mod):
    """``mod`` with constant reshapes, ``isnan``, ``where`` and elementwise arithmetic folded."""
    from tvm import relax
    from tvm.ir.expr import Constant
    from tvm.relax.expr_functor import PyExprMutator, mutator

    @mutator
    class _Folder(PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            op = getattr(call.op, "name", None)
            if (
                op != "relax.reshape"
                and op not in _BINARY
                and op
                not in (
                    "relax.isnan",
                    "relax.where",
                )
            ):
                return call
            values = []
            for arg in call.args:
                if isinstance(arg, relax.Var):
                    bound = self.lookup_binding(arg)
                    arg = arg if bound is None else bound
                if isinstance(arg, Constant):
                    values.append(arg.value.numpy())
                elif isinstance(arg, relax.ShapeExpr):
                    values.append(list(arg.values))
                else:
                    return call
            result = _evaluate(op, values)
            if result is None:
                return call
            result = np.asarray(result)
            return relax.const(result, str(result.dtype))

    folder = _Folder(mod)
    for gvar, func in mod.functions_items():
        if isinstance(func, relax.Function):
            mod[gvar] = folder.visit_expr(func)
    return relax.transform.DeadCodeElimination()(mod)
