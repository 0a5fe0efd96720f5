"""Training rights are read before anything trains: C2PA and PLUS prohibitions, licences, the
user's opt-out list; excluded files are listed with the reason and never reach training."""

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from ganstudio.config import DataConfig
from ganstudio.data import load_dataset
from ganstudio.data.folder import prepare_folder

COLOURS = {  # one solid colour per file, so the packed images say which files got in
    "kept.png": (200, 30, 30),
    "reserved.png": (30, 200, 30),
    "plus.jpg": (30, 30, 200),
    "signed.png": (200, 200, 30),
    "by-name.png": (30, 200, 200),
    "by-hash.png": (200, 30, 200),
    "exif.jpg": (120, 60, 10),
}


def solid(name):
    return Image.new("RGB", (16, 16), COLOURS[name])


def present(dataset, name):
    colour = np.array(COLOURS[name], np.int16)
    return bool((np.abs(dataset.images[:, :, 8, 8].numpy().astype(np.int16) - colour).max(1) <= 6).any())


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    root.mkdir()
    for name in ("kept.png", "reserved.png", "by-name.png", "by-hash.png"):
        solid(name).save(root / name)
    import pyexiv2

    buffer = io.BytesIO()
    solid("plus.jpg").save(buffer, "JPEG", quality=95)
    with pyexiv2.ImageData(buffer.getvalue()) as image:
        image.modify_xmp(
            {"Xmp.plus.DataMining": "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"}
        )
        (root / "plus.jpg").write_bytes(image.get_bytes())
    exif = Image.Exif()
    exif[0x013B] = "Jane Doe"  # Artist
    exif[0x8825] = {2: (48.0, 51.0, 24.0), 1: "N"}  # GPS
    solid("exif.jpg").save(root / "exif.jpg", "JPEG", quality=95, exif=exif)
    rows = [
        {"file_name": "kept.png", "license": "CC-BY-4.0"},
        {"file_name": "reserved.png", "license": "All rights reserved"},
    ]
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    digest = hashlib.sha256((root / "by-hash.png").read_bytes()).hexdigest()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "opt-out.txt").write_text(f"# my opt-out list\nby-name.png\n{digest}  # a photo\n")
    return root


def test_files_whose_rights_forbid_training_are_excluded_with_the_reason(folder):
    pytest.importorskip("c2pa")
    from ganstudio.provenance.metadata import marked_bytes

    # a file signed with a C2PA manifest whose cawg.training-mining says notAllowed
    (folder / "signed.png").write_bytes(marked_bytes(solid("signed.png"), "PNG", {"model": "someone"}))
    dataset = prepare_folder(folder, DataConfig(resolution=16))
    reasons = {e["file"]: e["reason"] for e in dataset.excluded}
    assert set(reasons) == {"reserved.png", "plus.jpg", "signed.png", "by-name.png", "by-hash.png"}
    assert "licence (All rights reserved" in reasons["reserved.png"]
    assert "DMI-PROHIBITED-AIMLTRAINING" in reasons["plus.jpg"]
    assert "notAllowed" in reasons["signed.png"] and "ai_generative_training" in reasons["signed.png"]
    assert reasons["by-name.png"] == "on the opt-out list (file name)"
    assert reasons["by-hash.png"] == "on the opt-out list (SHA-256)"
    assert len(dataset) == 2 and present(dataset, "kept.png") and present(dataset, "exif.jpg")
    assert not any(present(dataset, name) for name in reasons)
    rights = dataset.describe()["rights"]
    assert rights["excluded"] == 5 and rights["licences"] == {"CC-BY-4.0": 1, "unspecified": 1}
    assert rights["excluded_by"]["on the opt-out list"] == 2


def test_an_opted_out_file_never_reaches_training_and_no_source_metadata_is_kept(
    folder, tmp_path, tiny_config
):
    from ganstudio.config import apply_overrides
    from ganstudio.training.loop import train

    config = apply_overrides(tiny_config, ["data.resolution=16"])
    packed = load_dataset(folder, config.data)
    assert present(packed, "kept.png") and not present(packed, "by-name.png")
    path = packed.save(tmp_path / "data.gsd")
    checkpoint = train(config, packed, tmp_path / "run", kimg=0.016)
    info = json.loads((checkpoint / "dataset.json").read_text())
    assert info["num_images"] == len(packed) and info["rights"]["excluded"] >= 4
    assert "Training rights: licences CC-BY-4.0 (1)" in (checkpoint / "model_card.md").read_text()
    for file in checkpoint.iterdir():  # EXIF (artist, GPS) and excluded names stay out of the model
        data = file.read_bytes()
        assert b"Jane Doe" not in data and b"by-name" not in data and b"reserved.png" not in data
    # the user opts out a file after packing: the old pack is refused, preparing again leaves it out
    with open(tmp_path / "config" / "opt-out.txt", "a") as f:
        f.write("kept.png\n")
    with pytest.raises(ValueError, match="kept.png, which is on your opt-out list now"):
        load_dataset(path, config.data)
    assert not present(load_dataset(folder, config.data), "kept.png")
    extra = tmp_path / "more.txt"
    extra.write_text("exif.jpg\n")
    with pytest.raises(ValueError, match="no usable images .*on the opt-out list"):  # --opt-out adds to it
        load_dataset(folder, apply_overrides(config, [f"data.opt_out={extra}"]).data)


def test_an_opt_out_list_that_is_missing_is_a_clear_error(folder):
    with pytest.raises(ValueError, match="opt-out list .*nope.txt does not exist"):
        prepare_folder(folder, DataConfig(resolution=16, opt_out=str(folder / "nope.txt")))
