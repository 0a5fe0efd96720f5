"""Model folders (config.json + safetensors, never a pickle) and resumable training state.

A model folder holds `config.json`, `generator_ema.safetensors` (plus `generator` and
`discriminator` for fine-tuning), `dataset.json` and `model_card.md`. A run's checkpoint is a
model folder with `training_state.safetensors` beside the weights; it is written to a temp
folder and renamed into place, so a killed run never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ganstudio.conditioning import CondSpec
from ganstudio.conditioning.prior import LabelPrior
from ganstudio.config import Config, config_from_dict

FORMAT = "ganstudio-model"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = {".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".bin"}


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def save_model_folder(
    folder: Path,
    config: Config,
    spec: CondSpec,
    G_ema: nn.Module,
    dataset_info: dict[str, Any],
    model_card: str,
    G: nn.Module | None = None,
    D: nn.Module | None = None,
    dtype: torch.dtype = torch.float32,
    label_prior: LabelPrior | None = None,
) -> None:
    """Write a model folder into `folder` (which must exist)."""
    write_json(
        folder / "config.json",
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "resolution": dataset_info["resolution"],
            "channels": dataset_info["channels"],
            "cond": asdict(spec),
            "config": config.to_dict(),
        },
    )
    for name, module in (("generator_ema", G_ema), ("generator", G), ("discriminator", D)):
        if module is not None:
            tensors = {
                k: v.detach().to(dtype if v.is_floating_point() else v.dtype).contiguous()
                for k, v in module.state_dict().items()
            }
            save_file(tensors, str(folder / f"{name}.safetensors"), metadata={"format": FORMAT})
    if label_prior is not None:
        from ganstudio.training.prior import save_label_prior

        save_label_prior(label_prior, folder, dtype)
    write_json(folder / "dataset.json", dataset_info)
    (folder / "model_card.md").write_text(model_card, encoding="utf-8")


def read_model_config(folder: Path) -> tuple[Config, CondSpec, dict[str, Any]]:
    """Config, condition spec and the raw config.json of a model folder, checking its format."""
    pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
    path = folder / "config.json"
    if not path.is_file():
        hint = (
            (
                f" It holds {', '.join(pickles)}: pickle checkpoints are refused because loading them can run "
                "arbitrary code; convert the weights to safetensors."
            )
            if pickles
            else ""
        )
        raise ValueError(f"{folder} is not a ganstudio model folder (no config.json).{hint}")
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not a ganstudio model config (format {raw.get('format')!r})")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{folder} has model format version {version}; this ganstudio reads version {FORMAT_VERSION}. "
            "Upgrade ganstudio (pip install -U ganstudio) or re-export the model with a matching version."
        )
    return config_from_dict(raw["config"]), CondSpec(**raw["cond"]), raw


def load_weights(module: nn.Module, path: Path, allow_missing: bool = False) -> list[str]:
    """Load safetensors weights into `module`, casting to its dtype; never unpickles. With
    `allow_missing`, parameters the file lacks (a block added for fine-tuning) keep their
    initial values; their names are returned."""
    if not path.is_file():
        raise ValueError(f"weights file {path} is missing")
    state = load_file(str(path))
    own = module.state_dict()
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


def model_folder(folder: Path) -> Path:
    """`folder` itself when it is a model folder, else (a run folder) its latest checkpoint."""
    folder = Path(folder)
    if (folder / "config.json").is_file():
        return folder
    return find_checkpoint(folder) or folder


def load_for_finetuning(folder: Path, nets: dict[str, nn.Module]) -> list[str]:
    """Start a new run from a trained model folder (or run folder): G_ema, G (else G_ema) and D
    (when the folder has one; else D starts fresh). Blocks the new config adds (e.g. D's
    auxiliary heads) start from their initial values. Returns what was not loaded."""
    folder = model_folder(folder)
    read_model_config(folder)  # format check, clear error for a non-model folder
    ema = folder / "generator_ema.safetensors"
    notes = load_weights(nets["G_ema"], ema, allow_missing=True)
    raw = folder / "generator.safetensors"
    notes += load_weights(nets["G"], raw if raw.is_file() else ema, allow_missing=True)
    if (folder / "discriminator.safetensors").is_file():
        notes += [f"D.{k}" for k in load_weights(nets["D"], folder / "discriminator.safetensors", True)]
    else:
        notes.append("D (the folder has no discriminator: it starts fresh)")
    return notes


def _flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{prefix}.{index}.{key}"] = (
                value if torch.is_tensor(value) else torch.tensor(value)
            ).contiguous()
    return tensors, state["param_groups"]


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], groups: Any) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    run_dir: Path,
    config: Config,
    spec: CondSpec,
    nets: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    counters: dict[str, Any],
    rng_state: torch.Tensor,
    dataset_info: dict[str, Any],
    model_card: str,
    name: str = "checkpoint",
    label_prior: LabelPrior | None = None,
) -> Path:
    """Atomically write `run_dir/<name>`: a full model folder plus training_state.safetensors."""
    final = run_dir / name
    tmp = run_dir / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model_folder(
        tmp,
        config,
        spec,
        nets["G_ema"],
        dataset_info,
        model_card,
        nets["G"],
        nets["D"],
        label_prior=label_prior,
    )
    tensors: dict[str, torch.Tensor] = {"rng_state": rng_state.clone()}
    groups = {}
    for key, optimizer in optimizers.items():
        flat, groups[key] = _flatten_optimizer(key, optimizer)
        tensors.update(flat)
    save_file(
        tensors,
        str(tmp / "training_state.safetensors"),
        metadata={"counters": json.dumps(counters), "param_groups": json.dumps(groups)},
    )
    for path in tmp.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    old = run_dir / f".{name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(run_dir: Path, name: str = "checkpoint") -> Path | None:
    """The checkpoint folder of a run, recovering the previous one if a swap was interrupted."""
    for candidate in (run_dir / name, run_dir / f".{name}.old"):
        if (candidate / "training_state.safetensors").is_file():
            return candidate
    return None


def load_training_state(
    folder: Path, nets: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]
) -> tuple[dict[str, Any], torch.Tensor]:
    """Restore networks and optimizers in place; returns (counters, rng_state)."""
    load_weights(nets["G_ema"], folder / "generator_ema.safetensors")
    load_weights(nets["G"], folder / "generator.safetensors")
    load_weights(nets["D"], folder / "discriminator.safetensors")
    path = folder / "training_state.safetensors"
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    groups = json.loads(metadata["param_groups"])
    for key, optimizer in optimizers.items():
        optimizer.load_state_dict(_unflatten_optimizer(key, tensors, groups[key]))
    return json.loads(metadata["counters"]), tensors["rng_state"]


def export_model(source: Path, target: Path, dtype: torch.dtype = torch.float16) -> Path:
    """Copy a model folder's G_ema (cast to `dtype`), config, dataset info and card into `target`:
    the small folder to publish or bundle, without D, G or training state."""
    import tempfile

    config, spec, raw = read_model_config(source)
    ema = load_file(str(source / "generator_ema.safetensors"))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    tmp.chmod(0o755)  # mkdtemp makes it private; a published model folder should be readable
    write_json(tmp / "config.json", raw)
    save_file(
        {k: v.to(dtype) if v.is_floating_point() else v for k, v in ema.items()},
        str(tmp / "generator_ema.safetensors"),
        metadata={"format": FORMAT},
    )
    from ganstudio.training.prior import load_label_prior, save_label_prior

    prior = load_label_prior(source, spec)
    if prior is not None:
        save_label_prior(prior, tmp, dtype)
    for name in ("dataset.json", "model_card.md"):
        shutil.copyfile(source / name, tmp / name)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target
