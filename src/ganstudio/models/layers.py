"""Layers shared by the architectures: normalisation-free residual blocks and resampling."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

ACT_SLOPE = 0.2


def act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, ACT_SLOPE)


def conv(in_ch: int, out_ch: int, kernel: int, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    """Conv with He init scaled by `gain` (0 gives the zero-initialised last layer of a block)."""
    layer = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, groups=groups)
    fan_in = in_ch // groups * kernel * kernel
    nn.init.normal_(layer.weight, std=gain * math.sqrt(2 / (1 + ACT_SLOPE**2)) / math.sqrt(fan_in))
    nn.init.zeros_(layer.bias)
    return layer


class ResidualBlock(nn.Module):
    """x + 1x1 → act → 3x3 (grouped when group_size > 0) → act → 1x1, with no normalisation.

    Fix-up initialisation (Zhang et al. 2019, as in R3GAN): the last conv starts at zero and
    the others are scaled by num_blocks^(-1/4), so the network starts near identity and
    trains stably without normalisation layers.
    """

    def __init__(self, channels: int, expansion: int, group_size: int, num_blocks: int) -> None:
        super().__init__()
        hidden = channels * expansion
        groups = hidden // group_size if group_size > 0 else 1
        scale = num_blocks ** (-1 / 4)
        self.expand = conv(channels, hidden, 1, gain=scale)
        self.spatial = conv(hidden, hidden, 3, groups=groups, gain=scale)
        self.compress = conv(hidden, channels, 1, gain=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.compress(act(self.spatial(act(self.expand(x)))))


class Resample(nn.Module):
    """Change resolution by 2 and width to `out_ch` (1x1 conv, then up- or down-sample)."""

    def __init__(self, in_ch: int, out_ch: int, direction: str, mode: str = "nearest") -> None:
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"model.upsample {mode!r} is unknown; use 'nearest' or 'bilinear'")
        self.direction = direction
        self.mode = mode
        self.proj = conv(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.direction == "up":
            x = self.proj(x)
            if self.mode == "nearest":
                return F.interpolate(x, scale_factor=2, mode="nearest")
            return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.proj(F.avg_pool2d(x, 2))


def stage_widths(resolution: int, channel_base: int, channel_max: int) -> dict[int, int]:
    """Channels per resolution from 4 to `resolution`: min(channel_max, channel_base // r)."""
    if resolution < 16 or resolution > 256 or resolution & (resolution - 1):
        raise ValueError(f"resolution {resolution} is not supported; use a power of two from 16 to 256")
    widths = {}
    r = 4
    while r <= resolution:
        widths[r] = max(8, min(channel_max, channel_base // r))
        r *= 2
    return widths


@torch.no_grad()
def recalibrate_batchnorm(
    G: nn.Module, sample_cond: Callable[[int], object], batches: int = 8, batch: int = 256, seed: int = 0
) -> None:
    """Re-estimate the running statistics of G's BatchNorm layers for G's current weights (the
    "standing statistics" of BigGAN, Brock et al. 2019): `batches` forward passes in train mode
    with a cumulative average, on z ~ N(0, I) (seeded: the global RNG is untouched) and
    conditions from `sample_cond(batch)`. EMA weights never saw the statistics that G's training
    steps measured, so G_ema needs this before it samples. Models without BatchNorm are left
    as they are."""
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(G.parameters()).device
    was_training, momenta = G.training, [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the passes below
    G.train()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        G(torch.randn(batch, G.z_dim, generator=generator).to(device), sample_cond(batch))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    G.train(was_training)


def aux_heads_loss(
    features: torch.Tensor,
    cond,
    aux_class: nn.Linear | None,
    aux_text: nn.Linear | None,
    text_loss: str = "cosine",
    temperature: float = 0.1,
) -> torch.Tensor | None:
    """Loss of D's auxiliary heads on its features (B, C) against the conditions present in
    `cond`: cross-entropy for labels; for text either 1 − cosine similarity to the caption
    embedding ("cosine") or a contrastive loss over the batch ("contrastive": each image must pick
    its own caption among the batch's, as XMC-GAN's image–sentence term, Zhang et al. 2021). The
    contrastive form tells G not only "more like these words" but "less like the other captions",
    which is what makes a concept's shape, not only its colour, follow the words."""
    terms = []
    if aux_class is not None and bool(cond.label_mask.any()):
        m = cond.label_mask
        terms.append(F.cross_entropy(aux_class(features[m]).float(), cond.labels[m]))
    if aux_text is not None and bool(cond.text_mask.any()):
        m = cond.text_mask
        predicted = F.normalize(aux_text(features[m]).float(), dim=1)  # (M, text_dim)
        target = F.normalize(cond.text[m].float(), dim=1)  # (M, text_dim)
        if text_loss == "contrastive":
            logits = predicted @ target.T / temperature  # (M, M): image i against caption j
            # captions shared within the batch (the diversity term's pairs) all count as right
            same = (target @ target.T) > 0.999
            terms.append(
                (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~same, -1e4), 1)).mean()
            )
        elif text_loss == "cosine":
            terms.append((1 - (predicted * target).sum(dim=1)).mean())
        else:
            raise ValueError(f"model.aux_text_loss {text_loss!r} is unknown; use cosine or contrastive")
    return sum(terms) if terms else None
