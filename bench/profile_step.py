"""Where a training step's time goes: G and D forward and backward against everything else.

    python -m bench.profile_step [--preset cpu-32] [--steps 60] [--set KEY=VALUE ...]

Runs `ganstudio.training.loop.train` on fashion-mnist (labels only) under `torch.profiler`,
after a few warm-up steps. G's and D's forward passes are labelled with module hooks, the
backward passes are the autograd engine's own events, and the optimizer steps are the
profiler's; everything else in the step (data, conditions, losses, EMA, logging) is what is left
of the wall time. Writes the breakdown into BENCHMARKS.md (section `profile`).
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from bench.report import ROOT, machine_line, write_section
from ganstudio.config import apply_overrides, load_preset
from ganstudio.data import load_dataset
from ganstudio.models import build_models
from ganstudio.training import loop

LABELS_ONLY = ["model.text_encoder=none", "train.attribute_drop=1.0"]


def label_forwards(G: torch.nn.Module, D: torch.nn.Module) -> None:
    """Wrap every forward of G and D in a profiler range named after the network."""
    for name, net in (("G.forward", G), ("D.forward", D)):
        ranges: list = []

        def enter(module, args, name=name, ranges=ranges):
            ranges.append(record_function(name))
            ranges[-1].__enter__()

        def leave(module, args, output, ranges=ranges):
            ranges.pop().__exit__(None, None, None)

        net.register_forward_pre_hook(enter)
        net.register_forward_hook(leave)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="cpu-32")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--section", default="profile")
    args = parser.parse_args()
    config = apply_overrides(load_preset(args.preset), LABELS_ONLY + args.set)
    config.train.sample_every_kimg = config.train.checkpoint_every_kimg = 1e9
    dataset = load_dataset("fashion-mnist", config.data)
    batch = config.train.batch

    def hooked_build(*a, **k):
        G, D = build_models(*a, **k)
        label_forwards(G, D)
        return G, D

    loop.build_models = hooked_build  # the loop builds its networks through this name
    config.train.log_every_steps = 1  # progress_fn marks the end of every step (and logs it: conservative)

    def mark(progress) -> None:
        with record_function("step.end"):
            pass

    with tempfile.TemporaryDirectory() as tmp:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            kimg = (args.warmup + args.steps + 1) * batch / 1000
            loop.train(config, dataset, Path(tmp), kimg=kimg, progress_fn=mark)
    marks = [e.time_range.start for e in prof.events() if e.name == "step.end"][args.warmup :]
    first, last, steps = marks[0], marks[-1], len(marks) - 1

    def total(*prefixes: str) -> float:
        """ms spent in top-level events whose name starts with one of `prefixes`, in the window."""
        return (
            sum(
                e.time_range.elapsed_us()
                for e in prof.events()
                if e.name.startswith(prefixes) and first <= e.time_range.start and e.time_range.end <= last
            )
            / 1000
        )

    span = (last - first) / 1000  # ms over `steps` whole steps
    parts = {
        "G forward": total("G.forward"),
        "D forward": total("D.forward"),
        "G and D backward": total("autograd::engine::evaluate_function"),
        "optimizer steps (Adam)": total("Optimizer.step"),
    }
    network = parts["G forward"] + parts["D forward"] + parts["G and D backward"]
    outside = span - network
    parts["everything else (data, conditions, losses, EMA, logging)"] = (
        outside - parts["optimizer steps (Adam)"]
    )
    lines = [
        f"`python -m bench.profile_step {shlex.join(sys.argv[1:])}`: preset {args.preset}, batch {batch}, "
        f"{steps} profiled steps after {args.warmup} warm-up steps, labels only.",
        f"{machine_line()}; {datetime.date.today()}.",
        "",
        "| part of the step | ms per step | share |",
        "|---|---|---|",
    ]
    for name, ms in parts.items():
        lines.append(f"| {name} | {ms / steps:.2f} | {ms / span:.1%} |")
    lines += [
        f"| **whole step** | {span / steps:.2f} | 100% ({batch * steps / span * 1000:.0f} img/s under "
        "the profiler) |",
        "",
        f"Outside the networks' own compute (optimizer included): **{outside / span:.1%}** of the step "
        "(target ≤ 15%).",
    ]
    write_section(ROOT / "BENCHMARKS.md", args.section, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
