import json
import math

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ganstudio.config import apply_overrides
from ganstudio.training.checkpoint import find_checkpoint
from ganstudio.training.loop import TrainingDiverged, train

WEIGHTS = ["generator.safetensors", "discriminator.safetensors", "generator_ema.safetensors"]


def weights(folder):
    return {name: load_file(str(folder / name)) for name in WEIGHTS}


@pytest.mark.parametrize(
    "options",
    [[], ["model.modulate=true", "model.mbstd_group=4", "model.aux_heads=true"], ["train.precision=auto"]],
    ids=["plain", "modulate-mbstd-aux", "precision-auto"],
)
def test_resume_after_a_kill_matches_a_straight_run_bit_for_bit(options, tiny_config, tiny_dataset, tmp_path):
    config = apply_overrides(tiny_config, ["train.augment=on", "train.reg_every=2", *options])
    straight = train(config, tiny_dataset, tmp_path / "straight", kimg=0.12)
    calls = {"n": 0}

    def stop_after_five_steps():
        calls["n"] += 1
        return calls["n"] > 5

    killed = train(config, tiny_dataset, tmp_path / "resumed", kimg=0.12, abort_fn=stop_after_five_steps)
    assert load_file(str(killed / "generator.safetensors")) != {}  # a checkpoint was written at the stop
    resumed = train(config, tiny_dataset, tmp_path / "resumed", kimg=0.12, resume=True)
    a, b = weights(straight), weights(resumed)
    for name in WEIGHTS:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}:{key} differs after resume"


def test_checkpoint_is_a_loadable_model_folder_and_swaps_atomically(tiny_config, tiny_dataset, tmp_path):
    folder = train(tiny_config, tiny_dataset, tmp_path, kimg=0.016)
    assert {p.name for p in folder.iterdir()} >= {
        "config.json",
        "dataset.json",
        "model_card.md",
        "training_state.safetensors",
        "nearcopy.safetensors",  # the training set's near-copy index, checked at generation
        *WEIGHTS,
    }
    assert not list(tmp_path.glob(".checkpoint.*"))
    # a swap interrupted after the old checkpoint was moved aside is recovered
    folder.rename(tmp_path / ".checkpoint.old")
    assert find_checkpoint(tmp_path) == tmp_path / ".checkpoint.old"
    assert (tmp_path / "samples" / "latest.png").is_file()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "loss_d" in lines[0]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_init_from_starts_a_new_run_from_trained_weights(tiny_config, tiny_dataset, tmp_path):
    trained = train(tiny_config, tiny_dataset, tmp_path / "a", kimg=0.032)
    notes = []
    config = apply_overrides(tiny_config, ["model.aux_heads=true"])
    started = train(
        config,
        tiny_dataset,
        tmp_path / "b",
        kimg=0.032,
        init_from=tmp_path / "a",
        abort_fn=lambda: True,  # stop before the first step: the weights as loaded
        log_fn=notes.append,
    )
    before, after = weights(trained), weights(started)
    for name in WEIGHTS:
        for key, value in before[name].items():
            assert torch.equal(after[name][key], value), (name, key)
    added = set(after["discriminator.safetensors"]) - set(before["discriminator.safetensors"])
    assert added and all(k.startswith("aux_") for k in added)
    assert any("D.aux_class.weight" in n for n in notes)
    state = safe_open(str(started / "training_state.safetensors"), framework="pt").metadata()
    assert json.loads(state["counters"])["step"] == 0, "counters and schedules start fresh"
    wider = apply_overrides(tiny_config, ["model.channel_max=64"])
    with pytest.raises(ValueError, match="shape"):
        train(wider, tiny_dataset, tmp_path / "c", kimg=0.016, init_from=tmp_path / "a")


def test_resume_without_a_checkpoint_is_a_clear_error(tiny_config, tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="no checkpoint"):
        train(tiny_config, tiny_dataset, tmp_path, kimg=0.016, resume=True)


def test_nan_loss_stops_with_an_actionable_message(tiny_config, tiny_dataset, tmp_path):
    config = apply_overrides(
        tiny_config, ["train.lr_d=1e30", "train.lr_g=1e30", "train.checkpoint_every_kimg=0.008"]
    )
    with pytest.raises(TrainingDiverged) as error:
        train(config, tiny_dataset, tmp_path, kimg=2.0)
    message = str(error.value)
    assert "diverged" in message and "lower the learning rates" in message and "--resume" in message


def brightness_gap(images, dataset):
    """Distance between the mean image of `images` and of the data, on the 0..1 scale."""
    data_mean = dataset.images.float().mean(0) / 255
    return ((images.float().mean(0) + 1) / 2 - data_mean).abs().mean().item()


@pytest.mark.slow
def test_short_training_moves_samples_towards_the_data(tiny_config, tiny_dataset, tmp_path):
    from ganstudio import GenerationPipeline

    config = apply_overrides(tiny_config, ["train.batch=32", "train.lr_g=1e-3", "train.lr_d=1e-3"])
    untrained = train(config, tiny_dataset, tmp_path / "untrained", kimg=0.032)
    trained = train(config, tiny_dataset, tmp_path / "trained", kimg=6)
    before = GenerationPipeline.from_pretrained(untrained)(n=128, seed=0).tensors
    after = GenerationPipeline.from_pretrained(trained)(n=128, seed=0).tensors
    gap_before, gap_after = brightness_gap(before, tiny_dataset), brightness_gap(after, tiny_dataset)
    assert gap_after < 0.5 * gap_before, (gap_before, gap_after)
    # and the classes are told apart: "square" images are brighter overall than "dot" images
    pipe = GenerationPipeline.from_pretrained(trained)
    squares = pipe(n=32, seed=0, label="square").tensors.mean()
    dots = pipe(n=32, seed=0, label="dot").tensors.mean()
    assert squares > dots + 0.05 and not math.isnan(float(squares))


def test_eval_every_keeps_the_best_checkpoint(tiny_config, tiny_dataset, tmp_path):
    scores = iter([3.0, {"score": 1.0, "class_acc": 0.5}, 2.0, 5.0])  # a float, or a dict of measures
    seen = []

    def score(G):
        seen.append(G.training)
        return next(scores)

    train(tiny_config, tiny_dataset, tmp_path, kimg=0.032, eval_fn=score, eval_every_kimg=0.008)
    assert seen == [False] * 4  # G_ema is scored, in eval mode
    with safe_open(str(tmp_path / "best" / "training_state.safetensors"), framework="pt") as f:
        counters = json.loads(f.metadata()["counters"])
    assert counters["best_score"] == 1.0 and counters["best_kimg"] == 0.016
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["eval_score"] for r in rows if "eval_score" in r] == [3.0, 1.0, 2.0, 5.0]
    assert [r.get("eval_class_acc") for r in rows if "eval_score" in r] == [None, 0.5, None, None]


def test_text_conditioned_training_and_prompts_end_to_end(tiny_config, tmp_path):
    from ganstudio import GenerationPipeline
    from tests.conftest import captioned_shapes

    folder = train(
        apply_overrides(tiny_config, ["model.text_encoder=builtin"]), captioned_shapes(), tmp_path, kimg=0.032
    )
    pipe = GenerationPipeline.from_pretrained(folder)
    assert pipe.spec.text_encoder == "builtin" and pipe.spec.text_dim == 256
    result = pipe(prompt="a big bright square", n=3, seed=4)
    assert result.metadata[0]["prompt"] == "a big bright square" and len(result.images) == 3
    again = pipe(prompt="A big  bright square", n=3, seed=4)
    assert torch.equal(result.tensors, again.tensors)
    assert not torch.equal(pipe(prompt="tiny grey speck", n=3, seed=4).tensors, result.tensors)
    grid = pipe.prompt_grid(["a big bright square", "tiny grey speck"], per_prompt=3, seed=4)
    assert torch.allclose(grid.tensors[:3], result.tensors, atol=1e-4) and grid.grid().size[1] == 2 * 34 + 2
    assert grid.row_labels == ["a big bright square", "tiny grey speck"]
    assert grid.grid().size[0] > 3 * 34 + 2  # the prompts are written left of their rows
    assert "text encoder `builtin`" in (folder / "model_card.md").read_text()
    with pytest.raises(ValueError, match="prompt is empty"):
        pipe(prompt="  ")


def test_a_model_without_text_refuses_a_prompt_clearly(tiny_config, tiny_dataset, tmp_path):
    from ganstudio import GenerationPipeline

    pipe = GenerationPipeline.from_pretrained(train(tiny_config, tiny_dataset, tmp_path, kimg=0.016))
    with pytest.raises(ValueError, match="trained without text"):
        pipe(prompt="a big bright square")


@pytest.mark.slow
def test_short_text_training_follows_the_prompt(tiny_config, tmp_path):
    """With no class labels, only the words tell bright big squares from dim small dots."""
    from ganstudio import GenerationPipeline
    from tests.conftest import captioned_shapes

    config = apply_overrides(
        tiny_config,
        ["model.text_encoder=builtin", "train.batch=32", "train.lr_g=1e-3", "train.lr_d=1e-3"],
    )
    pipe = GenerationPipeline.from_pretrained(train(config, captioned_shapes(), tmp_path, kimg=6))
    square = pipe(prompt="large white block", n=32, seed=0).tensors.mean()
    dot = pipe(prompt="tiny grey speck", n=32, seed=0).tensors.mean()
    assert square > dot + 0.05, (square, dot)


def test_sketch_conditioned_training_end_to_end(tiny_config, tmp_path):
    from PIL import Image, ImageDraw

    from ganstudio import GenerationPipeline
    from tests.conftest import captioned_shapes

    config = apply_overrides(
        tiny_config, ["model.sketch=true", "model.text_encoder=builtin", "train.augment=on"]
    )
    folder = train(config, captioned_shapes(labels=True), tmp_path, kimg=0.032)
    pipe = GenerationPipeline.from_pretrained(folder)
    assert pipe.spec.has_sketch and pipe.spec.sketch_resolution == 16
    drawing = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(drawing).rectangle((40, 40, 160, 160), outline=0, width=5)
    path = tmp_path / "drawing.png"
    drawing.save(path)
    with_sketch = pipe(n=2, seed=1, sketch=path, prompt="a big bright square", label="square")
    assert with_sketch.metadata[0]["sketch"] == "drawing.png"
    without = pipe(n=2, seed=1, prompt="a big bright square", label="square")
    assert not torch.equal(with_sketch.tensors, without.tensors)
    assert torch.equal(
        pipe(n=2, seed=1, sketch=drawing, prompt="a big bright square", label="square").tensors,
        with_sketch.tensors,
    )


def test_models_without_sketches_refuse_one_clearly(tiny_config, tiny_dataset, tmp_path):
    from PIL import Image

    from ganstudio import GenerationPipeline

    pipe = GenerationPipeline.from_pretrained(train(tiny_config, tiny_dataset, tmp_path, kimg=0.016))
    with pytest.raises(ValueError, match="without sketches"):
        pipe(sketch=Image.new("L", (8, 8)))


@pytest.mark.slow
def test_short_sketch_training_puts_the_item_where_the_sketch_is(tiny_config, tmp_path):
    """Shapes sit anywhere in the frame; only the sketch says where."""
    from ganstudio import GenerationPipeline
    from ganstudio.conditioning import Cond
    from ganstudio.conditioning.sketch import extract_sketches
    from tests.conftest import shapes_dataset

    dataset = shapes_dataset(256)
    config = apply_overrides(
        tiny_config, ["model.sketch=true", "train.batch=32", "train.lr_g=1e-3", "train.lr_d=1e-3"]
    )
    pipe = GenerationPipeline.from_pretrained(train(config, dataset, tmp_path, kimg=8))
    test = shapes_dataset(64, seed=99)
    cond = Cond.for_spec(pipe.spec, 64)
    cond.sketch, cond.sketch_mask[:] = extract_sketches(test.images).float() / 255, True
    cond.labels, cond.label_mask[:] = test.labels, True
    z = torch.randn(64, pipe.G.z_dim, generator=torch.Generator().manual_seed(0))
    fake = (pipe.generate(z, cond) + 1) / 2  # (64, 1, 16, 16)
    real = test.images.float() / 255

    def centre(x):  # brightness-weighted centre of each image, (N, 2)
        grid = torch.arange(16.0)
        w = x[:, 0] / x[:, 0].sum((1, 2), keepdim=True).clamp_min(1e-6)
        return torch.stack([(w.sum(2) * grid).sum(1), (w.sum(1) * grid).sum(1)], dim=1)

    error = (centre(fake) - centre(real)).norm(dim=1).mean()
    shuffled = (centre(fake) - centre(real).roll(1, 0)).norm(dim=1).mean()
    assert error < 0.6 * shuffled, (error, shuffled)


def test_diversity_term_rewards_images_that_differ_with_z_and_is_capped(tiny_config, tiny_dataset, tmp_path):
    from ganstudio.losses import diversity_loss

    za, zb = torch.zeros(4, 8), torch.ones(4, 8)
    same = torch.zeros(4, 1, 8, 8)
    assert diversity_loss(same, same, za, zb).item() == 0
    apart = torch.full((4, 1, 8, 8), 0.2)
    assert diversity_loss(same, apart, za, zb).item() == pytest.approx(-0.2)
    assert diversity_loss(same, apart * 10, za, zb).item() == pytest.approx(-0.5)  # capped
    from tests.conftest import captioned_shapes

    # on by default for a model with text; class-only models skip it
    train(
        apply_overrides(tiny_config, ["model.text_encoder=builtin"]),
        captioned_shapes(),
        tmp_path / "t",
        kimg=0.016,
    )
    assert "loss_diversity" in (tmp_path / "t" / "metrics.jsonl").read_text()
    train(tiny_config, tiny_dataset, tmp_path / "c", kimg=0.016)
    assert "loss_diversity" not in (tmp_path / "c" / "metrics.jsonl").read_text()


def test_batchnorm_generator_draws_each_image_independently_of_the_batch(tiny_config, tiny_dataset, tmp_path):
    """The DCGAN default trains G on batch statistics; the saved G_ema carries re-estimated ones,
    so an image depends on its seed only, not on what else is in the batch."""
    from ganstudio import GenerationPipeline

    config = apply_overrides(tiny_config, ["model.arch=dcgan", "train.loss=nonsaturating", "train.gamma=0"])
    pipe = GenerationPipeline.from_pretrained(train(config, tiny_dataset, tmp_path, kimg=0.064))
    one, four = pipe(n=1, seed=3).tensors, pipe(n=4, seed=3).tensors
    assert torch.allclose(one[0], four[0], atol=1e-5)
    assert not torch.allclose(four[0], four[1])


def test_attributes_dropped_on_every_step_are_not_a_condition_of_the_model(
    tiny_config, tiny_dataset, tmp_path
):
    """`train.attribute_drop=1`: G never saw an attribute, so the model does not list them and a
    request for one is refused clearly rather than silently ignored."""
    from ganstudio import GenerationPipeline

    assert tiny_dataset.attribute_names  # the data has them
    config = apply_overrides(tiny_config, ["train.attribute_drop=1.0"])
    pipe = GenerationPipeline.from_pretrained(train(config, tiny_dataset, tmp_path, kimg=0.016))
    assert pipe.spec.attribute_names == [] and pipe.spec.num_classes == tiny_dataset.num_classes
    with pytest.raises(ValueError, match="no attributes"):
        pipe(n=1, attributes={tiny_dataset.attribute_names[0]: 0.5})
    assert pipe(n=2, label=0).tensors.shape[0] == 2


def test_epoch_sampling_shows_every_image_once_per_pass_and_resumes_in_order():
    from ganstudio.conditioning import Cond, CondSpec
    from ganstudio.config import TrainConfig
    from ganstudio.training.steps import TrainingData

    def data(**train):
        images = torch.zeros(10, 1, 4, 4, dtype=torch.uint8)
        tc = TrainConfig(**train)
        return TrainingData(images, Cond.for_spec(CondSpec(), 10), None, None, tc, 4, torch.contiguous_format)

    rng = torch.Generator().manual_seed(0)
    drawn = torch.cat(
        [data().indices(start, 4, rng) for start in range(0, 40, 4)]
    )  # 4 passes, batches straddle
    passes = drawn.view(4, 10)
    assert all(sorted(p.tolist()) == list(range(10)) for p in passes)  # each image once per pass
    assert len({tuple(p.tolist()) for p in passes}) == 4  # a fresh order each pass
    # a new process (a resumed run) continues the same order from the images seen so far
    assert torch.equal(data().indices(12, 4, rng), drawn[12:16])
    assert not torch.equal(data(seed=1).indices(0, 10, rng), drawn[:10])  # the order follows train.seed
    assert data(sampling="replacement").indices(0, 1000, rng).unique().numel() == 10
    with pytest.raises(ValueError, match="train.sampling"):
        data(sampling="shuffle")
