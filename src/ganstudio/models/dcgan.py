"""DCGAN (Radford et al. 2015) as the paper draws it, conditional on anything `Cond` carries.

G: z times embed(cond) → 4x4 basis (a transposed conv from 1x1 is a linear layer), then 4x4
stride-2 transposed convs halving the width per stage, BatchNorm + ReLU after each, tanh out.
D: 4x4 stride-2 convs doubling the width per stage, LeakyReLU 0.2, BatchNorm on all but the
first, a 4x4 conv to one logit. Weights start at N(0, 0.02), BatchNorm scales at N(1, 0.02).

Conditions scale z in G, as the textbook conditional DCGAN multiplies z by a class embedding:
concatenating them to z instead let the class swamp z and collapsed each class to one image in
the first minute (per-class pixel spread 0.08 against 0.24, BENCHMARKS.md). They reach D as a
per-channel bias after its first conv, computed from embed(cond), which works for attributes and
text alike. With `model.d_cond: planes` a class reaches D as the textbook has it instead: one-hot
class planes beside the image, and the bias path carries only attributes and text. That is not
the same as a learnt bias: the zero padding makes the
planes' response differ at the border, and each class's response moves at the conv's own
learning rate rather than through a 128-wide embedding (the bias path cost recall 0.11 in the
10-minute bench, BENCHMARKS.md). With `model.cond_norm` the conditions also set a
per-channel scale and shift after each of G's BatchNorms (conditional BatchNorm, as the
projection-D paper's generator; Miyato & Koyama 2018), starting at no change. A sketch modulates
G after each BatchNorm, SPADE-style (Park et al. 2019), and enters D as two extra input channels.

G runs its BatchNorm on batch statistics while training; the training loop re-estimates G_ema's
running statistics before it samples or saves (`recalibrate_batchnorm`), so a saved model
generates one image at a time with the statistics of its own weights.
"""

from __future__ import annotations

import torch
from torch import nn

from ganstudio.conditioning import Cond, CondEmbedding, CondSpec
from ganstudio.conditioning.sketch import SketchEncoder
from ganstudio.config import ModelConfig
from ganstudio.models.layers import aux_heads_loss, stage_widths
from ganstudio.registry import MODELS


def init_dcgan(module: nn.Module) -> None:
    """The paper's initialisation: N(0, 0.02) weights, N(1, 0.02) BatchNorm scales; the caption
    path of the condition embedding is the exception (`init_text_path`)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    for m in module.modules():
        if isinstance(m, CondEmbedding):
            init_text_path(m)


def init_text_path(embed: CondEmbedding) -> None:
    """The caption MLP starts with outputs on the class table's scale (about 1 per dimension for a
    unit-length caption embedding), so different words give G and D different conditions from the
    first step. At N(0, 0.02) the words moved the embedding by ~1 on a norm of 13 after 400 kimg
    and the class table decided the image; with this start the emoji model's words alone name the
    right group 27% of the time instead of 16% (BENCHMARKS.md, tuning log)."""
    if embed.text is None:
        return
    first, _, second = embed.text  # Linear(text_dim + 1, dim), LeakyReLU(0.2), Linear(dim, dim)
    nn.init.normal_(first.weight, 0.0, 2**-0.5)  # input [caption, 1]: norm √2
    nn.init.kaiming_normal_(second.weight, a=0.2, nonlinearity="leaky_relu")
    nn.init.zeros_(first.bias)
    nn.init.zeros_(second.bias)


class Generator(nn.Module):
    """G(z, cond) -> images in [-1, 1] (tanh), shape (B, channels, resolution, resolution)."""

    def __init__(self, config: ModelConfig, resolution: int, channels: int, spec: CondSpec) -> None:
        super().__init__()
        self.z_dim = config.z_dim
        self.spec = spec
        widths = stage_widths(resolution, config.channel_base, config.channel_max)
        self.embed = CondEmbedding(spec, config.z_dim) if spec.is_conditional else None
        self.w_dim = config.z_dim
        self.basis = nn.Linear(self.w_dim, widths[4] * 16, bias=False)
        self.norms = nn.ModuleList([nn.BatchNorm2d(widths[4])])
        self.ups = nn.ModuleList()
        r = 4
        while r < resolution:
            out = channels if 2 * r == resolution else widths[2 * r]
            self.ups.append(
                nn.ConvTranspose2d(widths[r], out, 4, 2, 1, bias=config.conv_bias and 2 * r == resolution)
            )
            if 2 * r < resolution:
                self.norms.append(nn.BatchNorm2d(out))
            r *= 2
        # conditional BatchNorm: embed(cond) → (scale, shift) per channel of each BatchNorm stage
        self.cond_norm = None
        if config.cond_norm and self.embed is not None:
            self.cond_norm = nn.ModuleList([nn.Linear(config.z_dim, 2 * n.num_features) for n in self.norms])
        init_dcgan(self)
        if self.cond_norm is not None:  # starts as the plain BatchNorm
            for m in self.cond_norm:
                nn.init.zeros_(m.weight), nn.init.zeros_(m.bias)
        # built after init_dcgan: its output convs start at zero, so an untrained encoder changes nothing
        below = [r for r in widths if r < resolution]  # G's BatchNorm stages: the full size has none
        self.sketch = SketchEncoder(widths, outputs=below) if spec.has_sketch else None

    def map(self, z: torch.Tensor, cond: Cond | None) -> torch.Tensor:
        """z (B, z_dim) and cond → w = z * embed(cond) (B, z_dim); guidance and truncation work here."""
        if self.embed is None:
            return z
        return z * self.embed(cond, z.shape[0], z.device)

    def synthesize(self, w: torch.Tensor, cond: Cond | None = None) -> torch.Tensor:
        maps = None
        if self.sketch is not None:
            if cond is None or not bool(cond.sketch_mask.any()):  # the "no sketch" maps: one row, shared
                cond = Cond.for_spec(self.spec, 1, w.device)
            maps = self.sketch(cond.sketch.to(w.dtype), cond.sketch_mask)
        elif cond is not None and bool(cond.sketch_mask.any()):
            raise ValueError("this model was trained without sketches; do not pass a sketch")
        e = self.embed(cond, w.shape[0], w.device).to(w.dtype) if self.cond_norm is not None else None
        x = self.basis(w).view(w.shape[0], -1, 4, 4)  # (B, C4, 4, 4)
        for i, up in enumerate(self.ups):
            x = self.norms[i](x)
            if e is not None:
                scale, shift = (
                    self.cond_norm[i](e).to(x.dtype)[:, :, None, None].chunk(2, dim=1)
                )  # (B, C, 1, 1)
                x = x * (1 + scale) + shift
            if maps is not None:
                gamma, beta = maps[x.shape[-1]]  # (B or 1, C, r, r)
                x = x * (1 + gamma) + beta
            x = up(torch.relu(x))  # (B, C_2r, 2r, 2r)
        return torch.tanh(x)

    def forward(self, z: torch.Tensor, cond: Cond | None = None) -> torch.Tensor:
        return self.synthesize(self.map(z, cond), cond)


def d_recipe(config: ModelConfig, spec: CondSpec) -> tuple[str, bool]:
    """D's normalisation and whether it has the projection term. "auto": with text or sketches,
    spectral norm + projection (a BatchNorm D learns to check captions and outlines and wins,
    BENCHMARKS.md); otherwise the paper's BatchNorm D, which measured best for labels."""
    if config.d_norm not in ("auto", "batch", "spectral", "none"):
        raise ValueError(f"model.d_norm {config.d_norm!r} is unknown; use auto, batch, spectral or none")
    if config.d_norm == "auto":
        return ("spectral", True) if spec.has_text or spec.has_sketch else ("batch", config.d_projection)
    return config.d_norm, config.d_projection


class Discriminator(nn.Module):
    """D(images, cond) -> logits (B,)."""

    def __init__(self, config: ModelConfig, resolution: int, channels: int, spec: CondSpec) -> None:
        super().__init__()
        self.spec = spec
        widths = stage_widths(resolution, config.d_channel_base or config.channel_base, config.channel_max)
        extra = 2 if spec.has_sketch else 0
        self.first = nn.Conv2d(channels + extra, widths[resolution // 2], 4, 2, 1, bias=config.conv_bias)
        if config.d_cond not in ("bias", "planes"):
            raise ValueError(f"model.d_cond {config.d_cond!r} is unknown; use bias or planes")
        # "planes": the first conv's weights for the one-hot class planes (+ an "absent" plane)
        planes = config.d_cond == "planes" and spec.num_classes > 0
        self.class_conv = (
            nn.Conv2d(spec.num_classes + 1, widths[resolution // 2], 4, 2, 1, bias=False) if planes else None
        )
        # the bias (and projection) path carries what the planes do not: with planes, the class
        # stays out of it (both at once measured as the bias path alone, BENCHMARKS.md)
        others = spec.num_attributes > 0 or spec.has_text
        self.embed = (
            CondEmbedding(spec, config.cond_dim, classes=not planes)
            if spec.is_conditional and (not planes or others)
            else None
        )
        self.cond_bias = (
            nn.Linear(config.cond_dim, widths[resolution // 2]) if self.embed is not None else None
        )
        norm, projection = d_recipe(config, spec)
        batch_norm = norm == "batch"
        layers: list[nn.Module] = []
        r = resolution // 2
        while r > 4:
            layers.append(nn.Conv2d(widths[r], widths[r // 2], 4, 2, 1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(widths[r // 2]))
            layers.append(nn.LeakyReLU(0.2))
            r //= 2
        self.net = nn.Sequential(*layers)
        self.out = nn.Conv2d(widths[4], 1, 4, bias=config.conv_bias)
        # projection term (Miyato & Koyama 2018) on the 4x4 features pooled; starts near zero
        use_projection = projection and self.embed is not None
        self.project = nn.Linear(config.cond_dim, widths[4]) if use_projection else None
        # auxiliary heads on the pooled 4x4 features (model.aux_heads; models/layers.py)
        aux = config.aux_heads
        self.aux_class = nn.Linear(widths[4], spec.num_classes) if aux and spec.num_classes else None
        self.aux_text = nn.Linear(widths[4], spec.text_dim) if aux and spec.has_text else None
        self.aux_text_loss = config.aux_text_loss
        init_dcgan(self)
        if norm == "spectral":  # after init: the parametrization keeps the initial direction
            for m in [self.first, self.class_conv, self.out, *self.net]:
                if isinstance(m, nn.Conv2d):
                    nn.utils.parametrizations.spectral_norm(m)

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
        x = self.first(images)  # (B, C, R/2, R/2)
        if self.class_conv is not None:
            x = x + self.class_planes(cond, images)
        if self.cond_bias is not None:
            x = x + self.cond_bias(self.embed(cond, x.shape[0], x.device)).to(x.dtype)[:, :, None, None]
        x = self.net(nn.functional.leaky_relu(x, 0.2))  # (B, C4, 4, 4)
        logits = self.out(x).flatten()  # (B,)
        pooled = x.sum(dim=(2, 3))  # (B, C4)
        if self.project is not None:
            e = self.project(self.embed(cond, x.shape[0], x.device)).to(x.dtype)  # (B, C4)
            logits = logits + (e * pooled).sum(dim=1)
        return (logits, pooled) if return_features else logits

    def class_planes(self, cond: Cond | None, images: torch.Tensor) -> torch.Tensor:
        """What the first conv adds for one-hot class planes beside the images (B, C, R/2, R/2).
        Every image of a class has the same planes, so the conv runs once per class (K + 1 maps,
        the last for "no label") and each image takes its class's map: the same sums as
        concatenating the planes, without K more input channels per image."""
        k = self.spec.num_classes + 1
        if cond is None:
            cond = Cond.for_spec(self.spec, images.shape[0], images.device)
        index = torch.where(cond.label_mask, cond.labels, torch.full_like(cond.labels, k - 1))
        weight = self.class_conv.weight  # (C, K, 4, 4); with spectral norm, the normalised one
        c = weight.shape[0]
        ones = torch.ones(1, 1, *images.shape[2:], dtype=images.dtype, device=images.device)
        maps = nn.functional.conv2d(
            ones, weight.to(images.dtype).transpose(0, 1).reshape(k * c, 1, 4, 4), stride=2, padding=1
        )  # (1, K*C, R/2, R/2): plane k through its weights
        return maps.view(k, c, *maps.shape[2:])[index]  # (B, C, R/2, R/2)


@MODELS.register("dcgan")
def build(
    config: ModelConfig, resolution: int, channels: int, spec: CondSpec
) -> tuple[Generator, Discriminator]:
    return Generator(config, resolution, channels, spec), Discriminator(config, resolution, channels, spec)
