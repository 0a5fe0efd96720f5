"""The three marks end to end: a generated image verifies by metadata, a signed C2PA manifest and
the watermark; a one-byte change breaks the signature but not the watermark; JPEG 75 and a resize
keep the watermark."""

import io

import pytest
import torch
from PIL import Image

from ganstudio.pipeline import GenerationPipeline
from ganstudio.provenance import signing, verify
from ganstudio.provenance.nearcopy import NearCopyIndex
from ganstudio.provenance.watermark import shipped

pytestmark = pytest.mark.skipif(not signing.available(), reason="c2pa-python is not installed")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    import os

    os.environ["GANSTUDIO_CONFIG"] = str(out / "config")
    signing.signer_files.cache_clear()
    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    result = pipe(n=3, seed=7, label="sneaker")
    return {fmt: result.save(out / fmt, format=fmt, grid=False) for fmt in ("png", "jpeg", "webp")}


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_every_format_carries_three_marks(files, fmt):
    for path in files[fmt]:
        report = verify(path)
        assert report["metadata"]["ai_generated"] and report["metadata"]["record"]["label"] == "sneaker"
        assert report["c2pa"]["state"] == "trusted", report["c2pa"]
        assert report["c2pa"]["action"]["digitalSourceType"].endswith("trainedAlgorithmicMedia")
        assert report["c2pa"]["training_mining"]["cawg.ai_training"] == "notAllowed"
        assert report["watermark"]["detected"], report["watermark"]


def test_one_byte_change_breaks_the_signature_not_the_watermark(files):
    data = bytearray(files["jpeg"][0].read_bytes())  # JPEG segments have no checksum: it still decodes
    at = data.index(b"AI-generated image")
    data[at] ^= 0x20  # "ai-generated image"
    report = verify(bytes(data))
    assert report["c2pa"]["state"] == "invalid" and report["watermark"]["detected"]
    assert report["ganstudio"]


def test_jpeg_and_resize_keep_the_watermark_only(files):
    with Image.open(files["png"][1]) as image:
        buffer = io.BytesIO()
        image.resize((48, 48), Image.BICUBIC).save(buffer, "JPEG", quality=75)
    report = verify(buffer.getvalue())
    assert report["c2pa"]["state"] == "absent" and not report["metadata"]["ai_generated"]
    assert report["watermark"]["detected"] and report["ganstudio"]


def test_unmarked_real_images_are_not_called_marked():
    from ganstudio.config import DataConfig
    from ganstudio.data.builtin import fashion_mnist

    wm = shipped()
    real = fashion_mnist(DataConfig(), "test").images[9000:9500].float() / 255  # outside the calibration
    assert (wm.scores(real) > wm.threshold).float().mean() <= 0.01
    marked = (wm.embed(real * 2 - 1) + 1) / 2
    assert (wm.scores(marked) > wm.threshold).float().mean() >= 0.95


def test_near_copy_index_flags_copies_not_new_images():
    g = torch.Generator().manual_seed(0)
    train = (torch.rand(200, 1, 32, 32, generator=g) * 255).to(torch.uint8)
    train = torch.nn.functional.avg_pool2d(train.float(), 3, 1, 1).to(torch.uint8)  # some structure
    heldout = torch.nn.functional.avg_pool2d((torch.rand(200, 1, 32, 32, generator=g) * 255), 3, 1, 1).to(
        torch.uint8
    )
    index = NearCopyIndex.build(train, heldout)
    copies = train[:20].float() / 127.5 - 1
    assert all(r["near_copy"] and r["nearest_item"] == i for i, r in enumerate(index.check(copies)))
    assert sum(r["near_copy"] for r in index.check(copies.flip(3))) == 20
    fresh = heldout[100:].float() / 127.5 - 1
    assert sum(r["near_copy"] for r in index.check(fresh)) <= 10
