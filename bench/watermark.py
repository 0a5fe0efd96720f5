"""The watermark's robustness, with real edits (Pillow): detection rate on marked outputs of both
bundled models (500 each, seeds from 10⁶: never training hosts) and false positives on the same
images unmarked and on fashion-mnist test images 5000–6999 (outside the calibration), after each
edit; PSNR of marked against unmarked; and whether the mark can be seen: the largest change of
any pixel, and the change on flat areas (solid black, white, grey and coloured images, and the
flat parts of the outputs), with docs/watermark-flat.png (marked beside unmarked, 8× nearest).

    python -m bench.watermark                     # ≈ 10 CPU-minutes
    python -m bench.watermark --weights DIR       # a candidate pair (DIR/watermark.{safetensors,json})
"""

import argparse
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance

from ganstudio.config import DataConfig
from ganstudio.data.builtin import fashion_mnist
from ganstudio.imaging import to_pil
from ganstudio.pipeline import GenerationPipeline
from ganstudio.provenance.watermark import CALIBRATION, WEIGHTS, Watermark, luma

parser = argparse.ArgumentParser()
parser.add_argument("--weights", type=Path, help="a folder with a candidate watermark.{safetensors,json}")
parser.add_argument("--figure", type=Path, default=Path("docs/watermark-flat.png"))
args = parser.parse_args()
wm = Watermark.load(
    *(
        (args.weights / WEIGHTS.name, args.weights / CALIBRATION.name)
        if args.weights
        else (WEIGHTS, CALIBRATION)
    )
)
print(f"watermark: {args.weights or 'shipped'}; bounded: flat {wm.flat}, detail {wm.detail} levels")


def flat_mask(x: torch.Tensor) -> torch.Tensor:
    """Pixels of (B, C, H, W) in [-1, 1] whose whole 3×3 neighbourhood has one value (a flat area)."""
    y = luma((x + 1) / 2) * 255
    spread = torch.nn.functional.max_pool2d(y, 3, 1, 1) + torch.nn.functional.max_pool2d(-y, 3, 1, 1)
    return (spread < 0.5).expand_as(x)


def visible(clean: torch.Tensor, marked: torch.Tensor, tag: str) -> None:
    """The largest change of any pixel, and on flat areas: the largest, the mean, and the share
    of flat pixels moved by more than 2 levels (255 scale, as saved)."""
    a, b = ((clean + 1) * 127.5).round(), ((marked + 1) * 127.5).round().clamp(0, 255)
    d = (a - b).abs()
    if clean.shape[1] == 4:  # the alpha channel must not change at all
        assert torch.equal(d[:, 3], torch.zeros_like(d[:, 3])), "the mark touched alpha"
        d = d[:, :3] * (clean[:, 3:] > -1)  # transparent pixels do not show
    flat = flat_mask(clean[:, : d.shape[1]])
    on_flat = d[flat] if flat.any() else torch.zeros(1)
    print(
        f"visible {tag:28s} max {d.max():5.1f}  flat: max {on_flat.max():5.1f} mean {on_flat.mean():.3f} "
        f"share > 2 levels {(on_flat > 2).float().mean():.4f} (flat pixels {flat.float().mean():.0%})"
    )


solid = {
    "black": torch.full((1, 1, 32, 32), -1.0),
    "white": torch.full((1, 1, 32, 32), 1.0),
    "grey 50%": torch.zeros(1, 1, 32, 32),
    "red": torch.tensor([1.0, -1, -1]).view(1, 3, 1, 1).expand(1, 3, 32, 32).clone(),
    "sky blue": torch.tensor([0.06, 0.6, 0.85]).mul(2).sub(1).view(1, 3, 1, 1).expand(1, 3, 64, 64).clone(),
}
panels = []
for tag, x in solid.items():
    m = wm.embed(x)
    visible(x, m, f"solid {tag}")
    panels.append((x, m))


def jpeg(im, q=75):
    b = io.BytesIO()
    im.save(b, "JPEG", quality=q)
    b.seek(0)
    return Image.open(b)  # as a reader gets it: format "JPEG" (the watermark reads it)


E = {
    "none": lambda im: im,
    "jpeg75": jpeg,
    "resize0.5": lambda im: im.resize((im.width // 2,) * 2, Image.BICUBIC),
    "resize0.75": lambda im: im.resize((24, 24), Image.BICUBIC),
    "resize1.5": lambda im: im.resize((48, 48), Image.BICUBIC),
    "resize2": lambda im: im.resize((64, 64), Image.LANCZOS),
    "crop2": lambda im: im.crop((2, 2, im.width - 2, im.height - 2)),
    "crop4": lambda im: im.crop((4, 0, im.width, im.height - 3)),
    "colour": lambda im: ImageEnhance.Contrast(
        ImageEnhance.Brightness(ImageEnhance.Color(im.convert("RGB")).enhance(1.2)).enhance(1.08)
    ).enhance(0.92),
    "resize0.5+jpeg75": lambda im: jpeg(im.resize((im.width // 2,) * 2, Image.BICUBIC)),
}


def shown(images: list) -> list:
    """Transparent drawings as they show and are shared: on white, RGB."""
    return [
        Image.alpha_composite(Image.new("RGBA", im.size, "white"), im).convert("RGB")
        if im.mode == "RGBA"
        else im
        for im in images
    ]


pos, neg, psnr = {}, {}, []
for name in ("fashion-mnist", "emoji"):
    pipe = GenerationPipeline.from_pretrained(name)
    pipe.watermark = None
    clean = pipe(n=500, seed=10**6).tensors
    marked = wm.embed(clean)
    visible(clean, marked, f"{name} outputs")
    panels += [(clean[i : i + 1], marked[i : i + 1]) for i in range(2)]
    a = ((clean + 1) * 127.5).round().clamp(0, 255)
    b = ((marked + 1) * 127.5).round().clamp(0, 255)
    psnr += (10 * torch.log10(255**2 / ((a - b) ** 2).mean((1, 2, 3)))).tolist()
    for _tag, ims, store in (("m", shown(to_pil(marked)), pos), ("c", shown(to_pil(clean)), neg)):
        for e, f in E.items():
            s = [wm.detect(f(im))["detected"] for im in ims]
            store.setdefault(e, []).extend(s)
            store.setdefault(f"{name}:{e}", []).extend(s)
real = fashion_mnist(DataConfig(), "test").images[5000:7000]
ims = [Image.fromarray(a[0].numpy(), "L") for a in real]
for e, f in E.items():
    neg.setdefault("real-" + e, []).extend(wm.detect(f(im))["detected"] for im in ims)
print(f"PSNR mean {np.mean(psnr):.2f} min {np.min(psnr):.2f}")


def figure(pairs: list, path: Path, zoom: int = 8) -> None:
    """Each (unmarked, marked) pair side by side at 8× nearest, on a mid-grey sheet: top row
    unmarked, bottom row marked (RGBA drawn on white, as it shows)."""
    tiles = []
    for clean, marked in pairs:
        row = []
        for t in (clean, marked):
            im = to_pil(t)[0]
            if im.mode == "RGBA":
                im = Image.alpha_composite(Image.new("RGBA", im.size, "white"), im)
            row.append(im.convert("RGB").resize((32 * zoom, 32 * zoom), Image.NEAREST))
        tiles.append(row)
    side, gap = 32 * zoom, 8
    sheet = Image.new("RGB", (len(tiles) * (side + gap) + gap, 2 * (side + gap) + gap), (128, 128, 128))
    for i, (top, bottom) in enumerate(tiles):
        sheet.paste(top, (gap + i * (side + gap), gap))
        sheet.paste(bottom, (gap + i * (side + gap), 2 * gap + side))
    sheet.save(path)
    print("figure:", path)


figure(panels, args.figure)
for e in E:
    print(
        f"{e:18s} TPR {np.mean(pos[e]):.4f} (fashion-mnist {np.mean(pos['fashion-mnist:' + e]):.4f}, "
        f"emoji {np.mean(pos['emoji:' + e]):.4f})  FPR(unmarked generated) {np.mean(neg[e]):.4f}  "
        f"FPR(real fashion test 5000-6999) {np.mean(neg['real-' + e]):.4f}"
    )

# Image quality, marked vs unmarked: the same 10k fashion-mnist samples scored both ways by the
# independent reference classifier's features (the watermark must not move the metrics), beside
# a second unmarked draw (other latents): the spread between two draws is the noise to compare with.
from ganstudio.metrics import ReferenceData, score_images  # noqa: E402
from ganstudio.metrics.evaluate import generate_for_scoring  # noqa: E402

pipe = GenerationPipeline.from_pretrained("fashion-mnist")
reference = ReferenceData.for_model(pipe.dataset_info)
labels = reference.eval_labels(10000, 0)
clean = generate_for_scoring(pipe, 10000, labels, 0)
other = generate_for_scoring(pipe, 10000, labels, 1)
for tag, images in (("unmarked", clean), ("marked", wm.embed(clean)), ("unmarked, other latents", other)):
    scores = score_images(images, labels, reference, class_names=pipe.class_names)
    print(
        f"quality {tag:24s} " + "  ".join(f"{k} {v:.4g}" for k, v in scores.items() if isinstance(v, float))
    )
