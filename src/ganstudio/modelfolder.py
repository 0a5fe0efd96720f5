"""The model folder: what a trained generator is on disk (safetensors + JSON, never a pickle).

    config.json                   format version, resolution, channels, condition spec, the
                                  resolved config, and the model card's fields ("card")
    generator_ema.safetensors     the weights generation uses (plus generator / discriminator
                                  in a run's checkpoints, for fine-tuning and resuming)
    label_prior.safetensors       optional: the class a prompt or sketch describes
    nearcopy.safetensors          optional: the training set's near-copy index (provenance/nearcopy.py)
    coverage.safetensors          optional: the training captions a prompt is checked against
                                  (conditioning/coverage.py)
    dataset.json                  what the model was trained on (source, fingerprint, classes…)
    model_card.md                 rendered from config.json's card fields and dataset.json

`resolve(name_or_dir)` turns a bundled model's name, a model folder or a run folder into a model
folder, with one rule for every command. Everything here is about the folder itself; resuming a
run (optimizer state, RNG, counters) lives in `training/checkpoint.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ganstudio.card import CARD_NOTICE, Card, describe_prior, markdown_text  # noqa: F401 (re-exported)
from ganstudio.conditioning import CondSpec
from ganstudio.conditioning.prior import PRIOR_FILE, LabelPrior, wants_prior
from ganstudio.config import Config, config_from_dict
from ganstudio.paths import umask, write_text_atomically
from ganstudio.untrusted import (
    MAX_JSON_BYTES,
    MAX_PARAMETERS,
    build_checked,
    check_bounds,
    check_dataset_info,
    header_shapes,
    read_json,
    read_safetensors,
)

FORMAT = "ganstudio-model"
FORMAT_VERSION = 1
NEARCOPY_FILE = "nearcopy.safetensors"  # provenance/nearcopy.py reads and writes it
DETECTOR_FILE = "detector.safetensors"  # provenance/detector.py reads and writes it
COVERAGE_FILE = "coverage.safetensors"  # conditioning/coverage.py reads and writes it
PICKLE_SUFFIXES = {".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".bin"}
PRETRAINED_DIR = Path(__file__).parent / "pretrained"
RUN_CANDIDATES = ("best", "checkpoint", ".checkpoint.old")  # what a run folder resolves to, in order


def share(folder: Path) -> None:
    """Give a folder and its files the permissions a new file normally gets (umask applied):
    safetensors and mkdtemp create them private to the owner, and a model folder is for sharing."""
    mask = umask()
    folder.chmod(0o777 & ~mask)
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~mask)


def write_json(path: Path, value: Any) -> None:
    write_text_atomically(path, json.dumps(value, indent=2) + "\n")


def bundled_models() -> list[str]:
    """Names of the models shipped inside the package."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())


def resolve(name_or_dir: str | Path) -> tuple[Path, str]:
    """(model folder, model name) for a bundled model's name, a model folder, or a run folder.
    A run folder resolves to its best checkpoint (kept by --eval-every), else its latest one,
    else the previous one when a checkpoint swap was interrupted; name a checkpoint folder
    (run/checkpoint) to pick it explicitly. The same rule holds for generate, evaluate, export
    and --init-from."""
    path = Path(name_or_dir)
    if path.is_dir():
        if (path / "config.json").is_file():
            return path, path.resolve().name
        for candidate in RUN_CANDIDATES:
            if (path / candidate / "config.json").is_file():
                return path / candidate, path.resolve().name
        read_config(path)  # raises the clear "not a model folder" error (mentions pickles if present)
    if str(name_or_dir) in bundled_models():
        return PRETRAINED_DIR / str(name_or_dir), f"ganstudio/{name_or_dir}"
    raise ValueError(
        f"model {str(name_or_dir)!r} is neither a model folder, a run folder nor a bundled model; "
        f"bundled models: {', '.join(bundled_models()) or 'none'}"
    )


def read_config(folder: Path) -> tuple[Config, CondSpec, dict[str, Any]]:
    """Config, condition spec and the raw config.json of a model folder, checking its format."""
    folder = Path(folder)
    path = folder / "config.json"
    if not path.is_file():
        pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES] if folder.is_dir() else []
        hint = (
            f" It holds {', '.join(pickles)}: pickle checkpoints are refused because loading them can run "
            "arbitrary code; convert the weights to safetensors."
            if pickles
            else ""
        )
        raise ValueError(f"{folder} is not a ganstudio model folder (no config.json).{hint}")
    raw = read_json(path, MAX_JSON_BYTES)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        what = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{path} is not a ganstudio model config (format {str(what)[:40]!r})")
    version = raw.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ValueError(
            f"{folder} has model format version {str(version)[:20]}; this ganstudio reads version "
            f"{FORMAT_VERSION}. Upgrade ganstudio (pip install -U ganstudio) or re-export the model with a "
            "matching version."
        )
    try:
        if not isinstance(raw.get("config"), dict) or not isinstance(raw.get("cond"), dict):
            raise ValueError("'config' and 'cond' must be objects")
        config, spec = config_from_dict(raw["config"]), CondSpec(**raw["cond"])
        check_bounds(config, spec, raw.get("resolution"), raw.get("channels"))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}; the file was damaged or edited by hand") from None
    return config, spec, raw


def read_dataset_info(folder: Path) -> dict[str, Any]:
    """The folder's dataset.json: what the model was trained on."""
    path = Path(folder) / "dataset.json"
    if not path.is_file():
        raise ValueError(f"{folder} has no dataset.json; re-export the model (ganstudio export)")
    info = read_json(path, MAX_JSON_BYTES)
    if not isinstance(info, dict):
        raise ValueError(f"{path} must hold a JSON object; the file was damaged or edited by hand")
    check_dataset_info(info, path)
    return info


def load_weights(module: nn.Module, path: Path, allow_missing: bool = False) -> list[str]:
    """Load safetensors weights into `module`, casting to its dtype; never unpickles. With
    `allow_missing`, parameters the file lacks (a block added for fine-tuning) keep their
    initial values; their names are returned."""
    if not path.is_file():
        raise ValueError(f"weights file {path} is missing")
    own = module.state_dict()
    shapes = header_shapes(path)  # checked before the tensors are read
    wrong = [k for k, shape in shapes.items() if k in own and shape != tuple(own[k].shape)]
    if wrong:
        raise ValueError(
            f"{path}: {wrong[0]} has shape {shapes[wrong[0]]} but this network needs "
            f"{tuple(own[wrong[0]].shape)}; the model was built for other widths or conditions"
        )
    state = read_safetensors(path)
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    if (missing and not allow_missing) or unexpected:
        raise ValueError(
            f"{path} does not match the network in config.json (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]}); the folder was probably edited by hand"
        )
    wrong = [k for k, v in state.items() if v.shape != own[k].shape]
    if wrong:
        raise ValueError(
            f"{path}: {wrong[0]} has shape {tuple(state[wrong[0]].shape)} but this network needs "
            f"{tuple(own[wrong[0]].shape)}; the model was built for other widths or conditions"
        )
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=not allow_missing)
    return sorted(missing)


def _state(module: nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {
        k: v.detach().to(dtype if v.is_floating_point() else v.dtype).contiguous()
        for k, v in module.state_dict().items()
    }


def save_label_prior(prior: LabelPrior, folder: Path, dtype: torch.dtype = torch.float32) -> Path:
    """Write the prior's weights into a model folder (atomically), with each head's held-out accuracy."""
    path = Path(folder) / PRIOR_FILE
    tmp = path.with_name(f".{PRIOR_FILE}.tmp")
    metadata = {"format": "ganstudio-label-prior", "report": json.dumps(prior.report)}
    save_file(_state(prior, dtype), str(tmp), metadata=metadata)
    tmp.chmod(0o666 & ~umask())
    os.replace(tmp, path)
    return path


def load_label_prior(folder: Path, spec: CondSpec) -> LabelPrior | None:
    """The model folder's label prior, or None when it has none (or the model cannot have one)."""
    path = Path(folder) / PRIOR_FILE
    if not path.is_file() or not wants_prior(spec):
        return None
    prior = build_checked(lambda: LabelPrior(spec), path, "label prior")
    load_weights(prior, path)
    with safe_open(str(path), framework="pt") as f:
        try:
            report = json.loads((f.metadata() or {}).get("report", "{}"))
        except json.JSONDecodeError:
            report = None
    prior.report = report if isinstance(report, dict) else {}
    return prior.eval().requires_grad_(False)


def save(
    folder: Path,
    config: Config,
    spec: CondSpec,
    dataset_info: dict[str, Any],
    card: Card,
    G_ema: nn.Module,
    G: nn.Module | None = None,
    D: nn.Module | None = None,
    label_prior: LabelPrior | None = None,
    dtype: torch.dtype = torch.float32,
    extras: tuple = (),
) -> None:
    """Write a model folder into `folder` (which must exist); `extras` are what else the folder
    holds about its training data — the near-copy index (provenance/nearcopy.py), the prompt
    coverage bank (conditioning/coverage.py) — each written by its own `save(folder)`."""
    folder = Path(folder)
    write_json(
        folder / "config.json",
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "resolution": dataset_info["resolution"],
            "channels": dataset_info["channels"],
            "cond": asdict(spec),
            "config": config.to_dict(),
            "card": asdict(card),
        },
    )
    for name, module in (("generator_ema", G_ema), ("generator", G), ("discriminator", D)):
        if module is not None:
            save_file(_state(module, dtype), str(folder / f"{name}.safetensors"), metadata={"format": FORMAT})
    if label_prior is not None:
        save_label_prior(label_prior, folder, dtype)
    for extra in extras:
        if extra is not None:
            extra.save(folder)
    write_json(folder / "dataset.json", dataset_info)
    (folder / "model_card.md").write_text(card.render(config, dataset_info), encoding="utf-8")
    share(folder)


def update_card(folder: Path, **fields: Any) -> Card:
    """Change card fields of a model folder (metrics, notes, label_prior…) and re-render its card."""
    folder = Path(folder)
    config, _, raw = read_config(folder)
    card = Card.from_dict(raw.get("card"))
    for key, value in fields.items():
        if key not in Card.__dataclass_fields__:
            raise ValueError(
                f"model card field {key!r} is unknown; known: {', '.join(Card.__dataclass_fields__)}"
            )
        setattr(card, key, value)
    raw["card"] = asdict(card)
    write_json(folder / "config.json", raw)
    (folder / "model_card.md").write_text(card.render(config, read_dataset_info(folder)), encoding="utf-8")
    return card


def export(source: Path, target: Path, dtype: torch.dtype = torch.float16) -> Path:
    """Copy a model folder's G_ema (cast to `dtype`), label prior, near-copy index, config, dataset
    info and card into `target`: the small folder to publish or bundle, without D, G or training
    state.
    Written beside `target` and renamed into place, readable by everyone (umask permitting)."""
    source, target = Path(source), Path(target)
    _, spec, raw = read_config(source)
    ema = load_file(str(source / "generator_ema.safetensors"))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    write_json(tmp / "config.json", raw)
    save_file(
        {k: v.to(dtype) if v.is_floating_point() else v for k, v in ema.items()},
        str(tmp / "generator_ema.safetensors"),
        metadata={"format": FORMAT},
    )
    prior = load_label_prior(source, spec)
    if prior is not None:
        save_label_prior(prior, tmp, dtype)
    for name in ("dataset.json", "model_card.md", NEARCOPY_FILE, DETECTOR_FILE, COVERAGE_FILE):
        if name in (NEARCOPY_FILE, DETECTOR_FILE, COVERAGE_FILE) and not (source / name).is_file():
            continue
        shutil.copyfile(source / name, tmp / name)
    share(tmp)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def join_cascade(base: Path, upsampler: Path, target: Path) -> Path:
    """A cascade model folder (models/cascade.py) from a model trained at the base size and a
    16 → 64 upsampler (`train-upscaler --low 16`): the config says `model.cascade: 4` and the 4×
    resolution, the weights are the base's G_ema (`base.`) and the upsampler's (`upsampler.`).
    Near-copy index and detector are left out: they belong to the joined model and are rebuilt."""
    from ganstudio.models.rrdb import CONFIG_FILE, WEIGHTS_FILE

    base, upsampler, target = Path(base), Path(upsampler), Path(target)
    _, spec, raw = read_config(base)
    up = read_json(upsampler / CONFIG_FILE, MAX_JSON_BYTES)["config"]
    if up["channels"] != raw["channels"]:
        raise ValueError(f"the upsampler draws {up['channels']} channels, the model {raw['channels']}")
    model = raw["config"]["model"]
    model.update(
        cascade=4, upsampler_width=up["width"], upsampler_growth=up["growth"], upsampler_blocks=up["blocks"]
    )
    raw["resolution"] *= 4
    info = read_dataset_info(base)
    info["resolution"] *= 4
    info["cascade"] = {
        "base_resolution": info["resolution"] // 4,
        "upsampler": read_json(upsampler / CONFIG_FILE, MAX_JSON_BYTES),
    }
    weights = {f"base.{k}": v for k, v in load_file(str(base / "generator_ema.safetensors")).items()}
    weights |= {f"upsampler.{k}": v for k, v in load_file(str(upsampler / WEIGHTS_FILE)).items()}
    target.mkdir(parents=True, exist_ok=True)
    write_json(target / "config.json", raw)
    write_json(target / "dataset.json", info)
    save_file(weights, str(target / "generator_ema.safetensors"), metadata={"format": FORMAT})
    prior = load_label_prior(base, spec)
    if prior is not None:
        save_label_prior(prior, target)
    if (base / COVERAGE_FILE).is_file():
        shutil.copyfile(base / COVERAGE_FILE, target / COVERAGE_FILE)
    config = config_from_dict(raw["config"])
    card = Card.from_dict(raw.get("card"))
    (target / "model_card.md").write_text(card.render(config, info), encoding="utf-8")
    return target


def training_data(folder: Path, data: str | Path | None = None):
    """(the dataset a model folder was trained on — `data`, or the source its dataset.json records —
    and its source), refused unless its fingerprint is the one recorded."""
    from ganstudio.data import DataSource, load_dataset

    info = read_dataset_info(folder)
    source = DataSource.parse(data if data is not None else info.get("source", ""))
    if not source.loadable():
        raise ValueError(
            f"the training data {source} is not there any more; pass --data with where it is now"
        )
    dataset = load_dataset(source, read_config(folder)[0].data)
    if (found := dataset.describe().get("fingerprint")) != info.get("fingerprint"):
        raise ValueError(
            f"{source} is not the data this model was trained on (fingerprint {found} ≠ "
            f"{info.get('fingerprint')}); pass --data with that data"
        )
    return dataset, source


@dataclass
class ModelFolder:
    """A model folder read from disk: everything needed to rebuild its generator."""

    path: Path
    name: str
    config: Config
    spec: CondSpec
    resolution: int
    channels: int
    dataset_info: dict[str, Any]
    card: Card

    @classmethod
    def open(cls, name_or_dir: str | Path) -> ModelFolder:
        """A bundled model's name, a model folder or a run folder (see `resolve`)."""
        path, name = resolve(name_or_dir)
        config, spec, raw = read_config(path)
        return cls(
            path,
            name,
            config,
            spec,
            raw["resolution"],
            raw["channels"],
            read_dataset_info(path),
            Card.from_dict(raw.get("card")),
        )

    def build_generator(self, weights: str = "generator_ema") -> nn.Module:
        """The generator with the folder's weights (`generator_ema`, or `generator` in checkpoints)."""
        from ganstudio.models import build_models

        with torch.device("meta"):  # count first: a hand-edited config cannot make it allocate terabytes
            meta, _ = build_models(self.config.model, self.resolution, self.channels, self.spec)
        size = sum(p.numel() for p in meta.parameters())
        if size > MAX_PARAMETERS:
            raise ValueError(
                f"{self.path / 'config.json'} describes a generator of {size:,} parameters (at most "
                f"{MAX_PARAMETERS:,}); the file was damaged or edited by hand"
            )
        G, _ = build_models(self.config.model, self.resolution, self.channels, self.spec)
        load_weights(G, self.path / f"{weights}.safetensors")
        return G

    def weights_digest(self, length: int = 12) -> str:
        """SHA-256 of the generator weights: the model id's suffix, so outputs name exact weights."""
        return hashlib.sha256((self.path / "generator_ema.safetensors").read_bytes()).hexdigest()[:length]

    def label_prior(self) -> LabelPrior | None:
        return load_label_prior(self.path, self.spec)
