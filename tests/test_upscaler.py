"""The 4× upscaler: its network, its model-folder files read as untrusted, exact resume of its
training, and every face that enlarges (pipeline, CLI) marking what it writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from ganstudio.training.upscaler import UpscaleTraining, train_upscaler
from ganstudio.upscaler import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    Upscaler,
    UpscalerConfig,
    UpscalerNet,
    image_tensor,
    upscale,
    upscale_image,
)

SMALL = UpscalerConfig(channels=4, width=8, growth=4, blocks=1)


class FakePairs:
    """Deterministic pairs: a blocky low image and its nearest-neighbour enlargement."""

    def batch(self, size, crop, generator):
        low = torch.rand(size, 4, crop // 4, crop // 4, generator=generator) * 2 - 1
        low = F.interpolate(low, size=crop, mode="nearest")
        return low, F.interpolate(low, scale_factor=4, mode="nearest")


def test_untrained_net_is_bilinear_and_shapes():
    x = torch.rand(2, 4, 16, 16) * 2 - 1
    net = UpscalerNet(SMALL)
    y = net(x)
    assert y.shape == (2, 4, 64, 64)
    assert torch.allclose(y, F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False))


def test_training_learns_and_resumes_exactly(tmp_path):
    tc = UpscaleTraining(l1_steps=3, gan_steps=3, batch=2, crop=16, checkpoint_every=3)
    straight = train_upscaler(tmp_path / "a", tc, SMALL, FakePairs(), log=lambda *_: None)
    half = UpscaleTraining(l1_steps=3, gan_steps=0, batch=2, crop=16, checkpoint_every=3)
    train_upscaler(tmp_path / "b", half, SMALL, FakePairs(), log=lambda *_: None)  # killed after 3 steps
    resumed = train_upscaler(tmp_path / "b", tc, SMALL, FakePairs(), resume=True, log=lambda *_: None)
    for (name, a), b in zip(
        straight.net.state_dict().items(), resumed.net.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert "loss_d" in rows[-1]  # the GAN phase ran
    loaded = Upscaler.load(tmp_path / "a")  # fp16 on disk, fp32 in memory
    assert loaded.net.first.weight.dtype == torch.float32
    assert loaded.info["model"].startswith("a-upscaler@")


def test_folder_files_are_untrusted(tmp_path):
    Upscaler(UpscalerNet(SMALL), {}).save(tmp_path)
    meta = json.loads((tmp_path / CONFIG_FILE).read_text())
    meta["config"]["blocks"] = 10_000  # a hand-edited config must not make it build a huge net
    (tmp_path / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="blocks"):
        Upscaler.load(tmp_path)
    meta["config"]["blocks"] = 2  # within bounds, but not what the weights hold
    (tmp_path / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not hold"):
        Upscaler.load(tmp_path)
    (tmp_path / WEIGHTS_FILE).write_bytes(b"\x10" * 16)
    with pytest.raises(ValueError):
        Upscaler.load(tmp_path)


def test_size_limit_and_channels():
    upscaler = Upscaler(UpscalerNet(SMALL), {})
    with pytest.raises(ValueError, match="too large"):
        upscaler(torch.zeros(1, 4, 300, 300))
    with pytest.raises(ValueError, match="4-channel"):
        upscaler(torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match="unknown"):
        upscale(torch.zeros(1, 3, 8, 8), "nearest")


def test_image_tensor_convention():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.putpixel((3, 3), (0, 0, 255, 255))
    x = image_tensor(rgba, 4)
    assert x.shape == (1, 4, 8, 8)
    assert x[0, :3, 0, 0].tolist() == [1.0, 1.0, 1.0]  # transparent: composed on white
    assert x[0, 3, 0, 0] == -1 and x[0, 3, 3, 3] == 1
    assert image_tensor(rgba.convert("RGB"), 4)[0, 3].min() == 1  # no alpha: opaque


def test_upscaled_file_is_marked_and_keeps_transparency(tmp_path):
    from ganstudio.provenance import verify

    drawing = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    for x in range(8, 24):
        for y in range(8, 24):
            drawing.putpixel((x, y), (200, 40, 40, 255))
    big = upscale_image(drawing, "lanczos", source="icon.png")
    assert big.size == (128, 128) and big.mode == "RGBA"
    assert np.asarray(big)[0, 0, 3] == 0  # a transparent corner stays transparent
    path = tmp_path / "icon-x4.png"
    big.save(path)
    report = verify(str(path))
    assert report["ganstudio"]
    assert big.record["operation"] == "upscale" and big.record["source"] == {"file": "icon.png"}


def test_pipeline_upscale_without_upscaler_uses_lanczos_with_a_note():
    from ganstudio.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    result = pipe(n=2, seed=3, upscale=4)
    assert result.images[0].size == (128, 128)
    assert any("Lanczos" in note for note in result.notes)
    assert result.metadata[0]["upscale"] == {"scale": 4, "method": "lanczos"}
    plain = pipe(n=2, seed=3)
    assert plain.images[0].size == (32, 32) and "upscale" not in plain.metadata[0]
    with pytest.raises(ValueError, match="upscale=2"):
        pipe(n=1, upscale=2)


def test_cli_upscale(tmp_path, capsys):
    from ganstudio.cli import main

    source = tmp_path / "drawing.png"
    Image.new("RGB", (20, 20), (30, 120, 200)).save(source)
    assert main(["upscale", str(source), "--method", "bicubic", "--out", str(tmp_path / "out")]) == 0
    written = tmp_path / "out" / "drawing-x4.png"
    with Image.open(written) as image:
        assert image.size == (80, 80)
    big = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(big)
    assert main(["upscale", str(big), "--method", "lanczos", "--out", str(tmp_path / "out")]) == 2
    assert "at most 65,536 pixels" in capsys.readouterr().err


def test_models_find_their_upscaler(tmp_path, monkeypatch):
    import ganstudio.upscaler as module

    own, bundled = tmp_path / "own", tmp_path / "bundled"
    Upscaler(UpscalerNet(SMALL), {}).save(own)
    Upscaler(UpscalerNet(SMALL), {}).save(bundled)
    monkeypatch.setattr(module, "BUNDLED", bundled)
    assert Upscaler.for_model(own, 4).info["model"].startswith("own-upscaler@")
    assert Upscaler.for_model(tmp_path, 3).info["model"].startswith("ganstudio/upscaler@")  # colour: bundled
    assert Upscaler.for_model(tmp_path, 1) is None  # grey: Lanczos
    rgb = torch.rand(2, 3, 8, 8) * 2 - 1
    out = Upscaler.for_model(tmp_path, 3)(rgb)  # opaque RGB through the RGBA upscaler
    assert out.shape == (2, 3, 32, 32)
    grey = Image.new("L", (10, 10), 90)
    big = upscale_image(grey, "gan", Upscaler.for_model(tmp_path, 3))
    assert big.mode == "L" and big.size == (40, 40)


def test_bundled_colour_model_upscales_with_the_gan(tmp_path):
    from ganstudio.pipeline import GenerationPipeline
    from ganstudio.provenance import verify

    pipe = GenerationPipeline.from_pretrained("emoji")
    assert pipe.upscaler is not None  # the bundled colour upscaler
    result = pipe(prompt="a red heart", n=1, seed=2, upscale=4)
    side = pipe.dataset_info["resolution"] * 4
    assert result.images[0].size == (side, side)
    assert result.metadata[0]["upscale"] == {"scale": 4, "method": "gan"}
    assert not result.notes or not any("Lanczos" in n for n in result.notes)
    path = result.images[0].save(tmp_path / "heart.png")
    report = verify(str(path))
    assert report["ganstudio"] and report["watermark"]["detected"]


def test_upscaling_a_generated_file_keeps_how_it_was_drawn(tmp_path):
    from ganstudio.cli import main
    from ganstudio.pipeline import GenerationPipeline
    from ganstudio.provenance.metadata import read_provenance

    source = GenerationPipeline.from_pretrained("emoji")(prompt="a red heart", n=1, seed=7).images[0]
    path = source.save(tmp_path / "heart.png")
    assert main(["upscale", str(path), "--out", str(tmp_path / "big")]) == 0
    record = read_provenance(tmp_path / "big" / "heart-x4.png")["record"]
    assert record["operation"] == "upscale" and record["seed"] == 7
    assert record["source"]["made_by"]["prompt"] == "a red heart"
    assert record["model"].startswith("ganstudio/upscaler@")
