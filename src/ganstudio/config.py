"""Typed configuration: dataclasses are the single source of truth, presets are YAML.

A preset names only what differs from the defaults below; `train.lr_g=2e-4`-style dotted
overrides are applied on top with type checks, and the resolved config is written into every
run and model folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

PRESET_DIR = Path(__file__).parent / "configs"


@dataclass
class Schedule:
    """A value that moves from `start` to `end` over training (progress 0 → 1).

    `kind` is "constant", "linear" or "cosine"; hyperparameters as schedules follow R3GAN
    (Huang et al. 2024), which decays lr and γ over training.
    """

    start: float
    end: float | None = None
    kind: str = "cosine"

    def at(self, progress: float) -> float:
        if self.end is None or self.kind == "constant":
            return self.start
        t = min(max(progress, 0.0), 1.0)
        if self.kind == "linear":
            return self.start + (self.end - self.start) * t
        if self.kind == "cosine":
            return self.end + (self.start - self.end) * 0.5 * (1 + math.cos(math.pi * t))
        raise ValueError(f"schedule kind {self.kind!r} is unknown; use constant, linear or cosine")


@dataclass
class DataConfig:
    resolution: int = 32
    fit: Literal["crop", "pad"] = "pad"  # how non-square images become square: "crop" (centre) or "pad"
    background: str = "#ffffff"  # colour RGBA images are composited on, and padding colour
    channels: Literal["auto", "1", "3"] = "auto"  # "auto" (1 if every image is grayscale), "1" or "3"
    opt_out: str = ""  # a list of file names / SHA-256 never to train on (besides <config>/opt-out.txt)


@dataclass
class ModelConfig:
    arch: str = "r3gan"
    z_dim: int = 64
    cond_dim: int = 128  # width of the embedded condition vector
    w_dim: int = 256  # width of the latent code G's mapping MLP makes from z and cond
    channel_base: int = 2048  # channels at resolution r: min(channel_max, channel_base // r)
    channel_max: int = 256
    d_channel_base: int = 0  # D's channel_base when it differs from G's (0 = the same)
    blocks_per_stage: int = 1
    expansion: int = 1  # inverted-bottleneck width factor inside a residual block
    group_size: int = 0  # channels per group in the 3x3 conv; 0 = dense (fastest on CPU, see BENCHMARKS.md)
    upsample: Literal["nearest", "bilinear"] = "nearest"  # "nearest" or "bilinear"
    # kernel of G's last conv (features → pixels) and D's first (pixels → features): 1 as in
    # R3GAN, or 3 so both see neighbouring pixels at full resolution
    rgb_kernel: int = 1
    # w also scales every G stage per channel (FiLM), not only shifts it
    modulate: bool = False
    # minibatch standard deviation feature at D's 4x4 stage (group size; 0 = off): D sees how
    # much a batch varies, so a collapsed G is caught
    mbstd_group: int = 0
    # auxiliary heads on D's features (AC-GAN, Odena et al. 2017; for text, a regression onto the
    # caption embedding): trained on real images, they tell G which class and words its fakes
    # show; weighted by train.aux
    aux_heads: bool = False
    # the text head's loss: "cosine" (regression onto the caption embedding) or "contrastive"
    # (each image picks its caption among the batch's; models/layers.py:aux_heads_loss)
    aux_text_loss: Literal["cosine", "contrastive"] = "cosine"
    # dcgan: D also scores the conditions by a projection on its pooled 4x4 features (Miyato &
    # Koyama 2018), besides the conditional bias at its input
    d_projection: bool = False
    # dcgan: the conditions also scale and shift G's channels after each BatchNorm (conditional
    # BatchNorm), besides scaling z
    cond_norm: bool = False
    # dcgan: how a class label reaches D. "bias": embed(cond) → a per-channel bias after D's first
    # conv (configs saved before the key); "planes": one-hot class planes beside the image, as the
    # textbook conditional DCGAN (BENCHMARKS.md: the bias path cost recall 0.11 in 10 minutes).
    # Attributes and text reach D as the bias either way.
    d_cond: Literal["bias", "planes"] = "bias"
    # dcgan: D's normalisation: "batch" (the paper's BatchNorm), "spectral" (spectral norm on every
    # layer and no BatchNorm, Miyato et al. 2018: D's Lipschitz constant is bounded, so it cannot
    # run away from G), "none", or "auto" (spectral + projection with text or sketches, else batch;
    # models/dcgan.py:d_recipe). The cpu-32 preset uses "spectral" with the projection term.
    # Configs saved before the key were trained with "batch".
    d_norm: Literal["batch", "spectral", "none", "auto"] = "batch"
    # dcgan: biases on D's first and last convs and G's last conv. The textbook has none (each
    # is followed by BatchNorm or is the output); `dcgan-32` turns them off to be that network
    # exactly (bench/port_gap.py). Configs saved before the key had them.
    conv_bias: bool = True
    # the condition guidance the pipeline uses for this model unless told otherwise (1 = the plain
    # model): measured per architecture (BENCHMARKS.md); models saved before the key had 1.5
    guidance: float = 1.5
    # "auto": text conditioning when the dataset has captions (minilm if the text extra is
    # installed, else builtin); "none"; "minilm"; "builtin"; or a local sentence-transformers folder
    text_encoder: str = "auto"
    # sketch → image: G is modulated by a sketch encoder, D judges (image, sketch) pairs; the
    # training sketches are the images' own outlines, roughened every step
    sketch: bool = False
    # 4: G draws at a quarter of the resolution and a GAN upsampler (models/cascade.py) redraws
    # its picture at 4×; 1: no upsampler. The two parts train apart and are joined in the folder.
    cascade: int = 1
    upsampler_width: int = 32
    upsampler_growth: int = 16
    upsampler_blocks: int = 3


@dataclass
class TrainConfig:
    batch: int = 64
    loss: str = "rpgan"  # "rpgan" (relativistic pairing), "nonsaturating" (DCGAN's) or "hinge" (SN-GAN's)
    beta1: float = 0.0
    lr_g: Schedule = field(default_factory=lambda: Schedule(2e-4, 5e-5))
    lr_d: Schedule = field(default_factory=lambda: Schedule(2e-4, 5e-5))
    beta2: float = 0.99
    gamma: Schedule = field(default_factory=lambda: Schedule(1.0, 0.1))  # R1 and R2 weight
    reg_every: int = 1  # lazy R1/R2: penalise every N D steps, scaled by N
    ema_kimg: Schedule = field(default_factory=lambda: Schedule(10.0, kind="constant"))  # EMA half-life
    ema_rampup: float = 0.05  # half-life is at most this fraction of images seen so far
    augment: Literal["auto", "on", "off"] = "auto"  # "auto" (on below 30k images), "on", "off"
    augment_p: Schedule = field(default_factory=lambda: Schedule(0.5, kind="constant"))
    augment_policy: str = "translation,cutout,color"
    cond_drop: float = 0.1  # probability a label is dropped, so it is optional at inference
    attribute_drop: float = (
        0.5  # probability attributes are dropped: high, so G keeps using z when none are given
    )
    text_drop: float = 0.1  # probability a caption is dropped, so prompts are optional
    sketch_drop: float = 0.3  # probability a sketch is dropped, so sketches are optional
    # weight of the diversity-sensitive term (DSGAN, MSGAN) for models with text or sketches: pairs
    # of fakes with the same conditions are pushed apart in proportion to their z distance; 0 = off.
    # Captions and outlines nearly fix the image, and without it G learnt to ignore z (one image
    # per class whatever the seed: BENCHMARKS.md). Class-only models skip it; they vary without it.
    diversity: float = 1.0
    # the term stops rewarding a pair once its mean absolute pixel difference per unit of mean
    # absolute z difference reaches this (two random fashion-mnist images of one class: about 0.26)
    diversity_cap: float = 0.3
    # weight of the auxiliary class / text losses (only with model.aux_heads): D learns them on
    # reals with every condition known, G on fakes for the conditions it was given
    aux: float = 1.0
    # matching-aware D (DF-GAN, GigaGAN) for models with text or sketches: weight of the loss that
    # scores a real image with another image's conditions as fake, so G must follow them, not only
    # look real; 0 = off. (Class-only models skip it: at 5 CPU-minutes it cost a third of the
    # speed for no FD gain, see BENCHMARKS.md.)
    mismatch: float = 1.0
    # which wrong conditions that loss shows D: "any" = the next image's, label included (a wrong
    # class alone counts); "same-class" = the caption and sketch of another image of the same
    # class, so D (and through it G) must follow the words and strokes within a class; "both" =
    # half the rows each way
    mismatch_pairs: Literal["any", "same-class", "both"] = "any"
    # thousand samples each head of the label prior (class from prompt / from sketch) is fitted on,
    # before the GAN trains; 0 = no prior. Only models with classes and text or sketches get one.
    prior_kimg: float = 100.0
    # how batches are drawn: "epochs" (every image once per pass, in a fresh order each pass, as
    # the textbook script trains; the order is a function of train.seed and the pass, so a
    # resumed run continues it) or "replacement" (independent random images each step)
    sampling: Literal["epochs", "replacement"] = "epochs"
    precision: Literal["auto", "bf16", "fp32"] = (
        "auto"  # "auto" (bf16 on CPU and CUDA where supported), "bf16", "fp32"
    )
    channels_last: bool = True
    seed: int = 0
    sample_every_kimg: float = 20.0
    checkpoint_every_kimg: float = 50.0
    log_every_steps: int = 20


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert `value` to `annotation`, raising a clear error when it does not fit."""
    hints_origin = typing.get_origin(annotation)
    if annotation is Schedule:
        if isinstance(value, Schedule):
            return value
        if isinstance(value, str):  # YAML reads "3e-4" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, int | float):
            return Schedule(float(value), kind="constant")
        if isinstance(value, dict):
            unknown = set(value) - {"start", "end", "kind"}
            if unknown:
                raise ValueError(f"{where}: unknown schedule keys {sorted(unknown)}; use start, end, kind")
            return Schedule(
                float(value["start"]),
                None if value.get("end") is None else float(value["end"]),
                str(value.get("kind", "cosine")),
            )
        raise ValueError(f"{where}: expected a number or {{start, end, kind}}, got {value!r}")
    if hints_origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return _from_dict(annotation, value, where)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected an integer, got {value!r}") from None
    if annotation is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if annotation is str:
        return str(value)
    if hints_origin is Literal:  # a closed set of words: a typo is an error, not a silent default
        choices = typing.get_args(annotation)
        if isinstance(value, bool) and {"on", "off"} <= set(choices):
            value = "on" if value else "off"  # YAML reads on/off/yes/no as booleans
        if str(value) not in choices:
            raise ValueError(f"{where}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return str(value)
    return value


def _from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; valid keys: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in values.items()}
    return cls(**kwargs)


def choices(cls: type, name: str) -> tuple[str, ...]:
    """The words a closed-set field of a config dataclass takes (its Literal), for the faces'
    option lists: one home for them."""
    return typing.get_args(typing.get_type_hints(cls)[name])


def config_from_dict(values: dict[str, Any]) -> Config:
    """Rebuild a Config from `to_dict()` output (as written in config.json)."""
    return _from_dict(Config, values, "")


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name_or_path: str) -> Config:
    """Load a preset by name (see `available_presets()`) or from a YAML file path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ValueError(
            f"preset {name_or_path!r} not found; valid presets: {', '.join(available_presets())} "
            "(or pass a path to a .yaml file)"
        )
    values = yaml.safe_load(path.read_text()) or {}
    values.setdefault("preset", path.stem)
    return config_from_dict(values)


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply `section.key=value` overrides (YAML-parsed values) with type checks."""
    values = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value, e.g. train.batch=128")
        dotted, raw = item.split("=", 1)
        keys = dotted.strip().split(".")
        node = values
        for i, key in enumerate(keys[:-1]):
            if not isinstance(node, dict) or key not in node:
                raise ValueError(f"override {item!r}: {'.'.join(keys[: i + 1])} is not a config section")
            node = node[key]
        if not isinstance(node, dict) or keys[-1] not in node:
            valid = sorted(node) if isinstance(node, dict) else []
            raise ValueError(f"override {item!r}: unknown key {keys[-1]!r}; valid keys here: {valid}")
        value = yaml.safe_load(raw)
        if value is None and raw.strip() not in ("", "null", "~"):
            value = raw.strip()  # e.g. "#ffffff", which YAML reads as a comment
        node[keys[-1]] = value
    return config_from_dict(values)
