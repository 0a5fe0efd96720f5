"""Resumable training state: a run's checkpoint is a model folder (modelfolder.py) plus
`training_state.safetensors` (optimizer moments, RNG state, counters). It is written to a temp
folder and renamed into place, so a killed run never leaves a half-written checkpoint.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import json
import math
import os
import shutil
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ganstudio import modelfolder
from ganstudio.conditioning import CondSpec
from ganstudio.conditioning.prior import LabelPrior
from ganstudio.config import Config
from ganstudio.modelfolder import Card, load_weights
from ganstudio.untrusted import read_safetensors


def load_for_finetuning(name_or_dir: str | Path, nets: dict[str, nn.Module]) -> list[str]:
    """Start a new run from a trained model (a model, run or bundled name; see
    `modelfolder.resolve`): G_ema, G (else G_ema) and D (when the folder has one; else D starts
    fresh). Blocks the new config adds (e.g. D's auxiliary heads) start from their initial
    values. Returns what was not loaded."""
    folder, _ = modelfolder.resolve(name_or_dir)
    modelfolder.read_config(folder)  # format check, clear error for a non-model folder
    ema = folder / "generator_ema.safetensors"
    notes = load_weights(nets["G_ema"], ema, allow_missing=True)
    raw = folder / "generator.safetensors"
    notes += load_weights(nets["G"], raw if raw.is_file() else ema, allow_missing=True)
    if (folder / "discriminator.safetensors").is_file():
        notes += [f"D.{k}" for k in load_weights(nets["D"], folder / "discriminator.safetensors", True)]
    else:
        notes.append("D (the folder has no discriminator: it starts fresh)")
    return notes


def flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{prefix}.{index}.{key}"] = (
                value if torch.is_tensor(value) else torch.tensor(value)
            ).contiguous()
    return tensors, state["param_groups"]


def unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], groups: Any) -> dict[str, Any]:
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
    card: Card,
    name: str = "checkpoint",
    label_prior: LabelPrior | None = None,
    extras: tuple = (),
) -> Path:
    """Atomically write `run_dir/<name>`: a full model folder (with `extras`, the near-copy index
    and prompt coverage, when given) plus training_state.safetensors. A full disk is one clear error, and the previous
    checkpoint stays as it was."""
    with _clear_when_disk_full(run_dir, name):
        final = run_dir / name
        tmp = run_dir / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        modelfolder.save(
            tmp,
            config,
            spec,
            dataset_info,
            card,
            nets["G_ema"],
            nets["G"],
            nets["D"],
            label_prior,
            extras=extras,
        )
        tensors: dict[str, torch.Tensor] = {"rng_state": rng_state.clone()}
        groups = {}
        for key, optimizer in optimizers.items():
            flat, groups[key] = flatten_optimizer(key, optimizer)
            tensors.update(flat)
        save_file(
            tensors,
            str(tmp / "training_state.safetensors"),
            metadata={"counters": json.dumps(counters), "param_groups": json.dumps(groups)},
        )
        for path in tmp.iterdir():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        # A valid checkpoint stays on disk at every instant: `.old` is only removed while `final`
        # holds one, and after a crash between the two renames `.old` is the one that survives.
        old = run_dir / f".{name}.old"
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        return final


@contextmanager
def _clear_when_disk_full(run_dir: Path, name: str):
    """A full disk while writing a checkpoint: the half-written folder removed, one clear error."""
    try:
        yield
    except OSError as error:
        shutil.rmtree(run_dir / f".{name}.tmp", ignore_errors=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ValueError(
                f"the disk is full while writing {run_dir / name}; the previous checkpoint is intact: "
                "free some space and resume with --resume"
            ) from None
        raise


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
    tensors = read_safetensors(path)  # one clear error for an empty, truncated or garbage file
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        groups = json.loads(metadata["param_groups"])
        for key, optimizer in optimizers.items():
            optimizer.load_state_dict(unflatten_optimizer(key, tensors, groups[key]))
        counters, rng_state = json.loads(metadata["counters"]), tensors["rng_state"]
        if rng_state.dtype != torch.uint8 or rng_state.dim() != 1:
            raise ValueError("rng_state is not a byte vector")
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path.name} is damaged or incomplete ({type(error).__name__}: {str(error)[:80]})"
        ) from None
    return counters, rng_state


class RunLock:
    """One writer per run folder: an OS lock (`fcntl.flock`) on `run_dir/.lock`, held for the life
    of the run; the file names the holder's PID for the error message. A second `train` on the
    same folder is refused while the holder lives; the OS drops the lock of a process that died
    (kill -9, power loss), so there is no stale lock to take over and no window between creating
    the file and owning it. The file itself stays (unlinking a locked file would let a third
    process lock a new inode while a second holds the old one)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / ".lock"
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            holder = f"process {pid}" if pid is not None else "another process"
            raise ValueError(
                f"{self.path.parent} is being trained by {holder}; wait for it, stop it, "
                "or train into another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def holding_run_lock(train_fn):
    """Decorate a function whose third argument is a run folder: it runs holding `RunLock`
    (under torchrun, rank 0 holds it for the whole launch)."""

    @functools.wraps(train_fn)
    def locked(config, dataset, run_dir, *args, **kwargs):
        if int(os.environ.get("RANK", "0")) != 0:
            return train_fn(config, dataset, run_dir, *args, **kwargs)
        with RunLock(Path(run_dir)):
            return train_fn(config, dataset, run_dir, *args, **kwargs)

    return locked


@dataclass
class RunState:
    """Where a run stands; checkpointed, so a resumed run continues from here. `precision` is
    decided once, at the run's first start, and kept by every resume."""

    step: int = 0
    images: int = 0
    elapsed_s: float = 0.0
    best_score: float | None = None
    best_kimg: float | None = None
    precision: str | None = None

    @property
    def kimg(self) -> float:
        return self.images / 1000

    def to_counters(self, machine: str, command: str | None) -> dict[str, Any]:
        return {**asdict(self), "kimg": self.kimg, "machine": machine, "command": command}

    @classmethod
    def from_counters(cls, saved: Mapping[str, Any]) -> RunState:
        """The counters of a checkpoint, each checked: a damaged file must not silently restart
        a run at step 0 or carry a negative or non-finite count."""
        if not isinstance(saved, Mapping) or not all(k in saved for k in ("step", "images", "elapsed_s")):
            raise ValueError("its counters (step, images, elapsed_s) are missing")
        for key in ("step", "images"):
            value = saved[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"its counter {key} is {str(value)[:20]!r}, not a count")
        for key in ("elapsed_s", "best_score", "best_kimg"):
            value = saved.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            ):
                raise ValueError(f"its counter {key} is {str(value)[:20]!r}, not a finite number")
        if saved.get("precision") not in (None, "bf16", "fp32"):
            raise ValueError(f"its precision {str(saved.get('precision'))[:20]!r} is neither bf16 nor fp32")
        return cls(**{k: saved.get(k, getattr(cls(), k)) for k in cls.__dataclass_fields__})


def resume_from(
    run_dir: Path, nets: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer], log_fn: Any
) -> tuple[Path, dict[str, Any], torch.Tensor]:
    """Load the newest checkpoint of `run_dir` that reads whole — `checkpoint`, else the
    `.checkpoint.old` an interrupted swap left — into `nets` and `optimizers`: (folder, counters,
    RNG state). A damaged one is named with what is wrong; none readable is one clear error."""
    problems = []
    for candidate in (run_dir / "checkpoint", run_dir / ".checkpoint.old"):
        if not candidate.is_dir():
            continue
        try:
            saved, rng_state = load_training_state(candidate, nets, optimizers)
            RunState.from_counters(saved)
        except ValueError as error:
            problems.append(f"{candidate.name}: {error}")
            continue
        if problems and log_fn is not None:
            log_fn(f"resuming from {candidate.name}: the newer one is damaged ({problems[0]})")
        return candidate, saved, rng_state
    raise ValueError(
        f"--resume: no readable checkpoint in {run_dir} ({'; '.join(problems) or 'none found'}); "
        "start without --resume to train from scratch, or into another --out"
    )
