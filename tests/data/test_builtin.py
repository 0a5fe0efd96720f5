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
    with pytest.raises(ValueError, match="built-in datasets: emoji, emoji-font, fashion-mnist"):
        prepare("no-such-dataset", DataConfig())


@pytest.mark.slow
@pytest.mark.skipif(
    not any(Path(p).is_file() for p in EMOJI_FONTS), reason="fonts-noto-color-emoji is not installed"
)
def test_emoji_font_renders_in_colour_with_unicode_names():
    emoji = prepare("emoji-font", DataConfig(resolution=32))
    assert len(emoji) > 1000 and emoji.images.shape[1:] == (3, 32, 32)
    captions = [c[0] for c in emoji.captions]
    assert "smiling face with open mouth and cold sweat" in captions and "red apple" in captions
    apple = emoji.images[captions.index("red apple")].float()
    assert apple[0].mean() > apple[2].mean() + 20  # red dominates blue: rendered in colour
    assert emoji.attribute_names == ["brightness", "coverage", "saturation", "hue"]


def test_emoji_groups_come_from_unicode_emoji_test_file(tmp_path, monkeypatch):
    """The emoji set's classes are Unicode's emoji groups, read from emoji-test.txt; components
    (skin tones) join people & body, and sequences of several code points are not single emoji."""
    from ganstudio.data import builtin

    sample = tmp_path / "emoji-test.txt"
    sample.write_text(
        "# group: Smileys & Emotion\n"
        "1F600 ; fully-qualified # 😀 E1.0 grinning face\n"
        "263A FE0F ; fully-qualified # ☺️ E0.6 smiling face\n"
        "# group: Food & Drink\n"
        "1F355 ; fully-qualified # 🍕 E0.6 pizza\n"
        "1F3F3 FE0F 200D 1F308 ; fully-qualified # 🏳️‍🌈 E4.0 rainbow flag\n"
        "# group: Component\n"
        "1F3FB ; component # 🏻 E1.0 light skin tone\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(builtin, "EMOJI_TEST", [sample])
    groups = builtin.emoji_groups()
    names = builtin.EMOJI_GROUPS
    assert names[groups[0x1F600]] == names[groups[0x263A]] == "smileys & emotion"
    assert names[groups[0x1F355]] == "food & drink"
    assert names[groups[0x1F3FB]] == "people & body"
    assert 0x1F3F3 not in groups
    monkeypatch.setattr(builtin, "EMOJI_TEST", [tmp_path / "missing.txt"])
    assert builtin.emoji_groups() == {}
