"""The label prior: which class a prompt or a drawing asks for, when the user names none.

A generator follows a class label far more reliably than a free-text embedding or an outline
(BENCHMARKS.md: on fashion-mnist ~90% class accuracy from the label, under half from a held-out
prompt). Models trained on labelled data therefore carry two small classifiers fitted on the same
training data: one from the text embedding of a caption to its image's class, one from a
(roughened) training sketch to its image's class. When a prompt or a sketch comes without a
label, the pipeline asks the prior for the most likely class and gives the generator that label
too; the prompt and the sketch still go in as they are. It is an idea as old as DALL·E 2's
prior (Ramesh et al. 2022): map the user's words onto the condition the generator knows best.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ganstudio.conditioning.cond import Cond, CondSpec

PRIOR_FILE = "label_prior.safetensors"


def wants_prior(spec: CondSpec) -> bool:
    """Whether a model can have a label prior: it has classes, and text or sketches to read them from."""
    return spec.num_classes > 0 and (spec.has_text or spec.has_sketch)


class SketchClassifier(nn.Module):
    """A small CNN: sketch (B, 1, R, R) in [0, 1] → class logits (B, K). Sketches are read at
    `size` px whatever R (an outline's class shows at 16 px, and it is 4× cheaper than 32)."""

    def __init__(self, num_classes: int, size: int = 16, width: int = 32) -> None:
        super().__init__()
        self.size = size

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.net = nn.Sequential(
            *block(1, width),
            nn.MaxPool2d(2),
            *block(width, 2 * width),
            nn.MaxPool2d(2),
            *block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(4 * width * 16, 256),
            nn.ReLU(),
            nn.Linear(256, num_classes),
        )

    def forward(self, sketch: torch.Tensor) -> torch.Tensor:
        if sketch.shape[-1] != self.size:
            sketch = F.adaptive_avg_pool2d(sketch, self.size)  # (B, 1, size, size)
        return self.net(sketch * 2 - 1)  # (B, K)


class LabelPrior(nn.Module):
    """p(class | prompt, sketch) for a model with classes and text and/or sketches.

    Each head is a classifier of one condition; with both present they combine as independent
    evidence: log p(c | t, s) = log p(c | t) + log p(c | s) - log p(c) + const.
    """

    def __init__(self, spec: CondSpec) -> None:
        super().__init__()
        if not wants_prior(spec):
            raise ValueError("a label prior needs a model with classes and text or sketches")
        self.spec = spec
        self.text = nn.Linear(spec.text_dim, spec.num_classes) if spec.has_text else None
        self.sketch = SketchClassifier(spec.num_classes) if spec.has_sketch else None
        self.register_buffer("log_class_freq", torch.full((spec.num_classes,), -math.log(spec.num_classes)))
        self.report: dict[str, float] = {}  # held-out accuracy of each head, from fitting

    def log_probs(self, cond: Cond) -> torch.Tensor:
        """(B, K) log-probabilities of each class given the prompt and sketch present per image
        (the class frequencies where neither is)."""
        out = self.log_class_freq.expand(len(cond), -1)
        if self.text is not None:
            text = F.log_softmax(self.text(cond.text.float()), dim=1) - self.log_class_freq
            out = out + text * cond.text_mask[:, None]
        if self.sketch is not None and cond.sketch.shape[-1] > 0:
            sketch = F.log_softmax(self.sketch(cond.sketch.float()), dim=1) - self.log_class_freq
            out = out + sketch * cond.sketch_mask[:, None]
        return F.log_softmax(out, dim=1)

    @torch.no_grad()
    def infer_labels(self, cond: Cond, avoid: Cond | None = None) -> Cond:
        """`cond` with the most likely class filled in where no label is given but a prompt or
        a sketch is; other rows unchanged. With `avoid` (a negative prompt's conditions, row for
        row), the class the negative names most is never picked, and the others are weighed by
        p(c | cond) · (1 − p(c | avoid)): "shoe" with "not a sneaker" picks the likeliest shoe
        that is not one."""
        evidence = ~cond.label_mask & (cond.text_mask | cond.sketch_mask)
        if not bool(evidence.any()):
            return cond
        scores = self.log_probs(cond)  # (B, K)
        if avoid is not None and scores.shape[1] > 1:
            away = self.log_probs(avoid)  # (B, K)
            scores = scores + torch.log1p(-away.exp().clamp(max=1 - 1e-6))
            scores = scores.scatter(1, away.argmax(dim=1, keepdim=True), float("-inf"))
        picked = scores.argmax(dim=1)  # (B,)
        out = cond.select(slice(None))
        out.labels = torch.where(evidence, picked, cond.labels)
        out.label_mask = cond.label_mask | evidence
        return out
