"""Device and precision choice. bf16 autocast is used only where it is measured to be faster."""

from __future__ import annotations

import contextlib
import functools
import time

import torch


def resolve_device(device: str = "auto") -> torch.device:
    """ "auto" → CUDA when present, else CPU; "cuda" without a GPU is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu or auto")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"--device {device!r} is unknown; use auto, cpu or cuda")
    return torch.device(device)


@functools.cache
def cpu_bf16_is_faster() -> bool:
    """Time a matmul in fp32 and bf16 on this CPU: without native bf16 units (AVX512-BF16/AMX)
    bf16 runs hundreds of times slower, so it must be measured, not assumed."""
    a = torch.randn(384, 384)
    timings = {}
    for dtype in (torch.float32, torch.bfloat16):
        x = a.to(dtype)
        x @ x
        start = time.perf_counter()
        for _ in range(3):
            x @ x
        timings[dtype] = time.perf_counter() - start
    return timings[torch.bfloat16] < 0.8 * timings[torch.float32]


def resolve_precision(precision: str, device: torch.device) -> str:
    """ "auto" → "bf16" where it is supported and faster, else "fp32"."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"train.precision {precision!r} is unknown; use auto, bf16 or fp32")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_bf16_is_faster() else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
