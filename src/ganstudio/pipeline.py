"""Inference: one entry point for every face (CLI, API, studio).

    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    result = pipe(n=16, seed=1, label="sneaker", attributes={"brightness": 0.2}, truncation=0.8)
    result = pipe(prompt="a dark ankle boot", n=16, seed=1)
    result = pipe(sketch="drawing.png", prompt="a dark ankle boot", n=8, seed=1)
    result.save("out/")   # PNGs marked as AI-generated, plus a grid

Image i of a call uses seed `seed + i`, so any single image can be regenerated from its record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganstudio import __version__
from ganstudio.conditioning import Cond, CondSpec, load_text_encoder, normalise_prompt
from ganstudio.conditioning.prior import LabelPrior
from ganstudio.conditioning.sketch import normalise_sketch
from ganstudio.conditioning.text import MAX_PROMPT_WORDS
from ganstudio.config import Config
from ganstudio.devices import resolve_device
from ganstudio.grids import Grids
from ganstudio.imaging import png_bytes, to_pil
from ganstudio.modelfolder import ModelFolder
from ganstudio.provenance import DIGITAL_SOURCE_TYPE
from ganstudio.provenance.watermark import Watermark, shipped_watermark
from ganstudio.results import GenerationResult, describe_sketch

TRUNCATION_SAMPLES = 1024
MAX_GUIDANCE = 5.0
MAX_SEED = 2**63 - 1  # torch.Generator seeds are 64-bit; records stay exact in JSON readers that use int64


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


@dataclass
class Request:
    """A checked generation request: latents, conditions and one record per image."""

    z: torch.Tensor  # (n, z_dim)
    cond: Cond
    truncation: float
    guidance: float
    records: list[dict[str, Any]]
    notes: list[str]
    ingredients: list[tuple[str, bytes]]  # inputs recorded in the C2PA manifest: (title, PNG bytes)


ENGLISH_ENCODERS = {"builtin", "minilm"}  # the shipped encoders; a user's own may read other languages


class GenerationPipeline(Grids):
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
        # every image is watermarked in its pixels (provenance/watermark.py); None turns it off
        # for internal uses (training the watermark itself, benches of the unmarked model)
        self.watermark: Watermark | None = shipped_watermark()

    @classmethod
    def from_pretrained(cls, name_or_dir: str | Path, device: str = "auto") -> GenerationPipeline:
        """Load a bundled model by name, a model folder, or a training run folder (its best
        checkpoint, else its latest: see `modelfolder.resolve`)."""
        folder = ModelFolder.open(name_or_dir)
        dev = resolve_device(device)
        return cls(
            folder.build_generator().to(dev).eval().requires_grad_(False),
            folder.config,
            folder.spec,
            folder.dataset_info,
            f"{folder.name}@{folder.weights_digest()}",
            dev,
            folder.label_prior(),
        )

    @classmethod
    def from_modules(
        cls,
        G: torch.nn.Module,
        config: Config,
        dataset_info: dict[str, Any] | None = None,
        model_id: str = "in-memory",
        label_prior: LabelPrior | None = None,
    ) -> GenerationPipeline:
        """A pipeline over a generator already in memory (the training loop's G_ema, a bench's
        model): the same generation code as a loaded model, on G's device."""
        device = next(G.parameters()).device
        return cls(G, config, G.spec, dict(dataset_info or {}), model_id, device, label_prior)

    def record(self, seed: int, label: str | None, **conditions: Any) -> dict[str, Any]:
        """The metadata record of one image: model, seed, label, the other conditions, and the
        AI-generated marking every output carries."""
        return {
            "model": self.model_id,
            "seed": seed,
            "label": label,
            **conditions,
            "ai_generated": True,
            "digital_source_type": DIGITAL_SOURCE_TYPE,
            "software": f"ganstudio {__version__}",
            "watermark": self.watermark is not None,
        }

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
        prompts over MAX_PROMPT_WORDS words are cut there (`GenerationResult.notes` says so)."""
        return self._encode(normalise_prompt(prompt))

    def _encode(self, prompt: str) -> torch.Tensor:
        """`encode_prompt` for a prompt already normalised."""
        if not self.spec.has_text:
            raise ValueError(
                f"model {self.model_id} was trained without text, so it cannot follow a prompt; "
                "train on a dataset with captions (metadata.jsonl `text` or .txt files) to use prompts"
            )
        return load_text_encoder(self.spec.text_encoder).encode([prompt])

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
        prompt = normalise_prompt(prompt) if prompt is not None else None
        return self._conditions(n, label, attributes, prompt, sketch, infer_label)

    def _conditions(
        self,
        n: int,
        label: int | str | list | None,
        attributes: dict[str, float] | None,
        prompt: str | None,
        sketch: Any,
        infer_label: bool,
    ) -> Cond:
        """`make_cond` for a prompt already normalised."""
        cond = Cond.for_spec(self.spec, n)
        if sketch is not None:
            cond.sketch = self.normalise_sketch(sketch).expand(n, -1, -1, -1)
            cond.sketch_mask[:] = True
        if prompt is not None:
            cond.text = self._encode(prompt).expand(n, -1)
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
        request = self.prepare(n, seed, label, attributes, truncation, prompt, sketch, guidance, infer_label)
        return self.run([request], batch_size)[0]

    def prepare(
        self,
        n: int = 1,
        seed: int = 0,
        label: int | str | list | None = None,
        attributes: dict[str, float] | None = None,
        truncation: float = 1.0,
        prompt: str | None = None,
        sketch: Any = None,
        guidance: float | None = None,
        infer_label: bool = True,
    ) -> Request:
        """Check a request and turn it into latents, conditions and records (arguments as
        `__call__`); `run` draws any number of prepared requests in shared forward passes."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n}: ask for at least one image")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED - (n - 1):
            raise ValueError(
                f"seed {seed!r} must be a whole number from 0 to {MAX_SEED - (n - 1)} (image i uses seed + i)"
            )
        if not 0.0 <= truncation <= 1.0:
            raise ValueError(f"truncation={truncation} must be between 0 (mean image) and 1 (no truncation)")
        if guidance is not None and not 0.0 <= guidance <= MAX_GUIDANCE:
            raise ValueError(
                f"guidance={guidance} must be between 0 (conditions ignored) and {MAX_GUIDANCE:g}; "
                "1 is the plain model, 1.5-2 follows label and prompt more closely"
            )
        notes = []
        if prompt is not None:
            words = len(str(prompt).split())
            prompt = normalise_prompt(prompt)
            if words > MAX_PROMPT_WORDS:
                notes.append(f"the prompt has {words} words; only the first {MAX_PROMPT_WORDS} were used")
            if not any("a" <= ch <= "z" for ch in prompt) and self.spec.text_encoder in ENGLISH_ENCODERS:
                notes.append(
                    f"the prompt has no Latin-script words; this model's text encoder "
                    f"({self.spec.text_encoder}) learnt English, so it may not understand it: try English words"
                )
        guidance = self.guidance(guidance)
        cond = self._conditions(n, label, attributes, prompt, sketch, infer_label)
        z = torch.stack(
            [torch.randn(self.G.z_dim, generator=torch.Generator().manual_seed(seed + i)) for i in range(n)]
        )  # (n, z_dim)
        records = []
        for i in range(n):
            label_name = self.class_names[int(cond.labels[i])] if bool(cond.label_mask[i]) else None
            records.append(
                self.record(
                    seed + i,
                    label_name,
                    label_inferred=label_name is not None and label is None,
                    prompt=prompt,
                    sketch=describe_sketch(sketch),
                    attributes=dict(attributes or {}),
                    truncation=truncation,
                    guidance=guidance,
                )
            )
        ingredients = []
        if sketch is not None and cond.sketch is not None and bool(cond.sketch_mask[0]):
            ingredients.append((describe_sketch(sketch) or "sketch", png_bytes(cond.sketch[:1] * 2 - 1)))
        return Request(z, cond, truncation, guidance, records, notes, ingredients)

    def run(self, requests: list[Request], batch_size: int = 256) -> list[GenerationResult]:
        """Draw prepared requests, those with the same truncation and guidance together in shared
        forward passes (a server gathers concurrent requests this way); one result per request,
        the same pixels as drawing each alone up to float rounding."""
        outputs: list[torch.Tensor | None] = [None] * len(requests)
        groups: dict[tuple[float, float], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault((request.truncation, request.guidance), []).append(i)
        for (truncation, guidance), members in groups.items():
            z = torch.cat([requests[i].z for i in members])
            cond = Cond.cat([requests[i].cond for i in members])
            images = self.generate(z, cond, truncation, batch_size, guidance)
            if self.watermark is not None:
                images = self.watermark.embed(images)
            for i, part in zip(members, images.split([len(requests[i].z) for i in members]), strict=True):
                outputs[i] = part
        return [
            GenerationResult(
                to_pil(images), r.records, tensors=images, notes=r.notes, ingredients=r.ingredients
            )
            for r, images in zip(requests, outputs, strict=True)
        ]

    def stream(self, n: int, seed: int = 0, chunk: int = 256, **options: Any) -> Iterator[GenerationResult]:
        """`self(n=n, seed=seed, **options)` in results of at most `chunk` images, drawn one after
        the other: the same pixels (image i still uses seed + i) in bounded memory, for large n."""
        if n < 1 or chunk < 1:
            raise ValueError(f"n={n}, chunk={chunk}: both must be at least 1")
        for start in range(0, n, chunk):
            yield self(n=min(chunk, n - start), seed=seed + start, **options)
