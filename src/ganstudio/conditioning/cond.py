"""`Cond`: the conditions of a batch, and the embedding that turns them into one vector.

A condition that is absent for an image (dropped in training, or not given at inference)
is marked by its mask; the embedding then uses a learned "absent" value, so one model
generates with any subset of conditions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class CondSpec:
    """What a model can be conditioned on (stored in config.json)."""

    num_classes: int = 0
    attribute_names: list[str] = field(default_factory=list)
    attribute_mean: list[float] = field(default_factory=list)  # normalisation of raw attribute values
    attribute_std: list[float] = field(default_factory=list)

    @property
    def num_attributes(self) -> int:
        return len(self.attribute_names)

    @property
    def is_conditional(self) -> bool:
        return self.num_classes > 0 or self.num_attributes > 0


@dataclass
class Cond:
    """Conditions of a batch of B images.

    labels: (B,) int64 class indices; label_mask: (B,) bool, False = no label.
    attributes: (B, A) float, normalised; attribute_mask: (B, A) bool, False = not given.
    """

    labels: torch.Tensor
    label_mask: torch.Tensor
    attributes: torch.Tensor
    attribute_mask: torch.Tensor

    @classmethod
    def empty(cls, batch: int, num_attributes: int = 0, device: torch.device | str = "cpu") -> Cond:
        return cls(
            labels=torch.zeros(batch, dtype=torch.int64, device=device),
            label_mask=torch.zeros(batch, dtype=torch.bool, device=device),
            attributes=torch.zeros(batch, num_attributes, device=device),
            attribute_mask=torch.zeros(batch, num_attributes, dtype=torch.bool, device=device),
        )

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: torch.device | str) -> Cond:
        return Cond(
            *(t.to(device) for t in (self.labels, self.label_mask, self.attributes, self.attribute_mask))
        )

    def select(self, index: torch.Tensor | slice) -> Cond:
        return Cond(
            self.labels[index], self.label_mask[index], self.attributes[index], self.attribute_mask[index]
        )

    def expand(self, n: int) -> Cond:
        """Repeat the conditions of a one-image Cond for `n` images."""
        return Cond(
            *(
                t.expand(n, *t.shape[1:])
                for t in (self.labels, self.label_mask, self.attributes, self.attribute_mask)
            )
        )

    def drop(self, p: float, generator: torch.Generator, p_attributes: float | None = None) -> Cond:
        """Drop the label of each image with probability `p`, all its attributes with probability
        `p_attributes` (default `p`), and each remaining attribute alone with probability `p`."""
        p_attributes = p if p_attributes is None else p_attributes
        keep_label = torch.rand(self.labels.shape, generator=generator) >= p
        keep_attr = torch.rand(self.attribute_mask.shape[0], 1, generator=generator) >= p_attributes
        keep_one = torch.rand(self.attribute_mask.shape, generator=generator) >= p
        return Cond(
            self.labels,
            self.label_mask & keep_label.to(self.label_mask.device),
            self.attributes,
            self.attribute_mask & (keep_attr & keep_one).to(self.attribute_mask.device),
        )


class CondEmbedding(nn.Module):
    """Embeds a Cond into (B, dim): class table (+ an "absent" row) plus masked attribute MLP."""

    def __init__(self, spec: CondSpec, dim: int) -> None:
        super().__init__()
        self.spec = spec
        self.dim = dim
        self.classes = nn.Embedding(spec.num_classes + 1, dim) if spec.num_classes else None
        self.attributes = (
            nn.Sequential(nn.Linear(2 * spec.num_attributes, dim), nn.LeakyReLU(0.2), nn.Linear(dim, dim))
            if spec.num_attributes
            else None
        )

    def forward(self, cond: Cond | None, batch: int, device: torch.device) -> torch.Tensor:
        out = torch.zeros(batch, self.dim, device=device)
        if cond is None:
            cond = Cond.empty(batch, self.spec.num_attributes, device)
        if self.classes is not None:
            index = torch.where(
                cond.label_mask, cond.labels, torch.full_like(cond.labels, self.spec.num_classes)
            )
            out = out + self.classes(index)
        elif bool(cond.label_mask.any()):
            raise ValueError("this model was trained without class labels; do not pass a label")
        if self.attributes is not None:
            mask = cond.attribute_mask.to(out.dtype)
            out = out + self.attributes(torch.cat([cond.attributes * mask, mask], dim=1))
        return out  # (B, dim)
