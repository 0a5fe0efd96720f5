"""The commands behind `ganstudio …`: each parses nothing, calls the library, prints the outcome."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path

from ganstudio.config import Config, apply_overrides, load_preset
from ganstudio.console import ProgressPrinter, data_progress, say


def _config(args: argparse.Namespace) -> Config:
    config = load_preset(args.preset)
    overrides = list(args.set or [])
    if getattr(args, "resolution", None):
        overrides.append(f"data.resolution={args.resolution}")
    if getattr(args, "text_encoder", None):
        overrides.append(f"model.text_encoder={args.text_encoder}")
    if getattr(args, "sketch", False) is True:
        overrides.append("model.sketch=true")
    if getattr(args, "opt_out", None):
        overrides.append(f"data.opt_out={args.opt_out}")
    return apply_overrides(config, overrides)


def _licences(rights: dict) -> str:
    return ", ".join(f"{name} ×{count}" for name, count in rights.get("licences", {}).items()) or "none"


def cmd_prepare(args: argparse.Namespace) -> int:
    from ganstudio.data import prepare

    config = apply_overrides(
        Config(),
        [
            f"data.resolution={args.resolution}",
            f"data.fit={args.fit}",
            f"data.background={args.background}",
            f"data.channels={args.channels}",
            *([f"data.opt_out={args.opt_out}"] if args.opt_out else []),
        ],
    )
    dataset = prepare(args.source, config.data, data_progress)
    path = dataset.save(args.out)
    for item in dataset.skipped:
        print(f"skipped {item['file']}: {item['reason']}", file=sys.stderr)
    for item in dataset.excluded:
        print(f"excluded {item['file']}: {item['reason']}", file=sys.stderr)
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
        f"{info['num_captioned']} captioned, {len(dataset.skipped)} skipped, {len(dataset.excluded)} "
        f"excluded by their rights; licences: {_licences(info['rights'])}) → {path} "
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
    from ganstudio.data import DataSource, load_dataset
    from ganstudio.training.loop import TrainingDiverged, train

    if int(os.environ.get("RANK", "0")) > 0:  # under torchrun, rank 0 speaks for every process
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
        sys.stderr = _ErrorsOnly(sys.stderr)
    stop = {"requested": False}

    def on_interrupt(signum, frame):  # first Ctrl-C: finish the step and checkpoint; second: quit now
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        print(
            "\nstopping after this step and writing a checkpoint (Ctrl-C again to quit now)", file=sys.stderr
        )

    # installed before any start-up work: a stop while the data loads is a clean stop, not a trace
    signal.signal(signal.SIGINT, on_interrupt)
    if hasattr(signal, "pthread_sigmask"):  # a studio job starts with SIGINT blocked (serve/jobs.py)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    dataset = load_dataset(args.data, config.data, data_progress)
    if stop["requested"] and not args.resume:
        print("stopped before training began: nothing to checkpoint", file=sys.stderr)
        return 0
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
    for item in dataset.excluded:
        print(f"excluded {item['file']}: {item['reason']}", file=sys.stderr)
    scorer = None
    if args.eval_every:
        from ganstudio.metrics import QuickScorer, ReferenceData

        reference = ReferenceData.load(
            DataSource.parse(args.data).test_split(), dataset.resolution, dataset.channels
        )
        scorer = QuickScorer(reference, config, select=args.select)
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


class _ErrorsOnly:
    """stderr of a torchrun rank other than 0: only error lines and tracebacks get through."""

    def __init__(self, stream) -> None:
        self.stream, self.passing = stream, False

    def write(self, text: str) -> int:
        if text.startswith(("error", "Traceback")):
            self.passing = True
        return self.stream.write(text) if self.passing else len(text)

    def flush(self) -> None:
        self.stream.flush()


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


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _seed(text: str) -> int | str:
    """--seed: a whole number, or "random" (the seed used is printed and recorded)."""
    if text == "random":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'random'") from None


class _Once(argparse.Action):
    """An option that may be given once: a second one is an error, not silently the winner."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest) is not None:
            parser.error(
                f"{option_string} was given twice; give it once (for several prompts use --prompts-file)"
            )
        setattr(namespace, self.dest, values)


def _read_prompts(path: str) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"--prompts-file {path}: cannot read it ({error}); give a UTF-8 text file") from None
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise ValueError(f"--prompts-file {path} holds no prompts; write one prompt per line")
    return prompts


CHUNK = 256  # images generated and written at a time by `generate -n`
MAX_GRID = 256  # = results.MAX_GRID_IMAGES (not imported: the CLI starts without torch)


def cmd_generate(args: argparse.Namespace) -> int:
    import random

    from ganstudio.pipeline import GenerationPipeline

    if args.per_class is not None and (args.label is not None or args.n is not None):
        raise ValueError("--per-class draws every class: leave out --label and -n (or drop --per-class)")
    if args.prompts_file and (args.prompt is not None or args.per_class is not None):
        raise ValueError("--prompts-file gives the prompts: leave out --prompt and --per-class")
    if args.n is not None and args.n < 1:
        raise ValueError(f"-n {args.n}: give the number of images to draw, 1 or more")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder to write the images into")
    seed = random.randrange(2**31) if args.seed == "random" else args.seed
    if args.seed == "random":
        say(f"seed: {seed} (recorded in every image; --seed {seed} draws them again)")
    pipe = GenerationPipeline.from_pretrained(args.model, device=args.device)
    pipe.on_copy, pipe.strict = args.on_copy, args.strict
    if pipe.nearcopy is None and args.on_copy != "allow":
        say(
            f"note: {args.model} has no near-copy index, so images are not checked against its training "
            "set; `ganstudio export --model ... --out ...` builds one from the training data"
        )
    attributes = _parse_attributes(args.attr)
    # guidance None: the model's own
    common = dict(truncation=args.truncation, guidance=args.guidance, upscale=args.upscale)
    if args.negative is not None:
        common |= dict(negative=args.negative, negative_strength=args.negative_strength)
    if args.per_class is not None:
        result = pipe.class_grid(
            args.per_class, seed=seed, attributes=attributes, prompt=args.prompt, sketch=args.sketch, **common
        )
    elif args.prompts_file:
        rows = [
            dict(prompt=p, label=args.label, sketch=args.sketch, infer_label=not args.no_infer_label)
            for p in _read_prompts(args.prompts_file)
        ]
        result = pipe.rows_grid(
            rows, args.n or 8, seed, attributes, row_labels=[r["prompt"] for r in rows], **common
        )
    else:  # written a chunk at a time: memory stays bounded however large -n is
        chunks = pipe.stream(
            args.n or 16,
            seed=seed,
            chunk=CHUNK,
            label=args.label,
            attributes=attributes,
            prompt=args.prompt,
            sketch=args.sketch,
            infer_label=not args.no_infer_label,
            **common,
        )
        count, grid, said = 0, None, set()
        for result in chunks:
            for note in dict.fromkeys(result.notes):  # a prompt's note comes with every chunk: once
                if note not in said:
                    said.add(note)
                    say(f"note: {note}")
            paths = result.save(
                out, overwrite=args.overwrite, grid=count == 0, format=args.format, background=args.background
            )
            grid = grid or paths[-1]
            count += len(result.images)
        _report(count, out, grid, pipe.model_id, args.format)
        return 0
    for note in result.notes:
        say(f"note: {note}")
    paths = result.save(out, overwrite=args.overwrite, format=args.format, background=args.background)
    _report(len(result.images), out, paths[-1], pipe.model_id, args.format)
    return 0


def _report(count: int, out: Path, grid: Path, model_id: str, format: str) -> None:  # noqa: A002
    shown = f", showing the first {MAX_GRID}" if count > MAX_GRID else ""
    print(
        f"wrote {_plural(count, 'image')} and a grid to {out} (grid: {grid}{shown}); each "
        f"{format.upper()} is marked as AI-generated (model {model_id})"
    )


def cmd_models(args: argparse.Namespace) -> int:
    from ganstudio.modelfolder import bundled_models
    from ganstudio.pipeline import GenerationPipeline

    for name in bundled_models():
        pipe = GenerationPipeline.from_pretrained(name, device="cpu")
        print(
            f"{name}: {pipe.dataset_info['resolution']} px, classes: {', '.join(pipe.class_names) or 'none'}; "
            f"attributes: {', '.join(pipe.attribute_names) or 'none'}; "
            f"prompts: {pipe.spec.text_encoder or 'no'}; sketches: {'yes' if pipe.spec.has_sketch else 'no'}"
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ganstudio.serve import serve

    if args.requests_per_minute < 1:
        raise ValueError("--requests-per-minute must be at least 1")
    serve(
        args.host,
        args.port,
        args.token,
        args.model,
        args.data_root,
        args.runs,
        args.cors_origin,
        args.requests_per_minute,
        args.allowed_host,
        args.trusted_proxy,
        args.workers,
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
        progress_fn=None if args.json else say,
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
    from ganstudio.modelfolder import describe_prior, resolve
    from ganstudio.training.prior import add_label_prior

    folder, _ = resolve(args.model)
    prior = add_label_prior(folder, args.data, args.kimg, say)
    print(f"wrote {folder / 'label_prior.safetensors'}: {describe_prior(prior.report)}")
    return 0
