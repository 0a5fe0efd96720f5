"""`ganstudio invert|vary|interpolate|edit|redraw`: real images brought into a model and edited there.
Every image written is marked as AI-generated and its record names the input image."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganstudio.console import say


def _editor(args: argparse.Namespace):
    from ganstudio.editing import Editor
    from ganstudio.pipeline import GenerationPipeline

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder to write the images into")
    return Editor(GenerationPipeline.from_pretrained(args.model, device=args.device))


def _invert(editor, images: list[str], args: argparse.Namespace):
    from ganstudio.imaging import open_image

    for image in images:  # every file checked before a minute of encoder fitting
        open_image(image, "image")
    cached = editor.encoder_path()
    if editor.encoder is None and not (cached is not None and cached.is_file()):
        say(
            "fitting the inversion encoder to this model's samples (about a minute, once per model, then cached)"
        )
    return editor.invert_many(images, args.label, args.prompt, steps=args.steps)


def _save(result, args, prefix: str) -> None:
    paths = result.save(args.out, prefix=prefix, overwrite=args.overwrite)
    print(
        f"wrote {len(result.images)} image{'s' if len(result.images) != 1 else ''} and a strip to {Path(args.out)} (strip: {paths[-1]})"
    )


def cmd_invert(args: argparse.Namespace) -> int:
    import torch

    from ganstudio.imaging import psnr, ssim

    editor = _editor(args)
    latents = _invert(editor, args.images, args)
    result = editor.render(latents, "invert")
    targets = torch.cat([editor.prepare(p) for p in args.images])
    for path, p, s, latent in zip(
        args.images, psnr(result.tensors, targets), ssim(result.tensors, targets), latents, strict=True
    ):
        say(f"{path}: PSNR {p:.1f} dB, SSIM {s:.3f}, {latent.source['seconds']:.2f} s")
    _save(result, args, "invert")
    return 0


def cmd_vary(args: argparse.Namespace) -> int:
    if not 0.0 <= args.strength <= 1.0:  # before a minute of inversion, not after
        raise ValueError(f"--strength {args.strength} must be between 0 (the same image) and 1 (a new item)")
    if args.n < 1:
        raise ValueError(f"-n {args.n}: give the number of variations, 1 or more")
    editor = _editor(args)
    (latent,) = _invert(editor, [args.image], args)
    _save(editor.vary(latent, args.strength, args.n, args.seed), args, "vary")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from ganstudio.results import fresh_path, save_animation

    editor = _editor(args)
    a, b = _invert(editor, [args.image_a, args.image_b], args)
    result = editor.interpolate(a, b, args.frames)
    for note in result.notes:
        say(note)
    _save(result, args, "morph")
    animation = save_animation(result, fresh_path(Path(args.out) / f"morph.{args.animation}", args.overwrite))
    print(f"animation: {animation}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    editor = _editor(args)
    (latent,) = _invert(editor, [args.image], args)
    if args.list:
        for name in editor.directions(latent):
            print(name)
        print("class:NAME  (towards one of: " + ", ".join(editor.pipe.class_names) + ")")
        return 0
    if not args.direction:
        raise ValueError("give --direction NAME (see --list) and --strength")
    latents = [editor.edit(latent, args.direction, s) for s in args.strength]
    _save(editor.render(latents, "edit", direction=args.direction), args, "edit")
    return 0


def cmd_redraw(args: argparse.Namespace) -> int:
    from ganstudio.imaging import open_image
    from ganstudio.redraw import redraw

    open_image(args.image, "image")  # both files checked before the model loads
    open_image(args.mask, "mask")
    if args.n < 1:
        raise ValueError(f"-n {args.n}: give the number of versions, 1 or more")
    attributes = dict(a.split("=", 1) for a in args.attr) if args.attr else None
    attributes = {k: float(v) for k, v in attributes.items()} if attributes else None
    editor = _editor(args)
    result = redraw(
        editor, args.image, args.mask, label=args.label, prompt=args.prompt, sketch=args.sketch,
        attributes=attributes, n=args.n, seed=args.seed, steps=args.steps, strength=args.strength,
    )  # fmt: skip
    say(f"redrew {result.metadata[0]['redrawn_share']:.0%} of the image; the rest is kept as it was")
    _save(result, args, "redraw")
    return 0


def add_parsers(add_parser) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default="fashion-mnist", help="bundled name, model folder or run folder")
        p.add_argument("--label", help="the class the image shows (default: none, or what --prompt says)")
        p.add_argument("--prompt", help="a description of the image (text-conditioned models)")
        p.add_argument("--steps", type=int, default=150, help="optimisation steps of the inversion")
        p.add_argument("--out", default="out", help="output folder")
        p.add_argument("--overwrite", action="store_true", help="replace same-named files in --out")
        p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu or cuda")

    p = add_parser("invert", help="bring real images into a model: the closest image it can draw")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    common(p)
    p.set_defaults(func=cmd_invert)

    p = add_parser("vary", help="variations of a real image: near it (small strength) to new items (1)")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--strength", type=float, default=0.3, help="0 = the same image, 1 = a new item")
    p.add_argument("-n", type=int, default=8, help="number of variations")
    p.add_argument("--seed", type=int, default=0, help="variation i moves towards seed + i")
    common(p)
    p.set_defaults(func=cmd_vary)

    p = add_parser("interpolate", help="morph one real image into another (strip PNG + animation)")
    p.add_argument("image_a", metavar="IMAGE_A")
    p.add_argument("image_b", metavar="IMAGE_B")
    p.add_argument("--frames", dest="frames", type=int, default=8, help="images in the morph")
    p.add_argument("--animation", choices=["webp", "gif"], default="webp", help="animated file format")
    common(p)
    p.set_defaults(func=cmd_interpolate)

    p = add_parser(
        "edit", help="move a real image along a slider: an attribute, a class or a principal direction"
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--direction", help="brightness, coverage, pca1…, or class:NAME (see --list)")
    p.add_argument(
        "--strength",
        type=float,
        nargs="+",
        default=[-2.0, -1.0, 0.0, 1.0, 2.0],
        help="standard deviations along the direction (several: a strip); class:NAME 1 = that class",
    )
    p.add_argument("--list", action="store_true", help="list the directions for this image and exit")
    common(p)
    p.set_defaults(func=cmd_edit)

    p = add_parser("redraw", help="keep part of an image and redraw the masked part to a prompt/sketch/class")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--mask", required=True, help="white (or opaque) where to redraw, black/clear to keep")
    p.add_argument("--sketch", help="an outline for the whole image (sketch-conditioned models)")
    p.add_argument("--attr", nargs="*", metavar="NAME=VALUE", help="attribute targets, e.g. brightness=0.3")
    p.add_argument(
        "--strength", type=float, default=0.5, help="0 = blend into the kept part, 1 = follow the conditions"
    )
    p.add_argument("-n", type=int, default=4, help="number of versions")
    p.add_argument("--seed", type=int, default=0, help="version i starts from seed + i")
    common(p)
    p.set_defaults(func=cmd_redraw, steps=120)
