import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from ganstudio.conditioning.sketch import extract_sketches, normalise_sketch, roughen, sketch_margin
from tests.conftest import shapes_dataset


def drawing(size=(300, 200), ink="black", paper="white", box=(100, 50, 200, 150), mode="RGB"):
    image = Image.new(mode, size, paper)
    ImageDraw.Draw(image).rectangle(box, outline=ink, width=6)
    return image


def test_outlines_follow_the_edges_of_the_item():
    images = shapes_dataset(4).images
    sketches = extract_sketches(images)
    assert sketches.shape == (4, 1, 16, 16) and sketches.dtype == torch.uint8
    item = images[0, 0] > 0
    inside = torch.nn.functional.avg_pool2d(item[None, None].float(), 3, 1, 1)[0, 0] > 0.99
    strokes = sketches[0, 0] > 100
    assert strokes.any() and not (strokes & inside).any()  # strokes on the border, none inside
    border = item & ~inside
    assert (strokes & border).sum() >= 0.8 * border.sum()
    assert sketches[0, 0, 0].max() == 0  # empty background stays empty


def test_roughening_wobbles_but_keeps_the_drawing():
    clean = extract_sketches(shapes_dataset(32).images).float() / 255
    rough = roughen(clean, torch.Generator().manual_seed(0))
    assert rough.shape == clean.shape and rough.min() >= 0 and rough.max() <= 1
    assert not torch.allclose(rough, clean)
    per_image = torch.nn.functional.cosine_similarity(rough.flatten(1), clean.flatten(1))
    other = torch.nn.functional.cosine_similarity(rough.flatten(1), clean.roll(1, 0).flatten(1))
    assert per_image.mean() > other.mean() + 0.15  # still closer to its own outline than to another
    again = roughen(clean, torch.Generator().manual_seed(0))
    assert torch.equal(rough, again)  # the same generator state gives the same strokes


def test_any_drawing_style_becomes_the_same_sketch():
    reference = normalise_sketch(drawing(), 32)
    assert reference.shape == (1, 1, 32, 32) and reference.max() == 1
    inverted = normalise_sketch(drawing(ink="white", paper="black"), 32)
    margins = normalise_sketch(drawing(size=(900, 900), box=(300, 300, 600, 600)), 32)
    thin = normalise_sketch(drawing(size=(1200, 800), box=(400, 200, 800, 600)), 32)
    gray = normalise_sketch(drawing().convert("L"), 32)
    transparent = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(transparent).rectangle((100, 50, 200, 150), outline=(0, 0, 0, 255), width=6)

    def similarity(a, b):  # tolerant to sub-pixel shifts: thin centre lines land within a pixel
        a, b = (torch.nn.functional.max_pool2d(x, 3, 1, 1).flatten() for x in (a, b))
        return torch.nn.functional.cosine_similarity(a, b, dim=0)

    for other in (inverted, margins, gray, normalise_sketch(transparent, 32), thin):
        assert similarity(other, reference) > 0.8
    circle = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(circle).ellipse((100, 50, 200, 150), outline="black", width=6)
    assert similarity(normalise_sketch(circle, 32), reference) < 0.7  # another drawing stays apart
    array = np.asarray(drawing().convert("L"))
    assert torch.equal(normalise_sketch(array, 32), gray)


def test_blank_or_unreadable_sketches_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="blank"):
        normalise_sketch(Image.new("L", (64, 64), 255), 32)
    bad = tmp_path / "drawing.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="drawing.png' is not an image"):
        normalise_sketch(bad, 32)
    with pytest.raises(ValueError, match="missing.png' cannot be opened"):
        normalise_sketch(tmp_path / "missing.png", 32)


def test_margin_of_training_sketches():
    sketches = torch.zeros(3, 1, 32, 32, dtype=torch.uint8)
    sketches[:, :, 4:28, 8:24] = 255  # 24 px tall: 4 px margin on a 32 px side
    assert sketch_margin(sketches) == pytest.approx(4 / 32)
