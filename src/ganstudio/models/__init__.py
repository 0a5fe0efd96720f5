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
    """Build (G, D) for the architecture named by `config.arch`."""
    return MODELS.get(config.arch)(config, resolution, channels, spec)
