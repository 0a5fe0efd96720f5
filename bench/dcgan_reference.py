"""The textbook class-conditional DCGAN (Radford et al. 2015), standalone: the bench's baseline.

Written from the paper, with nothing of ganstudio's model or loop, so it shows what a plain
script reaches. G: z times a learned class embedding, 4x4 transposed convs 256 → 128 → 64 with
BatchNorm + ReLU, tanh. D: one-hot class planes beside the image, strided 4x4 convs 64 → 128 →
256 with LeakyReLU 0.2 and BatchNorm (none on the first). Init N(0, 0.02); Adam 2e-4, β (0.5,
0.999); batch 128; the non-saturating loss; bf16 autocast where the CPU has bf16 units and
channels-last tensors (40% faster convs on a CPU, the same arithmetic), and no gradients for
D's weights while G learns (G's update needs only the gradient through D's input: 30% more images
per second here, the same arithmetic), as a user making it fast would.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

Z_DIM = 100


class Generator(nn.Module):
    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__()
        self.classes = nn.Embedding(num_classes, Z_DIM)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(Z_DIM, 256, 4, 1, 0, bias=False), nn.BatchNorm2d(256), nn.ReLU(True),
            nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, channels, 4, 2, 1, bias=False), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net((z * self.classes(labels))[:, :, None, None])  # (B, C, 32, 32)


class Discriminator(nn.Module):
    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.net = nn.Sequential(
            nn.Conv2d(channels + num_classes, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, True),
            nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2, True),
            nn.Conv2d(256, 1, 4, 1, 0, bias=False),
        )  # fmt: skip

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        planes = F.one_hot(labels, self.num_classes).to(images.dtype)[:, :, None, None]
        planes = planes.expand(-1, -1, *images.shape[2:])  # (B, K, H, W)
        return self.net(torch.cat([images, planes], dim=1)).flatten()  # (B,)


def init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def batches(n: int, batch: int, replacement: bool):
    """Index batches forever: epochs of a fresh permutation (the last short batch skipped), or,
    with `replacement`, `batch` random indices each time (as ganstudio's loop draws them)."""
    while True:
        if replacement:
            yield torch.randint(n, (batch,))
            continue
        for index in torch.randperm(n).split(batch):
            if len(index) == batch:
                yield index


def train(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    minutes: float,
    bf16: bool,
    seed: int = 0,
    replacement: bool = False,
) -> tuple[Generator, dict]:
    """Train on uint8 images (N, C, 32, 32) with labels (N,) for `minutes`; returns G and counters."""
    torch.manual_seed(seed)
    G, D = Generator(num_classes, images.shape[1]), Discriminator(num_classes, images.shape[1])
    G.apply(init_weights), D.apply(init_weights)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    batch, seen, start = 128, 0, time.perf_counter()
    for index in batches(len(images), batch, replacement):
        if time.perf_counter() - start >= minutes * 60:
            break
        real, y = images[index].float() / 127.5 - 1, labels[index]
        real = real.contiguous(memory_format=torch.channels_last)
        with autocast:
            fake = G(torch.randn(batch, Z_DIM), y)
            loss_d = F.softplus(-D(real, y)).mean() + F.softplus(D(fake.detach(), y)).mean()
        opt_D.zero_grad()
        loss_d.float().backward()
        opt_D.step()
        D.requires_grad_(False)
        with autocast:
            loss_g = F.softplus(-D(fake, y)).mean()
        opt_G.zero_grad()
        loss_g.float().backward()
        opt_G.step()
        D.requires_grad_(True)
        seen += batch
    seconds = time.perf_counter() - start
    return G, {
        "kimg": seen / 1000,
        "img_per_s": seen / seconds,
        "loss_d": loss_d.item(),
        "loss_g": loss_g.item(),
    }


@torch.no_grad()
def sample(G: Generator, labels: torch.Tensor, seed: int = 0, batch: int = 500) -> torch.Tensor:
    """Images for `labels` in [-1, 1], sampled with batch statistics as the script trains (train mode)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(len(labels), Z_DIM, generator=g)
    return torch.cat([G(z[i : i + batch], labels[i : i + batch]).float() for i in range(0, len(z), batch)])
