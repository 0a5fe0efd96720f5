"""Metrics logging: one JSON object per record in metrics.jsonl (for scripts and the benches),
and the same scalars plus the sample grid in TensorBoard (torch.utils.tensorboard's writer)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


class MetricsLogger:
    """Appends records to `run_dir/metrics.jsonl` and writes them to `run_dir/tensorboard`."""

    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.jsonl = Path(run_dir) / "metrics.jsonl"
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def log(self, step: int, values: dict[str, float]) -> None:
        with open(self.jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        for tag, value in values.items():
            if isinstance(value, int | float):
                self.writer.add_scalar(tag, value, step)

    def image(self, step: int, tag: str, image: Image.Image) -> None:
        self.writer.add_image(tag, np.asarray(image.convert("RGB")), step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()
