"""`ganstudio prepare|train|generate|evaluate|invert|vary|interpolate|edit|export|fit-prior|models|verify|detector|serve`:
a thin face over the library. This file holds the argument parser; the commands are in commands.py, editing.py
(invert, vary, interpolate, edit) and safeguards.py (verify, detector, export, with their parsers)."""

from __future__ import annotations

import argparse
import sys

from ganstudio.cli.commands import (
    _Once,
    _seed,
    cmd_evaluate,
    cmd_fit_prior,
    cmd_generate,
    cmd_models,
    cmd_prepare,
    cmd_serve,
    cmd_train,
)
from ganstudio.cli.editing import add_parsers as add_editing_parsers
from ganstudio.cli.safeguards import add_parsers as add_safeguard_parsers
from ganstudio.cli.upscaling import add_parsers as add_upscaling_parsers
from ganstudio.config import DataConfig, available_presets, choices
from ganstudio.registry import DATASETS, METRICS, MODELS


class _ShowDefaults(argparse.HelpFormatter):
    """Help that states each option's default, where it has one worth stating."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if default in (None, False, argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: {default})" if text else f"default: {default}"


def build_parser() -> argparse.ArgumentParser:
    import ganstudio.data  # noqa: F401  (fill the registries the choices come from)
    import ganstudio.models  # noqa: F401
    from ganstudio import __version__
    from ganstudio.metrics import QuickScorer
    from ganstudio.metrics.evaluate import DEFAULT_N

    parser = argparse.ArgumentParser(
        prog="ganstudio", description="Train GANs on your images and generate from them."
    )
    parser.add_argument("--version", action="version", version=f"ganstudio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_parser(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, formatter_class=_ShowDefaults, **kwargs)

    p = add_parser("prepare", help="pack an image folder or built-in dataset into a .gsd file")
    p.add_argument("source", help=f"image folder or built-in dataset ({', '.join(DATASETS.names())})")
    data = DataConfig()  # the defaults and choices live in the config, not here
    p.add_argument(
        "--resolution", type=int, default=data.resolution, help="side of the square images, in pixels"
    )
    p.add_argument("--out", required=True, help="output file, e.g. data.gsd")
    fits = choices(DataConfig, "fit")
    p.add_argument("--fit", choices=fits, default=data.fit, help="make non-square images square")
    p.add_argument("--background", default=data.background, help="colour for transparency and padding")
    p.add_argument(
        "--channels",
        choices=choices(DataConfig, "channels"),
        default=data.channels,
        help="1 grayscale, 3 colour, auto: as the images are",
    )
    p.add_argument(
        "--text-encoder",
        default="auto",
        help="embed the captions now and cache them: auto, minilm, builtin, none, or a local "
        "sentence-transformers folder",
    )
    p.add_argument(
        "--opt-out",
        help="a list of file names or SHA-256 digests never to train on (one per line; "
        "<config>/opt-out.txt is always read too)",
    )
    p.set_defaults(func=cmd_prepare)

    p = add_parser("train", help="train a model")
    p.add_argument("--data", required=True, help="image folder, .gsd file, or built-in dataset name")
    p.add_argument(
        "--preset", default="cpu-32", help=f"preset name ({', '.join(available_presets())}) or YAML path"
    )
    p.add_argument("--out", required=True, help="run folder (checkpoints, samples, metrics)")
    p.add_argument("--opt-out", help="as in prepare: files never to train on (data.opt_out)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="train for this many minutes (default 10)")
    length.add_argument("--kimg", type=float, help="train on this many thousand images")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument(
        "--init-from",
        metavar="MODEL",
        help="fine-tune: start from a trained run or model folder's weights (same widths and "
        "conditions), with fresh optimizers, counters and schedules",
    )
    p.add_argument("--resolution", type=int, help="shortcut for --set data.resolution=N")
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu or cuda")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. train.batch=128"
    )
    p.add_argument("--arch", choices=MODELS.names(), help="shortcut for --set model.arch=NAME")
    p.add_argument(
        "--text-encoder",
        help="text conditioning when the data has captions: auto (default: minilm if installed, "
        "else builtin), minilm, builtin, none, or a local sentence-transformers folder",
    )
    p.add_argument(
        "--sketch",
        action="store_true",
        help="also learn sketch → image (outlines extracted from the images; shortcut for model.sketch=true)",
    )
    p.add_argument(
        "--eval-every",
        type=float,
        metavar="KIMG",
        help="score G_ema every KIMG (FD and class accuracy with the reference classifier, else SWD; "
        "logged in metrics.jsonl); keep the best in OUT/best",
    )
    p.add_argument(
        "--select",
        choices=QuickScorer.SELECT,
        default="fd",
        help="with --eval-every: which score picks OUT/best (default fd; SWD where there is no classifier)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=cmd_train)

    p = add_parser("generate", help="generate images from a trained or bundled model")
    p.add_argument("--model", default="fashion-mnist", help="bundled name, model folder or run folder")
    p.add_argument("-n", type=int, help="number of images (default 16; with --prompts-file, per prompt: 8)")
    p.add_argument(
        "--seed",
        type=_seed,
        default="random",
        help="image i uses seed + i; default 'random': a new seed each run, printed (and recorded in every image)",
    )
    p.add_argument("--label", action=_Once, help="class name or index")
    p.add_argument(
        "--prompt", action=_Once, help='text description, e.g. "a dark ankle boot" (text-conditioned models)'
    )
    p.add_argument(
        "--negative",
        action=_Once,
        metavar="TEXT",
        help='what to steer away from, e.g. --prompt "a shoe" --negative "sneaker" (text-conditioned models)',
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a prompt the model does not cover (far from every training caption) instead of "
        "drawing the nearest thing it knows with a note",
    )
    p.add_argument(
        "--negative-strength",
        type=float,
        default=1.0,
        help="how far --negative pushes away (above 0, at most 3)",
    )
    p.add_argument(
        "--prompts-file", metavar="FILE", help="one prompt per line: a grid with one labelled row per prompt"
    )
    p.add_argument(
        "--sketch", action=_Once, metavar="IMAGE", help="a drawing to follow (sketch-conditioned models)"
    )
    p.add_argument(
        "--per-class", type=int, metavar="N", help="N seeds for every class: a labelled class x seed grid"
    )
    p.add_argument(
        "--attr", action="append", metavar="NAME=VALUE", help="attribute value, e.g. brightness=0.2"
    )
    p.add_argument("--truncation", type=float, default=1.0, help="0..1; lower is more typical, less varied")
    p.add_argument(
        "--guidance",
        type=float,
        help="how strongly label, attributes and prompt steer the image (default: the model's own, "
        "model.guidance): 1 is the plain model, 2 follows them more closely, 0 ignores them",
    )
    p.add_argument(
        "--no-infer-label",
        action="store_true",
        help="with --prompt or --sketch and no --label, do not let the label prior pick the class",
    )
    p.add_argument(
        "--on-copy",
        choices=("warn", "block", "allow"),
        default="warn",
        help="an image that copies a training image (the model folder's near-copy index): say so "
        "(warn), draw it again with the next unused seed (block), or only record it (allow)",
    )
    p.add_argument("--out", default="out", help="output folder")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace same-named files in --out (default: pick fresh names)",
    )
    p.add_argument(
        "--format",
        choices=("png", "jpeg", "webp", "svg"),
        default="png",
        help="file format of the images and the grid (svg: traced into colour vector paths, transparency "
        "kept); every format carries the AI-generated marking",
    )
    p.add_argument(
        "--background",
        default="white",
        help="colour a transparent image is composed on when written as JPEG (name or #rrggbb; PNG and "
        "WebP keep the transparency)",
    )
    p.add_argument(
        "--upscale",
        type=int,
        choices=(1, 4),
        default=1,
        help="4: every image four times larger, by the model's GAN upscaler (Lanczos, with a note, "
        "for a model without one), then marked",
    )
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu or cuda")
    p.set_defaults(func=cmd_generate)

    p = add_parser("evaluate", help="score a model: FD, KID, precision/recall, class accuracy, variety, SWD")
    p.add_argument("--model", default="fashion-mnist", help="bundled name, model folder or run folder")
    p.add_argument(
        "--data", help="real images to compare with (default: the model's test split or training data)"
    )
    p.add_argument("--metrics", help=f"comma-separated, from: {', '.join(METRICS.names())}")
    p.add_argument("-n", type=int, default=DEFAULT_N, help="number of generated images (10000 for papers)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents and of the labels drawn")
    p.add_argument("--truncation", type=float, default=1.0, help="as in generate")
    p.add_argument("--guidance", type=float, help="condition guidance, as in generate (default: the same)")
    p.add_argument(
        "--inception-weights",
        metavar="PATH",
        help="pt_inception-2015-12-05 weights (.pth or .safetensors) for --metrics inception",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    add_editing_parsers(add_parser)
    add_upscaling_parsers(add_parser)

    p = add_parser(
        "fit-prior",
        help="fit the label prior (class from prompt or sketch) of a model trained before it existed",
    )
    p.add_argument("--model", required=True, help="model folder or run folder")
    p.add_argument("--data", help="the training data (default: the source named in dataset.json)")
    p.add_argument("--kimg", type=float, help="thousand samples per head (default: train.prior_kimg)")
    p.set_defaults(func=cmd_fit_prior)

    p = add_parser("models", help="list the bundled models")
    p.set_defaults(func=cmd_models)

    add_safeguard_parsers(add_parser)

    p = add_parser("serve", help="the web studio and REST API (http://127.0.0.1:7860)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; others need --token")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--token", help="access token clients send as 'Authorization: Bearer TOKEN' (or GANSTUDIO_TOKEN)"
    )
    p.add_argument(
        "--model", action="append", help="a model to serve (repeatable); default: the bundled ones"
    )
    p.add_argument("--data-root", help="folder whose sub-folders the studio may train on")
    p.add_argument("--runs", default="runs/studio", help="where training jobs write their runs")
    p.add_argument("--cors-origin", action="append", help="allow browser calls from this origin (repeatable)")
    p.add_argument(
        "--allowed-host",
        action="append",
        help="a host name the server answers to besides IP addresses, localhost and --host (repeatable; "
        "requests naming any other host are refused, which stops DNS rebinding)",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        help="a reverse proxy's address whose X-Forwarded-For is believed (repeatable; default: none)",
    )
    p.add_argument(
        "--requests-per-minute",
        type=int,
        default=600,
        help="per client address (0 < N); with --workers, each worker counts on its own",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port and the cores (generation, editing, history; "
        "training jobs need 1)",
    )
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "arch", None):
        args.set = (args.set or []) + [f"model.arch={args.arch}"]
    try:
        return args.func(args)
    except (ValueError, RuntimeError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
