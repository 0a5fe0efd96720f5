"""Train a built-in dataset's reference classifier (deterministic) and commit its weights.

    python scripts/train_reference_classifier.py                    # fashion-mnist, ≈ 10 CPU-minutes
    python scripts/train_reference_classifier.py --dataset emoji-font    # Unicode emoji groups, ≈ 1 minute

(The colour corpus's concept classifier: scripts/train_emoji_classifier.py.)

Writes src/ganstudio/metrics/weights/<dataset>-classifier.{safetensors,json}. Emoji has no
official split: the classifier trains on the images outside the test split (every 10th image)
and is scored on those, with colour jitter added to the flips and shifts, since the set is small.
An evaluation network: generators are never trained on it or its features.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from ganstudio.config import DataConfig
from ganstudio.data import load_dataset
from ganstudio.imaging import from_uint8
from ganstudio.metrics.classifier import WEIGHTS_DIR, ReferenceClassifier

BATCH, SEED = 128, 0
EPOCHS = {"fashion-mnist": 6, "emoji-font": 60}


def to_input(images: torch.Tensor) -> torch.Tensor:
    return from_uint8(images)


def accuracy(model: ReferenceClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        predictions = torch.cat(
            [model(to_input(images[i : i + 1000]))[1].argmax(1) for i in range(0, len(images), 1000)]
        )
    return (predictions == labels).float().mean().item()


def fit(model: ReferenceClassifier, images: torch.Tensor, labels: torch.Tensor, epochs: int, test) -> None:
    """Train on uint8 images with flips, small shifts and (colour images) brightness and
    saturation jitter; `test()` → accuracy, printed six times."""
    channels = images.shape[1]
    steps = epochs * (len(images) // BATCH)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    g = torch.Generator().manual_seed(SEED)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=g)
        for i in range(len(images) // BATCH):
            index = order[i * BATCH : (i + 1) * BATCH]
            x = to_input(images[index])
            flip = torch.rand(BATCH, generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
            x = torch.roll(x, (dy, dx), dims=(2, 3))
            if channels == 3:  # brightness and saturation jitter
                gray = x.mean(1, keepdim=True)
                saturation = torch.rand(BATCH, 1, 1, 1, generator=g) * 0.6 + 0.7
                x = gray + (x - gray) * saturation + (torch.rand(BATCH, 1, 1, 1, generator=g) - 0.5) * 0.2
                x = x.clamp(-1, 1)
            loss = F.cross_entropy(model(x)[1], labels[index], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if (epoch + 1) % max(1, epochs // 6) == 0:
            print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, test accuracy {test():.4f} "
                  f"({time.time() - start:.0f} s)", flush=True)  # fmt: skip


def save(model: ReferenceClassifier, name: str, info: dict) -> dict:
    """Write WEIGHTS_DIR/<name>.safetensors and its JSON (SHA-256, seed, torch version, `info`)."""
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    weights = WEIGHTS_DIR / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    info = {"weights": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), **info,
            "seed": SEED, "torch": torch.__version__}  # fmt: skip
    (WEIGHTS_DIR / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion-mnist", choices=sorted(EPOCHS))
    name = parser.parse_args().dataset
    torch.manual_seed(SEED)
    train = load_dataset(name, DataConfig(resolution=32))
    test = load_dataset(f"{name}:test", DataConfig(resolution=32))
    images, labels = train.images, train.labels
    if name == "emoji-font":  # "train" holds every image: keep the test split out
        held_out = torch.zeros(len(images), dtype=torch.bool)
        held_out[::10] = True
        images, labels = images[~held_out], labels[~held_out]
    known, test_known = labels >= 0, test.labels >= 0
    images, labels = images[known], labels[known]
    test_images, test_labels = test.images[test_known], test.labels[test_known]
    epochs, channels = EPOCHS[name], images.shape[1]
    model = ReferenceClassifier(channels, len(train.class_names))
    fit(model, images, labels, epochs, lambda: accuracy(model, test_images, test_labels))
    test_accuracy = accuracy(model, test_images, test_labels)
    info = save(model, f"{name}-classifier", {
        "dataset": name,
        "channels": channels,
        "num_classes": len(train.class_names),
        "class_names": train.class_names,
        "test_accuracy": round(test_accuracy, 4),
        "test_images": len(test_images),
        "epochs": epochs,
        "command": f"python scripts/train_reference_classifier.py --dataset {name}",
    })  # fmt: skip
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
