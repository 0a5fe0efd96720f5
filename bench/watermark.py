"""The watermark's robustness, with real edits (Pillow): detection rate on marked outputs of both
bundled models (500 each, seeds from 10⁶: never training hosts) and false positives on the same
images unmarked and on fashion-mnist test images 5000–6999 (outside the calibration), after each
edit; PSNR of marked against unmarked; what the mark does to single pixels (the largest change
anywhere, and on flat regions: a dot on a black background shows where a mean PSNR does not),
with a figure of marked vs unmarked flat backgrounds enlarged 8× (docs/watermark-flat.png).

    python -m bench.watermark        # ≈ 6 CPU-minutes
"""

import io

import numpy as np
import torch
from PIL import Image, ImageEnhance

from ganstudio.config import DataConfig
from ganstudio.data.builtin import fashion_mnist
from ganstudio.imaging import to_pil
from ganstudio.pipeline import GenerationPipeline
from ganstudio.provenance.watermark import shipped

wm = shipped()


def levels(x: torch.Tensor) -> torch.Tensor:
    return ((x.float() + 1) * 127.5).round().clamp(0, 255)


def flat_mask(a: torch.Tensor) -> torch.Tensor:
    """Pixels whose 3×3 neighbourhood is one value in every channel (a flat background)."""
    pad = torch.nn.functional.pad(a, (1, 1, 1, 1), mode="replicate")
    hi = torch.nn.functional.max_pool2d(pad, 3, 1)
    lo = -torch.nn.functional.max_pool2d(-pad, 3, 1)
    return ((hi - lo).amax(1) == 0).unsqueeze(1)


def visibility() -> None:
    """Largest per-pixel change on flat backgrounds and on both bundled models' outputs, and the
    enlarged figure."""
    backgrounds = {
        "black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128),
        "red": (220, 30, 30), "pale blue": (180, 210, 250),
    }  # fmt: skip
    rows = []
    for name, rgb in backgrounds.items():
        for size, channels in ((32, 1), (32, 3), (64, 4)):
            if channels == 1 and len(set(rgb)) > 1:
                continue
            x = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, size, size) / 127.5 - 1
            x = x[:, :1] if channels == 1 else x
            if channels == 4:  # the left half drawn, the right half clear
                alpha = torch.ones(1, 1, size, size)
                alpha[..., size // 2 :] = 0
                x = torch.cat([x, alpha * 2 - 1], 1)
            d = levels(wm.embed(x)) - levels(x)
            line = f"flat {name:9s} {size}px C={channels}: max |change| {d[:, :3].abs().max():.0f}, mean {d[:, :3].abs().mean():.2f}"
            if channels == 4:
                clear = d[:, :3, :, size // 2 :].abs().max()
                line += f", alpha max change {d[:, 3].abs().max():.0f}, in clear pixels {clear:.0f}"
            print(line)
            if size == 32 and channels != 1:
                rows.append((name, x))
    for name in ("fashion-mnist", "emoji"):
        pipe = GenerationPipeline.from_pretrained(name)
        pipe.watermark = None
        clean = levels(pipe(n=200, seed=10**6).tensors) / 127.5 - 1  # 8-bit, as a file holds it
        a, b = levels(clean), levels(wm.embed(clean))
        d = (b - a)[:, :3].abs()
        flat = flat_mask(a[:, :3]).expand_as(d)
        print(
            f"{name} outputs: max |change| {d.max():.0f}, on flat pixels {d[flat].max():.0f} "
            f"(mean {d[flat].mean():.2f}, {flat.float().mean():.0%} of pixels are flat), mean {d.mean():.2f}"
        )
        rows.append((f"{name} output", clean[:1].expand(-1, 3, -1, -1) if clean.shape[1] == 1 else clean[:1, :3]))
    figure(rows)


def figure(rows: list) -> None:
    """Unmarked | marked | the difference ×32 (grey = none), each 32 px enlarged 8× (nearest)."""
    from PIL import ImageDraw

    cell, pad, head = 256, 8, 28
    sheet = Image.new("RGB", (3 * (cell + pad) + 150, len(rows) * (cell + pad) + head), "white")
    draw = ImageDraw.Draw(sheet)
    for j, title in enumerate(("unmarked", "marked", "difference ×32")):
        draw.text((150 + j * (cell + pad), 8), title, fill="black")
    for i, (name, x) in enumerate(rows):
        x = x[:, :3]
        marked = wm.embed(x)
        diff = ((levels(marked) - levels(x)) * 32 + 128).clamp(0, 255) / 127.5 - 1
        y = head + i * (cell + pad)
        draw.text((8, y + cell // 2), name, fill="black")
        for j, t in enumerate((x, marked, diff)):
            tile = to_pil(t)[0].convert("RGB").resize((cell, cell), Image.NEAREST)
            sheet.paste(tile, (150 + j * (cell + pad), y))
    sheet.save("docs/watermark-flat.png")
    print("wrote docs/watermark-flat.png")


visibility()


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
pos, neg, psnr = {}, {}, []
for name in ("fashion-mnist", "emoji"):
    pipe = GenerationPipeline.from_pretrained(name)
    pipe.watermark = None
    clean = pipe(n=500, seed=10**6).tensors
    marked = wm.embed(clean)
    a = ((clean + 1) * 127.5).round().clamp(0, 255)
    b = ((marked + 1) * 127.5).round().clamp(0, 255)
    psnr += (10 * torch.log10(255**2 / ((a - b) ** 2).mean((1, 2, 3)))).tolist()
    for _tag, ims, store in (("m", to_pil(marked), pos), ("c", to_pil(clean), neg)):
        for e, f in E.items():
            s = [wm.detect(f(im))["detected"] for im in ims]
            store.setdefault(e, []).extend(s)
real = fashion_mnist(DataConfig(), "test").images[5000:7000]
ims = [Image.fromarray(a[0].numpy(), "L") for a in real]
for e, f in E.items():
    neg.setdefault("real-" + e, []).extend(wm.detect(f(im))["detected"] for im in ims)
print(f"PSNR mean {np.mean(psnr):.2f} min {np.min(psnr):.2f}")
for e in E:
    print(
        f"{e:18s} TPR {np.mean(pos[e]):.4f}  FPR(unmarked generated) {np.mean(neg[e]):.4f}  FPR(real fashion test 5000-6999) {np.mean(neg['real-' + e]):.4f}"
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
