"""Redrawing part of an image: the kept part stays as it was (outside the seam's feather), the
masked part is drawn anew and follows the conditions when asked to, bad masks say what is wrong,
and every face (Python, CLI, REST) gives marked files."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.editing import Editor
from ganstudio.pipeline import GenerationPipeline
from ganstudio.redraw import feathered, prepare_mask, redraw


@pytest.fixture(scope="module")
def fashion():
    return GenerationPipeline.from_pretrained("fashion-mnist")


def half_mask(rows: slice) -> Image.Image:
    m = np.zeros((32, 32), np.uint8)
    m[rows] = 255
    return Image.fromarray(m)


def test_masks_read_brightness_or_a_brush_layers_alpha():
    assert prepare_mask(half_mask(slice(0, 16)), 32)[0, 0, :16].min() == 1
    brush = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    brush.paste((255, 0, 0, 255), (0, 32, 64, 64))  # a red stroke on a clear layer: its alpha counts
    m = prepare_mask(brush, 32)
    assert m[0, 0, 16:].min() == 1 and m[0, 0, :16].max() == 0
    with pytest.raises(ValueError, match="marks nothing"):
        prepare_mask(Image.new("L", (32, 32), 0), 32)
    f = feathered(prepare_mask(half_mask(slice(0, 16)), 32), 1.0)
    assert f[0, 0, :16].min() == 1 and 0 < f[0, 0, 16, 0] < 1 and f[0, 0, 20:].max() == 0


def test_the_kept_part_stays_and_the_masked_part_follows_the_new_class(fashion):
    pipe = fashion
    pipe.watermark = None  # pixels compared exactly
    try:
        boot = pipe(n=1, seed=7, label="ankle boot").tensors
        mask = half_mask(slice(0, 16))  # the top half: the boot's shaft
        out = redraw(Editor(pipe), boot, mask, label="sneaker", n=4, seed=0, strength=1.0)
        kept = out.tensors[:, :, 20:]  # beyond the seam's feather
        assert torch.equal(kept, boot[:, :, 20:].expand_as(kept))
        changed = (out.tensors[:, :, :16] - boot[:, :, :16]).abs().mean(dim=(1, 2, 3))
        assert (changed > 0.05).all()  # something new was drawn there
        assert all(r["operation"] == "redraw" and r["label"] == "sneaker" for r in out.metadata)
        assert out.metadata[0]["redrawn_share"] == 0.5
        # a sneaker is low: the redrawn top holds far less of the shaft than the boot did
        ink = lambda x: (x[:, :, 2:14] > 0).float().mean()  # noqa: E731 - light pixels on black
        assert ink(out.tensors) < 0.6 * ink(boot)
    finally:
        pipe.watermark = GenerationPipeline.from_pretrained("fashion-mnist").watermark


def test_bad_requests_say_what_is_wrong(fashion):
    editor = Editor(fashion)
    boot = fashion(n=1, seed=7, label="ankle boot").tensors
    for kwargs, message in (
        ({"n": 0}, "1 to 64"),
        ({"strength": 2.0}, "between 0"),
        ({"steps": 10_000}, "steps"),
    ):
        with pytest.raises(ValueError, match=message):
            redraw(editor, boot, half_mask(slice(0, 16)), **kwargs)


def test_cli_writes_marked_versions(tmp_path, capsys):
    from ganstudio.cli import main
    from ganstudio.provenance import verify

    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    pipe(n=1, seed=3, label="pullover").images[0].save(tmp_path / "in.png")
    half_mask(slice(18, 32)).save(tmp_path / "mask.png")
    code = main(["redraw", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), "--label", "dress",
                 "-n", "2", "--steps", "20", "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 0 and "redrew 44% of the image" in capsys.readouterr().err
    files = sorted((tmp_path / "out").glob("redraw-*.png"))
    assert len(files) == 2 and all(verify(f)["ganstudio"] for f in files)
    assert main(["redraw", str(tmp_path / "in.png"), "--mask", str(tmp_path / "nope.png")]) != 0


def test_a_dark_on_light_image_comes_back_the_way_round_it_came(fashion):
    boot = fashion(n=1, seed=7, label="ankle boot").images[0]
    product_shot = Image.eval(boot.convert("L"), lambda v: 255 - v)  # dark boot on white
    out = redraw(Editor(fashion), product_shot, half_mask(slice(0, 16)), n=1, steps=5)
    pixels = np.asarray(out.images[0].convert("L"), dtype=float)
    assert pixels[-2:].mean() > 200 and pixels[:2].mean() > 200  # still on white, top and bottom


def test_edited_and_redrawn_images_carry_the_watermark_their_records_claim(fashion):
    from ganstudio.editing import Latent

    wm = fashion.watermark
    z = torch.randn(3, fashion.G.z_dim, generator=torch.Generator().manual_seed(1))
    latents = [Latent(z[i : i + 1], fashion.make_cond(1, "sneaker"), source={"seed": i}) for i in range(3)]
    rendered = Editor(fashion).render(latents, "vary")
    redrawn = redraw(Editor(fashion), rendered.tensors[:1], half_mask(slice(0, 16)), n=2, steps=5)
    for result in (rendered, redrawn):
        assert all(r["watermark"] for r in result.metadata)
        assert (wm.scores((result.tensors + 1) / 2) > wm.threshold).all()
