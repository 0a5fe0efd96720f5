"""`ganstudio verify|detector|export`: the safeguards' commands — check a file's marks, train a
model's detector, and publish a model folder with its near-copy index."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganstudio.console import say


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit status 0 when every file is recognised as ganstudio's (by its signature, watermark or
    metadata), 1 otherwise."""
    import json

    from ganstudio.provenance import verify
    from ganstudio.provenance.report import shown

    unrecognised = 0
    for name in args.files:
        try:
            report = {"file": name, **verify(name, args.model)}
        except (OSError, ValueError) as error:
            report = {"file": name, "error": str(error), "ganstudio": False}
        unrecognised += not report["ganstudio"]
        if args.json:
            print(json.dumps(report))
        elif "error" in report:
            print(f"{name}: cannot read ({shown(report['error'])})")
        else:
            verdict = "made by ganstudio" if report["ganstudio"] else "no ganstudio mark found"
            if not report["ganstudio"] and report["likely_generated"]:
                verdict += ", but a detector thinks a ganstudio model made it"
            print(f"{name}: {verdict}")
            for line in report["summary"]:
                print(f"  {line}")
    return 1 if unrecognised else 0


def cmd_detector(args: argparse.Namespace) -> int:
    from ganstudio import modelfolder
    from ganstudio.provenance.detector import EDITS
    from ganstudio.provenance.detector_training import build_for_folder

    folder, _ = modelfolder.resolve(args.model)
    if folder.is_relative_to(modelfolder.PRETRAINED_DIR):
        raise ValueError("the bundled models ship with their detectors; give a model folder of your own")
    detector = build_for_folder(folder, args.data, args.steps, log=say)
    report = detector.report
    aucs = ", ".join(f"{edit} {report[f'auc_{edit}']:.3f}" for edit in EDITS)
    card = modelfolder.ModelFolder.open(folder).card
    notes = [n for n in card.notes if not n.startswith("Detector:")]
    modelfolder.update_card(folder, notes=[*notes, f"Detector: AUC on held-out images {aucs}."])
    print(
        f"wrote {folder / 'detector.safetensors'}: AUC {aucs}; thresholds call ≤ 1% of real images generated"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import torch

    from ganstudio import modelfolder
    from ganstudio.provenance import nearcopy

    source, _ = modelfolder.resolve(args.model)
    dtype = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    target = modelfolder.export(source, Path(args.out), dtype)
    if args.data is not None or nearcopy.NearCopyIndex.load(target) is None:
        try:
            index = nearcopy.build_for_folder(target, args.data)
            say(f"near-copy index: {len(index.codes)} training images, threshold {index.threshold:.4f}")
        except ValueError as error:
            say(
                f"warning: no near-copy index, so generation cannot check for copies of training images: {error}"
            )
    if (
        modelfolder.ModelFolder.open(target).spec.has_text
        and not (target / modelfolder.COVERAGE_FILE).is_file()
    ):
        from ganstudio.conditioning import coverage

        try:
            bank = coverage.build_for_folder(target, args.data)
            say(f"prompt coverage: {len(bank.names)} training captions, threshold {bank.threshold:.2f}")
        except ValueError as error:
            say(f"warning: no prompt coverage, so prompts the model does not know get no note: {error}")
    size = sum(p.stat().st_size for p in target.iterdir()) / 1e6
    print(f"exported {source} → {target} ({args.dtype} G_ema only, {size:.1f} MB)")
    return 0


def add_parsers(add_parser) -> None:
    p = add_parser("verify", help="what images say about their origin (the AI-generated marking and record)")
    p.add_argument("files", nargs="+", help="PNG, JPEG or WebP files")
    p.add_argument("--json", action="store_true", help="one JSON object per file, for machines")
    p.add_argument(
        "--model",
        action="append",
        help="a model folder whose detector should also guess when no mark holds (repeatable; the "
        "bundled models' detectors always do)",
    )
    p.set_defaults(func=cmd_verify)

    p = add_parser(
        "detector",
        help="train a model's detector (its outputs vs real images), the fallback verify uses when "
        "the watermark is gone",
    )
    p.add_argument("--model", required=True, help="model folder (the detector is saved into it)")
    p.add_argument("--data", help="the training data (default: the source named in dataset.json)")
    p.add_argument("--steps", type=int, default=1500, help="training steps (batch 128)")
    p.set_defaults(func=cmd_detector)

    p = add_parser("export", help="write a small model folder (G_ema only) to publish or bundle")
    p.add_argument("--model", required=True, help="model folder or run folder")
    p.add_argument("--out", required=True, help="target folder")
    p.add_argument("--dtype", choices=["fp16", "bf16", "fp32"], default="fp16", help="weights' precision")
    p.add_argument(
        "--data",
        help="the training data, to (re)build the near-copy index when the model folder has none or "
        "the data moved since training (default: where dataset.json says it was)",
    )
    p.set_defaults(func=cmd_export)
