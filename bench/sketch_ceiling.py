"""How much of the class an outline alone gives away on fashion-mnist.

    python -m bench.sketch_ceiling [--epochs 3]

Trains a classifier of the reference classifier's architecture on the *outlines* of the training
images (extracted and roughened exactly as sketch training does, fresh roughening every epoch) and
tests it on the outlines of the test images, roughened once with the seed bench/sketch.py uses.
Its accuracy bounds what a sketch-only generator can reach on bench/sketch.py's class-accuracy
number: an outline that a classifier trained on 60k labelled outlines cannot place in its class
will not become a recognisable item of that class either, except by chance.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch.nn import functional as F

from ganstudio.conditioning.sketch import extract_sketches, roughen
from ganstudio.config import DataConfig
from ganstudio.data import load_dataset
from ganstudio.data.sketches import dataset_sketches
from ganstudio.metrics.classifier import ReferenceClassifier


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "-n", type=int, default=2000, help="test outlines, picked as bench/sketch.py picks them"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    train = load_dataset("fashion-mnist", DataConfig())
    test = load_dataset("fashion-mnist:test", DataConfig())
    outlines = dataset_sketches(train).float() / 255  # (N, 1, 32, 32)
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[: args.n]
    test_sketch = roughen(extract_sketches(test.images[pick]).float() / 255, torch.Generator().manual_seed(1))
    model = ReferenceClassifier(channels=1, num_classes=10)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(2)
    steps = args.epochs * (len(train) // 256)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train), generator=g)
        for start in range(0, len(train) - 255, 256):
            idx = order[start : start + 256]
            x = roughen(outlines[idx], g) * 2 - 1
            loss = F.cross_entropy(model(x)[1], train.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            predicted = torch.cat(
                [model(test_sketch[i : i + 500] * 2 - 1)[1].argmax(1) for i in range(0, args.n, 500)]
            )
        correct = predicted == test.labels[pick]
        per_class = {
            name: correct[test.labels[pick] == c].float().mean().item()
            for c, name in enumerate(test.class_names)
        }
        print(
            json.dumps(
                {
                    "epoch": epoch + 1,
                    "outline_class_acc": correct.float().mean().item(),
                    "per_class": per_class,
                }
            )
        )


if __name__ == "__main__":
    main()
