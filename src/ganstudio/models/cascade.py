"""A base generator followed by a 4× GAN upsampler: one generator that draws at 4× the base's size.

The colour emoji model draws its picture at 16 px (where a text GAN on two CPU cores can learn
which of ~1,800 concepts to draw) and a residual-in-residual upsampler (upscaler.py, trained with
a pixel and a relativistic GAN loss on the corpus's exact 16/64-px render pairs) redraws it at
64 px. GigaGAN serves text-to-image the same way (a base generator, then a GAN upsampler); see
docs/design-notes.md for why the colour model is split so.

Everything past the model folder sees one generator: `map` and `synthesize` are the base's with
the upsampler after them, so editing, redraw and sliders optimise through both, and the folder
declares the output's resolution. The two parts are trained apart (`ganstudio train` at the base
size, `ganstudio train-upscaler --low 16`) and joined by `scripts/build_bundled_model.py`; the
weights keep their prefixes (`base.`, `upsampler.`).
"""

from __future__ import annotations

import torch
from torch import nn

from ganstudio.conditioning import Cond
from ganstudio.models.rrdb import SCALE, UpscalerConfig, UpscalerNet


class Cascade(nn.Module):
    """G(z, cond) = upsampler(base(z, cond)), in [-1, 1], at SCALE × the base's resolution."""

    def __init__(self, base: nn.Module, upsampler: UpscalerNet) -> None:
        super().__init__()
        self.base = base
        self.upsampler = upsampler
        self.z_dim = base.z_dim
        self.spec = base.spec

    def map(self, z: torch.Tensor, cond: Cond | None) -> torch.Tensor:
        return self.base.map(z, cond)

    def synthesize(self, w: torch.Tensor, cond: Cond | None = None) -> torch.Tensor:
        return self.upsampler(self.base.synthesize(w, cond)).clamp(-1, 1)

    def forward(self, z: torch.Tensor, cond: Cond | None = None) -> torch.Tensor:
        return self.synthesize(self.map(z, cond), cond)


def upsampler_config(channels: int, model_config) -> UpscalerConfig:
    return UpscalerConfig(
        channels=channels,
        width=model_config.upsampler_width,
        growth=model_config.upsampler_growth,
        blocks=model_config.upsampler_blocks,
    )


def build_cascade(build, config, resolution: int, channels: int, spec) -> tuple[nn.Module, nn.Module]:
    """(Cascade G, the base's D) for a config with `model.cascade: 4`; `build` makes the base pair."""
    if resolution % SCALE or resolution // SCALE < 8:
        raise ValueError(
            f"a cascade draws at {SCALE}× its base: resolution {resolution} has no base of 8 px or more"
        )
    base, D = build(config, resolution // SCALE, channels, spec)
    return Cascade(base, UpscalerNet(upsampler_config(channels, config))), D
