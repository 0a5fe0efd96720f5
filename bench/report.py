"""Shared by the benches (and the bundled-model build script): write a named section of
BENCHMARKS.md, keeping the others; the machine line every figure is reported beside; the
prompts of the docs' prompt grids."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
# The ten prompts of each bundled model's docs grid: one list for the build script and the benches.
GRID_PROMPTS = {
    "fashion-mnist": [
        "a dark ankle boot",
        "a sleeveless summer dress",
        "a light pullover",
        "a patterned shirt",
        "white sneakers",
        "a pair of dark pants",
        "running shoes",
        "a purse",
        "slacks",
        "a parka",
    ],
    "emoji": [  # the colour corpus's model: everyday wording, not the captions'
        "a red apple",
        "a slice of pizza",
        "a cat",
        "a rocket",
        "a sunflower",
        "an alarm clock",
        "a unicorn",
        "a birthday cake",
        "a red heart",
        "a car",
        "a cup of coffee",
        "a christmas tree",
    ],
    "emoji-font": [
        "red heart",
        "grinning face",
        "pizza",
        "cat face",
        "rocket",
        "sun",
        "thumbs up",
        "fire",
        "christmas tree",
        "birthday cake",
    ],
}


def cpu_flags() -> str:
    """The CPU features that decide speed here: bf16 units (avx512_bf16, amx) or AVX2 only."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "flags unknown"
    found = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return " ".join(found) or "no avx2"


def machine_line() -> str:
    from ganstudio.devices import resolve_precision

    model = ""
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    precision = resolve_precision("auto", torch.device("cpu"))
    return (
        f"Machine: {model}, {torch.get_num_threads()} threads, CPU flags: {cpu_flags()}; "
        f"precision auto → {precision}; torch {torch.__version__}"
    )


def write_section(path: Path, name: str, body: str) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + f"\n\n## {name}\n\n{block}\n"
    path.write_text(text, encoding="utf-8")
