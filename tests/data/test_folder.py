import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.cli import main
from ganstudio.config import DataConfig
from ganstudio.data import load_dataset, prepare
from ganstudio.data.packed import PackedDataset


def make_folder(root):
    (root / "boots").mkdir(parents=True)
    (root / "bags").mkdir()
    Image.new("RGB", (40, 20), (200, 10, 10)).save(root / "boots" / "wide.png")
    Image.new("L", (16, 16), 128).save(root / "boots" / "gray.png")
    rgba = Image.new("RGBA", (16, 16), (0, 0, 255, 0))
    rgba.paste((0, 0, 255, 255), (4, 4, 12, 12))
    rgba.save(root / "bags" / "transparent.png")
    Image.new("P", (16, 16), 3).save(root / "bags" / "palette.gif")
    Image.new("RGB", (16, 16), (0, 200, 0)).save(root / "bags" / "photo.jpg")
    Image.new("RGB", (16, 16), (0, 200, 0)).save(root / "bags" / "photo.webp")
    (root / "bags" / "photo.txt").write_text("a green bag\na leafy purse\n")
    (root / "boots" / "empty.png").write_bytes(b"")
    (root / "boots" / "notes.png").write_text("this is not an image")
    full = root / "boots" / "full.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
    (root / "boots" / "truncated.png").write_bytes(full.read_bytes()[:200])
    Image.new("1", (9000, 9000)).save(root / "bomb.png")
    (root / "metadata.jsonl").write_text(
        json.dumps({"file_name": "boots/wide.png", "text": "a red boot", "size_cm": 31.5})
        + "\n"
        + json.dumps({"file_name": "bags/palette.gif", "label": "boots"})
        + "\n"
        + "{not json\n"
    )


def test_folder_decodes_every_mode_and_skips_bad_files(tmp_path):
    make_folder(tmp_path)
    dataset = prepare(str(tmp_path), DataConfig(resolution=16))
    skipped = {item["file"]: item["reason"] for item in dataset.skipped}
    assert skipped["boots/empty.png"] == "empty file"
    assert "not an image" in skipped["boots/notes.png"]
    assert "truncated" in skipped["boots/truncated.png"]
    assert "decompression bomb" in skipped["bomb.png"]
    assert any("invalid JSON" in reason for reason in skipped.values())
    assert len(dataset) == 7  # wide, gray, transparent, palette, jpg, webp, full
    assert dataset.images.shape == (7, 3, 16, 16)  # colour files present → RGB
    assert dataset.class_names == ["bags", "boots"]
    files = [m["file"] for m in dataset.manifest if m["file"].endswith((".png", ".gif", ".jpg", ".webp"))]
    order = [f for f in files if f not in skipped]
    index = {name: i for i, name in enumerate(order)}
    assert dataset.labels[index["bags/palette.gif"]] == dataset.class_names.index("boots")  # metadata wins
    assert dataset.captions[index["boots/wide.png"]] == ["a red boot"]
    assert dataset.captions[index["bags/photo.jpg"]] == ["a green bag", "a leafy purse"]
    # the user's numeric column becomes an attribute, missing elsewhere
    size = dataset.attribute_names.index("size_cm")
    assert dataset.attributes[index["boots/wide.png"], size] == pytest.approx(31.5)
    assert dataset.attributes[index["boots/gray.png"], size].isnan()
    # the 40x20 red image is padded with the white background, centred
    wide = dataset.images[index["boots/wide.png"]]
    assert wide[:, 0, 8].tolist() == [255, 255, 255] and wide[0, 8, 8] > 150 and wide[1, 8, 8] < 60
    # transparency composited on white, the opaque square kept blue
    blue = dataset.images[index["bags/transparent.png"]]
    assert blue[:, 0, 0].tolist() == [255, 255, 255] and blue[:, 8, 8].tolist()[2] > 200


def test_crop_fit_and_grayscale_folder(tmp_path):
    Image.new("L", (30, 10), 0).save(tmp_path / "a.png")
    image = Image.new("L", (30, 10), 0)
    image.paste(255, (10, 0, 20, 10))
    image.save(tmp_path / "b.png")
    dataset = prepare(str(tmp_path), DataConfig(resolution=16, fit="crop"))
    assert dataset.images.shape == (2, 1, 16, 16)  # every source grayscale → one channel
    assert dataset.class_names == [] and (dataset.labels == -1).all()
    assert dataset.images[1].float().mean() > 240  # the centre crop is the white band


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "readme.md").write_text("no images here")
    with pytest.raises(ValueError, match="no usable images"):
        prepare(str(tmp_path), DataConfig(resolution=16))


def test_pack_round_trip_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    make_folder(tmp_path / "src")
    out = tmp_path / "data.gsd"
    assert main(["prepare", str(tmp_path / "src"), "--resolution", "16", "--out", str(out)]) == 0
    packed = PackedDataset.load(out)
    again = load_dataset(str(tmp_path / "src"), DataConfig(resolution=16))
    assert packed.fingerprint == again.fingerprint
    assert (packed.images == again.images).all()
    assert len(list((tmp_path / "cache" / "datasets").glob("*.gsd"))) == 1
    with pytest.raises(ValueError, match="--resolution 32"):
        load_dataset(str(out), DataConfig(resolution=32))


def test_garbage_gsd_is_refused(tmp_path):
    bad = tmp_path / "bad.gsd"
    bad.write_bytes(b"\x80\x04garbage pickle-like bytes")
    with pytest.raises(ValueError, match="not a packed ganstudio dataset"):
        PackedDataset.load(bad)


def test_users_own_sketches_are_read_aligned_and_not_trained_on(tmp_path, monkeypatch):
    from ganstudio.data.sketches import dataset_sketches

    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "shoes"
    (root / "sketches").mkdir(parents=True)
    for name in ("a", "b"):
        image = Image.new("L", (32, 32), 255)
        image.paste(0, (8, 8, 24, 24))
        image.save(root / f"{name}.png")
    drawing = Image.new("L", (64, 64), 255)  # drawn at another size: framed like its image
    drawing.paste(0, (0, 0, 32, 4))
    drawing.save(root / "sketches" / "a.png")
    (root / "metadata.jsonl").write_text(
        json.dumps({"file_name": "a.png", "sketch": "sketches/a.png"})
        + "\n"
        + json.dumps({"file_name": "b.png", "sketch": "sketches/missing.png"})
        + "\n"
    )
    dataset = prepare(str(root), DataConfig(resolution=16))
    assert len(dataset) == 2  # the sketch file is not a training image
    assert dataset.sketch_given.tolist() == [True, False]
    assert dataset.sketches[0, 0, 0, :7].min() > 200 and dataset.sketches[0, 0, 8:].max() < 30
    assert any(
        "sketches/missing.png" in s["file"] and "outline is used" in s["reason"] for s in dataset.skipped
    )
    sketches = dataset_sketches(dataset)  # own sketch for a, extracted outline for b
    assert torch.equal(sketches[0], dataset.sketches[0]) and sketches[1].max() > 100
    reloaded = PackedDataset.load(dataset.save(tmp_path / "shoes.gsd"))
    assert torch.equal(reloaded.sketches, dataset.sketches) and reloaded.fingerprint == dataset.fingerprint
