"""A cascade model (a base generator, then a 4× GAN upsampler) joined from its two parts: one
folder, one generator at 4× the base's size, everything downstream unchanged."""

from __future__ import annotations

import json

import pytest
import torch

from ganstudio import modelfolder
from ganstudio.models.cascade import Cascade
from ganstudio.pipeline import GenerationPipeline
from ganstudio.upscaler import Upscaler, UpscalerConfig, UpscalerNet


def joined(tmp_path, width=8):
    torch.manual_seed(0)
    net = UpscalerNet(UpscalerConfig(channels=1, width=width, growth=4, blocks=1))
    torch.nn.init.normal_(net.last.weight, 0, 0.05)  # not the bilinear start: the test must see it
    Upscaler(net, {}).save(tmp_path / "up")
    base = modelfolder.PRETRAINED_DIR / "fashion-mnist"
    return modelfolder.join_cascade(base, tmp_path / "up", tmp_path / "cascade"), net


def test_a_joined_cascade_draws_the_base_then_the_upsampler(tmp_path):
    folder, net = joined(tmp_path)
    raw = json.loads((folder / "config.json").read_text())
    assert raw["resolution"] == 128 and raw["config"]["model"]["cascade"] == 4
    assert json.loads((folder / "dataset.json").read_text())["cascade"]["base_resolution"] == 32
    big = GenerationPipeline.from_pretrained(folder)
    small = GenerationPipeline.from_pretrained("fashion-mnist")
    assert isinstance(big.G, Cascade)
    assert big(n=1, seed=3, label="sneaker").images[0].size == (128, 128)  # marked as any output
    z = torch.randn(2, big.G.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = big.G(z, None), small.G(z, None)
    assert a.shape == (2, 1, 128, 128) and b.shape == (2, 1, 32, 32)
    # the weights went in fp16 (the upsampler's file) and the base's own: compare at that precision
    with torch.no_grad():
        expected = net.half().float()(b.float()).clamp(-1, 1)
    assert (a - expected).abs().max() < 0.02
    plain = torch.nn.functional.interpolate(b, scale_factor=4, mode="bilinear")
    assert (a - plain).abs().mean() > 0.01  # the upsampler's residual is in the image


def test_a_cascade_config_is_checked_before_it_is_built(tmp_path):
    folder, _ = joined(tmp_path)
    raw = json.loads((folder / "config.json").read_text())
    for key, value in (("cascade", 3), ("upsampler_blocks", 10_000), ("upsampler_width", True)):
        bad = json.loads(json.dumps(raw))
        bad["config"]["model"][key] = value
        (folder / "config.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=key):
            modelfolder.ModelFolder.open(folder)
