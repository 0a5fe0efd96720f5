"""Build the bundled fashion-mnist model from a finished training run, reproducibly.

    ganstudio train --data fashion-mnist --preset cpu-32 --kimg 250 --out runs/fashion-bundled
    python scripts/build_bundled_model.py runs/fashion-bundled

Exports G_ema in fp16 into src/ganstudio/pretrained/fashion-mnist, scores it (10k images against
the test split), writes the scores into its model card and the class × seed grid into docs/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganstudio.metrics import attribute_control, evaluate
from ganstudio.pipeline import GenerationPipeline, resolve_model_dir
from ganstudio.training.checkpoint import export_model

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "src" / "ganstudio" / "pretrained" / "fashion-mnist"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", help="finished training run folder")
    parser.add_argument("-n", type=int, default=10_000)
    args = parser.parse_args()
    source, _ = resolve_model_dir(args.run)
    export_model(source, TARGET)
    scores = evaluate("fashion-mnist", "fashion-mnist:test", n=args.n)
    summary = ", ".join(f"{k} {scores[k]:.4g}" for k in ("fd", "kid", "precision", "recall", "class_acc"))
    card = (TARGET / "model_card.md").read_text()
    card = card.replace(
        "- Metrics: not measured yet (see `ganstudio evaluate`)",
        f"- Metrics ({args.n} images vs the 10k test images, reference classifier): {summary}",
    )
    per_class = ", ".join(f"{k} {v:.0%}" for k, v in scores["class_acc_per_class"].items())
    card += f"\nClass accuracy per class (reference classifier): {per_class}.\n"
    (TARGET / "model_card.md").write_text(card)
    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    docs = ROOT / "docs"
    pipe.class_grid(8, seed=0).save_grid(docs / "fashion-mnist-class-grid.png", scale=3)
    pipe.class_grid(8, seed=0, truncation=0.7).save_grid(
        docs / "fashion-mnist-class-grid-truncation-0.7.png", scale=3
    )
    for attribute, values in (("brightness", (0.25, 0.75)), ("coverage", (0.25, 0.6))):
        for value in values:
            pipe.class_grid(8, seed=0, attributes={attribute: value}).save_grid(
                docs / f"fashion-mnist-{attribute}-{value}.png", scale=3
            )
    print(json.dumps({"scores": scores, "attribute_control": attribute_control("fashion-mnist")}, indent=2))


if __name__ == "__main__":
    main()
