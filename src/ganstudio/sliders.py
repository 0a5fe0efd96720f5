"""Slider directions for the editor (`Editor.edit`, `Editor.directions`).

An attribute the model was trained with moves through its condition, in steps of what the model
draws for the image's other conditions (a sneaker's brightness spread, not the whole training
set's), never past the darkest or lightest 2% of those drawings, and only as far as the item
keeps its silhouette and the attribute measured on the drawing moves the asked way: beyond that the generator met no training image like it and draws noise
or another item (a brightness slider that turns a sneaker into a shirt is no slider). Other measured attributes and principal
components move w (InterFaceGAN- and GANSpace-style), at most one standard deviation of w a unit.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch

from ganstudio.data import attributes as measured
from ganstudio.imaging import border_mean, to_uint8, visible

# `editor` is a ganstudio.editing.Editor and `latent` its Latent: not imported here, since the
# editor imports this module (the layout test forbids import cycles, type-only ones included)
Editor = Latent = Any

RANGE_SAMPLES = 256  # drawings an attribute's range is measured on, per set of conditions
TAIL = 0.02  # a slider stops at the 2% / 98% quantiles of those drawings
KEEP_SHAPE = 0.8  # an attribute step is halved until the item's silhouette overlaps this much (IoU)


def _measure(editor: Editor, z: torch.Tensor, cond, name: str) -> torch.Tensor:
    """The attribute `name` measured on what the model draws for (z, cond): (N,)."""
    with torch.no_grad():
        images = torch.cat(
            [
                editor.G.synthesize(editor.pipe.map(z[i : i + 500], c), c).float()
                for i in range(0, len(z), 500)
                for c in [cond.select(slice(i, i + 500)).to(editor.pipe.device)]
            ]
        )
    shown = visible(images)
    return measured.measure(to_uint8(shown))[:, measured.attribute_names(shown.shape[1]).index(name)]


def attribute_range(editor: Editor, latent: Latent, j: int) -> tuple[float, float, float]:
    """(std, low, high) of trained attribute j on what the model draws for the latent's other
    conditions (the attribute itself left free), measured on RANGE_SAMPLES drawings."""
    cond = replace(latent.cond, attribute_mask=latent.cond.attribute_mask.clone())
    cond.attribute_mask[0, j] = False
    key = (j, tuple(tuple(t.flatten().tolist()) for t in cond.tensors()[:8]))
    if key not in editor._ranges:
        z = torch.randn(RANGE_SAMPLES, editor.G.z_dim, generator=torch.Generator().manual_seed(1))
        values = _measure(editor, z, cond.expand(RANGE_SAMPLES), editor.pipe.attribute_names[j])
        low, high = torch.quantile(values, torch.tensor([TAIL, 1 - TAIL])).tolist()
        editor._ranges[key] = (values.std().item(), low, high)
    return editor._ranges[key]


def attribute_step(editor: Editor, latent: Latent, name: str, strength: float) -> torch.Tensor:
    """The move in w (1, w_dim) for `strength` units of a trained attribute: the map at the
    target value minus the map at the current one (the latent's own value, or the one measured
    on its image); the target is `strength` standard deviations of what the model draws for the
    latent's conditions away, stopped at their 2% / 98% quantiles (a value already outside them
    stays where it is rather than jumping back)."""
    pipe, j = editor.pipe, editor.pipe.attribute_names.index(name)
    mean, std = pipe.spec.attribute_mean[j], pipe.spec.attribute_std[j]
    base = replace(latent.cond, attributes=latent.cond.attributes.clone())
    base.attribute_mask = latent.cond.attribute_mask.clone()
    if bool(base.attribute_mask[0, j]):
        value = base.attributes[0, j].item() * std + mean
    else:
        value = _measure(editor, latent.z, latent.cond, name)[0].item()
        base.attributes[0, j], base.attribute_mask[0, j] = (value - mean) / std, True
    spread, low, high = attribute_range(editor, latent, j)
    target = value + strength * spread
    target = max(target, min(low, value)) if strength < 0 else min(target, max(high, value))
    z, cond = latent.z.to(pipe.device), latent.cond.to(pipe.device)
    with torch.no_grad():
        w0 = pipe.map(z, base.to(pipe.device))
        shown = editor.w(latent)  # what the latent draws now (its conditions, earlier edits)
        before = editor.G.synthesize(shown, cond)
        shape, now = _silhouette(before), _value(before, name)
        for _ in range(4):  # halve the step until the item keeps its silhouette and moves as asked
            moved = replace(base, attributes=base.attributes.clone())
            moved.attributes[0, j] = (target - mean) / std
            step = pipe.map(z, moved.to(pipe.device)) - w0
            after = editor.G.synthesize(shown + step, cond)
            kept = _iou(shape, _silhouette(after)) >= KEEP_SHAPE
            # the attribute measured on the drawing moves the asked way, at least a quarter as far
            if kept and (_value(after, name) - now) * math.copysign(1, strength) >= 0.25 * abs(
                target - value
            ):
                return step
            target = value + (target - value) / 2
    return torch.zeros_like(w0)  # no step keeps the item: the slider does nothing rather than garble it


def _value(image: torch.Tensor, name: str) -> float:
    shown = visible(image.float())
    return measured.measure(to_uint8(shown))[0, measured.attribute_names(shown.shape[1]).index(name)].item()


def _silhouette(image: torch.Tensor) -> torch.Tensor:
    """Where the item is: pixels that differ from the background (the border's mean) by more than
    a quarter of the range, or opaque ones on a transparent model. (1, H, W) bool."""
    if image.shape[1] == 4:
        return image[:, 3] > 0
    shown = image.float().mean(dim=1)
    return (shown - border_mean(shown[:, None])).abs() > 0.5


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    union = (a | b).sum().item()
    return 1.0 if union == 0 else (a & b).sum().item() / union


def fit_directions(editor: Editor, latent: Latent, components: int = 5) -> dict[str, torch.Tensor]:
    """Named directions in w (each (1, w_dim)) for this latent's conditions, one unit = one
    standard deviation (of the attribute; of w along it for PCA ones): one per measured
    attribute (InterFaceGAN-style: the direction in w that covaries with it on the images),
    `pca1`… (GANSpace: principal components of w), each named by the attribute it changes
    most where it follows one; class directions come from `edit(..., "class:NAME")`."""
    samples = editor.direction_samples
    z = torch.randn(samples, editor.G.z_dim, generator=torch.Generator().manual_seed(0))
    cond = latent.cond.expand(samples)
    with torch.no_grad():
        w = editor.pipe.map(z, cond)  # (S, w_dim)
        images = torch.cat(
            [
                editor.G.synthesize(w[i : i + 500], cond.select(slice(i, i + 500)))
                for i in range(0, samples, 500)
            ]
        )
    values = measured.measure(to_uint8(visible(images)))  # (S, A): measured on what shows
    names = measured.attribute_names(visible(images).shape[1])
    centred = w - w.mean(0)
    out: dict[str, torch.Tensor] = {}
    for i, name in enumerate(names):
        y = values[:, i] - values[:, i].mean()
        # the covariance of w with the attribute (the regression's "pattern"), not the least-
        # squares coefficients: those point along the directions w barely varies in (where a
        # tiny change predicts a lot), so moving along them changes the image little
        pattern = centred.T @ y  # (w_dim,)
        direction = pattern / pattern.norm().clamp_min(1e-8)
        proj = centred @ direction  # (S,)
        slope = (proj * y).mean() / proj.var().clamp_min(1e-12)  # attribute per unit along it
        # strength 1 = one standard deviation of the attribute (as far as the linear fit holds),
        # but never more than one standard deviation of w along it: further out the generator
        # leaves the region it was trained on and every image gets brighter
        length = (y.std() / slope.abs().clamp_min(1e-12)).clamp(max=proj.std())
        out[name] = direction[None] * length * torch.sign(slope)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    for k in range(min(components, v.shape[0])):
        direction = v[k] * s[k] / math.sqrt(samples - 1)
        proj = centred @ v[k]
        corr = [
            torch.corrcoef(torch.stack([proj, values[:, i]]))[0, 1].abs().item() for i in range(len(names))
        ]
        best = max(range(len(names)), key=lambda i: corr[i]) if names else None
        # named after an attribute only where it follows one (|r| ≥ 0.5), not the best of weak ones
        tied = best is not None and corr[best] >= 0.5
        label = f"pca{k + 1}" + (f" (mostly {names[best]}, r={corr[best]:.2f})" if tied else "")
        out[label] = direction[None]
    return out
