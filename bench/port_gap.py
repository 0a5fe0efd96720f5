"""Differences between the textbook script and ganstudio's in-loop DCGAN, tested one at a time.

    python -m bench.port_gap --minutes 10 [--change bias] [--change biases] ...

Trains bench/dcgan_reference.py with the named changes, each one way the loop's port differs:

- `bias`: the class reaches D as a learnt embedding mapped to a per-channel bias after D's first
  conv (the port before `model.d_cond: planes`) instead of one-hot planes beside the image;
- `biases`: D's first and last convs and G's last transposed conv have biases, as the port's;
- `replacement`: batches drawn with replacement, as the loop draws them, instead of epochs.

The trained G is scored twice, as bench/quality.py scores each side (10k images, reference
classifier): sampled as the script samples (BatchNorm on each batch's statistics) and as the
loop's saved models sample (running statistics re-estimated for the final weights, eval mode,
weights stored in fp16). Prints one JSON row per scoring.
"""

from __future__ import annotations

import argparse
import copy
import json

import torch
from torch import nn

from bench import dcgan_reference
from ganstudio.config import DataConfig
from ganstudio.data import load_dataset
from ganstudio.devices import cpu_bf16_is_faster
from ganstudio.metrics import ReferenceData, score_images
from ganstudio.models.layers import recalibrate_batchnorm


class BiasConditionedD(dcgan_reference.Discriminator):
    """The script's D with the class as a learnt bias after the first conv (the port's old path)."""

    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__(num_classes, channels)
        self.net[0] = nn.Conv2d(channels, 64, 4, 2, 1, bias=False)
        self.embed = nn.Embedding(num_classes, 128)  # N(0, 1), as the loop's condition embedding
        self.bias = nn.Linear(128, 64)
        nn.init.normal_(self.bias.weight, 0.0, 0.02), nn.init.zeros_(self.bias.bias)  # as init_dcgan

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.net[0](images) + self.bias(self.embed(labels)).to(images.dtype)[:, :, None, None]
        return self.net[1:](x).flatten()  # (B,)


def with_biases(cls: type) -> type:
    """`cls` with a bias on its first and last conv (D) or its last transposed conv (G)."""

    class Biased(cls):
        def __init__(self, *args) -> None:
            super().__init__(*args)
            convs = [m for m in self.net if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
            for conv in {convs[0], convs[-1]} if cls is not dcgan_reference.Generator else {convs[-1]}:
                conv.bias = nn.Parameter(torch.zeros(conv.out_channels))

    return Biased


@torch.no_grad()
def sample_as_the_loop(G: nn.Module, labels: torch.Tensor, num_classes: int, seed: int = 0) -> torch.Tensor:
    """G's weights through fp16, BatchNorm statistics re-estimated on random labels, eval mode."""
    G = copy.deepcopy(G)
    for p in G.parameters():
        p.copy_(p.half().float())
    G.z_dim = dcgan_reference.Z_DIM  # what recalibrate_batchnorm draws z with
    recalibrate_batchnorm(G, lambda n: torch.randint(num_classes, (n,)), seed=seed + 1)
    G.eval()
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(len(labels), dcgan_reference.Z_DIM, generator=g)
    return torch.cat([G(z[i : i + 500], labels[i : i + 500]).float() for i in range(0, len(z), 500)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--change", action="append", default=[], choices=["bias", "biases", "replacement"])
    args = parser.parse_args()
    train_set = load_dataset("fashion-mnist", DataConfig(resolution=32))
    reference = ReferenceData.load("fashion-mnist:test", 32, 1)
    if "bias" in args.change:
        dcgan_reference.Discriminator = BiasConditionedD  # train() builds D by this name
    if "biases" in args.change:
        dcgan_reference.Discriminator = with_biases(dcgan_reference.Discriminator)
        dcgan_reference.Generator = with_biases(dcgan_reference.Generator)
    G, counters = dcgan_reference.train(
        train_set.images,
        train_set.labels,
        10,
        args.minutes,
        cpu_bf16_is_faster(),
        replacement="replacement" in args.change,
    )
    labels = reference.eval_labels(args.n)
    name = "script" + "".join(f" + {c}" for c in args.change)
    for how, fake in [
        ("batch statistics", dcgan_reference.sample(G, labels)),
        ("as the loop samples", sample_as_the_loop(G, labels, 10)),
    ]:
        scores = score_images(fake, labels, reference)
        print(
            json.dumps({"name": f"{name}, sampled with {how}", **counters, **scores}, default=str), flush=True
        )


if __name__ == "__main__":
    main()
