"""ONNX export of torch modules, and a numerical check of the export in ONNX Runtime."""

from __future__ import annotations

import warnings
from pathlib import Path

from hwnas.errors import PluginUnavailableError

DEFAULT_OPSET = 17


def export_onnx(module, example_input, path: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Export ``module`` (put in eval mode) to ONNX at ``path`` with a static input shape."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is ~20x faster than dynamo for these small static graphs.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (example_input,),
            str(path),
            opset_version=opset,
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
        )
    return path


def onnxruntime_max_abs_diff(path: str | Path, module, example_input) -> float:
    """Run the ONNX file in ONNX Runtime (CPU) and return max |ORT - torch|."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise PluginUnavailableError(
            "ONNX Runtime is not installed", "pip install 'hwnas[onnxruntime]'"
        ) from exc
    import numpy as np
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ort_out,) = session.run(None, {session.get_inputs()[0].name: example_input.numpy()})
    with torch.no_grad():
        torch_out = module.eval()(example_input).numpy()
    return float(np.max(np.abs(ort_out - torch_out)))
