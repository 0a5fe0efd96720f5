"""Quality at a fixed CPU budget on fashion-mnist: the textbook DCGAN as a standalone script, the
same network in ganstudio's loop with every extra off, and the default preset.

    python -m bench.quality --minutes 10 [--variant "name:preset:key=value,key=value" ...]

Each model trains for the same wall-clock budget, one after the other, labels only (no text, no
attributes), then 10k generated images are scored against the 10k test images with the
reference classifier (FD, KID, precision/recall, class accuracy, variety within a class). The
standalone row is bench/dcgan_reference.py; the others train through `ganstudio.training`.
Each in-loop model is scored at its own default guidance (`model.guidance`: what `ganstudio
generate` gives) unless --guidance says otherwise. The table goes into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path

from bench import dcgan_reference
from bench.report import ROOT, machine_line, write_section
from ganstudio.config import DataConfig, apply_overrides, load_preset
from ganstudio.data import load_dataset
from ganstudio.devices import cpu_bf16_is_faster
from ganstudio.metrics import ReferenceData, evaluate, score_images
from ganstudio.training.loop import train

LABELS_ONLY = ["model.text_encoder=none", "train.attribute_drop=1.0"]


def run_reference(minutes: float, n: int) -> dict:
    train_set = load_dataset("fashion-mnist", DataConfig(resolution=32))
    reference = ReferenceData.load("fashion-mnist:test", 32, 1)
    bf16 = cpu_bf16_is_faster()
    G, counters = dcgan_reference.train(train_set.images, train_set.labels, 10, minutes, bf16)
    labels = reference.eval_labels(n)
    fake = dcgan_reference.sample(G, labels)
    return {
        "name": "textbook DCGAN (standalone script)",
        "overrides": ["bf16" if bf16 else "fp32"],
        "guidance": 1.0,
        **counters,
        **score_images(fake, labels, reference),
    }


def run_preset(
    name: str, preset: str, overrides: list[str], minutes: float, out: Path, n: int, guidance: float | None
) -> dict:
    config = apply_overrides(load_preset(preset), LABELS_ONLY + overrides)
    dataset = load_dataset("fashion-mnist", config.data)
    checkpoint = train(config, dataset, out / name, minutes=minutes)
    last = json.loads((out / name / "metrics.jsonl").read_text().splitlines()[-1])
    scores = evaluate(checkpoint, "fashion-mnist:test", n=n, guidance=guidance)
    return {
        "name": name,
        "overrides": overrides,
        "kimg": last["kimg"],
        "img_per_s": last["kimg"] * 1000 / (minutes * 60),
        "loss_d": last["loss_d"],
        "loss_g": last["loss_g"],
        **scores,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--out", default="runs/bench-quality")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:PRESET:K=V,K=V",
        help="an extra preset variant to train and score with the same budget",
    )
    parser.add_argument("--section", default="quality", help="BENCHMARKS.md section to write")
    parser.add_argument(
        "--guidance", type=float, help="score every in-loop model at this guidance (default: see above)"
    )
    parser.add_argument("--only-variants", action="store_true", help="screening: skip the three main rows")
    args = parser.parse_args()
    out = Path(args.out)
    jobs = [] if args.only_variants else [("dcgan-32 (in the loop, extras off)", "dcgan-32", []),
                                          ("cpu-32 (default)", "cpu-32", [])]  # fmt: skip
    for variant in args.variant:
        name, preset, sets = variant.split(":", 2)
        jobs.append((name, preset, [s for s in sets.split(",") if s]))
    rows = [] if args.only_variants else [run_reference(args.minutes, args.n)]
    print(json.dumps(rows[-1:], default=str), flush=True)
    for name, preset, overrides in jobs:
        rows.append(run_preset(name, preset, overrides, args.minutes, out, args.n, args.guidance))
        print(json.dumps(rows[-1], default=str), flush=True)
    (out / "rows.json").write_text(json.dumps(rows, indent=1, default=str))
    lines = [
        f"Budget {args.minutes:g} minutes of training per model, one after the other, labels only; "
        f"{args.n} generated images scored against the 10k fashion-mnist test images with the reference "
        "classifier (never used in training).",
        f"{machine_line()}; {datetime.date.today()}; command "
        f"`python -m bench.quality {shlex.join(sys.argv[1:])}`.",
        "",
        "| model | overrides | kimg | train img/s | last loss_d / loss_g | guidance | FD ↓ | KID ↓ "
        "| precision ↑ | recall ↑ | class acc ↑ | variety ↑ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {' '.join(r['overrides']) or '—'} | {r['kimg']:.0f} | {r['img_per_s']:.0f} | "
            f"{r['loss_d']:.2f} / {r['loss_g']:.2f} | {r['guidance']:g} | {r['fd']:.2f} | {r['kid']:.4f} | "
            f"{r['precision']:.3f} | {r['recall']:.3f} | {r['class_acc']:.1%} | {r['variety']:.2f} |"
        )
    lines += [
        "",
        "Variety: per-pixel standard deviation of the images generated for one class over that of the "
        "real images of the class, averaged over classes (1 = as varied as the data, near 0 = one image "
        "per class whatever the seed).",
    ]
    write_section(ROOT / "BENCHMARKS.md", args.section, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
