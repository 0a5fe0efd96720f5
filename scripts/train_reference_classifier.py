"""Train the fashion-mnist reference classifier (deterministic) and commit its weights.

    python scripts/train_reference_classifier.py        # ≈ 10 CPU-minutes on 2 cores

Writes src/ganstudio/metrics/weights/fashion-mnist-classifier.{safetensors,json}.
"""

from __future__ import annotations

import hashlib
import json
import time

import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from ganstudio.config import DataConfig
from ganstudio.data import load_dataset
from ganstudio.metrics.classifier import WEIGHTS_DIR, ReferenceClassifier

EPOCHS, BATCH, SEED = 6, 128, 0


def to_input(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1


def accuracy(model: ReferenceClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        predictions = torch.cat(
            [model(to_input(images[i : i + 1000]))[1].argmax(1) for i in range(0, len(images), 1000)]
        )
    return (predictions == labels).float().mean().item()


def main() -> None:
    torch.manual_seed(SEED)
    train = load_dataset("fashion-mnist", DataConfig(resolution=32))
    test = load_dataset("fashion-mnist:test", DataConfig(resolution=32))
    model = ReferenceClassifier(1, 10)
    steps = EPOCHS * (len(train) // BATCH)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    g = torch.Generator().manual_seed(SEED)
    start = time.time()
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(train), generator=g)
        for i in range(len(train) // BATCH):
            index = order[i * BATCH : (i + 1) * BATCH]
            x = to_input(train.images[index])
            flip = torch.rand(BATCH, generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
            x = torch.roll(x, (dy, dx), dims=(2, 3))
            loss = F.cross_entropy(model(x)[1], train.labels[index], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        print(
            f"epoch {epoch + 1}/{EPOCHS}: loss {loss.item():.3f}, test accuracy "
            f"{accuracy(model, test.images, test.labels):.4f} ({time.time() - start:.0f} s)",
            flush=True,
        )
    test_accuracy = accuracy(model, test.images, test.labels)
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    weights = WEIGHTS_DIR / "fashion-mnist-classifier.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    info = {
        "weights": weights.name,
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "dataset": "fashion-mnist",
        "channels": 1,
        "num_classes": 10,
        "test_accuracy": round(test_accuracy, 4),
        "epochs": EPOCHS,
        "seed": SEED,
        "torch": torch.__version__,
        "command": "python scripts/train_reference_classifier.py",
    }
    (WEIGHTS_DIR / "fashion-mnist-classifier.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
