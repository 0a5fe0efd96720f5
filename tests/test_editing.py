import pytest
import torch

from ganstudio.data import attributes as measured
from ganstudio.editing import Editor, slerp
from ganstudio.imaging import image_distance, psnr, ssim, to_uint8
from ganstudio.pipeline import GenerationPipeline
from ganstudio.results import save_animation


def editor(monkeypatch, tmp_path) -> Editor:
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    ed = Editor(GenerationPipeline.from_pretrained("fashion-mnist"), direction_samples=400)
    ed.train_encoder(steps=100)
    return ed


def test_image_measures_behave():
    a = torch.rand(2, 1, 16, 16) * 2 - 1
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-4)
    assert (psnr(a, a + 0.01) > psnr(a, a + 0.1)).all()
    assert (image_distance(a, a) < 1e-4).all() and (image_distance(a, -a) > 0.5).all()
    z = torch.randn(1, 8)
    assert torch.allclose(slerp(z, torch.randn(1, 8), 0.0), z, atol=1e-5)


def test_inverted_images_are_closer_than_random_samples_and_can_be_varied_and_morphed(monkeypatch, tmp_path):
    ed = editor(monkeypatch, tmp_path)
    pipe = ed.pipe
    targets = pipe(2, seed=100, label="trouser").tensors  # images the model can draw, as "photos"
    latents = ed.invert_many(list(targets), label="trouser", steps=40)
    recon = ed.images(latents)
    random = pipe(2, seed=5, label="trouser").tensors
    assert (image_distance(recon, targets) < image_distance(random, targets)).all()
    assert (psnr(recon, targets) > psnr(random, targets)).all()
    same = ed.vary(latents[0], strength=0.0, n=2).tensors
    assert torch.allclose(same[0], same[1], atol=1e-4)  # both the image itself, marked like every output
    assert (same[0] - recon[0]).abs().mean() < 0.03  # only the watermark differs
    far = ed.vary(latents[0], strength=1.0, n=4).tensors
    assert (
        image_distance(far, recon[:1].expand_as(far)).mean()
        > image_distance(same, recon[:1].expand_as(same)).mean()
    )
    morph = ed.interpolate(latents[0], latents[1], steps=5)
    assert torch.allclose(morph.tensors[0], recon[0], atol=1e-4) and torch.allclose(
        morph.tensors[-1], recon[1], atol=1e-4
    )
    assert morph.metadata[2]["operation"] == "interpolate" and morph.metadata[2]["ai_generated"]
    assert save_animation(morph, tmp_path / "morph.webp").stat().st_size > 0
    names = [p.name for p in morph.save(tmp_path / "frames", prefix="morph", grid=False)]
    assert names == [f"morph-{i:03d}.png" for i in range(5)]  # frames in order, not morph-000000-2


def test_attribute_slider_moves_the_measured_attribute_the_asked_way(monkeypatch, tmp_path):
    ed = editor(monkeypatch, tmp_path)
    targets = ed.pipe(6, seed=3, label="pullover").tensors
    latents = ed.invert_many(list(targets), label="pullover", steps=30)
    i = measured.attribute_names(1).index("brightness")

    def brightness(strength: float) -> float:
        images = ed.images([ed.edit(latent, "brightness", strength) for latent in latents])
        return measured.measure(to_uint8(images))[:, i].mean().item()

    assert brightness(-2.0) < brightness(0.0) < brightness(2.0)
    boot = ed.images([ed.edit(latents[0], "class:ankle boot", 1.0)])
    assert torch.allclose(boot, ed.pipe.generate(latents[0].z, ed.pipe.make_cond(1, "ankle boot")), atol=1e-4)
    assert any(k.startswith("pca1") for k in ed.directions(latents[0]))


def test_strength_zero_leaves_the_image_as_it_is(monkeypatch, tmp_path):
    ed = editor(monkeypatch, tmp_path)
    latent = ed.invert(ed.pipe(1, seed=9, label="bag").tensors[0], label="bag", steps=10)
    for direction in ("brightness", "coverage", "pca1", "class:bag"):
        assert torch.allclose(ed.images([ed.edit(latent, direction, 0.0)]), ed.images([latent]), atol=1e-5)


@pytest.mark.parametrize("kind", ["empty", "truncated", "not-an-image", "bomb", "fifo", "missing"])
def test_invert_vary_edit_on_a_bad_file_say_what_is_wrong(kind, tmp_path, capsys):
    """A clear `error:` line naming the file, never a traceback; a FIFO is refused, never read."""
    import os

    from ganstudio.cli import main
    from tests.hostile import png_header_only

    path = tmp_path / "in.png"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        buffer = __import__("io").BytesIO()
        __import__("PIL.Image").Image.new("L", (64, 64), 90).save(buffer, "PNG")
        path.write_bytes(buffer.getvalue()[:60])
    elif kind == "not-an-image":
        path.write_text("hello")
    elif kind == "bomb":
        png_header_only(path, 50000, 50000)
    elif kind == "fifo":
        os.mkfifo(path)
    for argv in (["invert", str(path)], ["vary", str(path)], ["edit", str(path), "--direction", "pca1"]):
        assert main([*argv, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "in.png" in err and "Traceback" not in err, err


def test_attribute_sliders_keep_the_item_and_move_the_asked_way():
    """A brightness slider on a sneaker: every strength keeps the sneaker's silhouette (before the
    guard, +2 drew a grey blob), and the measured brightness follows the strength's sign."""
    from ganstudio.editing import Latent
    from ganstudio.sliders import _iou, _silhouette, _value

    ed = Editor(GenerationPipeline.from_pretrained("fashion-mnist"))
    for seed in (2, 3):
        z = torch.randn(1, ed.G.z_dim, generator=torch.Generator().manual_seed(seed))
        latent = Latent(z, ed.pipe.make_cond(1, "sneaker"))
        base = ed.images([latent])
        edited = {s: ed.images([ed.edit(latent, "brightness", s)]) for s in (-2.0, -1.0, 1.0, 2.0)}
        for image in edited.values():
            assert _iou(_silhouette(base), _silhouette(image)) >= 0.8
        value = _value(base, "brightness")
        assert all(_value(edited[s], "brightness") <= value + 1e-6 for s in (-2.0, -1.0))
        assert all(_value(edited[s], "brightness") >= value - 1e-6 for s in (1.0, 2.0))
        assert _value(edited[2.0], "brightness") > _value(edited[-2.0], "brightness")
