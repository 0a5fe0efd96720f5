"""The detector: trained per model, it tells the model's outputs from real images when the
watermark is gone; it saves and loads safely, and verify falls back on it."""

import io

import pytest
import torch
from PIL import Image

from ganstudio.provenance.detector import Detector, auc, edit, pil
from ganstudio.provenance.detector_training import train_detector


def _textures(n: int, seed: int, grain: float) -> torch.Tensor:
    """Soft grey shapes; `grain` adds fine noise — the kind of trace a generator leaves."""
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(torch.rand(n, 1, 4, 4, generator=g), size=32, mode="bicubic")
    x = base + grain * torch.randn(n, 1, 32, 32, generator=g)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def test_auc_counts_how_often_generated_beats_real():
    assert auc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 1.0
    assert auc(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])) == 0.0
    assert auc(torch.tensor([1.0, 4.0]), torch.tensor([2.0, 3.0])) == 0.5


def test_a_detector_learns_a_trace_and_survives_saving(tmp_path):
    fakes, reals = _textures(400, 0, 0.12), _textures(400, 1, 0.0)
    detector = train_detector(fakes[:300], reals[:300], fakes[300:], reals[300:], steps=120)
    assert detector.report["auc_none"] > 0.95, detector.report
    assert detector.report["fpr_none"] <= 0.05
    assert detector.domain is not None  # the envelope of its real images is kept
    detector.domain = None  # these grainy textures are a stand-in for a model, outside any real envelope
    detector.save(tmp_path)
    loaded = Detector.load(tmp_path)
    images = pil(torch.cat([fakes[300:320], reals[300:320]]))
    assert torch.allclose(loaded.scores(images), detector.scores(images), atol=0.05)  # fp16 weights
    verdicts = [loaded.detect(im) for im in images]
    assert (
        sum(v["generated"] for v in verdicts[:20]) >= 18 and sum(v["generated"] for v in verdicts[20:]) <= 2
    )
    assert all(0 <= v["p_real"] <= 1 for v in verdicts)
    mean_p = [sum(v["p_real"] for v in part) / len(part) for part in (verdicts[:20], verdicts[20:])]
    assert mean_p[0] < mean_p[1]  # generated images are rarer among real ones than real ones are
    (tmp_path / "detector.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(ValueError):
        Detector.load(tmp_path)
    assert Detector.load(tmp_path / "elsewhere") is None


def test_edits_are_the_ones_images_meet():
    image = pil(_textures(1, 2, 0.0))[0]
    assert edit(image, "resize0.5").size == (16, 16) and edit(image, "resize2").size == (64, 64)
    assert edit(image, "jpeg75+resize0.75").size == (24, 24)
    assert edit(image, "none") is image


@pytest.fixture(scope="module")
def fashion():
    from ganstudio import GenerationPipeline
    from ganstudio.config import DataConfig
    from ganstudio.data.builtin import fashion_mnist

    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    return pipe, fashion_mnist(DataConfig(), "test").images[9800:9840]


def _stripped(image: Image.Image) -> bytes:
    """What a re-post leaves: the pixels re-encoded as JPEG 75, no metadata."""
    buffer = io.BytesIO()
    image.convert("L").save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


def test_verify_falls_back_on_the_bundled_detector(fashion):
    from ganstudio.provenance import verify

    pipe, real = fashion
    from ganstudio.modelfolder import PRETRAINED_DIR

    assert Detector.load(PRETRAINED_DIR / "fashion-mnist") is not None  # shipped with the model
    pipe.watermark = None  # as if the watermark had been destroyed
    drawn = pipe(n=40, seed=11, label=[pipe.class_names[i % 10] for i in range(40)])
    fake_reports = [verify(_stripped(im)) for im in drawn.images]
    real_reports = [verify(_stripped(im)) for im in pil(real)]
    assert all(not r["ganstudio"] and r["detector"] for r in fake_reports + real_reports)
    assert sum(r["likely_generated"] for r in fake_reports) >= 24, [r["detector"] for r in fake_reports]
    assert sum(r["likely_generated"] for r in real_reports) <= 6
    hit = next(r for r in fake_reports if r["likely_generated"])
    assert any("a statistical guess, not proof" in line for line in hit["summary"])


def test_the_bundled_detectors_are_not_retrained(capsys):
    from ganstudio.cli import main

    assert main(["detector", "--model", "fashion-mnist"]) == 2
    assert "ship with their detectors" in capsys.readouterr().err


def test_a_detector_has_no_opinion_outside_what_it_learnt_to_judge():
    """Uniform noise and a colour photo are not grey garments: the bundled fashion detector says
    nothing about them, while it still judges the images its model draws."""
    import numpy as np

    from ganstudio import GenerationPipeline
    from ganstudio.modelfolder import resolve
    from ganstudio.provenance import verify

    detector = Detector.load(resolve("fashion-mnist")[0])
    rng = np.random.default_rng(0)
    noise = Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8))
    colour = Image.new("RGB", (32, 32), (200, 30, 30))
    colour.paste((30, 30, 200), (0, 16, 32, 32))
    for image in (noise, colour):
        verdict = detector.detect(image)
        assert verdict["generated"] is None and "outside" in verdict["no_opinion"]
    drawn = GenerationPipeline.from_pretrained("fashion-mnist")(n=20, seed=3).images
    assert all(detector.detect(im)["generated"] is not None for im in drawn)
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    report = verify(buffer.getvalue())
    assert not report["likely_generated"]
    assert not any("likely made by" in line for line in report["summary"])
    assert any("no opinion" in line for line in report["summary"])
