"""Reference classifiers for built-in datasets: their logits give class accuracy of generated
images, their penultimate features give FD, KID and precision/recall.

Trained once by `scripts/train_reference_classifier.py` (deterministic); weights are committed as
safetensors with their SHA-256 and test accuracy in `weights/<name>.json`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ganstudio.modelfolder import load_weights

WEIGHTS_DIR = Path(__file__).parent / "weights"


class ReferenceClassifier(nn.Module):
    """A small CNN: (B, C, 32, 32) in [-1, 1] → features (B, 256) and logits (B, classes)."""

    def __init__(self, channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(channels, 32),
            nn.MaxPool2d(2),  # 16
            *block(32, 64),
            *block(64, 64),
            nn.MaxPool2d(2),  # 8
            *block(64, 128),
            *block(128, 128),
            nn.MaxPool2d(2),  # 4
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(128 * 16, 256),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(256, num_classes))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.shape[-1] != 32:
            images = F.interpolate(
                images, size=(32, 32), mode="bilinear", antialias=True, align_corners=False
            )
        features = self.features(images)
        return features, self.head(features)


def load_reference_classifier(name: str) -> ReferenceClassifier:
    """Load committed weights `name`, checking their SHA-256 against the JSON beside them."""
    info_path = WEIGHTS_DIR / f"{name}.json"
    if not info_path.is_file():
        valid = ", ".join(sorted(p.stem for p in WEIGHTS_DIR.glob("*.json"))) or "none"
        raise ValueError(f"no reference classifier {name!r}; available: {valid}")
    info = json.loads(info_path.read_text())
    weights = WEIGHTS_DIR / info["weights"]
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != info["sha256"]:
        raise ValueError(f"{weights} fails its SHA-256 check; reinstall ganstudio or retrain the classifier")
    model = ReferenceClassifier(info["channels"], info["num_classes"])
    load_weights(model, weights)
    return model.eval().requires_grad_(False)
