"""Target ``onnxruntime``: ONNX Runtime inference sessions (CPU execution provider by default).

``compile`` creates an ``InferenceSession`` from the workload's cached ONNX
export (:func:`hwnas.onnx_cache.onnx_file`); creating the session is ONNX
Runtime's compile step (graph optimisation, kernel selection). ``time`` times
``session.run`` with a pre-built numpy input feed.

Listing plugins does not import onnxruntime: it is imported inside the methods.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import hwnas
from hwnas.errors import HwnasError
from hwnas.export import DEFAULT_OPSET
from hwnas.target import Target
from hwnas.targets._host import (
    as_numpy,
    check_choice,
    check_threads,
    host_fingerprint,
    import_runtime,
    missing_runtime,
    numpy_input,
)
from hwnas.timing import Measurement, TimingProtocol, time_callable
from hwnas.workload import Workload

EXTRA = "onnxruntime"

#: ``graph_optimization`` option -> name of the ``onnxruntime.GraphOptimizationLevel`` member.
OPTIMIZATION_LEVELS: dict[str, str] = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "layout": "ORT_ENABLE_LAYOUT",  # onnxruntime >= 1.22
    "all": "ORT_ENABLE_ALL",
}

#: Short provider names accepted in ``providers`` (full ``...ExecutionProvider`` names also work).
PROVIDER_ALIASES: dict[str, str] = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "dnnl": "DnnlExecutionProvider",
    "acl": "ACLExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
}


def _provider_name(name: Any) -> str:
    """The full execution-provider name for ``name`` (an alias or a full name)."""
    if not isinstance(name, str) or not name.strip():
        raise HwnasError(
            f"onnxruntime: bad execution provider {name!r}",
            "pass provider names such as 'CPUExecutionProvider' or 'cuda'",
        )
    name = name.strip()
    if name.endswith("ExecutionProvider"):
        return name
    full = PROVIDER_ALIASES.get(name.lower())
    if full is None:
        raise HwnasError(
            f"onnxruntime: unknown execution provider {name!r}",
            f"use a full name ('...ExecutionProvider') or one of: {', '.join(PROVIDER_ALIASES)}",
        )
    return full


@dataclass
class OrtCompiled:
    """What :meth:`OnnxRuntimeTarget.compile` returns: the session and its pre-built input feed."""

    session: Any
    input_name: str
    feed: dict[str, Any]
    output_names: list[str]
    providers: list[str] = field(default_factory=list)


class OnnxRuntimeTarget(Target):
    """ONNX Runtime on this host: one ``InferenceSession`` per workload.

    Options:

    - ``threads`` (default 1): intra-op threads; inter-op threads are 1 and
      execution is sequential, so ``threads`` is the whole CPU budget.
    - ``graph_optimization`` (default ``"all"``): ``disable``, ``basic``,
      ``extended``, ``layout`` or ``all`` (ONNX Runtime's optimisation levels).
    - ``providers`` (default ``("CPUExecutionProvider",)``): execution
      providers in priority order, full names or aliases (``"cuda"``,
      ``"tensorrt"``, ``"openvino"``, ...). ONNX Runtime falls back to the CPU
      provider for nodes the others do not support. :meth:`available` says
      which requested provider this onnxruntime build lacks.
    """

    name = "onnxruntime"

    def __init__(
        self,
        threads: int = 1,
        graph_optimization: str = "all",
        providers: str | Sequence[str] = ("CPUExecutionProvider",),
    ) -> None:
        self.threads = check_threads("onnxruntime", threads)
        self.graph_optimization = check_choice(
            "onnxruntime", "graph_optimization", graph_optimization, OPTIMIZATION_LEVELS
        )
        if isinstance(providers, str):
            providers = (providers,)
        self.providers = tuple(dict.fromkeys(_provider_name(p) for p in providers))
        if not self.providers:
            raise HwnasError(
                "onnxruntime: providers is empty", "pass providers=('CPUExecutionProvider',)"
            )

    def available(self) -> str | None:
        """Why ONNX Runtime, a requested provider or optimisation level is missing, or ``None``."""
        reason = missing_runtime("onnxruntime", EXTRA)
        if reason:
            return reason
        import onnxruntime as ort

        present = ort.get_available_providers()
        missing = [p for p in self.providers if p not in present]
        if missing:
            hint = (
                "for CUDA install 'onnxruntime-gpu' (instead of 'onnxruntime') on a machine "
                "with an NVIDIA GPU, CUDA and cuDNN"
                if "CUDAExecutionProvider" in missing or "TensorrtExecutionProvider" in missing
                else "install the onnxruntime build that ships it"
            )
            return (
                f"execution provider(s) {', '.join(missing)} not available in onnxruntime "
                f"{ort.__version__} (available: {', '.join(present)}); {hint}"
            )
        if not hasattr(ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[self.graph_optimization]):
            return (
                f"graph_optimization={self.graph_optimization!r} needs a newer onnxruntime "
                f"than {ort.__version__}: pip install -U onnxruntime"
            )
        return None

    def fingerprint(self) -> dict[str, Any]:
        """Name, onnxruntime version, providers, threads, optimisation level, ONNX opset, CPU."""
        ort = import_runtime("onnxruntime", EXTRA)
        return host_fingerprint(
            self.name,
            "onnxruntime",
            self.threads,
            onnxruntime=ort.__version__,
            providers=list(self.providers),
            graph_optimization=self.graph_optimization,
            onnx_opset=DEFAULT_OPSET,
        )

    def session_options(self):
        """The ``onnxruntime.SessionOptions`` this target compiles with."""
        ort = import_runtime("onnxruntime", EXTRA)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[self.graph_optimization]
        )
        options.log_severity_level = 3  # errors only
        return options

    def compile(self, workload: Workload) -> OrtCompiled:
        """Create the inference session (graph optimisation) and the input feed for ``workload``."""
        from hwnas.onnx_cache import onnx_file

        ort = import_runtime("onnxruntime", EXTRA)
        path = onnx_file(workload)
        session = ort.InferenceSession(
            str(path), sess_options=self.session_options(), providers=list(self.providers)
        )
        (first, *others) = session.get_inputs()
        if others:
            raise HwnasError(
                f"onnxruntime: {workload.label} has {1 + len(others)} inputs; hwnas feeds one",
                "give the workload a single input tensor",
            )
        return OrtCompiled(
            session=session,
            input_name=first.name,
            feed={first.name: numpy_input(workload)},
            output_names=[o.name for o in session.get_outputs()],
            providers=session.get_providers(),
        )

    def save_artifact(self, onnx_path, out_dir):
        """Save the graph ONNX Runtime optimised for this CPU (``*.ort-optimized.onnx``)."""
        from pathlib import Path

        ort = import_runtime("onnxruntime", EXTRA)
        out = Path(out_dir) / f"{Path(onnx_path).stem}.ort-optimized.onnx"
        options = self.session_options()
        options.optimized_model_filepath = str(out)
        ort.InferenceSession(str(onnx_path), sess_options=options, providers=list(self.providers))
        return out

    def time(self, compiled: OrtCompiled, protocol: TimingProtocol) -> Measurement:
        """Time ``session.run`` on the pre-built feed under ``protocol``."""
        session, names, feed = compiled.session, compiled.output_names, compiled.feed
        result = time_callable(lambda: session.run(names, feed), protocol, threads=self.threads)
        return result.with_(extra={"providers": list(compiled.providers)})

    def run(self, compiled: OrtCompiled, x: Any):
        """Run the compiled session on ``x`` (torch tensor or array); returns the first output."""
        feed = {compiled.input_name: as_numpy(x)}
        return compiled.session.run(compiled.output_names[:1], feed)[0]


@hwnas.hookimpl
def hwnas_targets() -> Iterator[hwnas.TargetSpec]:
    """Declare the ``onnxruntime`` target (options: threads, graph_optimization, providers)."""
    yield hwnas.TargetSpec(
        name="onnxruntime",
        summary="ONNX Runtime inference session (CPU execution provider by default; "
        "options threads, graph_optimization, providers)",
        factory=OnnxRuntimeTarget,
        extra=EXTRA,
        requires=("onnxruntime",),
    )
