"""Checks for files that come from outside (model folders people share): JSON read with a size
bound, sizes in config.json bounded before anything is built, safetensors read with one clear
error for a truncated, mislabelled or non-finite file and their shapes read from the header
before the tensors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from ganstudio.conditioning import CondSpec
from ganstudio.config import Config

MAX_JSON_BYTES = 16 << 20  # config.json and dataset.json are a few kB; larger ones are refused
MAX_PARAMETERS = 500_000_000  # a generator larger than this is refused before it is built


def read_json(path: Path, limit: int) -> Any:
    if path.stat().st_size > limit:
        raise ValueError(f"{path} is {path.stat().st_size:,} bytes; a model folder's JSON is far smaller")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); the file was damaged or edited by hand"
        ) from None


def _whole(value: Any, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} is {str(value)[:30]!r}; it must be a whole number from {low} to {high}")


def check_bounds(config: Config, spec: CondSpec, resolution: Any, channels: Any) -> None:
    """Sizes read from config.json, checked before anything is built or allocated."""
    _whole(resolution, "resolution", 4, 2048)
    if resolution & (resolution - 1):
        raise ValueError(f"resolution is {resolution}; it must be a power of two")
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels is {str(channels)[:30]!r}; it must be 1 or 3")
    m = config.model
    for name in ("z_dim", "cond_dim", "w_dim", "channel_max"):
        _whole(getattr(m, name), f"model.{name}", 1, 4096)
    _whole(m.channel_base, "model.channel_base", 1, 1 << 20)
    _whole(m.d_channel_base, "model.d_channel_base", 0, 1 << 20)
    _whole(m.blocks_per_stage, "model.blocks_per_stage", 1, 16)
    _whole(m.expansion, "model.expansion", 1, 16)
    _whole(m.group_size, "model.group_size", 0, 4096)
    _whole(m.mbstd_group, "model.mbstd_group", 0, 256)
    if m.rgb_kernel not in (1, 3):
        raise ValueError(f"model.rgb_kernel is {m.rgb_kernel!r}; it must be 1 or 3")
    _whole(spec.num_classes, "cond.num_classes", 0, 1_000_000)
    _whole(spec.text_dim, "cond.text_dim", 0, 16384)
    _whole(spec.sketch_resolution, "cond.sketch_resolution", 0, 2048)
    if len(spec.attribute_names) > 1024 or not (
        len(spec.attribute_names) == len(spec.attribute_mean) == len(spec.attribute_std)
    ):
        raise ValueError("cond: attribute names, means and stds must be lists of one length (at most 1024)")
    numbers = [*spec.attribute_mean, *spec.attribute_std, m.guidance]
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
        raise ValueError("cond attribute statistics and model.guidance must be finite numbers")


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, with one clear error for a truncated, mislabelled or
    non-finite file. safetensors checks every tensor's extent against the file's size before
    reading, so a header cannot make it allocate more than the file holds."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"{path} is not a readable safetensors file ({str(error)[:120]}); it was truncated or is "
            "not what its name says: copy or export the model folder again"
        ) from None
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"{path}: {key} holds NaN or infinite values; the weights are damaged")
    return state


def header_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path} is not a readable safetensors file ({str(error)[:120]})") from None
