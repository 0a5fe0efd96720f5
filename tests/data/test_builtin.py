from pathlib import Path

import pytest

from ganstudio.config import DataConfig
from ganstudio.data import prepare
from ganstudio.data.builtin import EMOJI_FONTS, FASHION_DIRS

needs_fashion = pytest.mark.skipif(
    not any(d.is_dir() for d in FASHION_DIRS), reason="Debian package dataset-fashion-mnist is not installed"
)


@needs_fashion
def test_fashion_mnist_train_and_test_splits():
    train = prepare("fashion-mnist", DataConfig(resolution=32))
    test = prepare("fashion-mnist:test", DataConfig(resolution=32))
    assert train.images.shape == (60000, 1, 32, 32) and test.images.shape == (10000, 1, 32, 32)
    assert train.class_names[7] == "sneaker" and train.class_names[9] == "ankle boot"
    assert sorted(train.labels.unique().tolist()) == list(range(10))
    assert train.attribute_names == ["brightness", "coverage"]
    # padding keeps the 28x28 originals intact: the 2-pixel border is black
    assert train.images[:, :, :2].max() == 0
    # trousers cover less of the frame than pullovers: the measured attribute sees it
    coverage = train.attributes[:, 1]
    assert coverage[train.labels == 1].mean() < coverage[train.labels == 2].mean()


@needs_fashion
def test_fashion_mnist_resizes_to_other_resolutions():
    assert prepare("fashion-mnist:test", DataConfig(resolution=16)).images.shape == (10000, 1, 16, 16)


def test_unknown_split_and_source_are_clear_errors():
    with pytest.raises(ValueError, match="split 'validation'"):
        prepare("fashion-mnist:validation", DataConfig())
    with pytest.raises(ValueError, match="built-in datasets: emoji, fashion-mnist"):
        prepare("no-such-dataset", DataConfig())


@pytest.mark.slow
@pytest.mark.skipif(
    not any(Path(p).is_file() for p in EMOJI_FONTS), reason="fonts-noto-color-emoji is not installed"
)
def test_emoji_renders_in_colour_with_unicode_names():
    emoji = prepare("emoji", DataConfig(resolution=32))
    assert len(emoji) > 1000 and emoji.images.shape[1:] == (3, 32, 32)
    captions = [c[0] for c in emoji.captions]
    assert "smiling face with open mouth and cold sweat" in captions and "red apple" in captions
    apple = emoji.images[captions.index("red apple")].float()
    assert apple[0].mean() > apple[2].mean() + 20  # red dominates blue: rendered in colour
    assert emoji.attribute_names == ["brightness", "coverage", "saturation", "hue"]
