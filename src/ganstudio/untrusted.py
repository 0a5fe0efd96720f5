"""Checks for files that come from outside (model folders people share): JSON read with a size
bound, sizes in config.json bounded before anything is built, safetensors read with one clear
error for a truncated, mislabelled or non-finite file and their shapes read from the header
before the tensors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

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
    if channels not in (1, 3, 4) or isinstance(channels, bool):
        raise ValueError(f"channels is {str(channels)[:30]!r}; it must be 1, 3 or 4 (with transparency)")
    m = config.model
    for name in ("z_dim", "cond_dim", "w_dim", "channel_max"):
        _whole(getattr(m, name), f"model.{name}", 1, 4096)
    _whole(m.channel_base, "model.channel_base", 1, 1 << 20)
    _whole(m.d_channel_base, "model.d_channel_base", 0, 1 << 20)
    _whole(m.blocks_per_stage, "model.blocks_per_stage", 1, 16)
    _whole(m.expansion, "model.expansion", 1, 16)
    _whole(m.group_size, "model.group_size", 0, 4096)
    _whole(m.mbstd_group, "model.mbstd_group", 0, 256)
    if m.cascade not in (1, 4) or isinstance(m.cascade, bool):
        raise ValueError(f"model.cascade is {str(m.cascade)[:30]!r}; it must be 1 (none) or 4")
    _whole(m.upsampler_width, "model.upsampler_width", 4, 128)
    _whole(m.upsampler_growth, "model.upsampler_growth", 4, 64)
    _whole(m.upsampler_blocks, "model.upsampler_blocks", 1, 32)
    if m.rgb_kernel not in (1, 3):
        raise ValueError(f"model.rgb_kernel is {m.rgb_kernel!r}; it must be 1 or 3")
    _whole(spec.num_classes, "cond.num_classes", 0, 1_000_000)
    _whole(spec.text_dim, "cond.text_dim", 0, 16384)
    _whole(spec.sketch_resolution, "cond.sketch_resolution", 0, 2048)
    if len(spec.attribute_names) > 1024 or not (
        len(spec.attribute_names) == len(spec.attribute_mean) == len(spec.attribute_std)
    ):
        raise ValueError("cond: attribute names, means and stds must be lists of one length (at most 1024)")
    numbers = [*spec.attribute_mean, *spec.attribute_std, m.guidance, spec.sketch_margin]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
        raise ValueError("cond attribute statistics, sketch_margin and model.guidance must be finite numbers")
    if not all(v > 0 for v in spec.attribute_std):
        raise ValueError("cond.attribute_std must be positive (a spread of 0 would divide by zero)")
    if not 0 <= spec.sketch_margin <= 0.45:
        raise ValueError(f"cond.sketch_margin is {spec.sketch_margin}; it must be from 0 to 0.45 of the side")
    if not all(isinstance(n, str) for n in spec.attribute_names) or not isinstance(spec.text_encoder, str):
        raise ValueError("cond.attribute_names and cond.text_encoder must be strings")


MAX_PART_PARAMETERS = 50_000_000  # a label prior, detector or encoder larger than this is refused


def build_checked(factory: Callable[[], nn.Module], path: Path, what: str) -> nn.Module:
    """A model-folder part built by `factory` only after its size is counted on the meta device
    (bounded by MAX_PART_PARAMETERS) and the file's header shapes match the part tensor for
    tensor: neither a hand-edited config.json nor a 16-byte file can make it allocate more."""
    with torch.device("meta"):
        meta = factory()
    size = sum(p.numel() for p in meta.parameters())
    if size > MAX_PART_PARAMETERS:
        raise ValueError(
            f"{path.name}: config.json describes a {what} of {size:,} parameters (at most "
            f"{MAX_PART_PARAMETERS:,}); the folder was damaged or edited by hand"
        )
    want = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    if header_shapes(path) != want:
        raise ValueError(
            f"{path.name} does not hold the {what} config.json describes (other tensors or shapes); "
            "the folder was damaged or edited by hand"
        )
    return factory()


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _quantiles_ok(quantiles: Any, classes: int) -> bool:
    """dataset.json's attribute quantiles: {"levels": [...], "all": [...] | null, "by_class":
    [[...] | null, one per class]}, every list of finite numbers as long as `levels`."""
    if not isinstance(quantiles, dict) or not isinstance(levels := quantiles.get("levels"), list):
        return False
    if not 0 < len(levels) <= 99 or not all(_finite(v) and 0 <= v <= 1 for v in levels):
        return False

    def row_ok(row: Any) -> bool:
        return row is None or (isinstance(row, list) and len(row) == len(levels) and all(map(_finite, row)))

    by_class = quantiles.get("by_class", [])
    return (
        row_ok(quantiles.get("all"))
        and isinstance(by_class, list)
        and len(by_class) <= classes
        and all(map(row_ok, by_class))
    )


def check_dataset_info(info: dict[str, Any], where: Path) -> None:
    """dataset.json's fields the code reads, typed and bounded: class names are strings,
    attributes a mapping of name → finite min/max/mean/std."""
    classes = info.get("class_names", [])
    if (
        not isinstance(classes, list)
        or len(classes) > 1_000_000
        or not all(isinstance(c, str) for c in classes)
    ):
        raise ValueError(f"{where}: class_names must be a list of strings")
    attributes = info.get("attributes", {})
    if not isinstance(attributes, dict):
        raise ValueError(f"{where}: attributes must map each name to its min, max, mean and std")
    for name, stats in attributes.items():
        if not isinstance(stats, dict) or not all(
            _finite(v) for key, v in stats.items() if key != "quantiles"
        ):
            raise ValueError(
                f"{where}: attribute {str(name)[:40]!r} must map min/max/mean/std to finite numbers"
            )
        if "quantiles" in stats and not _quantiles_ok(stats["quantiles"], len(classes)):
            raise ValueError(
                f"{where}: attribute {str(name)[:40]!r} has malformed quantiles (levels, all, by_class: "
                "lists of finite numbers as long as levels, one per class or null)"
            )
    for key in ("resolution", "channels", "num_images"):
        value = info.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1 << 31:
            raise ValueError(f"{where}: {key} must be a whole number")


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
