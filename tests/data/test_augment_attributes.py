import pytest
import torch

from ganstudio.data import attributes as measured
from ganstudio.data.augment import augment

POLICY = "translation,cutout,color"


def test_augment_is_deterministic_differentiable_and_off_at_p0():
    x = torch.randn(6, 3, 16, 16, requires_grad=True)
    a = augment(x, POLICY, 1.0, torch.Generator().manual_seed(1))
    b = augment(x, POLICY, 1.0, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, x)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.equal(augment(x, POLICY, 0.0, torch.Generator()), x)


def test_translation_shifts_content_without_scaling_it():
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 6:10, 6:10] = 1
    y = augment(x, "translation", 1.0, torch.Generator().manual_seed(3))
    assert y.sum() == x.sum() or y.sum() < x.sum()  # a shift can push part of the square out
    assert set(y.unique().tolist()) <= {0.0, 1.0}


def test_brightness_and_coverage_follow_the_pixels():
    images = torch.zeros(2, 1, 16, 16, dtype=torch.uint8)
    images[0, 0, 4:12, 4:12] = 250  # big, bright
    images[1, 0, 6:8, 6:8] = 90  # small, dark
    values = measured.measure(images)
    brightness, coverage = values[:, 0], values[:, 1]
    assert brightness[0] > 0.9 and abs(brightness[1] - 90 / 255) < 0.01
    assert coverage[0] == 64 / 256 and coverage[1] == 4 / 256


def test_colour_attributes_find_hue_and_saturation():
    red = torch.full((1, 3, 8, 8), 255, dtype=torch.uint8)
    red[0, 1:, 2:6, 2:6] = 0  # a red square on white
    blue = torch.full((1, 3, 8, 8), 255, dtype=torch.uint8)
    blue[0, :2, 2:6, 2:6] = 0
    values = measured.measure(torch.cat([red, blue]))
    saturation, hue = values[:, 2], values[:, 3]
    assert saturation[0] > 0.95 and (hue[0] < 0.02 or hue[0] > 0.98)
    assert abs(hue[1] - 2 / 3) < 0.02


def test_dataset_stats_keep_each_class_quantiles():
    from tests.conftest import shapes_dataset

    stats = shapes_dataset().attribute_stats()["brightness"]
    quantiles = stats["quantiles"]
    square, dot = quantiles["by_class"]
    assert len(square) == len(dot) == len(quantiles["levels"])
    assert min(square) > max(dot)  # bright squares, dim dots: each class keeps its own range
    assert quantiles["all"][0] == pytest.approx(min(dot), abs=0.01)
