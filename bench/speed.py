"""Training and generation speed on this machine, written into BENCHMARKS.md.

    python -m bench.speed [--quick]

Measures, in one run: the fp32 and bf16 matmul peaks; training img/s of each preset through the
real training loop (fp32 vs bf16 autocast, channels_last on/off); FLOPs of one training step
(torch.utils.flop_counter) and the model FLOPs utilisation against the measured peak; generation
throughput (batch 256) and latency (batch 1) of the bundled model, eager vs torch.compile.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import tempfile
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from bench.report import ROOT, write_section
from ganstudio.config import apply_overrides, load_preset
from ganstudio.data import load_dataset
from ganstudio.training.loop import train


def matmul_peak(dtype: torch.dtype, size: int = 1024, seconds: float = 2.0) -> float:
    a = torch.randn(size, size, dtype=dtype)
    a @ a
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ a
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - start)


# (row name, preset, overrides): labels + attributes only, and with every condition the bundled
# fashion-mnist model has (text with the builtin encoder, which costs the same per step as minilm
# once captions are embedded; sketches; matching-aware D)
CONFIGS = [
    ("cpu-32", "cpu-32", ["model.text_encoder=none"]),
    ("cpu-32 + text + sketch", "cpu-32", ["model.text_encoder=builtin", "model.sketch=true"]),
    ("dcgan-32", "dcgan-32", ["model.text_encoder=none"]),
]


def train_rate(preset: str, overrides: list[str], dataset, steps: int) -> float:
    config = apply_overrides(
        load_preset(preset),
        overrides
        + ["train.log_every_steps=1", "train.sample_every_kimg=1e9", "train.checkpoint_every_kimg=1e9"],
    )
    rates: list[float] = []
    with tempfile.TemporaryDirectory() as run:
        train(
            config,
            dataset,
            run,
            kimg=config.train.batch * steps / 1000,
            progress_fn=lambda p: rates.append(p.img_per_s),
        )
    return statistics.median(rates[1:])  # the first step pays one-off costs


class FlopCount(TorchDispatchMode):
    """Counts FLOPs of every aten op with torch's flop formulas. FlopCounterMode itself cannot be
    used: its module hooks break torch.autograd.grad on inputs, which R1/R2 need."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def step_flops(preset: str, overrides: list[str], dataset) -> float:
    """FLOPs of an average training step: (5 steps − 1 step) / 4, so setup and final saving cancel out
    and one lazy-regularisation step in four is included."""
    totals = []
    for steps in (1, 5):
        config = apply_overrides(
            load_preset(preset),
            overrides
            + ["train.sample_every_kimg=1e9", "train.checkpoint_every_kimg=1e9", "train.precision=fp32"],
        )
        with tempfile.TemporaryDirectory() as run, FlopCount() as counter:
            train(config, dataset, run, kimg=config.train.batch * steps / 1000)
        totals.append(counter.total)
    return (totals[1] - totals[0]) / 4


def generation(compile_model: bool) -> tuple[float, float]:
    from ganstudio.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_pretrained("fashion-mnist", device="cpu")
    pipe.G = pipe.G.to(memory_format=torch.channels_last)
    if compile_model:
        pipe.G.synthesize = torch.compile(pipe.G.synthesize)
    cond = pipe.make_cond(256, label="sneaker")
    z = torch.randn(256, pipe.G.z_dim)
    pipe.generate(z, cond)
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < 3.0:
        pipe.generate(z, cond)
        count += 256
    throughput = count / (time.perf_counter() - start)
    one = pipe.make_cond(1, label="sneaker")
    pipe.generate(z[:1], one)
    latencies = []
    for i in range(30):
        t = time.perf_counter()
        pipe.generate(z[i : i + 1], one)
        latencies.append(time.perf_counter() - t)
    return throughput, statistics.median(latencies) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer steps (noisier)")
    args = parser.parse_args()
    steps = 4 if args.quick else 8
    dataset = load_dataset("fashion-mnist", load_preset("cpu-32").data)
    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16, size=256, seconds=1.0)
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
        f"torch {torch.__version__}; {datetime.date.today()}; command `python -m bench.speed{' --quick' if args.quick else ''}`.",
        "",
        f"Matmul peak measured in this run: fp32 {peak32 / 1e9:.0f} GFLOP/s, bf16 {peak16 / 1e9:.1f} GFLOP/s.",
        "",
        "| preset | batch | precision | channels_last | train img/s | step GFLOP | MFU vs fp32 peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, preset, overrides in CONFIGS:
        flops = step_flops(preset, overrides, dataset)
        batch = load_preset(preset).train.batch
        for cl in (True, False):
            rate = train_rate(
                preset, overrides + ["train.precision=fp32", f"train.channels_last={cl}"], dataset, steps
            )
            mfu = flops * rate / batch / peak32
            lines.append(f"| {name} | {batch} | fp32 | {cl} | {rate:.0f} | {flops / 1e9:.1f} | {mfu:.0%} |")
        # bf16 is measured on a small batch: on CPUs without bf16 units one full step takes minutes
        for precision in ("fp32", "bf16"):
            rate = train_rate(
                preset, overrides + [f"train.precision={precision}", "train.batch=8"], dataset, 3
            )
            lines.append(f"| {name} | 8 | {precision} | True | {rate:.1f} | | |")
    lines += [
        "",
        "| generation (bundled fashion-mnist, fp32, channels_last) | batch 256 img/s | batch 1 latency ms |",
        "|---|---|---|",
    ]
    for compiled in (False, True):
        try:
            throughput, latency = generation(compiled)
            lines.append(f"| {'torch.compile' if compiled else 'eager'} | {throughput:.0f} | {latency:.2f} |")
        except Exception as error:  # torch.compile needs a working C++ toolchain; report, don't crash
            lines.append(f"| torch.compile | failed: {type(error).__name__} | |")
    write_section(ROOT / "BENCHMARKS.md", "speed", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
