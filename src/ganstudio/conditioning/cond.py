"""`Cond`: the conditions of a batch, and the embedding that turns them into one vector.

A condition that is absent for an image (dropped in training, or not given at inference)
is marked by its mask; the embedding then uses a learned "absent" value, so one model
generates with any subset of conditions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

DEFAULT_SKETCH_MARGIN = 0.0625  # empty border of a sketch, as a fraction of its side, when none is measured


@dataclass
class CondSpec:
    """What a model can be conditioned on (stored in config.json)."""

    num_classes: int = 0
    attribute_names: list[str] = field(default_factory=list)
    attribute_mean: list[float] = field(default_factory=list)  # normalisation of raw attribute values
    attribute_std: list[float] = field(default_factory=list)
    text_encoder: str = ""  # "" = no text; else a text encoder name or local folder
    text_dim: int = 0
    sketch_resolution: int = 0  # 0 = no sketch; else sketches are (1, R, R)
    sketch_margin: float = DEFAULT_SKETCH_MARGIN  # typical empty border of training sketches

    @property
    def num_attributes(self) -> int:
        return len(self.attribute_names)

    @property
    def has_text(self) -> bool:
        return bool(self.text_encoder)

    @property
    def has_sketch(self) -> bool:
        return self.sketch_resolution > 0

    @property
    def is_conditional(self) -> bool:
        return self.num_classes > 0 or self.num_attributes > 0 or self.has_text or self.has_sketch


@dataclass
class Cond:
    """Conditions of a batch of B images.

    labels: (B,) int64 class indices; label_mask: (B,) bool, False = no label.
    attributes: (B, A) float, normalised; attribute_mask: (B, A) bool, False = not given.
    text: (B, T) float, a text encoder's unit-length embedding; text_mask: (B,) bool.
    sketch: (B, 1, R, R) float in [0, 1], 1 = stroke (R = 0 for models without sketches);
    sketch_mask: (B,) bool.
    """

    labels: torch.Tensor
    label_mask: torch.Tensor
    attributes: torch.Tensor
    attribute_mask: torch.Tensor
    text: torch.Tensor
    text_mask: torch.Tensor
    sketch: torch.Tensor
    sketch_mask: torch.Tensor

    @classmethod
    def empty(
        cls,
        batch: int,
        num_attributes: int = 0,
        device: torch.device | str = "cpu",
        text_dim: int = 0,
        sketch_resolution: int = 0,
    ) -> Cond:
        return cls(
            labels=torch.zeros(batch, dtype=torch.int64, device=device),
            label_mask=torch.zeros(batch, dtype=torch.bool, device=device),
            attributes=torch.zeros(batch, num_attributes, device=device),
            attribute_mask=torch.zeros(batch, num_attributes, dtype=torch.bool, device=device),
            text=torch.zeros(batch, text_dim, device=device),
            text_mask=torch.zeros(batch, dtype=torch.bool, device=device),
            sketch=torch.zeros(batch, 1, sketch_resolution, sketch_resolution, device=device),
            sketch_mask=torch.zeros(batch, dtype=torch.bool, device=device),
        )

    @classmethod
    def for_spec(cls, spec: CondSpec, batch: int, device: torch.device | str = "cpu") -> Cond:
        """All conditions absent, shaped for a model with `spec`."""
        return cls.empty(batch, spec.num_attributes, device, spec.text_dim, spec.sketch_resolution)

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    def _map(self, fn) -> Cond:
        return Cond(*(fn(t) for t in self.tensors()))

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: torch.device | str) -> Cond:
        return self._map(lambda t: t.to(device))

    def select(self, index: torch.Tensor | slice) -> Cond:
        return self._map(lambda t: t[index])

    @staticmethod
    def cat(conds: list[Cond]) -> Cond:
        """The conditions of several batches (of one model) as one batch."""
        return Cond(*(torch.cat(parts) for parts in zip(*(c.tensors() for c in conds), strict=True)))

    def expand(self, n: int) -> Cond:
        """Repeat the conditions of a one-image Cond for `n` images."""
        return self._map(lambda t: t.expand(n, *t.shape[1:]))

    def drop(
        self,
        p: float,
        generator: torch.Generator,
        p_attributes: float | None = None,
        p_text: float | None = None,
        p_sketch: float | None = None,
    ) -> Cond:
        """Drop the label of each image with probability `p`, all its attributes with probability
        `p_attributes` (default `p`), each remaining attribute alone with probability `p`, its
        text with probability `p_text` and its sketch with probability `p_sketch` (default `p`)."""
        p_attributes = p if p_attributes is None else p_attributes
        p_text = p if p_text is None else p_text
        p_sketch = p if p_sketch is None else p_sketch
        batch = self.labels.shape[0]
        keep_label = torch.rand(batch, generator=generator) >= p
        keep_attr = torch.rand(batch, 1, generator=generator) >= p_attributes
        keep_one = torch.rand(self.attribute_mask.shape, generator=generator) >= p
        keep_text = torch.rand(batch, generator=generator) >= p_text
        keep_sketch = torch.rand(batch, generator=generator) >= p_sketch
        return dataclasses.replace(
            self,
            label_mask=self.label_mask & keep_label.to(self.label_mask.device),
            attribute_mask=self.attribute_mask & (keep_attr & keep_one).to(self.attribute_mask.device),
            text_mask=self.text_mask & keep_text.to(self.text_mask.device),
            sketch_mask=self.sketch_mask & keep_sketch.to(self.sketch_mask.device),
        )


def _masked_mlp(inputs: int, dim: int) -> nn.Sequential:
    """MLP over [values * mask, mask]: zeros plus a mask of zeros is the learned "absent" value."""
    return nn.Sequential(nn.Linear(2 * inputs, dim), nn.LeakyReLU(0.2), nn.Linear(dim, dim))


class CondEmbedding(nn.Module):
    """Embeds a Cond into (B, dim): class table (+ an "absent" row), masked attribute MLP and
    masked text MLP, summed."""

    def __init__(self, spec: CondSpec, dim: int, classes: bool = True) -> None:
        """`classes=False`: the class is left out (a model that takes it another way, e.g. the
        DCGAN D's one-hot planes); labels passed in are then ignored, not an error."""
        super().__init__()
        self.spec = spec
        self.dim = dim
        self.use_classes = classes
        self.classes = nn.Embedding(spec.num_classes + 1, dim) if spec.num_classes and classes else None
        self.attributes = _masked_mlp(spec.num_attributes, dim) if spec.num_attributes else None
        self.text = (
            nn.Sequential(nn.Linear(spec.text_dim + 1, dim), nn.LeakyReLU(0.2), nn.Linear(dim, dim))
            if spec.has_text
            else None
        )

    def forward(self, cond: Cond | None, batch: int, device: torch.device) -> torch.Tensor:
        out = torch.zeros(batch, self.dim, device=device)
        if cond is None:
            cond = Cond.for_spec(self.spec, batch, device)
        if self.classes is not None:
            index = torch.where(
                cond.label_mask, cond.labels, torch.full_like(cond.labels, self.spec.num_classes)
            )
            out = out + self.classes(index)
        elif self.use_classes and bool(cond.label_mask.any()):
            raise ValueError("this model was trained without class labels; do not pass a label")
        if self.attributes is not None:
            mask = cond.attribute_mask.to(out.dtype)
            out = out + self.attributes(torch.cat([cond.attributes * mask, mask], dim=1))
        if self.text is not None:
            mask = cond.text_mask.to(out.dtype)[:, None]  # (B, 1)
            out = out + self.text(torch.cat([cond.text * mask, mask], dim=1))
        elif bool(cond.text_mask.any()):
            raise ValueError("this model was trained without text; do not pass a prompt")
        return out  # (B, dim)
