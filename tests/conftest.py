"""Shared test helpers."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

try:  # the property-based suites (hypothesis is a dev extra)
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover
    settings = None

if settings is not None:
    # Default ("ci", what `make test` and CI run): a fixed number of examples,
    # derandomised, so every run tests the same inputs in bounded time.
    # HYPOTHESIS_PROFILE=dev: random examples, a few more of them, for exploring.
    settings.register_profile(
        "ci",
        max_examples=25,
        derandomize=True,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    settings.register_profile(
        "dev",
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")


def randomise_batchnorm(module: nn.Module, seed: int = 1) -> nn.Module:
    """Give every BatchNorm non-trivial affine parameters and running statistics."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    return module


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Keep ONNX exports, tuning logs and stores of the tests out of the user's cache."""
    os.environ["HWNAS_CACHE"] = str(tmp_path_factory.mktemp("hwnas-cache"))
    yield


@pytest.fixture(scope="session")
def pm():
    """The plugin manager (built-in and installed plugins)."""
    from hwnas.manager import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture(scope="session")
def truth():
    """NB201's ground truth on raspi4 (shipped tables): latency, validation and test accuracy."""
    from hwnas.arena import ground_truth

    return ground_truth("nb201", "raspi4")
