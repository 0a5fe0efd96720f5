"""The 4× GAN upscaler: a residual-in-residual dense network (the ESRGAN generator's shape, Wang
et al. 2018, at a width a CPU can train and run) that adds detail to a bilinear enlargement.

The network predicts the difference between the true 4× image and the bilinear one, so an
untrained net is plain bilinear and training only has to learn edges and flat fills. It works on
the images ganstudio draws, in [-1, 1]: 1 channel (grey), 3 (RGB) or 4 (the colour composed on
white, then alpha; imaging.py); the channel count is fixed when it is trained.

An upscaler lives in a model folder as `upscaler.safetensors` (fp16 weights) and `upscaler.json`
(its widths and what it was trained on), both read as untrusted: sizes are checked before
anything is built. It is trained by training/upscaler.py on exact pairs (the colour corpus's SVGs
rendered at 64 and 256 px); bench/upscale.py measures it against bicubic and Lanczos.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import torch

from ganstudio.models.rrdb import CONFIG_FILE, SCALE, WEIGHTS_FILE, UpscalerConfig, UpscalerNet  # noqa: F401

MAX_INPUT_PIXELS = 256 * 256  # larger inputs are refused (the 4× output of 256² is 1024²)
# the colour upscaler that ships with ganstudio (trained on the emoji corpus's pairs): used by any
# colour model whose folder has none of its own
BUNDLED = Path(__file__).parent / "pretrained" / "upscaler"
METHODS = ("gan", "lanczos", "bicubic")


def check_input_size(height: int, width: int) -> None:
    if height * width > MAX_INPUT_PIXELS:
        raise ValueError(
            f"a {width}×{height} image is too large to upscale (at most {MAX_INPUT_PIXELS:,} pixels, "
            f"e.g. 256×256): the upscaler is for the small images ganstudio draws"
        )


class Upscaler:
    """A trained upscaler: `upscaler(images)` enlarges (B, C, H, W) in [-1, 1] four times."""

    def __init__(self, net: UpscalerNet, info: dict) -> None:
        self.net = net.eval()
        self.info = info
        self.channels = net.config.channels

    @classmethod
    def load(cls, folder: str | Path) -> Upscaler:
        from ganstudio.untrusted import build_checked, read_json, read_safetensors

        folder = Path(folder)
        weights, meta = folder / WEIGHTS_FILE, folder / CONFIG_FILE
        if not weights.is_file() or not meta.is_file():
            raise FileNotFoundError(
                f"{folder} has no upscaler ({WEIGHTS_FILE} and {CONFIG_FILE}); train one with "
                "`ganstudio train-upscaler` or use --upscale-method lanczos"
            )
        info = read_json(meta, 64 * 1024)
        if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
            raise ValueError(f"{meta}: not an upscaler description")
        known = set(UpscalerConfig.__dataclass_fields__)
        config = UpscalerConfig(**{k: v for k, v in info["config"].items() if k in known})
        config.check()
        net = build_checked(lambda: UpscalerNet(config), weights, "upscaler")
        net.load_state_dict({k: v.float() for k, v in read_safetensors(weights).items()})
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
        name = "ganstudio/upscaler" if folder.resolve() == BUNDLED.resolve() else f"{folder.name}-upscaler"
        return cls(net, {**info, "model": f"{name}@{digest}"})

    def save(self, folder: str | Path, **facts) -> Path:
        from ganstudio.data.packed import save_atomic
        from ganstudio.modelfolder import write_json

        folder = Path(folder)
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in self.net.state_dict().items()}
        save_atomic(state, folder / WEIGHTS_FILE)
        self.info = {"config": asdict(self.net.config), **self.info, **facts}
        write_json(folder / CONFIG_FILE, {k: v for k, v in self.info.items() if k != "model"})
        return folder / WEIGHTS_FILE

    @classmethod
    def for_model(cls, folder: Path, channels: int) -> Upscaler | None:
        """The upscaler a model uses: its folder's own, else for a colour model the bundled one,
        else None (grey models: no large originals exist to train one on)."""
        if (folder / CONFIG_FILE).is_file():
            return cls.load(folder)
        if channels in (3, 4) and (BUNDLED / CONFIG_FILE).is_file():
            return cls.load(BUNDLED)
        return None

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch: int = 16) -> torch.Tensor:
        """(B, C, H, W) in [-1, 1] → (B, C, 4H, 4W); an RGB image through an RGBA upscaler is
        treated as opaque (alpha 1 in, alpha dropped out)."""
        c = images.shape[1]
        if c != self.channels and not (c == 3 and self.channels == 4):
            raise ValueError(f"this upscaler was trained on {self.channels}-channel images, not {c}")
        check_input_size(*images.shape[-2:])
        if c < self.channels:
            images = torch.cat([images, torch.ones_like(images[:, :1])], 1)
        out = [self.net(part.float()).clamp(-1, 1) for part in images.split(batch)]
        return torch.cat(out)[:, :c]


def classic(images: torch.Tensor, method: str, scale: int = SCALE) -> torch.Tensor:
    """Bicubic or Lanczos enlargement with Pillow (what a designer's editor does), per channel,
    for (B, C, H, W) in [-1, 1]."""
    import numpy as np
    from PIL import Image

    resample = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC}[method]
    check_input_size(*images.shape[-2:])
    h, w = images.shape[-2:]
    x = images.float().clamp(-1, 1).add(1).mul(0.5).cpu().numpy()
    out = np.empty((*x.shape[:2], h * scale, w * scale), dtype=np.float32)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            plane = Image.fromarray(x[i, c], mode="F").resize((w * scale, h * scale), resample)
            out[i, c] = np.asarray(plane)
    return torch.from_numpy(out).clamp(0, 1).mul(2).sub(1)


def upscale(images: torch.Tensor, method: str, upscaler: Upscaler | None = None) -> torch.Tensor:
    """Enlarge (B, C, H, W) in [-1, 1] four times with `method`: "gan" needs `upscaler`."""
    if method not in METHODS:
        raise ValueError(f"upscale method {method!r} is unknown; use {', '.join(METHODS)}")
    if method == "gan":
        if upscaler is None:
            raise ValueError("no GAN upscaler is available for this model; use method lanczos or bicubic")
        return upscaler(images)
    return classic(images, method)


def image_tensor(image, channels: int) -> torch.Tensor:
    """A PIL image → (1, C, H, W) in [-1, 1], in ganstudio's convention for C channels: grey,
    RGB composed on white, or that plus alpha (an image without alpha is opaque)."""
    import numpy as np

    from ganstudio.imaging import on_background

    check_input_size(image.height, image.width)
    rgb = np.asarray(on_background(image).convert("RGB"), dtype=np.float32)  # (H, W, 3)
    if channels == 1:
        planes = np.asarray(image.convert("L"), dtype=np.float32)[..., None]
    elif channels == 3:
        planes = rgb
    else:
        alpha = image.getchannel("A") if "A" in image.getbands() else None
        a = np.asarray(alpha, dtype=np.float32) if alpha is not None else np.full(rgb.shape[:2], 255.0)
        planes = np.concatenate([rgb, a[..., None]], axis=2)
    return torch.from_numpy(planes).permute(2, 0, 1)[None] / 127.5 - 1


def natural_channels(image) -> int:
    """How many channels an image has in ganstudio's convention (1, 3, or 4 with transparency)."""
    if "A" in image.getbands() or "transparency" in image.info:
        return 4
    return 1 if image.mode in ("L", "1", "I", "I;16", "F") else 3


def upscale_image(
    image,
    method: str = "gan",
    upscaler: Upscaler | None = None,
    source: str | None = None,
    source_record: dict | None = None,
):
    """A PIL image enlarged four times and marked (pixel watermark, then the record a saved file
    carries): a `GeneratedImage` whose `save` writes it with its AI-generated marking. A source
    that ganstudio made (`source_record`, read from its metadata) passes on its model, seed and
    prompt, so the large file still says how it was drawn."""
    from ganstudio import __version__
    from ganstudio.imaging import to_pil
    from ganstudio.provenance import DIGITAL_SOURCE_TYPE
    from ganstudio.provenance.watermark import shipped_watermark
    from ganstudio.results import GeneratedImage

    channels = natural_channels(image)
    if method == "gan" and channels == 1:  # a colour upscaler: grey in, grey out
        out = upscale(image_tensor(image, 3), method, upscaler).mean(1, keepdim=True)
    else:
        out = upscale(image_tensor(image, channels), method, upscaler)
    watermark = shipped_watermark()
    if watermark is not None:
        out = watermark.embed(out)
    model = upscaler.info.get("model", "ganstudio-upscaler") if method == "gan" and upscaler else method
    record = {
        "model": model,
        "operation": "upscale",
        "upscale": {"scale": SCALE, "method": method},
        "source": {"file": source} if source else {},
        **({"seed": source_record["seed"]} if isinstance((source_record or {}).get("seed"), int) else {}),
        "ai_generated": True,
        "digital_source_type": DIGITAL_SOURCE_TYPE,
        "software": f"ganstudio {__version__}",
        "watermark": watermark is not None,
    }
    if source_record:
        kept = ("model", "seed", "label", "prompt", "negative", "sketch")
        record["source"]["made_by"] = {k: source_record[k] for k in kept if source_record.get(k) is not None}
    return GeneratedImage.of(to_pil(out)[0], record)
