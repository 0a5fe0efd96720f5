import json

import pytest
import torch

from ganstudio import GenerationPipeline
from ganstudio.provenance import DIGITAL_SOURCE_TYPE
from ganstudio.provenance import read_provenance as read_png_provenance
from ganstudio.training.loop import train


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from ganstudio.config import Config, apply_overrides
    from tests.conftest import TINY, shapes_dataset

    run = tmp_path_factory.mktemp("run")
    train(apply_overrides(Config(), TINY), shapes_dataset(), run, kimg=0.016)
    return run


def test_same_seed_same_pixels_and_per_image_seeds(model_dir):
    pipe = GenerationPipeline.from_pretrained(model_dir)
    a = pipe(n=4, seed=7, label="square")
    b = GenerationPipeline.from_pretrained(model_dir / "checkpoint")(n=4, seed=7, label="square")
    assert torch.equal(a.tensors, b.tensors)
    assert [r["seed"] for r in a.metadata] == [7, 8, 9, 10]
    single = pipe(n=1, seed=9, label="square")  # image 2 of the call above, regenerated alone
    assert torch.allclose(
        single.tensors[0], a.tensors[2], atol=1e-4
    )  # batch size changes float rounding only
    assert not torch.equal(a.tensors[0], a.tensors[1])
    assert len(a.images) == 4 and a.images[0].size == (16, 16) and a.images[0].mode == "L"


def test_requests_drawn_together_match_each_drawn_alone(model_dir):
    """A server's group (near-copy check and watermark in one pass for all) gives each request
    the pixels and records it gets alone."""
    pipe = GenerationPipeline.from_pretrained(model_dir)
    options = [dict(n=2, seed=3, label="square"), dict(n=3, seed=40, label="dot"), dict(n=1, seed=5)]
    together = pipe.run([pipe.prepare(**o) for o in options])
    for o, result in zip(options, together, strict=True):
        alone = pipe.run([pipe.prepare(**o)])[0]
        assert torch.allclose(result.tensors, alone.tensors, atol=1e-4)
        assert [r["seed"] for r in result.metadata] == [r["seed"] for r in alone.metadata]
        assert [r["near_copy"] for r in result.metadata] == [r["near_copy"] for r in alone.metadata]
        assert all(r["watermark"] for r in result.metadata)


def test_a_model_with_every_optional_block_saves_loads_and_reproduces(tmp_path):
    from ganstudio.config import Config, apply_overrides
    from tests.conftest import TINY, shapes_dataset

    options = [
        "model.modulate=true",
        "model.mbstd_group=4",
        "model.aux_heads=true",
        "model.d_channel_base=512",
    ]
    checkpoint = train(apply_overrides(Config(), TINY + options), shapes_dataset(), tmp_path, kimg=0.016)
    pipe = GenerationPipeline.from_pretrained(tmp_path)  # the run folder
    a = pipe(n=3, seed=7, label="dot")
    assert torch.equal(
        a.tensors, GenerationPipeline.from_pretrained(checkpoint)(n=3, seed=7, label="dot").tensors
    )
    assert torch.allclose(pipe(n=1, seed=8, label="dot").tensors[0], a.tensors[1], atol=1e-4)


def test_labels_by_name_or_index_and_clear_errors(model_dir):
    pipe = GenerationPipeline.from_pretrained(model_dir)
    assert torch.equal(pipe(n=2, seed=1, label="SQUARE").tensors, pipe(n=2, seed=1, label=0).tensors)
    assert pipe(n=1, label="Dot").metadata[0]["label"] == "dot"
    with pytest.raises(ValueError, match="valid labels: square, dot"):
        pipe(n=1, label="circle")
    with pytest.raises(ValueError, match="out of range"):
        pipe(n=1, label=5)
    with pytest.raises(ValueError, match="valid attributes: brightness, coverage"):
        pipe(n=1, attributes={"size": 1.0})
    with pytest.raises(ValueError, match="outside what the model saw in training"):
        pipe(n=1, attributes={"coverage": 7.0})
    record = pipe(n=1, seed=3, label="dot", attributes={"brightness": 0.6}, truncation=0.5).metadata[0]
    assert record["attributes"] == {"brightness": 0.6} and record["truncation"] == 0.5
    assert record["model"].startswith(model_dir.name + "@")


def test_truncation_zero_gives_the_mean_image_of_a_condition(model_dir):
    pipe = GenerationPipeline.from_pretrained(model_dir)
    images = pipe(n=3, seed=0, label="square", truncation=0.0).tensors
    assert torch.allclose(images[0], images[1], atol=1e-5) and torch.allclose(images[0], images[2], atol=1e-5)


def test_guidance_scales_the_conditions_step_in_w(model_dir):
    pipe = GenerationPipeline.from_pretrained(model_dir)
    plain = pipe(n=3, seed=2, label="dot", guidance=1.0)
    z = torch.randn(3, pipe.G.z_dim, generator=torch.Generator().manual_seed(2))
    cond, free = pipe.make_cond(3, "dot"), pipe.make_cond(3)
    assert torch.equal(pipe.map(z, cond, guidance=1.0), pipe.G.map(z, cond))  # 1 is the plain model
    w, w_free = pipe.G.map(z, cond), pipe.G.map(z, free)
    assert torch.allclose(pipe.map(z, cond, guidance=2.0), w_free + 2 * (w - w_free), atol=1e-5)
    # 0 ignores the label: the same images as asking for nothing
    nothing = pipe(n=3, seed=2, guidance=0.0).tensors
    assert torch.allclose(pipe(n=3, seed=2, label="dot", guidance=0.0).tensors, nothing, atol=1e-5)
    default = pipe(n=3, seed=2, label="dot")
    assert default.metadata[0]["guidance"] == pipe.config.model.guidance != 1.0
    assert not torch.equal(default.tensors, plain.tensors)
    with pytest.raises(ValueError, match="guidance=-1"):
        pipe(n=1, label="dot", guidance=-1)


def test_saved_pngs_are_marked_as_ai_generated(model_dir, tmp_path):
    result = GenerationPipeline.from_pretrained(model_dir)(n=2, seed=5, label="square")
    paths = result.save(tmp_path)
    assert [p.name for p in paths] == ["image-square-000005.png", "image-square-000006.png", "grid.png"]
    for path in paths:
        provenance = read_png_provenance(path)
        assert provenance["ai_generated"] and provenance["digital_source_type"] == DIGITAL_SOURCE_TYPE
    assert read_png_provenance(paths[0])["record"]["seed"] == 5


def test_pickles_and_unknown_versions_are_refused(model_dir, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"\x80\x04not really")
    with pytest.raises(ValueError, match="pickle checkpoints are refused"):
        GenerationPipeline.from_pretrained(tmp_path)
    copy = tmp_path / "future"
    copy.mkdir()
    for f in (model_dir / "checkpoint").iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    config["format_version"] = 99
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="format version 99"):
        GenerationPipeline.from_pretrained(copy)
    with pytest.raises(ValueError, match="bundled models: emoji, fashion-mnist"):
        GenerationPipeline.from_pretrained("no-such-model")


def test_an_attribute_far_from_the_training_mean_is_drawn_with_a_note():
    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    far = pipe(n=1, seed=0, label="ankle boot", attributes={"brightness": 0.25}).notes
    assert any("standard deviations below" in note and "draws best" in note for note in far), far
    near = pipe(n=1, seed=0, label="ankle boot", attributes={"brightness": 0.5}).notes
    assert not any("standard deviations" in note for note in near), near
