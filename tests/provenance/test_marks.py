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


def test_halved_images_are_read_against_their_own_threshold():
    from ganstudio.config import DataConfig
    from ganstudio.data.builtin import fashion_mnist

    wm = shipped()
    assert wm.threshold_small is not None and wm.threshold_for(16, 16) == wm.threshold_small
    assert wm.threshold_for(32, 28) == wm.threshold
    real = fashion_mnist(DataConfig(), "test").images[9500:9700]  # outside the calibration
    halves = [Image.fromarray(a[0].numpy(), "L").resize((16, 16), Image.BICUBIC) for a in real]
    assert sum(wm.detect(h)["detected"] for h in halves) <= 2
    marked = [wm.mark_image(Image.fromarray(a[0].numpy(), "L")) for a in real]
    halves = [m.resize((16, 16), Image.BICUBIC) for m in marked]
    assert sum(wm.detect(h)["detected"] for h in halves) >= 0.85 * len(halves)


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


def test_every_generation_is_checked_and_copies_are_warned_blocked_or_allowed():
    from ganstudio import GenerationPipeline
    from ganstudio.config import DataConfig
    from ganstudio.data.builtin import fashion_mnist

    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    assert pipe.nearcopy is not None and len(pipe.nearcopy.codes) == 60000  # shipped with the model
    pipe.watermark = None
    drawn = pipe(n=4, seed=0, label="sneaker")
    assert all(not r["near_copy"]["near_copy"] for r in drawn.metadata) and not drawn.notes
    # a training set that holds what seeds 0-3 draw: the model now reproduces training images
    own = ((drawn.tensors + 1) * 127.5).round().to(torch.uint8)
    real = fashion_mnist(DataConfig(), "test").images[:2000]
    pipe.nearcopy = NearCopyIndex.build(torch.cat([own, real]))
    warned = pipe(n=4, seed=0, label="sneaker")
    assert [r["near_copy"]["nearest_item"] for r in warned.metadata] == [0, 1, 2, 3]
    assert all(r["near_copy"]["near_copy"] for r in warned.metadata)
    assert len(warned.notes) == 4 and "near-copy of training image #0" in warned.notes[0]
    allowed = pipe(n=4, seed=0, label="sneaker", on_copy="allow")
    assert all(r["near_copy"]["near_copy"] for r in allowed.metadata) and not allowed.notes
    blocked = pipe(n=4, seed=0, label="sneaker", on_copy="block")  # drawn again with seeds 4-7
    assert [r["seed"] for r in blocked.metadata] == [4, 5, 6, 7]
    assert [r["redrawn_from"] for r in blocked.metadata] == [[0], [1], [2], [3]]
    assert not any(r["near_copy"]["near_copy"] for r in blocked.metadata)
    assert "drew seed 4 instead" in blocked.notes[0]
    assert torch.allclose(blocked.tensors, pipe(n=4, seed=4, label="sneaker").tensors, atol=1e-4)
    # a model that draws nothing but copies is refused under block, not published
    pipe.nearcopy = NearCopyIndex.build(torch.cat([own, real]))
    pipe.nearcopy.threshold = 10.0
    with pytest.raises(ValueError, match="keep drawing near-copies"):
        pipe(n=2, seed=0, label="sneaker", on_copy="block")
    with pytest.raises(ValueError, match="on_copy='maybe'"):
        pipe(n=1, on_copy="maybe")


def test_the_index_is_built_for_the_data_a_model_was_trained_on(tmp_path):
    import shutil

    from ganstudio import modelfolder
    from ganstudio.data import DataSource, load_dataset
    from ganstudio.provenance.nearcopy import build_for_folder

    folder = tmp_path / "emoji"
    shutil.copytree(modelfolder.PRETRAINED_DIR / "emoji", folder)
    (folder / "nearcopy.safetensors").unlink()
    info = modelfolder.read_dataset_info(folder)
    config = modelfolder.ModelFolder.open(folder).config
    if (
        load_dataset(DataSource.parse(info["source"]), config.data).describe()["fingerprint"]
        != info["fingerprint"]
    ):
        pytest.skip("this machine's emoji font renders other images than the bundled model was trained on")
    index = build_for_folder(folder)  # from the source dataset.json records
    assert NearCopyIndex.load(folder).threshold == pytest.approx(index.threshold)
    assert "nearest other training image" in index.calibration  # emoji's test split is inside train
    with pytest.raises(ValueError, match="not the data this model was trained on"):
        build_for_folder(folder, "fashion-mnist")
    (folder / "nearcopy.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(ValueError):
        NearCopyIndex.load(folder)


def test_a_bounded_mark_cannot_be_seen_on_flat_backgrounds():
    """With a flat-area bound (`flat`/`detail` in watermark.json; the shipped pair has none yet,
    BENCHMARKS.md says why), no pixel of a solid black, white, grey or coloured image moves by
    more than `flat` levels (the unbounded pair puts a 64-level dot on black), detail may move
    more, and a transparent drawing's clear parts and alpha never change."""
    from dataclasses import replace

    wm = replace(shipped(), flat=2.0, detail=8.0)
    black = torch.full((1, 1, 32, 32), -1.0)
    assert ((shipped().embed(black) - black) * 127.5).abs().max() > 8  # the dot the bound removes
    solids = [torch.full((1, 1, 32, 32), v) for v in (-1.0, 1.0, 0.0)]
    solids.append(torch.tensor([1.0, -1, -1]).view(1, 3, 1, 1).expand(1, 3, 64, 64).clone())
    for x in solids:
        moved = ((wm.embed(x) - x) * 127.5).abs()
        assert moved.max() <= wm.flat + 0.01, (x[0, :, 0, 0], float(moved.max()))
    checks = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1  # all detail
    assert ((wm.embed(checks) - checks) * 127.5).abs().max() <= wm.detail + 0.01
    drawing = torch.full((1, 4, 32, 32), -1.0)
    drawing[:, :3, 8:24, 8:24], drawing[:, 3, 8:24, 8:24] = 0.6, 1.0  # a square on nothing
    marked = wm.embed(drawing)
    assert torch.equal(marked[:, 3], drawing[:, 3])
    assert torch.equal(marked[:, :3, :4], drawing[:, :3, :4])  # the clear part is untouched
