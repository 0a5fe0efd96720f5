"""Every case of the hostile-input corpus (tests/hostile.py) is handled cleanly: a dataset item is
skipped with its reason and nothing outside the folder is read; a model folder gives one clear
error naming the problem, before anything large is allocated."""

import os
import re
import shutil

import pytest
import torch

from ganstudio import modelfolder
from ganstudio.conditioning import CondSpec
from ganstudio.config import Config, DataConfig, apply_overrides
from ganstudio.data.folder import prepare_folder
from ganstudio.data.packed import PackedDataset, save_atomic
from ganstudio.models import build_models
from ganstudio.pipeline import GenerationPipeline
from tests.conftest import TINY, shapes_dataset
from tests.hostile import DATASET_CASES, MODEL_CASES, make_dataset_folder


@pytest.mark.parametrize("name", sorted(DATASET_CASES))
def test_hostile_dataset_item_is_skipped_and_reported(name, tmp_path):
    spoil, expected = DATASET_CASES[name]
    root = make_dataset_folder(tmp_path)
    spoil(root)
    dataset = prepare_folder(root, DataConfig(resolution=16))
    reasons = " | ".join(f"{s['file']}: {s['reason']}" for s in dataset.skipped)
    if expected == "ok":  # an unusual but valid image is used
        assert len(dataset) == 3 and not dataset.skipped, reasons
    elif expected == "ok-nothing":  # ignored as it should be, nothing to report
        assert len(dataset) == 2 and not dataset.skipped, reasons
    else:
        assert any(alt in reasons for alt in expected.split("|")), reasons
        assert all(s["file"] and s["reason"] for s in dataset.skipped)
    # nothing outside the folder was read: not its image (value 250), not its metadata
    centres = dataset.images[:, :, 8, 8].float().mean(dim=1)
    assert not bool(((centres - 250).abs() < 3).any()) and "stolen" not in dataset.class_names
    assert bool(torch.isfinite(dataset.attributes[~torch.isnan(dataset.attributes)]).all())


def test_a_folder_with_nothing_usable_is_one_clear_error(tmp_path):
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"no usable images .*x\.png: not an image"):
        prepare_folder(tmp_path, DataConfig(resolution=16))


PACK_CASES = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:200]),
    "version-string": lambda path: _repack(path, metadata={"format_version": "x"}),
    "labels-out-of-range": lambda path: _repack(path, tensors={"labels": torch.full((64,), 99)}),
    "float-images": lambda path: _repack(path, tensors={"images": torch.zeros(64, 1, 16, 16)}),
    "captions-not-json": lambda path: _repack(path, metadata={"captions": "{"}),
    "missing-class-names": lambda path: _repack(path, metadata={"class_names": None}),
    "attributes-infinite": lambda path: _repack(
        path, tensors={"attributes": torch.full((64, 2), float("inf"))}
    ),
}


def _repack(path, tensors=None, metadata=None):
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    state = load_file(str(path)) | (tensors or {})
    meta = {k: v for k, v in (meta | (metadata or {})).items() if v is not None}
    save_atomic(state, path, meta)


@pytest.mark.parametrize("name", sorted(PACK_CASES))
def test_hostile_packed_dataset_is_one_clear_error(name, tmp_path):
    path = shapes_dataset().save(tmp_path / "data.gsd")
    PACK_CASES[name](path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        PackedDataset.load(path)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    config = apply_overrides(Config(), TINY)
    spec = CondSpec(num_classes=2, attribute_names=["a"], attribute_mean=[0.0], attribute_std=[1.0])
    G, _ = build_models(config.model, 16, 1, spec)
    info = shapes_dataset().describe()
    modelfolder.save(folder, config, spec, info, modelfolder.Card(), G)
    return folder


def test_the_unspoiled_model_folder_works(model_folder):
    assert len(GenerationPipeline.from_pretrained(model_folder)(n=2, seed=1).images) == 2


@pytest.mark.parametrize("name", sorted(MODEL_CASES))
def test_hostile_model_folder_is_one_clear_error(name, model_folder, tmp_path):
    spoil, expected = MODEL_CASES[name]
    folder = tmp_path / "model"
    shutil.copytree(model_folder, folder)
    spoil(folder)
    with pytest.raises(ValueError, match=re.escape(expected)):
        GenerationPipeline.from_pretrained(folder)(n=1)


def test_a_16_byte_label_prior_with_huge_declared_sizes_is_refused_before_allocating(tmp_path):
    """num_classes=1e6 and text_dim=16384 are within config.json's bounds, but the prior they
    describe has 16 billion parameters: counted on the meta device, refused without allocating."""
    import tracemalloc

    from ganstudio.modelfolder import load_label_prior

    (tmp_path / "label_prior.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    spec = CondSpec(num_classes=1_000_000, text_encoder="builtin", text_dim=16384)
    tracemalloc.start()
    with pytest.raises(ValueError, match="label prior of 16,385,000,000 parameters"):
        load_label_prior(tmp_path, spec)
    assert tracemalloc.get_traced_memory()[1] < 50 << 20
    tracemalloc.stop()
    small = CondSpec(num_classes=3, text_encoder="builtin", text_dim=8)  # a sane size, a wrong file
    with pytest.raises(ValueError, match="does not hold the label prior"):
        load_label_prior(tmp_path, small)


@pytest.mark.parametrize("damage", ["garbage", "nan-threshold"])
def test_a_damaged_detector_or_near_copy_index_is_one_clear_error(damage, tmp_path):
    """A garbage detector file or a NaN threshold never loads (a NaN threshold would silently
    switch a check off)."""
    import json as jsonlib

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from ganstudio.modelfolder import PRETRAINED_DIR
    from ganstudio.provenance.detector import Detector
    from ganstudio.provenance.nearcopy import NearCopyIndex

    for name, loader in (
        ("detector.safetensors", Detector.load),
        ("nearcopy.safetensors", NearCopyIndex.load),
    ):
        path = tmp_path / name
        if damage == "garbage":
            path.write_bytes(os.urandom(2048))
        else:
            source = PRETRAINED_DIR / "fashion-mnist" / name
            with safe_open(str(source), framework="pt") as f:
                meta = dict(f.metadata())
            if name.startswith("detector"):
                thresholds = jsonlib.loads(meta["thresholds"])
                meta["thresholds"] = jsonlib.dumps({k: float("nan") for k in thresholds})
            else:
                meta["threshold"] = "NaN"
            save_file(load_file(str(source)), str(path), metadata=meta)
        with pytest.raises(ValueError, match=name):
            loader(tmp_path)
