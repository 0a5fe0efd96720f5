"""One difference between the textbook script and ganstudio's in-loop DCGAN, tested alone.

    python -m bench.port_gap --minutes 10

Trains bench/dcgan_reference.py with one change: the class reaches D as the loop's port gives it,
a learnt embedding mapped to a per-channel bias after D's first conv, instead of one-hot class
planes concatenated to the image. Everything else is the script's. Scored as bench/quality.py
scores the script (10k images, reference classifier); prints one JSON row.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch import nn

from bench import dcgan_reference
from ganstudio.config import DataConfig
from ganstudio.data import load_dataset
from ganstudio.devices import cpu_bf16_is_faster
from ganstudio.metrics import ReferenceData, score_images


class BiasConditionedD(dcgan_reference.Discriminator):
    """The script's D with the class as a learnt bias after the first conv (the loop's port)."""

    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__(num_classes, channels)
        self.net[0] = nn.Conv2d(channels, 64, 4, 2, 1, bias=False)
        self.embed = nn.Embedding(num_classes, 128)  # N(0, 1), as the loop's condition embedding
        self.bias = nn.Linear(128, 64)
        nn.init.normal_(self.bias.weight, 0.0, 0.02), nn.init.zeros_(self.bias.bias)  # as init_dcgan

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.net[0](images) + self.bias(self.embed(labels)).to(images.dtype)[:, :, None, None]
        return self.net[1:](x).flatten()  # (B,)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("-n", type=int, default=10_000)
    args = parser.parse_args()
    train_set = load_dataset("fashion-mnist", DataConfig(resolution=32))
    reference = ReferenceData.load("fashion-mnist:test", 32, 1)
    dcgan_reference.Discriminator = BiasConditionedD  # train() builds D by this name
    G, counters = dcgan_reference.train(
        train_set.images, train_set.labels, 10, args.minutes, cpu_bf16_is_faster()
    )
    labels = reference.eval_labels(args.n)
    scores = score_images(dcgan_reference.sample(G, labels), labels, reference)
    print(json.dumps({"name": "script, class as a learnt bias in D", **counters, **scores}, default=str))


if __name__ == "__main__":
    main()
