"""Built-in real datasets that work offline: fashion-mnist and emoji (from Debian packages)."""

from __future__ import annotations

import gzip
import hashlib
import unicodedata
import urllib.request
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ganstudio.config import DataConfig
from ganstudio.data import attributes as measured
from ganstudio.data.attributes import texture
from ganstudio.data.captions import emoji_captions, fashion_captions
from ganstudio.data.images import parse_color
from ganstudio.data.packed import PackedDataset
from ganstudio.paths import cache_dir
from ganstudio.registry import DATASETS

FASHION_DIRS = [Path("/usr/share/datasets/fashion-mnist")]
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_CLASSES = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
]
# SHA-256 of the decompressed IDX files (identical for the official .gz files and Debian's recompressed ones)
FASHION_FILES = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
EMOJI_FONTS = [Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")]
EMOJI_RANGES = [
    (0x00A9, 0x00AE),
    (0x203C, 0x2049),
    (0x2122, 0x2139),
    (0x2190, 0x2BFF),
    (0x3030, 0x3299),
    (0x1F000, 0x1FAFF),
]
# Unicode's emoji groups (emoji-test.txt, Debian package unicode-data): the emoji set's classes.
# "Component" (skin tones, hair styles) joins people & body.
EMOJI_TEST = [Path("/usr/share/unicode/emoji/emoji-test.txt")]
EMOJI_GROUPS = [
    "smileys & emotion",
    "people & body",
    "animals & nature",
    "food & drink",
    "travel & places",
    "activities",
    "objects",
    "symbols",
    "flags",
]
VERSION = 3  # bump when preparation changes, so cached packs are rebuilt
SEPARATE_TEST_SPLIT = {"fashion-mnist"}  # built-ins whose test split holds images the train split lacks


def _read_idx(name: str) -> bytes:
    """Decompressed IDX file `name`: from the Debian package, else the cache, else downloaded."""
    candidates = [d / f"{name}.gz" for d in FASHION_DIRS] + [cache_dir() / "fashion-mnist" / f"{name}.gz"]
    for path in candidates:
        if path.is_file():
            data = gzip.decompress(path.read_bytes())
            break
    else:
        target = cache_dir() / "fashion-mnist" / f"{name}.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        url = FASHION_URL + f"{name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                raw = response.read()
        except OSError as error:
            raise RuntimeError(
                f"fashion-mnist: {name}.gz is not installed and downloading {url} failed ({error}). "
                "Install the Debian package `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist)."
            ) from None
        data = gzip.decompress(raw)
        if hashlib.sha256(data).hexdigest() == FASHION_FILES[name]:
            target.write_bytes(raw)
    if hashlib.sha256(data).hexdigest() != FASHION_FILES[name]:
        raise RuntimeError(
            f"fashion-mnist: {name} failed its SHA-256 check; delete it and reinstall the dataset"
        )
    return data


@DATASETS.register("fashion-mnist")
def fashion_mnist(config: DataConfig, split: str = "train") -> PackedDataset:
    """Fashion-MNIST (Xiao et al. 2017): 60k train / 10k test grayscale product images, 10 classes,
    with captions made from the class and the measured look (see data/captions.py)."""
    prefix = {"train": "train", "test": "t10k"}[split]
    raw_images = _read_idx(f"{prefix}-images-idx3-ubyte")
    raw_labels = _read_idx(f"{prefix}-labels-idx1-ubyte")
    images = np.frombuffer(raw_images, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(raw_labels, dtype=np.uint8, offset=8).astype(np.int64)
    x = torch.from_numpy(images.copy())[:, None]  # (N, 1, 28, 28), white item on black
    x = torch.nn.functional.pad(x, (2, 2, 2, 2))  # (N, 1, 32, 32): padding keeps the original pixels
    if config.resolution != 32:
        x = torch.from_numpy(
            np.stack(
                [
                    np.asarray(Image.fromarray(a[0].numpy()).resize((config.resolution,) * 2, Image.LANCZOS))
                    for a in x
                ]
            )
        )[:, None]
    if config.channels == "3":
        x = x.expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(labels)
    values = measured.measure(x)
    captions = fashion_captions(
        labels,
        FASHION_CLASSES,
        {"brightness": values[:, 0], "coverage": values[:, 1], "texture": texture(x)},
        seed={"train": 0, "test": 1}[split],
    )
    return PackedDataset(
        images=x.contiguous(),
        labels=labels,
        class_names=list(FASHION_CLASSES),
        attributes=values,
        attribute_names=measured.attribute_names(x.shape[1]),
        captions=captions,
        source=f"builtin:fashion-mnist:{split}",
        manifest=[
            {"file": f"{prefix}-{kind}", "sha256": FASHION_FILES[f"{prefix}-{kind}"]}
            for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
        ],
        licence="MIT (Zalando Research)",
    )


def _emoji_font() -> ImageFont.FreeTypeFont:
    for path in EMOJI_FONTS:
        if path.is_file():
            return ImageFont.truetype(str(path), 109)  # the only bitmap size of Noto Color Emoji
    raise RuntimeError(
        "emoji: Noto Color Emoji is not installed; run `apt-get install fonts-noto-color-emoji`"
    )


def _render(font: ImageFont.FreeTypeFont, char: str) -> Image.Image | None:
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((8, 8), char, font=font, embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    return None if box is None else canvas.crop(box)


def emoji_groups() -> dict[int, int]:
    """Code point → index in EMOJI_GROUPS for every single-code-point emoji (with or without the
    emoji presentation selector) that Unicode's emoji-test.txt lists; empty when the file is
    missing (install the Debian package unicode-data)."""
    path = next((p for p in EMOJI_TEST if p.is_file()), None)
    if path is None:
        return {}
    groups, current = {}, -1
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            name = line.split(":", 1)[1].strip().lower()
            current = EMOJI_GROUPS.index("people & body" if name == "component" else name)
        elif line and not line.startswith("#") and current >= 0:
            points = line.split(";", 1)[0].split()
            if len(points) == 1 or (len(points) == 2 and points[1] == "FE0F"):
                groups.setdefault(int(points[0], 16), current)
    return groups


@DATASETS.register("emoji-font")
def emoji_font(config: DataConfig, split: str = "train") -> PackedDataset:
    """The earlier emoji set (until 2026-12-07 named `emoji`; the bundled model of that time was
    trained on it): Noto Color Emoji, one image per single-code-point emoji, captioned by its Unicode name and
    labelled with its Unicode emoji group (no label where emoji-test.txt is missing or silent).
    The test split is every 10th image; "train" is all of them (a generator is trained on the
    whole set; the reference classifier on the images outside the test split)."""
    font = _emoji_font()
    groups = emoji_groups()
    missing = _render(font, "\ue000")  # how the font draws a code point it lacks
    missing_bytes = None if missing is None else missing.tobytes()
    background = parse_color(config.background)
    arrays, captions, labels = [], [], []
    for lo, hi in EMOJI_RANGES:
        for code in range(lo, hi + 1):
            char = chr(code)
            name = unicodedata.name(char, "")
            if not name:
                continue
            glyph = _render(font, char)
            if glyph is None or glyph.tobytes() == missing_bytes or min(glyph.size) < 8:
                continue
            side = max(glyph.size) + 8
            square = Image.new("RGBA", (side, side), (*background, 255))
            square.alpha_composite(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
            small = square.convert("RGB").resize((config.resolution,) * 2, Image.LANCZOS)
            arrays.append(np.asarray(small))
            captions.append(emoji_captions(name.lower()))
            labels.append(groups.get(code, -1))
    if split == "test":  # emoji has no official split: every 10th image is held out
        keep = list(range(0, len(arrays), 10))
    else:
        keep = list(range(len(arrays)))
    x = torch.from_numpy(np.stack([arrays[i] for i in keep])).permute(0, 3, 1, 2).contiguous()
    return PackedDataset(
        images=x,
        labels=torch.tensor([labels[i] for i in keep], dtype=torch.int64),
        class_names=list(EMOJI_GROUPS) if groups else [],
        attributes=measured.measure(x),
        attribute_names=measured.attribute_names(3),
        captions=[captions[i] for i in keep],
        source=f"builtin:emoji-font:{split}",
        manifest=[
            {"file": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
            for p in EMOJI_FONTS + EMOJI_TEST
            if p.is_file()
        ],
        licence="SIL Open Font License 1.1 (Noto Color Emoji)",
    )


@DATASETS.register("emoji")
def emoji(config: DataConfig, split: str = "train") -> PackedDataset:
    """The colour emoji corpus (data/iconify.py): eight iconify emoji sets, about 1,800 concepts
    each drawn in several art styles, RGBA at `config.resolution` (4 channels: the drawing
    composed on white, then its alpha). Class = the style (set); captions = the concept's name,
    with the style and the measured colour in words; attributes measured on the composed image.
    Splits: train, test (every 10th training image), heldout-pairs (concept × style pairs never
    trained on), heldout-set (a whole style never trained on), all."""
    from ganstudio.data import iconify

    icons, rgba = iconify.rendered(config.resolution)
    pairs = iconify.heldout_pairs(icons)
    splits = [iconify.split_of(icon, pairs) for icon in icons]
    keep = [
        i for i, s in enumerate(splits) if split == "all" or s == split or (split == "test" and s == "train")
    ]
    if split == "test":
        keep = keep[::10]
    x = iconify.composed(rgba[keep])  # (N, 4, R, R): colour on white, then alpha
    chosen = [icons[i] for i in keep]
    licences = {name: iconify.licence(name) for name in iconify.SETS}
    labels = [iconify.STYLES.index(icon.set) if icon.set in iconify.STYLES else -1 for icon in chosen]
    return PackedDataset(
        images=x.contiguous(),
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=list(iconify.STYLES),
        attributes=measured.measure(x[:, :3]),
        attribute_names=measured.attribute_names(3),
        captions=[
            iconify.captions(icon, iconify.colour_name(rgba[i])) for icon, i in zip(chosen, keep, strict=True)
        ],
        source=f"builtin:emoji:{split}",
        manifest=[
            {
                "file": f"@iconify-json/{name}/icons.json",
                "sha256": hashlib.sha256((iconify.package_dir(name) / "icons.json").read_bytes()).hexdigest(),
            }
            for name in iconify.SETS
        ],
        licence="; ".join(sorted({f"{spdx} ({who})" for spdx, who in licences.values()})),
    )
