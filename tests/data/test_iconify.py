"""The colour emoji corpus, on a small stand-in of the nine iconify sets built in the cache (no
network): icons join their Unicode concept across sets, skin tones and repeats are left out, the
held-out splits never reach training, and the renders keep transparency."""

import json
from pathlib import Path

import numpy as np
import pytest

from ganstudio.config import DataConfig
from ganstudio.data import iconify, prepare

pytestmark = pytest.mark.skipif(not iconify.EMOJI_TEST.is_file(), reason="unicode-data is not installed")

SHAPES = {
    "red-apple": '<circle cx="8" cy="9" r="6" fill="#d01010"/>',
    "cat-face": '<circle cx="8" cy="8" r="7" fill="#f0b030"/>',
    "pizza": '<path d="M2 2 L14 2 L8 15 Z" fill="#f0a040"/>',
    "rocket": '<rect x="6" y="1" width="4" height="14" fill="#9090a0"/>',
    "sunflower": '<circle cx="8" cy="8" r="5" fill="#f8e020"/>',
    "waving-hand-medium-skin-tone": '<circle cx="8" cy="8" r="5" fill="#c08060"/>',
}


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path))
    for name in iconify.SETS:
        folder = tmp_path / "iconify" / name
        folder.mkdir(parents=True)
        icons = {n: {"body": body} for n, body in SHAPES.items()}
        if name == "fxemoji":  # names joined without separators
            icons = {n.replace("-", ""): icon for n, icon in icons.items()}
        if name == "streamline-emojis":  # numbered variants of one concept: the first is kept
            icons["pizza-1"] = icons.pop("pizza")
            icons["pizza-2"] = {"body": '<circle cx="8" cy="8" r="2" fill="#000"/>'}
        (folder / "icons.json").write_text(json.dumps({"icons": icons, "width": 16, "height": 16}))
        (folder / "package.json").write_text(json.dumps({"license": "MIT"}))
        (folder / "info.json").write_text(json.dumps({"name": name, "author": {"name": "someone"}}))
    monkeypatch.setattr(iconify, "HELDOUT_PAIR_SHARE", 1.0)  # every concept with 5+ styles loses one
    return tmp_path


def test_icons_join_their_unicode_concept_across_sets(corpus):
    icons = iconify.catalogue()
    concepts = {icon.concept for icon in icons}
    assert concepts == {"red apple", "cat face", "pizza", "rocket", "sunflower"}  # no skin tones
    assert sum(icon.set == "fxemoji" for icon in icons) == 5  # "catface" joined "cat face"
    pizza = [icon for icon in icons if icon.set == "streamline-emojis" and icon.concept == "pizza"]
    assert [icon.name for icon in pizza] == ["pizza-1"]
    cat = next(icon for icon in icons if icon.concept == "cat face")
    assert cat.group == "animals & nature" and cat.subgroup == "animal-mammal"  # 🐱, as Unicode files it


def test_held_out_pairs_and_the_held_out_style_never_reach_training(corpus):
    icons = iconify.catalogue()
    pairs = iconify.heldout_pairs(icons)
    assert len(pairs) == 5 and all(style != iconify.HELDOUT_SET for _, style in pairs)
    assert pairs == iconify.heldout_pairs(icons)  # fixed, not drawn anew
    train = prepare("emoji:train", DataConfig(resolution=16))
    held = prepare("emoji:heldout-pairs", DataConfig(resolution=16))
    whole = prepare("emoji:heldout-set", DataConfig(resolution=16))
    assert len(train) + len(held) + len(whole) == len(icons)
    assert len(held) == 5 and len(whole) == 5 and all(label == -1 for label in whole.labels.tolist())
    seen = {
        (c[0], train.class_names[int(label)]) for c, label in zip(train.captions, train.labels, strict=True)
    }
    assert not any((concept, style) in seen for concept, style in pairs)


def test_renders_keep_transparency_and_captions_name_style_and_colour(corpus):
    data = prepare("emoji:train", DataConfig(resolution=32))
    assert data.images.shape[1:] == (4, 32, 32) and data.class_names == iconify.STYLES
    alpha = data.images[:, 3].float()
    assert (alpha == 0).float().mean() > 0.2 and (alpha == 255).float().mean() > 0.1  # a drawing on nothing
    assert (
        data.images[:, :3][(data.images[:, 3:] == 0).expand(-1, 3, -1, -1)] == 255
    ).all()  # composed on white
    i = next(i for i, c in enumerate(data.captions) if c[0] == "red apple")
    assert "a red red apple" in data.captions[i]
    assert any("openmoji style" in c for caps in data.captions for c in caps)
    assert "MIT" in data.licence


def test_the_colour_word_is_the_drawings_main_colour():
    def solid(rgb):
        image = np.zeros((4, 8, 8), np.uint8)
        image[:3] = np.array(rgb, np.uint8)[:, None, None]
        image[3, 2:6, 2:6] = 255
        return image

    words = [
        iconify.colour_name(solid(c))
        for c in ((220, 20, 20), (20, 160, 40), (30, 60, 220), (20, 20, 20), (250, 250, 250))
    ]
    assert words == ["red", "green", "blue", "black", "white"]


def test_a_missing_set_without_npm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path))
    monkeypatch.setattr(iconify.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="npm pack @iconify-json/noto"):
        iconify.package_dir("noto")
    assert not Path(tmp_path / "iconify" / "noto").exists()
