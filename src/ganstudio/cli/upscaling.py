"""`ganstudio upscale|train-upscaler`: images four times larger (upscaler.py), and training the
GAN upscaler of a colour model on the corpus's exact 64/256-px pairs. Every file written is
marked as AI-generated, as generated images are."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganstudio.console import say


def cmd_upscale(args: argparse.Namespace) -> int:
    from ganstudio import modelfolder
    from ganstudio.imaging import open_image
    from ganstudio.provenance.metadata import read_provenance
    from ganstudio.results import fresh_path
    from ganstudio.upscaler import BUNDLED, CONFIG_FILE, MAX_INPUT_PIXELS, Upscaler, upscale_image

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder to write the images into")
    images = [open_image(path, "image") for path in args.images]  # every file checked first
    upscaler = None
    if args.method == "gan":
        if args.model is None:
            folder = BUNDLED
        elif Path(args.model).is_dir() and (Path(args.model) / CONFIG_FILE).is_file():
            folder = Path(args.model)  # an upscaler's own folder (train-upscaler --out)
        else:
            folder, _ = modelfolder.resolve(args.model)
        upscaler = Upscaler.load(folder)
    suffix = "." + args.format.replace("jpeg", "jpg")
    out.mkdir(parents=True, exist_ok=True)
    for path, image in zip(args.images, images, strict=True):
        if image.width * image.height > MAX_INPUT_PIXELS:
            raise ValueError(
                f"{Path(path).name} is {image.width}×{image.height}; at most {MAX_INPUT_PIXELS:,} pixels "
                "are upscaled (it is for the small images ganstudio draws)"
            )
        try:
            made = read_provenance(path)["record"]  # a ganstudio image passes its record on
        except ValueError:
            made = None
        big = upscale_image(image, args.method, upscaler, source=Path(path).name, source_record=made)
        target = fresh_path(out / f"{Path(path).stem}-x4{suffix}", args.overwrite)
        big.save(target, background=args.background)
        say(f"{path} ({image.width}×{image.height}) → {target} ({big.width}×{big.height}, {args.method})")
    return 0


def cmd_train_upscaler(args: argparse.Namespace) -> int:
    from ganstudio.training.upscaler import UpscaleTraining, train_upscaler
    from ganstudio.upscaler import UpscalerConfig

    tc = UpscaleTraining(
        l1_steps=args.l1_steps,
        gan_steps=args.gan_steps,
        batch=args.batch,
        gan_weight=args.gan_weight,
        low=args.low,
        crop=min(args.low, 32),
        noise=args.noise,
    )
    config = UpscalerConfig(width=args.width, blocks=args.blocks)
    upscaler = train_upscaler(args.out, tc, config, resume=args.resume, log=say)
    print(
        f"upscaler: {Path(args.out)} ({upscaler.info['steps']} steps); copy upscaler.safetensors and "
        "upscaler.json into a colour model's folder to use it with generate --upscale 4"
    )
    return 0


def add_parsers(add_parser) -> None:
    p = add_parser("upscale", help="enlarge images four times (GAN upscaler, Lanczos or bicubic), marked")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG or WebP files (at most 256×256)")
    p.add_argument(
        "--model",
        help="whose GAN upscaler: a model (bundled name or folder) or an upscaler folder "
        "(train-upscaler --out); default: the bundled colour upscaler",
    )
    p.add_argument(
        "--method",
        choices=("gan", "lanczos", "bicubic"),
        default="gan",
        help="gan: the model's trained upscaler; lanczos / bicubic: what an image editor does",
    )
    p.add_argument("--out", default="out", help="output folder (files are named IMAGE-x4)")
    p.add_argument("--format", choices=("png", "jpeg", "webp"), default="png", help="file format")
    p.add_argument("--background", default="white", help="colour transparency is composed on in JPEG")
    p.add_argument("--overwrite", action="store_true", help="replace same-named files in --out")
    p.set_defaults(func=cmd_upscale)

    p = add_parser("train-upscaler", help="train the 4× GAN upscaler on the colour corpus's 64/256-px pairs")
    p.add_argument("--out", required=True, help="folder for the upscaler and its training state")
    p.add_argument("--l1-steps", type=int, default=3000, help="steps with the pixel loss alone")
    p.add_argument("--gan-steps", type=int, default=1500, help="then steps with pixel + GAN loss")
    p.add_argument("--batch", type=int, default=16, help="crops per step")
    p.add_argument(
        "--gan-weight", type=float, default=0.01, help="the GAN loss's weight beside L1 (weight 1)"
    )
    p.add_argument(
        "--low",
        type=int,
        choices=(16, 64),
        default=64,
        help="input size: 64 (a 64 → 256 upscaler) or 16 (the upsampler of a cascade model, 16 → 64)",
    )
    p.add_argument(
        "--noise",
        type=float,
        default=0.03,
        help="the largest noise std added to half the inputs, so speckle a generator leaves is cleaned",
    )
    p.add_argument("--width", type=int, default=32, help="the network's features at the input's size")
    p.add_argument("--blocks", type=int, default=3, help="residual-in-residual dense blocks")
    p.add_argument("--resume", action="store_true", help="continue the training state in --out")
    p.set_defaults(func=cmd_train_upscaler)
