"""Quality at a fixed CPU budget: the default preset against the DCGAN baseline, on fashion-mnist.

    python bench/quality.py --minutes 10 [--variant "name:train.batch=128,model.channel_max=256" ...]

Each model trains for the same wall-clock budget, one after the other, then is scored on 10k
generated images against the 10k test images (reference-classifier FD, KID, precision/recall,
class accuracy, variety within a class). The table goes into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import sys
from pathlib import Path

import torch

from ganstudio.config import apply_overrides, load_preset
from ganstudio.data import load_dataset
from ganstudio.metrics import evaluate
from ganstudio.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from report import write_section  # noqa: E402


def run(name: str, preset: str, overrides: list[str], minutes: float, out: Path, n: int) -> dict:
    config = apply_overrides(load_preset(preset), overrides)
    dataset = load_dataset("fashion-mnist", config.data)
    checkpoint = train(config, dataset, out / name, minutes=minutes)
    counters = json.loads((out / name / "metrics.jsonl").read_text().splitlines()[-1])
    scores = evaluate(checkpoint, "fashion-mnist:test", n=n, guidance=1.0)  # the plain models
    row = {
        "name": name,
        "preset": preset,
        "overrides": overrides,
        "kimg": counters["kimg"],
        "img_per_s": counters["kimg"] * 1000 / (minutes * 60),
        **scores,
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--out", default="runs/bench-quality")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:K=V,K=V",
        help="an extra cpu-32 variant to train and score with the same budget",
    )
    parser.add_argument("--section", default="quality", help="BENCHMARKS.md section to write")
    parser.add_argument(
        "--set",
        action="append",
        default=["model.text_encoder=none"],
        metavar="KEY=VALUE",
        help="override for every model (default: model.text_encoder=none, so both compare on labels "
        "and attributes; the text benchmark is bench/text.py)",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="screening: no DCGAN row")
    parser.add_argument("--skip-default", action="store_true", help="screening: no cpu-32 row either")
    args = parser.parse_args()
    out = Path(args.out)
    jobs = [] if args.skip_default else [("cpu-32 (default)", "cpu-32", [])]
    if not args.skip_baseline:
        jobs.append(("dcgan-32 (baseline)", "dcgan-32", []))
    for variant in args.variant:
        name, _, sets = variant.partition(":")
        jobs.append((name, "cpu-32", [s for s in sets.split(",") if s]))
    jobs = [(name, preset, args.set + overrides) for name, preset, overrides in jobs]
    rows = [run(name, preset, overrides, args.minutes, out, args.n) for name, preset, overrides in jobs]
    lines = [
        f"Budget {args.minutes:g} minutes of training per model, one after the other; {args.n} generated images "
        f"scored against the 10k fashion-mnist test images with the reference classifier.",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; torch "
        f"{torch.__version__}; {datetime.date.today()}; command `python bench/quality.py {shlex.join(sys.argv[1:])}`.",
        "",
        "| model | overrides | kimg | train img/s | FD ↓ | KID ↓ | precision ↑ | recall ↑ | class acc ↑ | variety ↑ |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {' '.join(r['overrides']) or '—'} | {r['kimg']:.0f} | {r['img_per_s']:.0f} | "
            f"{r['fd']:.2f} | {r['kid']:.4f} | {r['precision']:.3f} | {r['recall']:.3f} | "
            f"{r['class_acc']:.1%} | {r['variety']:.2f} |"
        )
    lines += [
        "",
        "Variety: per-pixel standard deviation of the images generated for one class over that of the "
        "real images of the class, averaged over classes (1 = as varied as the data, near 0 = one image "
        "per class whatever the seed). FD on these features can favour a collapsed generator that draws "
        "each class's typical item, so read it beside recall and variety.",
    ]
    write_section(ROOT / "BENCHMARKS.md", args.section, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
