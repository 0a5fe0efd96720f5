"""Add the training images' attribute quantiles (over all images and per class) to a model folder's
dataset.json — what the describing words of a prompt are read against ("dark" = the darkest tenth
of this model's ankle boots; conditioning/describing.py). Models trained since 2026-12-07 get them
at training time; this brings older folders (the bundled ones) up to date from the same data:

    python -m scripts.attribute_quantiles src/ganstudio/pretrained/fashion-mnist
    python -m scripts.attribute_quantiles src/ganstudio/pretrained/emoji

The dataset is rebuilt from the folder's recorded source and data config, and must have the
fingerprint recorded in dataset.json, else nothing is written — unless `--other-data` (the emoji
corpus fetched from npm today is a newer release than the bundled model's): then the statistics
come from today's data and dataset.json records its fingerprint as `attributes_measured_on`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganstudio.config import DataConfig
from ganstudio.data import load_dataset
from ganstudio.modelfolder import write_json


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--other-data", action="store_true", help="accept a different fingerprint")
    args = parser.parse_args()
    info = json.loads((args.folder / "dataset.json").read_text())
    data = json.loads((args.folder / "config.json").read_text())["config"]["data"]
    source = info["source"]
    dataset = load_dataset(source, DataConfig(**data))
    if dataset.fingerprint != info["fingerprint"] and not args.other_data:
        raise SystemExit(
            f"{source} now has fingerprint {dataset.fingerprint}, the model was trained on {info['fingerprint']}: "
            "not the same data, nothing written"
        )
    info["attributes"] = dataset.attribute_stats()
    if dataset.fingerprint != info["fingerprint"]:
        info["attributes_measured_on"] = dataset.fingerprint
    write_json(args.folder / "dataset.json", info)
    print(f"{args.folder}/dataset.json: quantiles of {', '.join(info['attributes'])} written")


if __name__ == "__main__":
    main()
