"""`ganstudio prepare|train|generate|evaluate|export|fit-prior|models`: a thin face over the library."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

from ganstudio.config import Config, apply_overrides, available_presets, load_preset
from ganstudio.console import ProgressPrinter, data_progress, say
from ganstudio.registry import DATASETS, METRICS, MODELS


def _config(args: argparse.Namespace) -> Config:
    config = load_preset(args.preset)
    overrides = list(args.set or [])
    if getattr(args, "resolution", None):
        overrides.append(f"data.resolution={args.resolution}")
    if getattr(args, "text_encoder", None):
        overrides.append(f"model.text_encoder={args.text_encoder}")
    if getattr(args, "sketch", False) is True:
        overrides.append("model.sketch=true")
    return apply_overrides(config, overrides)


def cmd_prepare(args: argparse.Namespace) -> int:
    from ganstudio.data import prepare

    config = apply_overrides(
        Config(),
        [
            f"data.resolution={args.resolution}",
            f"data.fit={args.fit}",
            f"data.background={args.background}",
            f"data.channels={args.channels}",
        ],
    )
    dataset = prepare(args.source, config.data, data_progress)
    path = dataset.save(args.out)
    for item in dataset.skipped:
        print(f"skipped {item['file']}: {item['reason']}", file=sys.stderr)
    info = dataset.describe()
    if args.text_encoder != "none" and info["num_captioned"]:
        from ganstudio.conditioning.text import resolve_text_encoder
        from ganstudio.training.conditions import TrainingText

        text = TrainingText.load(dataset, resolve_text_encoder(args.text_encoder, True))
        print(
            f"embedded {len(text.table.texts)} unique captions with text encoder {text.encoder} (cached)",
            file=sys.stderr,
        )
    print(
        f"packed {len(dataset)} images ({info['resolution']} px, {info['channels']} channel(s), "
        f"{len(info['class_names'])} classes, attributes: {', '.join(info['attributes'])}, "
        f"{info['num_captioned']} captioned, {len(dataset.skipped)} skipped) → {path} "
        f"[fingerprint {dataset.fingerprint}]"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.dry_run:
        print(config.to_json())
        return 0
    if args.minutes is None and args.kimg is None:
        args.minutes = 10.0
    from ganstudio.data import load_dataset
    from ganstudio.training.loop import TrainingDiverged, train

    dataset = load_dataset(args.data, config.data, data_progress)
    print(
        f"data: {dataset.source} — {len(dataset)} images, {dataset.resolution} px, "
        f"{dataset.num_classes} classes, attributes {', '.join(dataset.attribute_names)}",
        file=sys.stderr,
    )
    if dataset.skipped:
        print(
            f"skipped {len(dataset.skipped)} unusable files (see `ganstudio prepare` for the list)",
            file=sys.stderr,
        )
    from ganstudio.conditioning.text import resolve_text_encoder

    encoder = resolve_text_encoder(config.model.text_encoder, any(dataset.captions))
    print(
        f"conditions: {'text via ' + encoder + ' (captions embedded once, then cached)' if encoder else 'no text'}"
        f"; sketches {'on' if config.model.sketch else 'off (--sketch turns them on)'}",
        file=sys.stderr,
    )
    stop = {"requested": False}

    def on_interrupt(signum, frame):  # first Ctrl-C: finish the step and checkpoint; second: quit now
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        print(
            "\nstopping after this step and writing a checkpoint (Ctrl-C again to quit now)", file=sys.stderr
        )

    signal.signal(signal.SIGINT, on_interrupt)
    scorer = None
    if args.eval_every:
        from ganstudio.metrics import QuickScorer

        real = args.data + ":test" if args.data in DATASETS and ":" not in args.data else args.data
        try:
            scorer = QuickScorer(
                real, dataset.resolution, dataset.channels, select=args.select, guidance=config.model.guidance
            )
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(
            f"evaluating every {args.eval_every:g} kimg; the best {scorer.name} goes to "
            f"{Path(args.out) / 'best'}",
            file=sys.stderr,
        )
    printer = ProgressPrinter()
    try:
        checkpoint = train(
            config,
            dataset,
            args.out,
            kimg=args.kimg,
            minutes=args.minutes,
            resume=args.resume,
            device=args.device,
            progress_fn=printer,
            abort_fn=lambda: stop["requested"],
            eval_fn=scorer,
            eval_every_kimg=args.eval_every or 0.0,
            command="ganstudio " + shlex.join(sys.argv[1:]) if sys.argv[0].endswith("ganstudio") else None,
            log_fn=say,
            init_from=args.init_from,
        )
    except TrainingDiverged as error:
        printer.done()
        print(f"error: {error}", file=sys.stderr)
        return 1
    printer.done()
    print(
        f"model: {checkpoint}\nsamples: {Path(args.out) / 'samples' / 'latest.png'}\n"
        f"generate: ganstudio generate --model {args.out} -n 16 --out out/"
    )
    return 0


def _parse_attributes(items: list[str] | None) -> dict[str, float]:
    attributes = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--attr {item!r} must look like name=value, e.g. brightness=0.2")
        try:
            attributes[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--attr {item!r}: {value!r} is not a number") from None
    return attributes


def cmd_generate(args: argparse.Namespace) -> int:
    from ganstudio.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_pretrained(args.model, device=args.device)
    attributes = _parse_attributes(args.attr)
    guidance = args.guidance  # None: the model's own default
    if args.per_class:
        result = pipe.class_grid(
            args.per_class,
            seed=args.seed,
            attributes=attributes,
            truncation=args.truncation,
            prompt=args.prompt,
            sketch=args.sketch,
            guidance=guidance,
        )
    else:
        result = pipe(
            n=args.n,
            seed=args.seed,
            label=args.label,
            attributes=attributes,
            truncation=args.truncation,
            prompt=args.prompt,
            sketch=args.sketch,
            guidance=guidance,
            infer_label=not args.no_infer_label,
        )
    paths = result.save(args.out)
    print(
        f"wrote {len(result.images)} images and a grid to {args.out}/ (grid: {paths[-1]}); "
        f"each PNG is marked as AI-generated (model {pipe.model_id})"
    )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from ganstudio.pipeline import GenerationPipeline, bundled_models

    for name in bundled_models():
        pipe = GenerationPipeline.from_pretrained(name, device="cpu")
        print(
            f"{name}: {pipe.dataset_info['resolution']} px, classes: {', '.join(pipe.class_names) or 'none'}; "
            f"attributes: {', '.join(pipe.attribute_names) or 'none'}; "
            f"prompts: {pipe.spec.text_encoder or 'no'}; sketches: {'yes' if pipe.spec.has_sketch else 'no'}"
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from ganstudio.metrics import evaluate

    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    result = evaluate(
        args.model,
        args.data,
        metrics,
        n=args.n,
        seed=args.seed,
        truncation=args.truncation,
        inception_weights=args.inception_weights,
        guidance=args.guidance,
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"model {result['model']} vs {result['data']} ({result['n']} generated images, "
        f"features: {result['extractor'] or 'none'}, {result['seconds']} s)"
    )
    for key, value in result.items():
        if key not in ("model", "data", "n", "extractor", "seconds"):
            if isinstance(value, dict):
                value = ", ".join(f"{k}: {v:.3f}" for k, v in value.items())
            print(f"  {key:<10} {value:.4f}" if isinstance(value, float) else f"  {key:<10} {value}")
    return 0


def cmd_fit_prior(args: argparse.Namespace) -> int:
    from ganstudio.pipeline import resolve_model_dir
    from ganstudio.training.prior import add_label_prior, describe_prior

    folder, _ = resolve_model_dir(args.model)
    prior = add_label_prior(folder, args.data, args.kimg, say)
    print(f"wrote {folder / 'label_prior.safetensors'}: {describe_prior(prior.report)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import torch

    from ganstudio.pipeline import resolve_model_dir
    from ganstudio.training.checkpoint import export_model

    source, _ = resolve_model_dir(args.model)
    dtype = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    target = export_model(source, Path(args.out), dtype)
    size = sum(p.stat().st_size for p in target.iterdir()) / 1e6
    print(f"exported {source} → {target} ({args.dtype} G_ema only, {size:.1f} MB)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    import ganstudio.data  # noqa: F401  (fill the registries the choices come from)
    import ganstudio.metrics  # noqa: F401
    import ganstudio.models  # noqa: F401

    parser = argparse.ArgumentParser(
        prog="ganstudio", description="Train GANs on your images and generate from them."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="pack an image folder or built-in dataset into a .gsd file")
    p.add_argument("source", help=f"image folder or built-in dataset ({', '.join(DATASETS.names())})")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--out", required=True, help="output file, e.g. data.gsd")
    p.add_argument("--fit", choices=["crop", "pad"], default="pad", help="make non-square images square")
    p.add_argument("--background", default="#ffffff", help="colour for transparency and padding")
    p.add_argument("--channels", choices=["auto", "1", "3"], default="auto")
    p.add_argument(
        "--text-encoder",
        default="auto",
        help="embed the captions now and cache them: auto, minilm, builtin, none, or a local "
        "sentence-transformers folder",
    )
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train a model")
    p.add_argument("--data", required=True, help="image folder, .gsd file, or built-in dataset name")
    p.add_argument(
        "--preset", default="cpu-32", help=f"preset name ({', '.join(available_presets())}) or YAML path"
    )
    p.add_argument("--out", required=True, help="run folder (checkpoints, samples, metrics)")
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
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
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
        choices=("fd", "class_acc"),
        default="fd",
        help="with --eval-every: which score picks OUT/best (default fd; SWD where there is no classifier)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="generate images from a trained or bundled model")
    p.add_argument("--model", default="fashion-mnist", help="bundled name, model folder or run folder")
    p.add_argument("-n", type=int, default=16, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="image i uses seed + i")
    p.add_argument("--label", help="class name or index")
    p.add_argument("--prompt", help='text description, e.g. "a dark ankle boot" (text-conditioned models)')
    p.add_argument("--sketch", metavar="IMAGE", help="a drawing to follow (sketch-conditioned models)")
    p.add_argument("--per-class", type=int, metavar="N", help="N seeds for every class: a class x seed grid")
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
    p.add_argument("--out", default="out", help="output folder")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "evaluate", help="score a model: FD, KID, precision/recall, class accuracy, variety, SWD"
    )
    p.add_argument("--model", default="fashion-mnist", help="bundled name, model folder or run folder")
    p.add_argument(
        "--data", help="real images to compare with (default: the model's test split or training data)"
    )
    p.add_argument("--metrics", help=f"comma-separated, from: {', '.join(METRICS.names())}")
    p.add_argument("-n", type=int, default=10_000, help="number of generated images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--guidance", type=float, help="condition guidance, as in generate (default: the same)")
    p.add_argument(
        "--inception-weights",
        metavar="PATH",
        help="pt_inception-2015-12-05 weights (.pth or .safetensors) for --metrics inception",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="write a small model folder (G_ema only) to publish or bundle")
    p.add_argument("--model", required=True, help="model folder or run folder")
    p.add_argument("--out", required=True, help="target folder")
    p.add_argument("--dtype", choices=["fp16", "bf16", "fp32"], default="fp16")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "fit-prior",
        help="fit the label prior (class from prompt or sketch) of a model trained before it existed",
    )
    p.add_argument("--model", required=True, help="model folder or run folder")
    p.add_argument("--data", help="the training data (default: the source named in dataset.json)")
    p.add_argument("--kimg", type=float, help="thousand samples per head (default: train.prior_kimg)")
    p.set_defaults(func=cmd_fit_prior)

    p = sub.add_parser("models", help="list the bundled models")
    p.set_defaults(func=cmd_models)
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
