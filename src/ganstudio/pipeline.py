"""Inference: one entry point for every face (CLI, API, studio).

    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    result = pipe(n=16, seed=1, label="sneaker", attributes={"brightness": 0.2}, truncation=0.8)
    result = pipe(prompt="a dark ankle boot", n=16, seed=1)
    result = pipe(sketch="drawing.png", prompt="a dark ankle boot", n=8, seed=1)
    result.save("out/")   # PNGs marked as AI-generated, plus a grid

Image i of a call uses seed `seed + i`, so any single image can be regenerated from its record.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ganstudio import __version__
from ganstudio.conditioning import Cond, CondSpec, load_text_encoder, normalise_prompt
from ganstudio.conditioning.prior import LabelPrior
from ganstudio.conditioning.sketch import normalise_sketch
from ganstudio.config import Config
from ganstudio.imaging import make_grid, to_pil
from ganstudio.models import build_models
from ganstudio.provenance import DIGITAL_SOURCE_TYPE, save_png
from ganstudio.training.checkpoint import load_weights, read_model_config
from ganstudio.training.devices import resolve_device
from ganstudio.training.prior import load_label_prior

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
TRUNCATION_SAMPLES = 1024
MAX_GUIDANCE = 5.0


def bundled_models() -> list[str]:
    return (
        sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())
        if PRETRAINED_DIR.is_dir()
        else []
    )


def resolve_model_dir(name_or_dir: str | Path) -> tuple[Path, str]:
    """A model folder for a bundled name, a model folder, or a run folder (its latest checkpoint)."""
    path = Path(name_or_dir)
    if path.is_dir():
        for candidate in (path, path / "best", path / "checkpoint"):
            if (candidate / "config.json").is_file():
                return candidate, path.resolve().name
        read_model_config(path)  # raises the clear "not a model folder" error (mentions pickles if present)
    if str(name_or_dir) in bundled_models():
        return PRETRAINED_DIR / str(name_or_dir), f"ganstudio/{name_or_dir}"
    raise ValueError(
        f"model {str(name_or_dir)!r} is neither a model folder, a run folder nor a bundled model; "
        f"bundled models: {', '.join(bundled_models()) or 'none'}"
    )


def _file_stem(prefix: str, record: dict[str, Any]) -> str:
    name = record.get("label") or record.get("prompt") or ""
    label = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return f"{prefix}-{label}-{record['seed']:06d}" if label else f"{prefix}-{record['seed']:06d}"


def _describe_sketch(sketch: Any) -> str | None:
    """What the image record says about the sketch: its file name, or that one was given."""
    if sketch is None:
        return None
    return Path(sketch).name if isinstance(sketch, str | Path) else "drawing"


@dataclass
class GenerationResult:
    """Generated images and one metadata record per image (seed, conditions, model id)."""

    images: list[Image.Image]
    metadata: list[dict[str, Any]]
    grid_columns: int = 8
    tensors: torch.Tensor | None = field(default=None, repr=False)  # (B, C, H, W) in [-1, 1]

    def grid(self, scale: int = 2) -> Image.Image:
        return make_grid(self.images, columns=min(self.grid_columns, len(self.images)), scale=scale)

    def save(self, out_dir: str | Path, prefix: str = "image", grid: bool = True) -> list[Path]:
        """Write one marked PNG per image (named by seed) and, if `grid`, grid.png; returns the paths."""
        out_dir = Path(out_dir)
        paths = [
            save_png(image, out_dir / f"{_file_stem(prefix, record)}.png", record)
            for image, record in zip(self.images, self.metadata, strict=True)
        ]
        if grid and self.images:
            paths.append(self.save_grid(out_dir / "grid.png"))
        return paths

    def save_grid(self, path: str | Path, scale: int = 2) -> Path:
        """Write the grid as a PNG marked as AI-generated, recording every image's seed and label."""
        record = dict(
            self.metadata[0],
            seed=[r["seed"] for r in self.metadata],
            label=sorted({r["label"] for r in self.metadata if r["label"]}) or None,
            prompt=list(dict.fromkeys(r["prompt"] for r in self.metadata if r.get("prompt"))) or None,
        )
        return save_png(self.grid(scale), path, record)


def guided_map(G: torch.nn.Module, z: torch.Tensor, cond: Cond, guidance: float) -> torch.Tensor:
    """w (B, w_dim) for latents z and conditions. `guidance` > 1 pushes w further along the
    direction the conditions move it: w_free + guidance * (w - w_free), where w_free is the same z
    with the label, attributes and prompt left out (the model learnt that case from condition
    dropout). 1 = the plain model; the sketch enters synthesis and is not scaled."""
    w = G.map(z, cond)
    steering = cond.label_mask | cond.attribute_mask.any(dim=1) | cond.text_mask
    if guidance != 1.0 and bool(steering.any()):
        free = Cond.for_spec(G.spec, len(cond), z.device)
        free.sketch, free.sketch_mask = cond.sketch, cond.sketch_mask
        w = torch.lerp(G.map(z, free), w, guidance)
    return w


class GenerationPipeline:
    """A trained generator plus everything needed to turn user conditions into images."""

    def __init__(
        self,
        G: torch.nn.Module,
        config: Config,
        spec: CondSpec,
        dataset_info: dict[str, Any],
        model_id: str,
        device: torch.device,
        label_prior: LabelPrior | None = None,
    ) -> None:
        self.G, self.config, self.spec = G, config, spec
        self.dataset_info, self.model_id, self.device = dataset_info, model_id, device
        self.label_prior = label_prior

    @classmethod
    def from_pretrained(cls, name_or_dir: str | Path, device: str = "auto") -> GenerationPipeline:
        """Load a bundled model by name, a model folder, or a training run folder."""
        folder, name = resolve_model_dir(name_or_dir)
        config, spec, raw = read_model_config(folder)
        dev = resolve_device(device)
        G, _ = build_models(config.model, raw["resolution"], raw["channels"], spec)
        weights = folder / "generator_ema.safetensors"
        load_weights(G, weights)
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
        dataset_info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        return cls(
            G.to(dev).eval().requires_grad_(False),
            config,
            spec,
            dataset_info,
            f"{name}@{digest}",
            dev,
            load_label_prior(folder, spec),
        )

    def guidance(self, guidance: float | None = None) -> float:
        """`guidance`, or when None this model's default (`model.guidance` in its config: the
        value measured best for its architecture, see BENCHMARKS.md)."""
        return self.config.model.guidance if guidance is None else guidance

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset_info.get("class_names", []))

    @property
    def attribute_names(self) -> list[str]:
        return list(self.spec.attribute_names)

    def label_index(self, label: int | str) -> int:
        names = self.class_names
        if not names:
            raise ValueError(f"model {self.model_id} was trained without classes; do not pass label")
        if isinstance(label, bool) or not isinstance(label, int | str):
            raise ValueError(f"label {label!r} must be a class index or name; valid: {', '.join(names)}")
        if isinstance(label, str) and label.strip().isdigit():
            label = int(label)
        if isinstance(label, int):
            if 0 <= label < len(names):
                return label
            raise ValueError(
                f"label index {label} is out of range 0..{len(names) - 1}; classes: {', '.join(names)}"
            )
        lowered = [n.lower() for n in names]
        if label.strip().lower() in lowered:
            return lowered.index(label.strip().lower())
        raise ValueError(f"label {label!r} is unknown; valid labels: {', '.join(names)}")

    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """The model's text encoder applied to a prompt: (1, T). Empty prompts are an error;
        prompts over MAX_PROMPT_WORDS words are cut there, with a warning."""
        if not self.spec.has_text:
            raise ValueError(
                f"model {self.model_id} was trained without text, so it cannot follow a prompt; "
                "train on a dataset with captions (metadata.jsonl `text` or .txt files) to use prompts"
            )
        return load_text_encoder(self.spec.text_encoder).encode([normalise_prompt(prompt)])

    def normalise_sketch(self, sketch: Any) -> torch.Tensor:
        """A drawing (PIL image, path or array; any size, mode and polarity) → (1, 1, R, R)."""
        if not self.spec.has_sketch:
            raise ValueError(
                f"model {self.model_id} was trained without sketches; train with --sketch "
                "(model.sketch=true) to turn drawings into images"
            )
        return normalise_sketch(sketch, self.spec.sketch_resolution, self.spec.sketch_margin)

    def make_cond(
        self,
        n: int,
        label: int | str | list | None = None,
        attributes: dict[str, float] | None = None,
        prompt: str | None = None,
        sketch: Any = None,
        infer_label: bool = True,
    ) -> Cond:
        """Turn user conditions into a Cond for `n` images (label may be one value or a list of n).
        With `infer_label`, a prompt or sketch without a label also gets the class the model's
        label prior reads from it (see `infer_labels`)."""
        cond = Cond.for_spec(self.spec, n)
        if sketch is not None:
            cond.sketch = self.normalise_sketch(sketch).expand(n, -1, -1, -1)
            cond.sketch_mask[:] = True
        if prompt is not None:
            cond.text = self.encode_prompt(prompt).expand(n, -1)
            cond.text_mask[:] = True
        if label is not None:
            labels = label if isinstance(label, list | tuple) else [label] * n
            if len(labels) != n:
                raise ValueError(f"label list has {len(labels)} entries but n={n}")
            cond.labels = torch.tensor([self.label_index(x) for x in labels])
            cond.label_mask[:] = True
        for name, value in (attributes or {}).items():
            if name not in self.spec.attribute_names:
                valid = ", ".join(self.spec.attribute_names) or "none (this model has no attributes)"
                raise ValueError(f"attribute {name!r} is unknown; valid attributes: {valid}")
            i = self.spec.attribute_names.index(name)
            try:
                raw = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"attribute {name}={value!r} must be a number") from None
            seen = self.dataset_info.get("attributes", {}).get(name)
            if seen:
                margin = 0.25 * (seen["max"] - seen["min"]) + 1e-3
                if not seen["min"] - margin <= raw <= seen["max"] + margin:
                    raise ValueError(
                        f"attribute {name}={raw:g} is outside what the model saw in training "
                        f"({seen['min']:.3g}..{seen['max']:.3g}); pick a value in that range"
                    )
            cond.attributes[:, i] = (raw - self.spec.attribute_mean[i]) / self.spec.attribute_std[i]
            cond.attribute_mask[:, i] = True
        return self.infer_labels(cond) if infer_label else cond

    def infer_labels(self, cond: Cond) -> Cond:
        """Where an image has a prompt or a sketch but no label, add the class the label prior
        finds most likely (models without a prior: unchanged). The generator follows a label far
        more reliably than words or outlines alone, and still gets the prompt and sketch."""
        return cond if self.label_prior is None else self.label_prior.infer_labels(cond)

    def map(self, z: torch.Tensor, cond: Cond, guidance: float | None = None) -> torch.Tensor:
        """w (B, w_dim) for latents z and conditions, with condition guidance (`guided_map`)."""
        return guided_map(self.G, z, cond, self.guidance(guidance))

    def _w_mean(self, cond: Cond, guidance: float | None = None) -> torch.Tensor:
        """Mean w of each image's own conditions (B, w_dim): the centre truncation pulls towards."""
        means: dict[tuple, torch.Tensor] = {}
        rows = []
        for i in range(len(cond)):
            one = cond.select(slice(i, i + 1))
            key = tuple(  # w depends on every condition but the sketch, which enters synthesis only
                tuple(t.flatten().tolist()) for t in one.tensors()[: -2 if self.spec.has_sketch else None]
            )
            if key not in means:
                g = torch.Generator().manual_seed(0)
                z = torch.randn(TRUNCATION_SAMPLES, self.G.z_dim, generator=g).to(self.device)
                means[key] = self.map(z, one.expand(TRUNCATION_SAMPLES), guidance).mean(0)
            rows.append(means[key])
        return torch.stack(rows)

    @torch.no_grad()
    def generate(
        self,
        z: torch.Tensor,
        cond: Cond,
        truncation: float = 1.0,
        batch_size: int = 256,
        guidance: float | None = None,
    ) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1] for latents z (B, z_dim); truncation pulls w to its mean,
        guidance scales how far the conditions move w (see `map`)."""
        out = []
        for start in range(0, z.shape[0], batch_size):
            zb = z[start : start + batch_size].to(self.device)
            cb = cond.select(slice(start, start + batch_size)).to(self.device)
            w = self.map(zb, cb, guidance)
            if truncation != 1.0:
                w_mean = self._w_mean(cb, guidance)
                w = w_mean + truncation * (w - w_mean)
            out.append(self.G.synthesize(w, cb).clamp(-1, 1).float().cpu())
        return torch.cat(out)

    def __call__(
        self,
        n: int = 1,
        seed: int = 0,
        label: int | str | list | None = None,
        attributes: dict[str, float] | None = None,
        truncation: float = 1.0,
        batch_size: int = 256,
        prompt: str | None = None,
        sketch: Any = None,
        guidance: float | None = None,
        infer_label: bool = True,
    ) -> GenerationResult:
        """Generate `n` images; image i uses seed `seed + i`. Same seed and conditions → same pixels.
        `sketch` (a drawing: PIL image, path or array), `prompt`, `label` and `attributes`
        combine; any of them may be left out. Without a label, `infer_label` lets the model's
        label prior pick the class a prompt or sketch describes (recorded as `label`, with
        `label_inferred` true)."""
        if n < 1:
            raise ValueError(f"n={n}: ask for at least one image")
        if not 0.0 <= truncation <= 1.0:
            raise ValueError(f"truncation={truncation} must be between 0 (mean image) and 1 (no truncation)")
        if guidance is not None and not 0.0 <= guidance <= MAX_GUIDANCE:
            raise ValueError(
                f"guidance={guidance} must be between 0 (conditions ignored) and {MAX_GUIDANCE:g}; "
                "1 is the plain model, 1.5-2 follows label and prompt more closely"
            )
        prompt = normalise_prompt(prompt) if prompt is not None else None
        guidance = self.guidance(guidance)
        cond = self.make_cond(n, label, attributes, prompt, sketch, infer_label)
        z = torch.stack(
            [torch.randn(self.G.z_dim, generator=torch.Generator().manual_seed(seed + i)) for i in range(n)]
        )  # (n, z_dim)
        images = self.generate(z, cond, truncation, batch_size, guidance)
        records = []
        for i in range(n):
            label_name = self.class_names[int(cond.labels[i])] if bool(cond.label_mask[i]) else None
            records.append(
                {
                    "model": self.model_id,
                    "seed": seed + i,
                    "label": label_name,
                    "label_inferred": label_name is not None and label is None,
                    "prompt": prompt,
                    "sketch": _describe_sketch(sketch),
                    "attributes": dict(attributes or {}),
                    "truncation": truncation,
                    "guidance": guidance,
                    "ai_generated": True,
                    "digital_source_type": DIGITAL_SOURCE_TYPE,
                    "software": f"ganstudio {__version__}",
                }
            )
        return GenerationResult(to_pil(images), records, tensors=images)

    def class_grid(
        self,
        per_class: int = 8,
        seed: int = 0,
        attributes: dict[str, float] | None = None,
        truncation: float = 1.0,
        prompt: str | None = None,
        sketch: Any = None,
        guidance: float | None = None,
    ) -> GenerationResult:
        """The same `per_class` seeds for every class, one row per class."""
        if not self.class_names:
            raise ValueError(f"model {self.model_id} has no classes; use -n instead of --per-class")
        return self.rows_grid(
            [dict(label=i, prompt=prompt, sketch=sketch) for i in range(len(self.class_names))],
            per_class,
            seed,
            attributes,
            truncation,
            guidance,
        )

    def prompt_grid(
        self,
        prompts: list[str],
        per_prompt: int = 8,
        seed: int = 0,
        truncation: float = 1.0,
        guidance: float | None = None,
        infer_label: bool = True,
    ) -> GenerationResult:
        """The same `per_prompt` seeds for every prompt, one row per prompt."""
        return self.rows_grid(
            [dict(prompt=p, infer_label=infer_label) for p in prompts],
            per_prompt,
            seed,
            truncation=truncation,
            guidance=guidance,
        )

    def rows_grid(
        self,
        rows: list[dict[str, Any]],
        per_row: int = 8,
        seed: int = 0,
        attributes: dict[str, float] | None = None,
        truncation: float = 1.0,
        guidance: float | None = None,
    ) -> GenerationResult:
        """One row of `per_row` images (the same seeds) for each dict of conditions in `rows`."""
        results = [
            self(per_row, seed, attributes=attributes, truncation=truncation, guidance=guidance, **row)
            for row in rows
        ]
        return GenerationResult(
            [im for r in results for im in r.images],
            [m for r in results for m in r.metadata],
            grid_columns=per_row,
            tensors=torch.cat([r.tensors for r in results]),
        )
