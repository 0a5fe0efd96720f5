"""Rebuild a model folder's coverage bank with its captions taken without their describing words
("dark top" → "top": conditioning/describing.py reads those words, the coverage check asks whether
the model knows the thing), from the caption names the bank already holds — no training data
needed. Banks built since 2026-12-07 are made this way; this brings older folders up to date:

    python -m scripts.coverage_without_describing_words src/ganstudio/pretrained/fashion-mnist
    python -m scripts.coverage_without_describing_words src/ganstudio/pretrained/emoji
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganstudio.conditioning import load_text_encoder
from ganstudio.conditioning.coverage import Coverage, restrip
from ganstudio.modelfolder import read_config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    _, spec, _ = read_config(args.folder)
    bank = Coverage.load(args.folder, spec.text_dim)
    if bank is None:
        raise SystemExit(f"{args.folder} has no coverage bank")
    plain = restrip(bank, load_text_encoder(spec.text_encoder).encode)
    plain.save(args.folder)
    print(f"{args.folder}: {len(bank.names)} captions → {len(plain.names)} without describing words")


if __name__ == "__main__":
    main()
