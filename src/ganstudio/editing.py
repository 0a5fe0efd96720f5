"""Editing on top of the pipeline: bring a real image into the model, vary it, morph between
images, steer it with sliders. Works for every registered architecture through the generator's
contract, `G.map(z, cond) -> w` and `G.synthesize(w, cond)`.

    editor = Editor(GenerationPipeline.from_pretrained("fashion-mnist"))
    latent = editor.invert("boot.png", label="ankle boot")     # a Latent: z and the conditions
    editor.render([latent]).save("out/")                        # the reconstruction
    editor.vary(latent, strength=0.3, n=8).save("out/vary")     # near the image … new items
    editor.interpolate(latent, other, steps=8)                  # a morph
    editor.edit(latent, "brightness", -1.0)                     # a slider (attribute, class or PCA)

A `Latent` lives in z (with its conditions), so anything a generated image can do, an inverted
one can: new conditions, truncation, guidance. Inversion optimises z from an encoder's guess
with a distance that needs no downloaded network (multi-scale pixel L1 + 1 − SSIM).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from ganstudio.conditioning import Cond
from ganstudio.data import attributes as measured
from ganstudio.data.images import fit_image, parse_color
from ganstudio.imaging import border_mean, from_uint8, image_distance, open_image, to_pil
from ganstudio.models.encoder import Encoder
from ganstudio.pipeline import GenerationPipeline
from ganstudio.results import GenerationResult
from ganstudio.sliders import attribute_step, fit_directions

ENCODER_VERSION = 2  # bump when the encoder or its training changes, so cached ones are retrained


@dataclass
class Latent:
    """One image in the model: z (1, z_dim), its conditions (batch of 1), an optional offset in w
    (a slider's edit), and what it came from (for the metadata)."""

    z: torch.Tensor
    cond: Cond
    w_offset: torch.Tensor | None = None
    source: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- the editor


class Editor:
    """Inversion, variations, interpolation and sliders for one pipeline's model."""

    def __init__(
        self, pipe: GenerationPipeline, encoder: Encoder | None = None, direction_samples: int = 2000
    ) -> None:
        self.pipe = pipe
        self.G = pipe.G
        self.encoder = encoder
        self.direction_samples = direction_samples  # samples each slider direction is fitted on
        self._directions: dict[tuple, dict[str, torch.Tensor]] = {}
        self._ranges: dict[tuple, tuple[float, float, float]] = {}  # sliders.attribute_range

    # -- conditions and rendering

    def _cond(self, label=None, prompt=None, attributes=None, sketch=None) -> Cond:
        return self.pipe.make_cond(1, label, attributes, prompt, sketch)

    def w(self, latent: Latent, guidance: float | None = None) -> torch.Tensor:
        """w (1, w_dim) of a latent, with its slider offset."""
        w = self.pipe.map(latent.z.to(self.pipe.device), latent.cond.to(self.pipe.device), guidance)
        return w if latent.w_offset is None else w + latent.w_offset.to(w.device)

    @torch.no_grad()
    def images(self, latents: list[Latent], guidance: float | None = None) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] for a list of latents."""
        out = []
        for latent in latents:
            cond = latent.cond.to(self.pipe.device)
            out.append(self.G.synthesize(self.w(latent, guidance), cond).clamp(-1, 1).float().cpu())
        return torch.cat(out)

    def render(self, latents: list[Latent], operation: str = "render", **extra: Any) -> GenerationResult:
        """Images of latents, marked like every output, with one metadata record each (the model,
        the operation, its source)."""
        images = self.images(latents)
        images = images if self.pipe.watermark is None else self.pipe.watermark.embed(images)
        names = self.pipe.class_names
        records = []
        for i, latent in enumerate(latents):
            label = names[int(latent.cond.labels[0])] if bool(latent.cond.label_mask[0]) else None
            records.append(
                self.pipe.record(seed=latent.source.get("seed", i), label=label)
                | {"operation": operation, "source": latent.source}
                | extra
            )
        return GenerationResult(to_pil(images), records, tensors=images)

    # -- inversion

    def prepare(self, image: Image.Image | str | Path | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Any image (path, PIL, array in 0..255, or a tensor in [-1, 1]) → (1, C, R, R) in [-1, 1],
        fitted to a square and resized as the training data was."""
        if isinstance(image, torch.Tensor):
            return image.float().reshape(1, *image.shape[-3:])
        if isinstance(image, str | Path):
            image = open_image(image, "image")
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        config = self.pipe.config.data
        resolution = self.pipe.dataset_info.get("resolution", config.resolution)
        rgb = fit_image(image, resolution, config.fit, parse_color(config.background))  # (R, R, 3) uint8
        pixels = torch.from_numpy(rgb).permute(2, 0, 1)  # (3, R, R)
        if self.pipe.dataset_info.get("channels", 3) == 1:
            pixels = pixels.float().mean(0, keepdim=True).round().to(torch.uint8)
        elif self.pipe.dataset_info.get("channels") == 4:  # the drawing's alpha (opaque if it has none)
            mask = image.getchannel("A") if "A" in image.getbands() else Image.new("L", image.size, 255)
            alpha = fit_image(mask.convert("RGB"), resolution, config.fit, (0, 0, 0))[..., :1]
            pixels = torch.cat([pixels, torch.from_numpy(alpha).permute(2, 0, 1)])  # (4, R, R)
        image = from_uint8(pixels)[None]  # (1, C, R, R)
        # a product shot is usually dark on light; a grey model trained on light items on black (as
        # fashion-mnist is) needs it the other way round: match the background of its own images
        grey = self.pipe.dataset_info.get("channels") == 1
        self.flipped = grey and (border_mean(image) > 0) != (self._model_border() > 0)
        return -image if self.flipped else image

    def _model_border(self) -> float:
        """Mean border value of the model's own images (negative: a dark background)."""
        if not hasattr(self, "_border_value"):
            with torch.no_grad():
                n = 64
                cond = Cond.for_spec(self.pipe.spec, n, self.pipe.device)
                if self.pipe.class_names:
                    cond.labels = torch.arange(n, device=self.pipe.device) % len(self.pipe.class_names)
                    cond.label_mask[:] = True
                z = torch.randn(n, self.G.z_dim, generator=torch.Generator().manual_seed(0))
                self._border_value = border_mean(self.pipe.generate(z, cond))
        return self._border_value

    def train_encoder(self, steps: int = 600, batch: int = 64, seed: int = 0) -> Encoder:
        """Fit the encoder on the generator's own samples (random z, conditions as the training
        data has them), so inversion starts near the answer. About a minute on two CPU cores at 32 px."""
        g = torch.Generator().manual_seed(seed)
        channels, resolution = self.pipe.dataset_info["channels"], self.pipe.dataset_info["resolution"]
        encoder = Encoder(channels, resolution, self.G.z_dim)
        opt = torch.optim.Adam(encoder.parameters(), lr=1e-3)
        classes = len(self.pipe.class_names)
        for _ in range(steps):
            z = torch.randn(batch, self.G.z_dim, generator=g)
            cond = Cond.for_spec(self.pipe.spec, batch)
            if classes:
                cond.labels, cond.label_mask[:] = torch.randint(classes, (batch,), generator=g), True
            with torch.no_grad():
                images = self.G.synthesize(self.G.map(z, cond), cond).float()
            loss = F.mse_loss(encoder(images), z)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        self.encoder = encoder.eval().requires_grad_(False)
        return self.encoder

    def encoder_path(self) -> Path | None:
        """Where this model's encoder is cached (keyed by the weights' digest); None: not cacheable."""
        from ganstudio.paths import cache_dir

        digest = self.pipe.model_id.rpartition("@")[2]
        return cache_dir() / "encoders" / f"{digest}-v{ENCODER_VERSION}.safetensors" if digest else None

    def load_or_train_encoder(self) -> Encoder:
        """The encoder for this model's weights: from the cache (keyed by the weights' digest),
        else trained once and cached."""
        import os

        from safetensors.torch import save_file

        from ganstudio.modelfolder import load_weights
        from ganstudio.untrusted import build_checked

        path = self.encoder_path()
        if path is not None and path.is_file():
            channels, resolution = self.pipe.dataset_info["channels"], self.pipe.dataset_info["resolution"]
            try:  # the same rule as every part of a model folder: counted and shape-checked first
                encoder = build_checked(lambda: Encoder(channels, resolution, self.G.z_dim), path, "encoder")
                load_weights(encoder, path)
                self.encoder = encoder.eval().requires_grad_(False)
                return self.encoder
            except ValueError:
                path.unlink(missing_ok=True)  # a damaged cache entry is fitted again
        encoder = self.train_encoder()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(tmp))
            os.replace(tmp, path)
        return encoder

    def invert(
        self,
        image: Image.Image | str | Path | np.ndarray | torch.Tensor,
        label: int | str | None = None,
        prompt: str | None = None,
        steps: int = 150,
        lr: float = 0.05,
    ) -> Latent:
        """The latent whose image is closest to `image`: z from the encoder (trained on first use),
        then `steps` Adam steps on the image distance, z kept near the prior's shell. Conditions
        (label, prompt) are the user's; without a label the model's label prior may infer one
        from the prompt. See `invert_many` for several images at once (faster per image)."""
        return self.invert_many([image], label, prompt, steps, lr)[0]

    def invert_many(
        self, images: list, label=None, prompt=None, steps: int = 150, lr: float = 0.05
    ) -> list[Latent]:
        targets = torch.cat([self.prepare(im) for im in images]).to(self.pipe.device)  # (N, C, R, R)
        n = len(targets)
        cond = self.pipe.make_cond(n, label, None, prompt)
        if self.encoder is None:
            self.load_or_train_encoder()
        start = time.perf_counter()  # the encoder is trained once per model: not counted per image
        with torch.no_grad():
            z0 = self.encoder(targets.cpu()).to(self.pipe.device)
        z = z0.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        self.G.requires_grad_(False)
        for _ in range(steps):
            out = self.G.synthesize(self.pipe.map(z, cond), cond)
            prior = (z.square().mean(dim=1) - 1).square()  # stay where z ~ N(0, I) lives
            loss = (image_distance(out.float(), targets) + 0.01 * prior).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds = (time.perf_counter() - start) / n
        latents = []
        for i in range(n):
            described = images[i] if isinstance(images[i], str | Path) else "image"
            latents.append(
                Latent(
                    z[i : i + 1].detach(),
                    cond.select(slice(i, i + 1)),
                    source={
                        "inverted_from": Path(described).name if described != "image" else "image",
                        "seconds": round(seconds, 3),
                    },
                )
            )
        return latents

    # -- variations and interpolation

    def vary(self, latent: Latent, strength: float = 0.3, n: int = 8, seed: int = 0) -> GenerationResult:
        """`n` images near a latent: z moves along the great circle towards a random z (seed + i)
        by `strength` (0 = the same image, 1 = the same conditions, a new item)."""
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength={strength} must be between 0 (the same) and 1 (a new item)")
        out = []
        for i in range(n):
            other = torch.randn(latent.z.shape, generator=torch.Generator().manual_seed(seed + i))
            out.append(
                replace(latent, z=slerp(latent.z, other, strength), source=latent.source | {"seed": seed + i})
            )
        return self.render(out, "vary", strength=strength)

    def interpolate(self, a: Latent, b: Latent, steps: int = 8) -> GenerationResult:
        """`steps` images from a to b: z along the great circle, w between the two conditions' maps
        (a label or prompt can change too), slider offsets linearly; `notes` carry its smoothness."""
        if steps < 2:
            raise ValueError(f"steps={steps}: an interpolation needs at least 2 images")
        images, records = [], []
        ts = torch.linspace(0, 1, steps)
        for frame, t in enumerate(ts.tolist()):
            z = slerp(a.z, b.z, t)
            wa = self.w(replace(a, z=z))
            wb = self.w(replace(b, z=z))
            w = torch.lerp(wa, wb, t)
            cond = a.cond if t < 0.5 else b.cond
            if self.pipe.spec.has_sketch:
                cond = replace(cond, sketch=torch.lerp(a.cond.sketch, b.cond.sketch, t))
            with torch.no_grad():
                images.append(self.G.synthesize(w, cond.to(self.pipe.device)).clamp(-1, 1).float().cpu())
            records.append(
                self.pipe.record(seed=0, label=None)
                | {"operation": "interpolate", "t": round(t, 4), "frame": frame}
            )
        images = torch.cat(images)
        step_change = (images[1:] - images[:-1]).square().mean(dim=(1, 2, 3))
        roughness = (step_change * (steps - 1) ** 2).mean().item()
        result = GenerationResult(to_pil(images), records, grid_columns=steps, tensors=images)
        result.notes.append(f"path length (mean squared pixel change per unit t): {roughness:.3f}")
        return result

    # -- sliders

    def direction_names(self, components: int = 5) -> list[str]:
        """What `edit` takes besides class:NAME: trained and measured attributes, pca1…"""
        shown = measured.attribute_names(min(int(self.pipe.dataset_info.get("channels", 1)), 3))
        names = list(dict.fromkeys(self.pipe.attribute_names + shown))
        return names + [f"pca{k + 1}" for k in range(components)]

    def directions(self, latent: Latent, components: int = 5) -> dict[str, torch.Tensor]:
        """Named directions in w for this latent's conditions (see `sliders.fit_directions`)."""
        key = tuple(tuple(t.flatten().tolist()) for t in latent.cond.tensors()[:6])
        if key not in self._directions:
            self._directions[key] = fit_directions(self, latent, components)
        return self._directions[key]

    def edit(self, latent: Latent, direction: str, strength: float = 1.0) -> Latent:
        """The latent moved along a named direction by `strength` standard deviations: an
        attribute ("brightness"; for an attribute the model was trained with, its condition is
        moved, else the fitted direction in w), a principal component ("pca1"), or "class:NAME"
        (towards what the same z gives for class NAME; strength 1 = that class's image)."""
        if direction in self.pipe.attribute_names:
            return self._edit_attribute(latent, direction, strength)
        if direction.startswith("class:"):
            target = replace(latent.cond, labels=torch.tensor([self.pipe.label_index(direction[6:])]))
            target.label_mask = torch.ones(1, dtype=torch.bool)
            offset = self.w(replace(latent, cond=target, w_offset=None)) - self.w(
                replace(latent, w_offset=None)
            )
            step = strength * offset
        else:
            found = self.directions(latent)
            match = [k for k in found if k == direction or k.split(" ")[0] == direction]
            if not match:
                raise ValueError(f"direction {direction!r} is unknown; valid: {', '.join(found)}, class:NAME")
            step = strength * found[match[0]]
        offset = step if latent.w_offset is None else latent.w_offset + step
        return replace(
            latent, w_offset=offset.detach(), source=latent.source | {"edit": f"{direction} {strength:+g}"}
        )

    def _edit_attribute(self, latent: Latent, name: str, strength: float) -> Latent:
        step = attribute_step(self, latent, name, strength)
        offset = step if latent.w_offset is None else latent.w_offset + step
        return replace(latent, w_offset=offset, source=latent.source | {"edit": f"{name} {strength:+g}"})


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latents (rows), keeping their length near √z_dim."""
    a_n, b_n = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    mixed = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return torch.where(so.abs() < 1e-6, torch.lerp(a, b, t), mixed)
