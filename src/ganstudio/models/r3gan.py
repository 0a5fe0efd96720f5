"""R3GAN-style generator and discriminator (Huang et al., NeurIPS 2024, "The GAN is dead; long
live the GAN!"): normalisation-free residual networks with fix-up initialisation, trained with
the relativistic pairing loss and R1 + R2 (see losses.py).

Conditioning: G maps [z, embed(cond)] through a small MLP to w, which sets the 4x4 basis and
adds a per-channel bias at every stage; a sketch, when the model takes one, modulates every
stage SPADE-style. D is a projection discriminator (Miyato & Koyama 2018) that also sees the
sketch as extra input channels, judging (image, sketch) pairs as pix2pix's D does.
"""

from __future__ import annotations

import torch
from torch import nn

from ganstudio.conditioning import Cond, CondEmbedding, CondSpec
from ganstudio.conditioning.sketch import SketchEncoder
from ganstudio.config import ModelConfig
from ganstudio.models.layers import Resample, ResidualBlock, act, aux_heads_loss, conv, stage_widths
from ganstudio.registry import MODELS


def residual_stage(width: int, config: ModelConfig, num_blocks: int) -> nn.Sequential:
    """`blocks_per_stage` residual blocks at one resolution: the same stage in G and in D."""
    return nn.Sequential(
        *[
            ResidualBlock(width, config.expansion, config.group_size, num_blocks)
            for _ in range(config.blocks_per_stage)
        ]
    )


class Generator(nn.Module):
    """G(z, cond) -> images in about [-1, 1], shape (B, channels, resolution, resolution)."""

    def __init__(self, config: ModelConfig, resolution: int, channels: int, spec: CondSpec) -> None:
        super().__init__()
        self.z_dim, self.w_dim = config.z_dim, config.w_dim
        self.spec = spec
        widths = stage_widths(resolution, config.channel_base, config.channel_max)
        num_blocks = len(widths) * config.blocks_per_stage
        self.embed = CondEmbedding(spec, config.cond_dim)
        self.mapping = nn.Sequential(
            nn.Linear(config.z_dim + config.cond_dim, config.w_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(config.w_dim, config.w_dim),
            nn.LeakyReLU(0.2),
        )
        self.basis = nn.Linear(config.w_dim, widths[4] * 16)
        self.stage_bias = nn.ModuleList()
        self.stage_scale = nn.ModuleList() if config.modulate else None
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        resolutions = sorted(widths)
        for r in resolutions:
            self.stage_bias.append(nn.Linear(config.w_dim, widths[r]))
            if self.stage_scale is not None:
                scale = nn.Linear(config.w_dim, widths[r])
                nn.init.zeros_(scale.weight)
                nn.init.zeros_(scale.bias)
                self.stage_scale.append(scale)
            self.stages.append(residual_stage(widths[r], config, num_blocks))
            if r < resolution:
                self.transitions.append(Resample(widths[r], widths[2 * r], "up", config.upsample))
        self.to_image = conv(widths[resolution], channels, config.rgb_kernel)
        self.sketch = SketchEncoder(widths) if spec.has_sketch else None

    def map(self, z: torch.Tensor, cond: Cond | None) -> torch.Tensor:
        """z (B, z_dim) and cond → w (B, w_dim); truncation works in this space."""
        z = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        return self.mapping(torch.cat([z, self.embed(cond, z.shape[0], z.device)], dim=1))

    def synthesize(self, w: torch.Tensor, cond: Cond | None = None) -> torch.Tensor:
        """w (B, w_dim) → images; `cond` is only read for the sketch."""
        maps = None
        if self.sketch is not None:
            if cond is None or not bool(cond.sketch_mask.any()):  # the "no sketch" maps: one row, shared
                absent = Cond.for_spec(self.spec, 1, w.device)
                maps = self.sketch(absent.sketch.to(w.dtype), absent.sketch_mask)
            else:
                maps = self.sketch(cond.sketch.to(w.dtype), cond.sketch_mask)
        elif cond is not None and bool(cond.sketch_mask.any()):
            raise ValueError("this model was trained without sketches; do not pass a sketch")
        x = self.basis(w).view(w.shape[0], -1, 4, 4)  # (B, C4, 4, 4)
        for i, stage in enumerate(self.stages):
            if self.stage_scale is not None:
                x = x * (1 + self.stage_scale[i](w)[:, :, None, None])
            x = x + self.stage_bias[i](w)[:, :, None, None]
            if maps is not None:
                gamma, beta = maps[x.shape[-1]]  # (B, C, r, r) each
                x = x * (1 + gamma) + beta
            x = stage(x)
            if i < len(self.transitions):
                x = self.transitions[i](x)  # (B, C_2r, 2r, 2r)
        return self.to_image(act(x))  # (B, channels, R, R)

    def forward(self, z: torch.Tensor, cond: Cond | None = None) -> torch.Tensor:
        return self.synthesize(self.map(z, cond), cond)


class Discriminator(nn.Module):
    """D(images, cond) -> logits (B,): unconditional score plus projection on embed(cond)."""

    def __init__(self, config: ModelConfig, resolution: int, channels: int, spec: CondSpec) -> None:
        super().__init__()
        widths = stage_widths(resolution, config.d_channel_base or config.channel_base, config.channel_max)
        num_blocks = len(widths) * config.blocks_per_stage
        resolutions = sorted(widths, reverse=True)
        self.spec = spec
        self.from_image = conv(
            channels + (2 if spec.has_sketch else 0), widths[resolution], config.rgb_kernel
        )
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for r in resolutions:
            self.stages.append(residual_stage(widths[r], config, num_blocks))
            if r > 4:
                self.transitions.append(Resample(widths[r], widths[r // 2], "down"))
        self.mbstd_group = config.mbstd_group
        extra = 1 if self.mbstd_group > 0 else 0
        self.head = nn.Conv2d(widths[4] + extra, widths[4], 4)  # (B, C4, 1, 1): a learned 4x4 basis
        self.out = nn.Linear(widths[4], 1)
        self.embed = CondEmbedding(spec, config.cond_dim) if spec.is_conditional else None
        self.project = nn.Linear(config.cond_dim, widths[4]) if spec.is_conditional else None
        aux = config.aux_heads
        self.aux_class = nn.Linear(widths[4], spec.num_classes) if aux and spec.num_classes else None
        self.aux_text = nn.Linear(widths[4], spec.text_dim) if aux and spec.has_text else None
        self.aux_text_loss = config.aux_text_loss

    def aux_loss(self, features: torch.Tensor, cond: Cond) -> torch.Tensor | None:
        return aux_heads_loss(features, cond, self.aux_class, self.aux_text, self.aux_text_loss)

    def forward(
        self, images: torch.Tensor, cond: Cond | None = None, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.spec.has_sketch:
            if cond is None:
                cond = Cond.for_spec(self.spec, images.shape[0], images.device)
            mask = cond.sketch_mask.to(images.dtype)[:, None, None, None].expand_as(cond.sketch)
            images = torch.cat([images, cond.sketch.to(images.dtype) * mask, mask], dim=1)  # (B, C+2, R, R)
        x = self.from_image(images)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.transitions):
                x = self.transitions[i](x)
        x = act(x)
        if self.mbstd_group > 0:
            x = torch.cat([x, minibatch_std(x, self.mbstd_group)], dim=1)  # (B, C4 + 1, 4, 4)
        h = act(self.head(x)).flatten(1)  # (B, C4)
        logits = self.out(h).squeeze(1)  # (B,)
        if self.embed is not None:
            e = self.project(self.embed(cond, h.shape[0], h.device))  # (B, C4)
            logits = logits + (e * h).sum(dim=1)
        return (logits, h) if return_features else logits


def minibatch_std(x: torch.Tensor, group: int) -> torch.Tensor:
    """One feature map (B, 1, H, W): the standard deviation of each feature across a group of
    images, averaged (Karras et al. 2018). The group shrinks to a divisor of the batch."""
    b, c, h, w = x.shape
    group = min(group, b)
    while b % group:
        group -= 1
    y = x.float().view(group, b // group, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / group,)
    return y.repeat(group)[:, None, None, None].expand(b, 1, h, w).to(x.dtype)


@MODELS.register("r3gan")
def build(
    config: ModelConfig, resolution: int, channels: int, spec: CondSpec
) -> tuple[Generator, Discriminator]:
    return Generator(config, resolution, channels, spec), Discriminator(config, resolution, channels, spec)
