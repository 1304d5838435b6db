"""The deliverables of a search's winner: trained weights as ONNX, and the target's artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def export_winner(
    space, arch, out_dir: Path, target: str, options: dict[str, Any], weights: Path | None = None
) -> dict[str, Any]:
    """Write ``winner.onnx`` (with ``weights`` when given) and the target's compiled artifact.

    Returns the written paths; a target that fails to compile is reported under
    ``artifact_error`` instead of failing the search (the ONNX file is kept).
    """
    import torch

    from hwnas.export import export_onnx
    from hwnas.manager import get_plugin_manager

    out_dir = Path(out_dir)
    model = space.build_model(arch)
    if weights is not None and Path(weights).exists():
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    p = space.profile
    example = torch.zeros(1, p.in_channels, p.resolution, p.resolution)
    onnx_path = export_onnx(model, example, out_dir / "winner.onnx")
    files: dict[str, Any] = {"onnx": str(onnx_path)}
    try:
        artifact = (
            get_plugin_manager()
            .create("target", target, **options)
            .save_artifact(onnx_path, out_dir)
        )
    except Exception as exc:  # an isolated, reported compiler failure
        files["artifact_error"] = f"{type(exc).__name__}: {exc}"
    else:
        files["artifact"] = None if artifact is None else str(artifact)
    return files
