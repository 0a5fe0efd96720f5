"""The near-copy check: does a generated image reproduce one of the model's training images
(someone's photo, someone's artwork)?

Every training image is reduced to a descriptor — luma moved so that its ink is centred, at
16×16, mean removed, unit length —
projected on its 32 principal components and stored as int8 codes in the model folder
(`nearcopy.safetensors`, written at export: ≈ 32 bytes an image, too coarse to show the image
again). A generated image is centred the same way and compared as it is and mirrored, so a copy that
moved or turned still counts. The threshold is calibrated at export on how close
*real, unseen* images come to the training set: a generated image closer than all but
`PERCENTILE`% of held-out real images is called a near-copy.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from ganstudio.modelfolder import NEARCOPY_FILE
from ganstudio.provenance.watermark import luma
from ganstudio.untrusted import read_safetensors

SIDE = 16
DIMS = 32
PERCENTILE = 1.0  # the threshold: this percentile of held-out real images' nearest distances
FILE = NEARCOPY_FILE
POLICIES = ("warn", "block", "allow")
MAX_REDRAWS = 8  # "block": draws per image before giving up on its conditions
DUPLICATE = 1e-3  # calibration skips pairs this close: the same file twice in a folder


def centred_luma(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1] → luma (B, 1, H, W) moved (sub-pixel, bilinear) so that its ink —
    the difference from the border's median colour — has its centre of mass in the middle: a
    copy that moved lands where its original did, so no shift search is needed."""
    x = luma(images.float())  # linear, so the [-1, 1] range is kept
    b, _, h, w = x.shape
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], -1).flatten(1)
    ink = (x - border.median(1).values.view(b, 1, 1, 1)).abs()[:, 0]  # (B, H, W)
    mass = ink.sum((1, 2)).clamp(min=1e-6)
    cy = (ink.sum(2) * torch.arange(h, dtype=x.dtype)).sum(1) / mass
    cx = (ink.sum(1) * torch.arange(w, dtype=x.dtype)).sum(1) / mass
    # affine_grid works in [-1, 1] coordinates: moving by d pixels is 2d/size
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = (cx - (w - 1) / 2) * 2 / w
    theta[:, 1, 2] = (cy - (h - 1) / 2) * 2 / h
    grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def descriptors(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1] → (B, 256) unit-length descriptors: centred luma at 16×16, mean
    removed."""
    x = centred_luma(images)
    x = F.interpolate(x, size=(SIDE, SIDE), mode="area") if x.shape[-1] != SIDE else x
    x = x.flatten(1)
    x = x - x.mean(1, keepdim=True)
    return x / x.norm(dim=1, keepdim=True).clamp(min=1e-6)


def variants(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, 2, 256): the descriptors of the image and of its mirror image."""
    return torch.stack([descriptors(images), descriptors(images.flip(3))], 1)


@dataclass
class NearCopyIndex:
    mean: torch.Tensor  # (256,)
    components: torch.Tensor  # (DIMS, 256)
    codes: torch.Tensor  # (N, DIMS) int8
    scale: torch.Tensor  # (DIMS,) code → projection
    threshold: float
    calibration: str

    @classmethod
    def build(
        cls, train: torch.Tensor, heldout: torch.Tensor | None = None, batch: int = 2048
    ) -> NearCopyIndex:
        """An index over training images (N, C, H, W) uint8; the threshold from `heldout` real
        images (uint8), or when there are none from each of ≤ 2000 training images' distance to its
        nearest *other* training image."""
        to_float = lambda t: t.float() / 127.5 - 1  # noqa: E731
        d = torch.cat([descriptors(to_float(train[i : i + batch])) for i in range(0, len(train), batch)])
        mean = d.mean(0)
        _, _, v = torch.linalg.svd(
            d[torch.randperm(len(d), generator=torch.Generator().manual_seed(0))[:20000]] - mean,
            full_matrices=False,
        )
        components = F.pad(v[:DIMS], (0, 0, 0, max(0, DIMS - len(v))))  # fewer images than DIMS: zeros
        projected = (d - mean) @ components.T
        scale = projected.abs().amax(0).clamp(min=1e-6) / 127
        codes = (projected / scale).round().clamp(-127, 127).to(torch.int8)
        index = cls(mean, components, codes, scale, float("inf"), "")
        if heldout is not None and len(heldout):
            probe = heldout[torch.randperm(len(heldout), generator=torch.Generator().manual_seed(1))[:5000]]
            distances = index.nearest(to_float(probe))[1]
            how = f"{len(probe)} held-out real images"
        else:
            picks = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))[:2000]
            distances = index.nearest(to_float(train[picks]), exclude=picks)[1]
            how = f"{len(picks)} training images' distance to their nearest other training image"
        distances = distances[distances > DUPLICATE]  # a file that is in the set twice says nothing
        index.threshold = float(torch.quantile(distances, PERCENTILE / 100)) if len(distances) else 0.0
        index.calibration = f"{PERCENTILE:g}th percentile of {how}"
        return index

    def nearest(
        self, images: torch.Tensor, exclude: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(item, distance) of each image's nearest training image, the image or its mirror,
        in the index's principal-component space. `images` (B, C, H, W) in [-1, 1]; `exclude`
        (B,) training items to skip (calibration)."""
        table = self.codes.float() * self.scale  # (N, DIMS)
        neg_sq = -table.square().sum(1)
        items, dists = [], []
        for start in range(0, len(images), 256):
            q = (variants(images[start : start + 256]) - self.mean) @ self.components.T  # (b, 2, DIMS)
            b = len(q)
            score = torch.addmm(neg_sq, q.reshape(2 * b, DIMS), table.T, alpha=2)  # 2q·t - |t|²
            if exclude is not None:
                score[torch.arange(2 * b), exclude[start : start + b].repeat_interleave(2)] = float("-inf")
            best, item = score.max(1)
            d2 = (q.reshape(2 * b, DIMS).square().sum(1) - best).clamp(min=0).view(b, 2)
            d2, view = d2.min(1)
            items.append(item.view(b, 2)[torch.arange(b), view])
            dists.append(d2.sqrt())
        return torch.cat(items), torch.cat(dists)

    def check(self, images: torch.Tensor) -> list[dict]:
        """One record per image: nearest training item, distance, threshold, whether it is a copy."""
        items, dists = self.nearest(images)
        return [
            {"nearest_item": int(i), "distance": round(float(d), 4), "threshold": round(self.threshold, 4),
             "near_copy": bool(d < self.threshold)}
            for i, d in zip(items, dists, strict=True)
        ]  # fmt: skip

    def save(self, folder: Path) -> Path:
        from safetensors.torch import save_file

        path = Path(folder) / FILE
        tensors = {
            "mean": self.mean.half(), "components": self.components.half(),
            "codes": self.codes, "scale": self.scale.float(),
        }  # fmt: skip
        meta = {
            "threshold": repr(self.threshold),
            "calibration": self.calibration,
            "format": "ganstudio-nearcopy-1",
        }
        tmp = path.with_name(f".{FILE}.tmp")
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
        mask = os.umask(0)
        os.umask(mask)
        tmp.chmod(0o666 & ~mask)  # safetensors writes files private to the owner
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, folder: Path) -> NearCopyIndex | None:
        """The folder's index, or None when it has none."""
        path = Path(folder) / FILE
        if not path.is_file():
            return None
        from safetensors import safe_open

        tensors = read_safetensors(path)
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        n = tensors["codes"].shape[0] if "codes" in tensors and tensors["codes"].dim() == 2 else -1
        shapes = {"mean": (256,), "components": (DIMS, 256), "codes": (n, DIMS), "scale": (DIMS,)}
        for name, shape in shapes.items():
            if name not in tensors or tuple(tensors[name].shape) != shape:
                raise ValueError(
                    f"{path}: {name} is missing or not {shape}; rebuild it with `ganstudio export`"
                )
        try:
            threshold = float(json.loads(meta.get("threshold", "")))
            if not math.isfinite(threshold) or threshold < 0:  # NaN would switch the check off
                raise ValueError(threshold)
        except (ValueError, TypeError):
            raise ValueError(
                f"{path}: its threshold is missing or not a finite distance; rebuild it with `ganstudio export`"
            ) from None
        return cls(
            tensors["mean"].float(), tensors["components"].float(), tensors["codes"].to(torch.int8),
            tensors["scale"].float(), threshold, meta.get("calibration", ""),
        )  # fmt: skip


def build_for_folder(folder: Path, data: str | Path | None = None) -> NearCopyIndex:
    """Build and save a model folder's index from its training data: `data`, or the source its
    dataset.json records. The data must be what the model was trained on (same fingerprint);
    the threshold is calibrated on the data's held-out split where it has a separate one, else
    leave-one-out."""
    from ganstudio.data import load_dataset
    from ganstudio.modelfolder import read_config, training_data

    config, _, _ = read_config(folder)
    dataset, source = training_data(folder, data)
    heldout = source.heldout()
    index = NearCopyIndex.build(
        dataset.images, load_dataset(heldout, config.data).images if heldout else None
    )
    index.save(folder)
    return index


def screen(
    index: NearCopyIndex,
    images: torch.Tensor,
    records: list[dict[str, Any]],
    notes: list[str],
    policy: str,
    spare_seed: int,
    redraw: Callable[[list[int], list[int]], torch.Tensor],
    checks: list[dict[str, Any]] | None = None,
) -> torch.Tensor:
    """Check generated images (B, C, H, W) against the index and apply the policy. Each record
    gets `near_copy` (nearest training item, distance, threshold, whether it is a copy). "warn":
    a copy adds a note. "block": `redraw(rows, seeds)` draws those rows again with the next unused
    seeds, from `spare_seed` on, until none is a copy (noted; the record's seed becomes the new
    one and `redrawn_from` lists the old ones); a row still copying after MAX_REDRAWS draws is an
    error. "allow": recorded only. `checks`: `index.check(images)` when the caller made it."""
    checks = index.check(images) if checks is None else checks
    for _ in range(MAX_REDRAWS if policy == "block" else 0):
        flagged = [i for i, check in enumerate(checks) if check["near_copy"]]
        if not flagged:
            break
        seeds = list(range(spare_seed, spare_seed + len(flagged)))
        spare_seed += len(flagged)
        again = redraw(flagged, seeds)
        images = images.clone()
        for i, seed, image, check in zip(flagged, seeds, again, index.check(again), strict=True):
            notes.append(f"seed {records[i]['seed']} drew {_copy_of(checks[i])}; drew seed {seed} instead")
            records[i].setdefault("redrawn_from", []).append(records[i]["seed"])
            records[i]["seed"], images[i], checks[i] = seed, image, check
    for record, check in zip(records, checks, strict=True):
        record["near_copy"] = check
        if check["near_copy"] and policy == "block":
            raise ValueError(
                f"these conditions keep drawing near-copies of training images ({MAX_REDRAWS + 1} "
                f"draws for seed {record['redrawn_from'][0]}); change the conditions, or pass "
                "--on-copy warn to see the images"
            )
        if check["near_copy"] and policy == "warn":
            notes.append(
                f"seed {record['seed']} is {_copy_of(check)}: check it before publishing, or draw "
                "with --on-copy block"
            )
    return images


def _copy_of(check: dict[str, Any]) -> str:
    return (
        f"a near-copy of training image #{check['nearest_item']} (distance {check['distance']:.3f} "
        f"< {check['threshold']:.3f})"
    )
