"""Train the colour emoji corpus's concept classifier (deterministic) and commit its weights.

    python -m scripts.train_emoji_classifier [--epochs 30]      # ≈ 15 CPU-minutes on 2 cores

It reads the concept (cat face, pizza …) of a drawing composed on white, at 32 px: trained on the
real renders of the eight training styles (the training split and the held-out concept × style
pairs, which only the generator must never see), and scored on the ninth style, which neither it
nor any generator ever sees (data/iconify.py: HELDOUT_SET) — its accuracy there is the ceiling a
generator's images are judged against (bench/emoji.py). An evaluation network: generators are
never trained on it or its features. Writes src/ganstudio/metrics/weights/emoji-concepts-classifier.*.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from ganstudio.data import iconify
from ganstudio.metrics.classifier import ReferenceClassifier
from scripts.train_reference_classifier import SEED, fit, save

RESOLUTION = 64


def composed(rgba: np.ndarray) -> torch.Tensor:
    """(N, 4, R, R) uint8 straight RGBA → (N, 3, R, R) uint8 composed on white."""
    return iconify.composed(rgba)[:, :3]


@torch.no_grad()
def topk_accuracy(model: ReferenceClassifier, images: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    model.eval()
    logits = torch.cat(
        [model(images[i : i + 500].float() / 127.5 - 1)[1] for i in range(0, len(images), 500)]
    )
    return (logits.topk(k, dim=1).indices == labels[:, None]).any(1).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    epochs = parser.parse_args().epochs
    torch.manual_seed(SEED)
    icons, rgba = iconify.rendered(RESOLUTION)
    concepts = sorted({icon.concept for icon in icons})
    groups = {icon.concept: icon.group for icon in icons}
    labels = torch.tensor([concepts.index(icon.concept) for icon in icons])
    held = torch.tensor([icon.set == iconify.HELDOUT_SET for icon in icons])
    images = composed(rgba)  # read at 32 px, as the classifier reads any size: resized once here
    images = torch.nn.functional.interpolate(images.float(), size=(32, 32), mode="bilinear", antialias=True,
                                             align_corners=False).round().clamp(0, 255).to(torch.uint8)  # fmt: skip
    train_x, train_y, test_x, test_y = images[~held], labels[~held], images[held], labels[held]
    model = ReferenceClassifier(3, len(concepts))
    fit(model, train_x, train_y, epochs, lambda: topk_accuracy(model, test_x, test_y, 1))
    top1, top5 = (topk_accuracy(model, test_x, test_y, k) for k in (1, 5))
    with torch.no_grad():
        model.eval()
        predicted = torch.cat(
            [model(test_x[i : i + 500].float() / 127.5 - 1)[1] for i in range(0, len(test_x), 500)]
        )
    group_acc = float(np.mean([groups[concepts[int(p)]] == groups[concepts[int(t)]]
                               for p, t in zip(predicted.argmax(1), test_y, strict=True)]))  # fmt: skip
    info = save(model, "emoji-concepts-classifier", {
        "dataset": "emoji (iconify corpus, data/iconify.py)",
        "channels": 3,
        "num_classes": len(concepts),
        "class_names": concepts,
        "groups": [groups[c] for c in concepts],
        "heldout_set": iconify.HELDOUT_SET,
        "heldout_top1": round(top1, 4),
        "heldout_top5": round(top5, 4),
        "heldout_group_accuracy": round(group_acc, 4),
        "heldout_images": len(test_x),
        "train_images": len(train_x),
        "epochs": epochs,
        "command": f"python -m scripts.train_emoji_classifier --epochs {epochs}",
    })  # fmt: skip
    print(json.dumps({k: v for k, v in info.items() if k not in ("class_names", "groups")}, indent=2))


if __name__ == "__main__":
    main()
