"""Models of drawings with transparency (4 channels: the drawing composed on white, then alpha):
PNG and WebP files keep the alpha with straight colour, JPEG is composed on the chosen background,
the watermark never touches alpha, and every file is marked and verifiable."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio import modelfolder
from ganstudio.conditioning import CondSpec
from ganstudio.config import Config, apply_overrides
from ganstudio.imaging import on_background, to_pil
from ganstudio.models import build_models
from ganstudio.pipeline import GenerationPipeline
from ganstudio.provenance import read_provenance, verify
from tests.conftest import TINY, shapes_dataset


@pytest.fixture(scope="module")
def rgba_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rgba")
    config = apply_overrides(Config(), TINY)
    spec = CondSpec(num_classes=2)
    torch.manual_seed(0)  # the same untrained drawing whatever ran before
    G, _ = build_models(config.model, 32, 4, spec)
    with torch.no_grad():  # a drawing that is opaque in the middle and clear at the edges
        last = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d | torch.nn.Conv2d)][-1]
        if last.bias is not None:
            last.bias[3] = 0.0
    info = shapes_dataset().describe() | {"channels": 4, "resolution": 32}
    modelfolder.save(folder, config, spec, info, modelfolder.Card(), G)
    return folder


def test_straight_colour_round_trips_through_the_composed_form():
    rgba = torch.tensor([[200, 40, 40, 128], [10, 200, 10, 255], [0, 0, 0, 0]], dtype=torch.float32)
    alpha = rgba[:, 3:] / 255
    composed = rgba[:, :3] / 255 * alpha + (1 - alpha)
    x = (torch.cat([composed, alpha], 1) * 2 - 1).T.reshape(1, 4, 1, 3)
    back = np.asarray(to_pil(x)[0]).reshape(3, 4).astype(int)
    assert np.abs(back[:2] - rgba[:2].numpy()).max() <= 2  # visible pixels: the straight colour again
    assert back[2, 3] == 0  # clear stays clear
    assert on_background(to_pil(x)[0], (0, 0, 255)).getpixel((2, 0)) == (0, 0, 255)


def _jpeg(image):
    from ganstudio.provenance.metadata import QUALITY

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=QUALITY)
    return np.asarray(Image.open(buffer), dtype=float)


def test_png_and_webp_keep_alpha_jpeg_is_composed_on_the_background(rgba_model, tmp_path):
    result = GenerationPipeline.from_pretrained(rgba_model)(n=2, seed=3)
    assert all(im.mode == "RGBA" for im in result.images)
    image = result.images[0]
    for fmt, mode in (("png", "RGBA"), ("webp", "RGBA"), ("jpeg", "RGB")):
        path = tmp_path / f"x.{fmt}"
        image.save(path, background="#ff00ff")
        with Image.open(path) as opened:
            assert opened.mode == mode, fmt
            if fmt == "png":
                assert np.array_equal(np.asarray(opened), np.asarray(image))  # lossless, alpha kept
            if fmt == "jpeg":
                # the same pixels as the magenta composite run through the same JPEG encoder; a white
                # (or unblended) composite differs by tens of levels on this half-clear image
                got = np.asarray(opened, dtype=float)
                assert np.abs(got - _jpeg(on_background(image, (255, 0, 255)))).mean() < 1
                assert np.abs(got - _jpeg(on_background(image, (255, 255, 255)))).mean() > 10
        assert read_provenance(path)["ai_generated"]
        assert verify(path)["ganstudio"]


def test_the_watermark_never_changes_alpha(rgba_model):
    pipe = GenerationPipeline.from_pretrained(rgba_model)
    marked = pipe(n=4, seed=5).images
    pipe.watermark = None
    plain = pipe(n=4, seed=5).images
    for a, b in zip(marked, plain, strict=True):
        assert np.array_equal(np.asarray(a)[..., 3], np.asarray(b)[..., 3])
        clear = np.asarray(b)[..., 3] == 0
        moved = np.abs(np.asarray(a, dtype=int)[..., :3] - np.asarray(b, dtype=int)[..., :3]).max(-1)
        assert not moved[clear].any()  # nothing is hidden where nothing shows


def test_the_api_and_cli_write_transparent_files(rgba_model, tmp_path, capsys):
    from ganstudio.cli import main

    assert main(["generate", "--model", str(rgba_model), "-n", "2", "--seed", "1", "--format", "jpeg",
                 "--background", "black", "--out", str(tmp_path / "out")]) == 0  # fmt: skip
    jpegs = sorted((tmp_path / "out").glob("image-*.jpg"))
    assert len(jpegs) == 2 and Image.open(jpegs[0]).mode == "RGB"
    assert main(["generate", "--model", str(rgba_model), "-n", "1", "--out", str(tmp_path / "png")]) == 0
    assert Image.open(next((tmp_path / "png").glob("image-*.png"))).mode == "RGBA"
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ganstudio.serve.app import Settings, create_app

    app = create_app(Settings(models=[str(rgba_model)], runs_dir=tmp_path / "runs"))
    with TestClient(app, base_url="http://127.0.0.1:7860") as client:
        body = client.post("/v1/generate", json={"n": 1, "seed": 1, "format": "webp"}).json()
        data = __import__("base64").b64decode(body["images"][0]["data"])
        assert Image.open(io.BytesIO(data)).mode == "RGBA"
        bad = client.post("/v1/generate", json={"n": 1, "format": "jpeg", "background": "not-a-colour"})
        assert bad.status_code == 400 and "colour" in bad.json()["error"]


def test_svg_export_keeps_transparency_and_its_marks(rgba_model, tmp_path):
    import shutil
    import subprocess
    from xml.etree import ElementTree

    import resvg_py

    result = GenerationPipeline.from_pretrained(rgba_model)(n=1, seed=2)
    path = tmp_path / "icon.svg"
    result.images[0].save(path)
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg") and root.find("{http://www.w3.org/2000/svg}metadata") is not None
    report = verify(path)
    assert report["format"] == "SVG" and report["metadata"]["ai_generated"] and report["ganstudio"]
    assert report["metadata"]["record"]["seed"] == 2
    assert any("vector file holds no pixels" in line for line in report["summary"])
    if shutil.which("exiftool"):
        out = subprocess.run(
            ["exiftool", "-s", "-DigitalSourceType", str(path)], capture_output=True, text=True
        )
        assert "trainedAlgorithmicMedia" in out.stdout
    # a drawing traced and rendered back looks like the raster (both composed on white), and the
    # clear part stays clear
    from PIL import ImageDraw

    from ganstudio.results import GeneratedImage

    drawing = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(drawing).ellipse((12, 8, 52, 48), fill=(210, 30, 40, 255))
    ImageDraw.Draw(drawing).rectangle((30, 40, 34, 58), fill=(40, 140, 40, 255))
    GeneratedImage.of(drawing.copy(), {"model": "test", "seed": 0}).save(tmp_path / "drawing.svg")
    png = bytes(resvg_py.svg_to_bytes(svg_path=str(tmp_path / "drawing.svg"), width=64, height=64))
    back = Image.open(io.BytesIO(png)).convert("RGBA")
    difference = np.abs(np.asarray(on_background(back), float) - np.asarray(on_background(drawing), float))
    assert difference.mean() < 6
    assert np.asarray(back)[0, 0, 3] == 0 and np.asarray(back)[28, 32, 3] == 255


@pytest.mark.parametrize("attack", ["xxe", "billion-laughs", "not-svg-xml"])
def test_verify_refuses_hostile_svg_without_resolving_anything(attack, tmp_path):
    documents = {
        "xxe": '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
        "billion-laughs": '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;'
        '&a;&a;&a;&a;&a;">]><svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>',
        "not-svg-xml": '<?xml version="1.0"?><html><svg/></html>',
    }
    path = tmp_path / "x.svg"
    path.write_text(documents[attack])
    with pytest.raises(ValueError):
        verify(path)


def test_editing_reads_a_drawings_alpha(rgba_model):
    from ganstudio.editing import Editor

    drawing = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    drawing.paste((200, 20, 20, 255), (10, 10, 30, 30))
    x = Editor(GenerationPipeline.from_pretrained(rgba_model)).prepare(drawing)
    assert x.shape == (1, 4, 32, 32)
    alpha = (x[0, 3] + 1) / 2
    assert alpha[16, 16] > 0.99 and alpha[1, 1] < 0.01  # opaque inside, clear outside
    assert x[0, :3, 1, 1].min() > 0.99  # clear parts are white in the composed colour
