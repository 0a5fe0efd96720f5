"""Inference: one entry point for every face (CLI, API, studio).

    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    result = pipe(n=16, seed=1, label="sneaker", attributes={"brightness": 0.35}, truncation=0.8)
    result = pipe(prompt="a small dark ankle boot", n=16, seed=1)  # "small": describing.py
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
from ganstudio.conditioning import Cond, CondSpec, normalise_prompt
from ganstudio.conditioning.coverage import Coverage
from ganstudio.conditioning.guidance import guided_map, steered_map
from ganstudio.conditioning.prior import LabelPrior
from ganstudio.config import Config
from ganstudio.devices import resolve_device
from ganstudio.grids import Grids
from ganstudio.imaging import png_bytes, to_pil
from ganstudio.modelfolder import ModelFolder
from ganstudio.provenance import DIGITAL_SOURCE_TYPE
from ganstudio.provenance.nearcopy import MAX_REDRAWS, POLICIES, NearCopyIndex, screen
from ganstudio.provenance.watermark import Watermark, shipped_watermark
from ganstudio.results import GenerationResult, describe_sketch
from ganstudio.upscaler import SCALE, Upscaler
from ganstudio.upscaler import upscale as upscale_images
from ganstudio.userconditions import UserConditions

TRUNCATION_SAMPLES = 1024
MAX_GUIDANCE = 5.0
NEGATIVE_STRENGTH = 1.0  # how far a negative prompt pushes w away from its map, by default
MAX_NEGATIVE_STRENGTH = 3.0
MAX_SEED = 2**63 - 1  # torch.Generator seeds are 64-bit; records stay exact in JSON readers that use int64


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
    on_copy: str = "warn"  # what a near-copy of a training image does: warn, block (redraw) or allow
    spare_seed: int = 0  # block redraws with this seed, then the ones after it
    upscale: str | None = None  # enlarge 4× with this method (upscaler.METHODS) before marking
    negative: Cond | None = None  # the negative prompt's branch, row for row (`negative_conditions`)
    negative_strength: float = 0.0


class GenerationPipeline(UserConditions, Grids):
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
        # every image is compared with the training set when the model folder has an index
        # (provenance/nearcopy.py); `on_copy` is what a near-copy does unless a request says
        self.nearcopy: NearCopyIndex | None = None
        self.on_copy = "warn"
        # the model folder's 4× GAN upscaler (upscaler.py), when it has one
        self.upscaler: Upscaler | None = None
        # how close a prompt comes to the training captions (conditioning/coverage.py); `strict`
        # refuses a prompt below the model's threshold instead of noting it
        self.coverage: Coverage | None = None
        self.strict = False

    @classmethod
    def from_pretrained(cls, name_or_dir: str | Path, device: str = "auto") -> GenerationPipeline:
        """Load a bundled model by name, a model folder, or a training run folder (its best
        checkpoint, else its latest: see `modelfolder.resolve`)."""
        folder = ModelFolder.open(name_or_dir)
        dev = resolve_device(device)
        pipe = cls(
            folder.build_generator().to(dev).eval().requires_grad_(False),
            folder.config,
            folder.spec,
            folder.dataset_info,
            f"{folder.name}@{folder.weights_digest()}",
            dev,
            folder.label_prior(),
        )
        pipe.nearcopy = NearCopyIndex.load(folder.path)
        pipe.upscaler = Upscaler.for_model(folder.path, int(folder.dataset_info.get("channels", 1)))
        pipe.coverage = Coverage.load(folder.path, folder.spec.text_dim) if folder.spec.has_text else None
        return pipe

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
        negative: Cond | None = None,
        negative_strength: float = 0.0,
    ) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1] for latents z (B, z_dim); truncation pulls w to its mean,
        guidance scales how far the conditions move w (see `map`); `negative` (conditions row for
        row) pushes w away from its map: w + strength · (map(cond) − map(negative)), as diffusion
        pipelines put a negative prompt in place of the unconditional branch."""
        out = []
        for start in range(0, z.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            zb = z[rows].to(self.device)
            cb = cond.select(rows).to(self.device)
            away = negative.select(rows).to(self.device) if negative is not None else None
            w = steered_map(self.G, zb, cb, self.guidance(guidance), away, negative_strength)
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
        on_copy: str | None = None,
        upscale: int = 1,
        negative: str | None = None,
        negative_strength: float = NEGATIVE_STRENGTH,
        strict: bool | None = None,
    ) -> GenerationResult:
        """Generate `n` images; image i uses seed `seed + i`. Same seed and conditions → same pixels.
        `sketch` (a drawing: PIL image, path or array), `prompt`, `label` and `attributes`
        combine; any of them may be left out. Without a label, `infer_label` lets the model's
        label prior pick the class a prompt or sketch describes (recorded as `label`, with
        `label_inferred` true). `on_copy` (default `self.on_copy`) decides what an image that
        copies a training image does: "warn" (a note), "block" (drawn again with the next unused
        seed, noted) or "allow"; each record holds the check (`near_copy`). `upscale=4` enlarges
        every image four times (the model's GAN upscaler, else Lanczos, with a note) before it is
        marked. `negative` names what to steer away from (text models), `negative_strength` how far.
        A prompt far from every training caption gets a note naming what the model knows (each
        record holds the check, `coverage`); `strict` (default `self.strict`) refuses it instead."""
        request = self.prepare(
            n,
            seed,
            label,
            attributes,
            truncation,
            prompt,
            sketch,
            guidance,
            infer_label,
            on_copy,
            upscale=upscale,
            negative=negative,
            negative_strength=negative_strength,
            strict=strict,
        )
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
        on_copy: str | None = None,
        spare_seed: int | None = None,
        upscale: int = 1,
        negative: str | None = None,
        negative_strength: float = NEGATIVE_STRENGTH,
        strict: bool | None = None,
    ) -> Request:
        """Check a request and turn it into latents, conditions and records (arguments as
        `__call__`; `spare_seed`, default seed + n, is the first seed a blocked near-copy is drawn
        again with); `run` draws any number of prepared requests in shared forward passes."""
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
        on_copy = self.on_copy if on_copy is None else on_copy
        if on_copy not in POLICIES:
            raise ValueError(f"on_copy={on_copy!r}: use {', '.join(POLICIES)}")
        if isinstance(upscale, bool) or upscale not in (1, SCALE):
            raise ValueError(f"upscale={upscale!r}: use 1 (as drawn) or {SCALE} (four times larger)")
        spare_seed = seed + n if spare_seed is None else spare_seed
        if on_copy == "block" and not 0 <= spare_seed <= MAX_SEED - MAX_REDRAWS * n:
            raise ValueError(f"seed {seed}: too close to {MAX_SEED} to leave seeds for redrawing near-copies")
        notes, coverage = self.attribute_notes(attributes), None
        if prompt is not None:
            prompt, coverage, read = self.read_prompt(prompt, self.strict if strict is None else strict)
            notes += read
        method = None
        if upscale == SCALE:
            method = "gan" if self.upscaler is not None else "lanczos"
            if method == "lanczos":
                notes.append(
                    "this model has no GAN upscaler (none can be trained without large originals of "
                    "its training images): enlarged 4× with Lanczos"
                )
        guidance = self.guidance(guidance)
        if negative is not None:
            if not 0.0 < negative_strength <= MAX_NEGATIVE_STRENGTH:
                raise ValueError(
                    f"negative_strength={negative_strength}: use a value above 0 and at most "
                    f"{MAX_NEGATIVE_STRENGTH:g} (1 is the default)"
                )
            negative = normalise_prompt(negative)
        latents = (self.latents(range(seed, seed + n)), truncation, guidance)
        cond, away, z, read, words = self.request_conditions(
            n, label, attributes, prompt, sketch, infer_label, negative, latents
        )
        notes += read
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
                    **({"from_words": words[i]} if words[i] else {}),
                    truncation=truncation,
                    guidance=guidance,
                    **({"upscale": {"scale": SCALE, "method": method}} if method else {}),
                    **({"negative": negative, "negative_strength": negative_strength} if away else {}),
                    **({"coverage": coverage} if coverage else {}),
                )
            )
        ingredients = []
        if sketch is not None and cond.sketch is not None and bool(cond.sketch_mask[0]):
            ingredients.append((describe_sketch(sketch) or "sketch", png_bytes(cond.sketch[:1] * 2 - 1)))
        return Request(
            z,
            cond,
            truncation,
            guidance,
            records,
            notes,
            ingredients,
            on_copy,
            spare_seed,
            method,
            away,
            negative_strength if away is not None else 0.0,
        )

    def latents(self, seeds: range | list[int]) -> torch.Tensor:
        """(len(seeds), z_dim): the latent of each seed, the same whatever else is drawn with it."""
        return torch.stack(
            [torch.randn(self.G.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds]
        )

    def run(self, requests: list[Request], batch_size: int = 256) -> list[GenerationResult]:
        """Draw prepared requests, those with the same truncation and guidance together in shared
        forward passes (a server gathers concurrent requests this way); one result per request,
        the same pixels as drawing each alone up to float rounding."""
        outputs: list[torch.Tensor | None] = [None] * len(requests)
        groups: dict[tuple[float, float, float], list[int]] = {}
        for i, request in enumerate(requests):
            key = (request.truncation, request.guidance, request.negative_strength)
            groups.setdefault(key, []).append(i)
        for (truncation, guidance, strength), members in groups.items():
            z = torch.cat([requests[i].z for i in members])
            cond = Cond.cat([requests[i].cond for i in members])
            negative = None
            if strength:  # a request without a negative pushes away from itself: no change
                negative = Cond.cat([requests[i].negative or requests[i].cond for i in members])
            images = self.generate(z, cond, truncation, batch_size, guidance, negative, strength)
            sizes = [len(requests[i].z) for i in members]
            # the near-copy check sees what G drew, in one pass (small passes cost a quarter of the time)
            checks = self.nearcopy.check(images) if self.nearcopy is not None else [None] * len(images)
            for i, part, mine in zip(members, images.split(sizes), _split(checks, sizes), strict=True):
                part = self._screen(requests[i], part, mine)
                if requests[i].upscale is not None:
                    part = upscale_images(part, requests[i].upscale, self.upscaler)
                outputs[i] = part
        if self.watermark is not None:  # marked last, at the size that is delivered; sizes together
            shapes: dict[tuple[int, ...], list[int]] = {}
            for i, part in enumerate(outputs):
                shapes.setdefault(tuple(part.shape[1:]), []).append(i)
            for members in shapes.values():
                marked = self.watermark.embed(torch.cat([outputs[i] for i in members]))
                for i, part in zip(members, marked.split([len(outputs[i]) for i in members]), strict=True):
                    outputs[i] = part
        return [
            GenerationResult(
                to_pil(images), r.records, tensors=images, notes=r.notes, ingredients=r.ingredients
            )
            for r, images in zip(requests, outputs, strict=True)
        ]

    def _screen(self, request: Request, images: torch.Tensor, checks: list | None = None) -> torch.Tensor:
        """The near-copy check of a request's images (`nearcopy.screen`; `checks`: the index's
        findings); blocked copies are drawn again with the request's spare seeds and conditions."""
        if self.nearcopy is None:
            for record in request.records:
                record["near_copy"] = None
            return images

        def redraw(rows: list[int], seeds: list[int]) -> torch.Tensor:  # keeps words' latent steps
            step = request.z[rows] - self.latents([request.records[r]["seed"] for r in rows])
            cond, t, g = request.cond.select(torch.tensor(rows)), request.truncation, request.guidance
            return self.generate(self.latents(seeds) + step, cond, t, guidance=g)

        policy, spare = request.on_copy, request.spare_seed
        return screen(self.nearcopy, images, request.records, request.notes, policy, spare, redraw, checks)

    def stream(self, n: int, seed: int = 0, chunk: int = 256, **options: Any) -> Iterator[GenerationResult]:
        """`self(n=n, seed=seed, **options)` in results of at most `chunk` images, drawn one after the
        other: the same pixels (image i still uses seed + i) in bounded memory, for large n."""
        if n < 1 or chunk < 1:
            raise ValueError(f"n={n}, chunk={chunk}: both must be at least 1")
        for start in range(0, n, chunk):  # blocked near-copies redraw from seeds after all of n
            spare = seed + n + start * MAX_REDRAWS
            batch_size = options.pop("batch_size", 256)
            request = self.prepare(min(chunk, n - start), seed + start, spare_seed=spare, **options)
            yield self.run([request], batch_size)[0]


def _split(items: list, sizes: list[int]) -> list[list]:
    """`items` cut into consecutive runs of `sizes`."""
    return [items[sum(sizes[:k]) : sum(sizes[: k + 1])] for k in range(len(sizes))]
