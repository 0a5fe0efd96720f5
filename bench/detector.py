"""The detectors, measured: for each bundled model, train its detector (its unmarked samples
against real images: fashion-mnist's test split, emoji's own images) and report AUC, and the
detection and false-positive rates at the thresholds verify uses (one per kind of file: full size
or smaller, lossless or lossy; each lets ≤ 1% of that kind's real images through),
on images neither side trained on — as they are, after JPEG 75, after resizing ×0.5 and ×2, and
after JPEG 75 with a ×0.75 resize. With --write the detectors are saved into the bundled model
folders (that is how the shipped ones were made); otherwise into a temporary copy.

    python -m bench.detector --write     # ≈ 10 CPU-minutes for both models
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.report import ROOT, machine_line, write_section
from ganstudio.modelfolder import PRETRAINED_DIR
from ganstudio.provenance.detector import EDITS
from ganstudio.provenance.detector_training import build_for_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["fashion-mnist", "emoji"])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--write", action="store_true", help="save into the bundled model folders")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            folder = PRETRAINED_DIR / name
            if not args.write:
                folder = Path(shutil.copytree(folder, Path(scratch) / name))
            started = time.perf_counter()
            detector = build_for_folder(folder, steps=args.steps, log=print)
            if args.write:
                (folder / "detector.safetensors").chmod(0o644)
            rows.append((name, detector.report, time.perf_counter() - started))
    lines = [
        f"Command: `python -m bench.detector{' --write' if args.write else ''} --steps {args.steps}`",
        machine_line(),
        "",
        "AUC / detection rate / false-positive rate at verify's threshold for that kind of file, on held-out images:",
        "",
        "| model | train (fake + real) | test (fake + real) | " + " | ".join(EDITS) + " | minutes |",
        "|---|---|---|" + "---|" * len(EDITS) + "---|",
    ]
    for name, report, seconds in rows:
        cells = [
            f"{report[f'auc_{e}']:.3f} / {report[f'tpr_{e}']:.0%} / {report[f'fpr_{e}']:.1%}" for e in EDITS
        ]
        lines.append(
            f"| {name} | {report['fakes']} + {report['reals']} | {report['test'][0]} + {report['test'][1]} | "
            + " | ".join(cells)
            + f" | {seconds / 60:.1f} |"
        )
    print("\n".join(lines))
    write_section(ROOT / "BENCHMARKS.md", "detector", "\n".join(lines))


if __name__ == "__main__":
    main()
