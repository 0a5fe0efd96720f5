"""Architectures, one per file, registered by name in `ganstudio.registry.MODELS`."""

from __future__ import annotations

from torch import nn

from ganstudio.conditioning import CondSpec
from ganstudio.config import ModelConfig
from ganstudio.models import dcgan, r3gan  # noqa: F401  (registers the architectures)
from ganstudio.registry import MODELS


def build_models(
    config: ModelConfig, resolution: int, channels: int, spec: CondSpec
) -> tuple[nn.Module, nn.Module]:
    """Build (G, D) for the architecture named by `config.arch` (with `config.cascade` 4, G is that
    architecture at a quarter of the size followed by a 4× upsampler: models/cascade.py)."""
    build = MODELS.get(config.arch)
    if config.cascade != 1:
        from ganstudio.models.cascade import build_cascade

        return build_cascade(build, config, resolution, channels, spec)
    return build(config, resolution, channels, spec)
