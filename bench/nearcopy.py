"""The near-copy check, measured: how often the bundled models draw a near-copy of one of their
training images, how often real held-out images are flagged (the threshold's calibration), and
the proof that the check catches memorisation — a model trained in ganstudio's loop on only
`--memorise` fashion-mnist images, whose samples are copies of them.

    python -m bench.nearcopy --minutes 4     # ≈ 6 CPU-minutes in all
"""

import argparse
import json
import time
from pathlib import Path

import torch

from bench.report import ROOT, machine_line, write_section
from ganstudio.config import DataConfig, apply_overrides, load_preset
from ganstudio.data import PackedDataset, load_dataset
from ganstudio.pipeline import GenerationPipeline
from ganstudio.training.loop import train


def rate(pipe: GenerationPipeline, n: int, seed: int) -> dict:
    """Near-copy rate of n samples (labels spread over the classes), unmarked, policy allow."""
    pipe.watermark, pipe.on_copy = None, "allow"
    names = pipe.class_names
    labels = [names[i % len(names)] for i in range(n)] if names else None
    started = time.perf_counter()
    result = pipe(n=n, seed=seed, label=labels)
    seconds = time.perf_counter() - started
    checks = [r["near_copy"] for r in result.metadata]
    distances = torch.tensor([c["distance"] for c in checks])
    return {
        "n": n,
        "near_copies": sum(c["near_copy"] for c in checks),
        "rate": sum(c["near_copy"] for c in checks) / n,
        "threshold": checks[0]["threshold"],
        "median_distance": float(distances.median()),
        "ms_per_image": 1000 * seconds / n,
    }


def memorise(count: int, minutes: float, out: Path, n: int) -> dict:
    """Train the default preset (labels only) on `count` training images, then check n samples."""
    full = load_dataset("fashion-mnist", DataConfig(resolution=32))
    pick = torch.arange(count) * (len(full) // count)  # spread over the set: several classes
    tiny = PackedDataset(
        images=full.images[pick].clone(),
        labels=full.labels[pick].clone(),
        class_names=full.class_names,
        attributes=full.attributes[pick].clone(),
        attribute_names=full.attribute_names,
        captions=[full.captions[i] for i in pick.tolist()],
        source=f"fashion-mnist train images {pick.tolist()}",
        licence=full.licence,
    )
    config = apply_overrides(
        load_preset("cpu-32"), ["model.text_encoder=none", "train.attribute_drop=1.0", "train.augment=off"]
    )
    checkpoint = train(config, tiny, out / f"memorise-{count}", minutes=minutes)
    pipe = GenerationPipeline.from_pretrained(checkpoint)
    row = rate(pipe, n, seed=10**6)
    pipe.on_copy = "block"
    try:
        pipe(n=64, seed=10**6, label=[pipe.class_names[int(tiny.labels[i % count])] for i in range(64)])
        row["block"] = "every image redrawn until it was no copy"
    except ValueError as error:
        row["block"] = f"refused: {error}"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="samples per bundled model")
    parser.add_argument("--memorise", type=int, default=16, help="training images of the memorising model")
    parser.add_argument("--minutes", type=float, default=4.0, help="its training minutes")
    parser.add_argument("--out", default="runs/bench-nearcopy")
    args = parser.parse_args()
    out = Path(args.out)
    rows = {
        name: rate(GenerationPipeline.from_pretrained(name), args.n, seed=10**6)
        for name in ("fashion-mnist", "emoji")
    }
    index = GenerationPipeline.from_pretrained("fashion-mnist").nearcopy
    real = load_dataset("fashion-mnist:test", DataConfig(resolution=32)).images[5000:10000]
    checks = index.check(real.float() / 127.5 - 1)
    flagged = sum(c["near_copy"] for c in checks)
    rows["fashion-mnist test images 5000-9999 (real)"] = {
        "n": len(real),
        "near_copies": flagged,
        "rate": flagged / len(real),
        "median_distance": float(torch.tensor([c["distance"] for c in checks]).median()),
        "threshold": index.threshold,
    }
    rows[f"memorised: cpu-32 on {args.memorise} images, {args.minutes:g} min"] = memorise(
        args.memorise, args.minutes, out, 1000
    )
    print(json.dumps(rows, indent=2))
    lines = [
        "Command: `python -m bench.nearcopy " + f"--minutes {args.minutes:g} --memorise {args.memorise}`",
        machine_line(),
        "",
        "| images | n | near-copies | rate | median distance | threshold |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['n']} | {row['near_copies']} | {row['rate']:.2%} | "
            f"{row.get('median_distance', float('nan')):.4f} | {row.get('threshold', float('nan')):.4f} |"
        )
    memorised = list(rows.values())[-1]
    lines += ["", f"Memorising model under `--on-copy block`: {memorised['block']}."]
    write_section(ROOT / "BENCHMARKS.md", "near-copies", "\n".join(lines))


if __name__ == "__main__":
    main()
