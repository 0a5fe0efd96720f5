"""The watermark's robustness, with real edits (Pillow): detection rate on marked outputs of both
bundled models (500 each, seeds from 10⁶: never training hosts) and false positives on the same
images unmarked and on fashion-mnist test images 5000–6999 (outside the calibration), after each
edit; PSNR of marked against unmarked.

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
