import pytest
import torch
from PIL import Image

from ganstudio.cli import main
from ganstudio.metrics import evaluate
from ganstudio.metrics.distances import (
    frechet_distance,
    kernel_inception_distance,
    precision_recall,
    sliced_wasserstein,
)


def gaussian(n, d=8, shift=0.0, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def test_frechet_distance_is_zero_for_equal_sets_and_the_squared_shift_for_shifted_ones():
    x = gaussian(4000)
    assert frechet_distance(x, x) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(x, x + 2.0) == pytest.approx(8 * 4.0, rel=1e-6)
    assert frechet_distance(x, gaussian(4000, seed=1) * 2) > 5  # a wider spread is far too


def test_kid_is_unbiased_near_zero_for_one_distribution_and_positive_across_two():
    same = kernel_inception_distance(gaussian(2000), gaussian(2000, seed=1), subsets=10, subset_size=500)
    different = kernel_inception_distance(
        gaussian(2000), gaussian(2000, seed=1, shift=1.0), subsets=10, subset_size=500
    )
    assert abs(same) < 0.05 and different > 10 * abs(same) + 0.1


def test_precision_recall_separate_fidelity_from_diversity():
    real = gaussian(1000)
    p_same, r_same = precision_recall(real, gaussian(1000, seed=1))
    assert p_same > 0.8 and r_same > 0.8
    collapsed = real[:5].repeat(200, 1) + 0.01 * gaussian(1000, seed=2)  # faithful but not diverse
    p_col, r_col = precision_recall(real, collapsed)
    assert p_col > 0.9 and r_col < 0.2
    p_off, _ = precision_recall(real, gaussian(1000, seed=3, shift=6.0))  # diverse but off the data
    assert p_off < 0.05


def test_variety_is_one_for_images_like_the_data_and_near_zero_for_one_image_per_class():
    from ganstudio.metrics import EvalSet
    from ganstudio.registry import METRICS

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat(100)
    real = torch.randn(400, 1, 8, 8, generator=g) * 0.3 + labels[:, None, None, None] * 0.1
    like = torch.randn(400, 1, 8, 8, generator=g) * 0.3 + labels[:, None, None, None] * 0.1
    per_class = real[:4][labels]  # every image of a class identical, whatever the seed
    variety = METRICS.get("variety")

    def score(fake):
        return variety(EvalSet(real, fake, labels, None, None, None, real_labels=labels))["variety"]

    assert score(like) == pytest.approx(1.0, abs=0.1)
    assert score(per_class + 0.01 * torch.randn(400, 1, 8, 8, generator=g)) < 0.1
    # without classes the whole sets are compared: class-to-class differences count as variety
    unlabelled = variety(EvalSet(real, per_class, None, None, None, None))["variety"]
    assert 0.5 < unlabelled < score(like) + 0.1


def test_sliced_wasserstein_sees_image_differences():
    g = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.avg_pool2d(torch.randn(64, 1, 36, 36, generator=g), 5, 1)[:, :, :32, :32]
    other = torch.nn.functional.avg_pool2d(torch.randn(64, 1, 36, 36, generator=g), 5, 1)[:, :, :32, :32]
    noise = torch.randn(64, 1, 32, 32, generator=g)
    assert sliced_wasserstein(smooth, other) < 0.5 * sliced_wasserstein(smooth, noise)


def test_evaluate_a_user_folder_with_swd_and_refuse_feature_metrics(
    tiny_config, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    for i in range(8):
        Image.new("L", (16, 16), 30 * i).save(tmp_path / f"{i}.png")
    from ganstudio.data import load_dataset
    from ganstudio.training.loop import train

    train(tiny_config, load_dataset(str(tmp_path), tiny_config.data), tmp_path / "run", kimg=0.016)
    result = evaluate(tmp_path / "run", metrics=["swd"], n=32)
    assert result["swd"] > 0 and result["data"] == str(tmp_path.resolve())
    with pytest.raises(ValueError, match="needs a reference classifier"):
        evaluate(tmp_path / "run", metrics=["fd"], n=32)
    assert main(["evaluate", "--model", str(tmp_path / "run"), "--metrics", "fid", "-n", "8"]) == 2
    assert "valid metrics: class_acc, fd, inception, kid, pr, swd" in capsys.readouterr().err


def test_inception_metric_with_stand_in_weights_and_a_clear_error_without(
    tiny_config, tmp_path, monkeypatch, capsys
):
    from safetensors.torch import save_file

    from ganstudio.data import load_dataset
    from ganstudio.metrics.inception import FIDInceptionV3
    from ganstudio.training.loop import train

    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for i in range(4):
        Image.new("L", (16, 16), 60 * i).save(tmp_path / f"{i}.png")
    train(tiny_config, load_dataset(str(tmp_path), tiny_config.data), tmp_path / "run", kimg=0.008)
    assert main(["evaluate", "--model", str(tmp_path / "run"), "--metrics", "inception", "-n", "4"]) == 2
    error = capsys.readouterr().err
    assert "Inception-V3 FID weights not found" in error and "--inception-weights" in error
    torch.manual_seed(0)
    stand_in = tmp_path / "stand-in.safetensors"  # random weights with the real layout
    save_file({k: v.contiguous() for k, v in FIDInceptionV3().state_dict().items()}, str(stand_in))
    result = evaluate(tmp_path / "run", metrics=["inception"], n=4, inception_weights=stand_in)
    assert result["inception_fid"] > 0 and "inception_kid" in result
    with pytest.raises(ValueError, match="not FID Inception-V3 weights"):
        save_file({"fc.weight": torch.zeros(2, 2)}, str(tmp_path / "wrong.safetensors"))
        evaluate(
            tmp_path / "run", metrics=["inception"], n=4, inception_weights=tmp_path / "wrong.safetensors"
        )


def test_quick_scorer_and_attribute_control_on_a_user_folder(tiny_config, tmp_path, monkeypatch):
    from ganstudio.data import load_dataset
    from ganstudio.metrics import QuickScorer, ReferenceData, attribute_control
    from ganstudio.pipeline import GenerationPipeline
    from ganstudio.training.loop import train

    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    for i in range(8):
        image = Image.new("L", (16, 16), 0)
        image.paste(40 + 25 * i, (4, 4, 12, 12))
        image.save(tmp_path / f"{i}.png")
    train(tiny_config, load_dataset(str(tmp_path), tiny_config.data), tmp_path / "run", kimg=0.016)
    reference = ReferenceData.load(str(tmp_path), 16, 1)
    scorer = QuickScorer(reference, tiny_config, n=16)
    assert scorer.name == "swd"  # no reference classifier for a user folder
    result = scorer(GenerationPipeline.from_pretrained(tmp_path / "run").G)
    assert result["score"] == result["swd"] > 0
    with pytest.raises(ValueError, match="class accuracy needs"):
        QuickScorer(reference, tiny_config, n=16, select="class_acc")
    report = attribute_control(tmp_path / "run", n=8)
    assert set(report) == {"brightness", "coverage"}
    low, mid, high = report["brightness"]["targets"]
    assert low < mid < high and report["brightness"]["mae"] >= 0
