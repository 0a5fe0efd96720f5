"""Does the coverage check say "this model cannot draw that" when, and only when, it should?

    python -m bench.coverage [--model fashion-mnist --model emoji]

Per model: the coverage score (conditioning/coverage.py: cosine of the prompt to the nearest
training caption) of in-domain prompts worded as people write them (fashion-mnist: bench/text's
held-out paraphrases and the docs grid's prompts; emoji: bench/emoji's 50 everyday prompts) and of
100 prompts neither model draws (bench/ood_prompts.py). False alarms: in-domain prompts below the
threshold; detection: out-of-domain prompts below it. Targets (issue 36): ≤ 5% and ≥ 90%.
Writes BENCHMARKS.md section `coverage`.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys

import torch

from bench.emoji import EVERYDAY as EMOJI_PROMPTS
from bench.ood_prompts import OOD
from bench.report import GRID_PROMPTS, ROOT, machine_line, write_section
from bench.text import FRESH, HELD_OUT
from ganstudio.pipeline import GenerationPipeline

IN_DOMAIN = {
    "fashion-mnist": [*HELD_OUT, *FRESH, *GRID_PROMPTS["fashion-mnist"]],
    "emoji": list(EMOJI_PROMPTS),
}


def scores(pipe: GenerationPipeline, prompts: list[str]) -> torch.Tensor:
    return torch.tensor([pipe.coverage.score(pipe.encode_prompt(p))[0] for p in prompts])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", action="append")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows, missed = [], []
    for name in args.model or ["fashion-mnist", "emoji"]:
        pipe = GenerationPipeline.from_pretrained(name)
        if pipe.coverage is None:
            raise SystemExit(f"{name} has no coverage bank (ganstudio export builds one)")
        t = pipe.coverage.threshold
        inside, outside = scores(pipe, IN_DOMAIN[name]), scores(pipe, OOD)
        fa, det = float((inside < t).float().mean()), float((outside < t).float().mean())
        for other in (t - 0.05, t + 0.05):
            rows.append(
                f"| {name} | {other:.2f} (not shipped) | {len(inside)} | "
                f"{float((inside < other).float().mean()):.0%} | {float((outside < other).float().mean()):.0%} | |"
            )
        worst = sorted(zip(inside.tolist(), IN_DOMAIN[name], strict=True))[:3]
        passed = sorted(zip(outside.tolist(), OOD, strict=True))[-3:]
        rows.insert(
            len(rows) - 2,
            f"| {name} | **{t:.2f}** | {len(inside)} | **{fa:.0%}** | **{det:.0%}** | lowest in-domain: "
            + ", ".join(f"{p!r} {s:.2f}" for s, p in worst)
            + "; highest out-of-domain: "
            + ", ".join(f"{p!r} {s:.2f}" for s, p in passed)
            + " |",
        )
        print(rows[-3])
        if fa > 0.05 or det < 0.9:
            missed.append(f"{name}: false alarms {fa:.0%}, detection {det:.0%}")
    body = "\n".join(
        [
            "## Coverage: does the model say when it cannot draw a prompt? (`bench/coverage.py`)",
            "",
            f"`python -m bench.coverage {shlex.join(sys.argv[1:])}` — {datetime.date.today()}, {machine_line()}",
            "",
            "| model | threshold | in-domain prompts | false alarms | detection (100 out-of-domain) | notes |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "Targets: false alarms ≤ 5%, detection ≥ 90%. "
            + ("Missed: " + "; ".join(missed) + "." if missed else "Both met."),
        ]
    )
    print(body)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "coverage", body)


if __name__ == "__main__":
    main()
