"""The metrics, registered by name in `ganstudio.registry.METRICS`: each takes an `EvalSet`
(real and generated images, and the reference classifier's features where one exists) and
returns a dict of numbers."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganstudio.metrics.distances import (
    frechet_distance,
    kernel_inception_distance,
    precision_recall,
    sliced_wasserstein,
)
from ganstudio.registry import METRICS

DEFAULT_METRICS = ["fd", "kid", "pr", "class_acc", "variety", "swd"]


@dataclass
class EvalSet:
    real: torch.Tensor  # (N, C, H, W) in [-1, 1]
    fake: torch.Tensor  # (M, C, H, W) in [-1, 1]
    fake_labels: torch.Tensor | None  # (M,) the class each fake was generated for
    real_features: torch.Tensor | None  # (N, F) from the reference classifier
    fake_features: torch.Tensor | None
    fake_logits: torch.Tensor | None
    inception: torch.nn.Module | None = None
    real_labels: torch.Tensor | None = None  # (N,) class of each real image, -1 = none


def _needs_features(s: EvalSet, name: str) -> None:
    if s.real_features is None:
        raise ValueError(
            f"metric {name!r} needs a reference classifier for this dataset; use --metrics swd "
            "(works on any folder)"
        )


@METRICS.register("fd")
def _fd(s: EvalSet) -> dict[str, float]:
    _needs_features(s, "fd")
    return {"fd": frechet_distance(s.real_features, s.fake_features)}


@METRICS.register("kid")
def _kid(s: EvalSet) -> dict[str, float]:
    _needs_features(s, "kid")
    return {"kid": kernel_inception_distance(s.real_features, s.fake_features)}


@METRICS.register("pr")
def _pr(s: EvalSet) -> dict[str, float]:
    _needs_features(s, "pr")
    precision, recall = precision_recall(s.real_features, s.fake_features)
    return {"precision": precision, "recall": recall}


@METRICS.register("class_acc")
def _class_acc(s: EvalSet) -> dict[str, float]:
    _needs_features(s, "class_acc")
    if s.fake_labels is None:
        raise ValueError("metric 'class_acc' needs a model with classes")
    correct = (s.fake_logits.argmax(1) == s.fake_labels).float()
    per_class = {int(c): correct[s.fake_labels == c].mean().item() for c in s.fake_labels.unique().tolist()}
    return {"class_acc": correct.mean().item(), "class_acc_per_class": per_class}


@METRICS.register("variety")
def _variety(s: EvalSet) -> dict[str, float]:
    """How much the images of one condition vary, relative to real images of the same class:
    the per-pixel standard deviation over the fakes of each class divided by that over the reals
    of the class, averaged over classes (whole sets when there are no classes). About 1 = as
    varied as the data; near 0 = one image per class whatever the seed. Needs no extractor."""
    pairs = []
    if s.fake_labels is not None and s.real_labels is not None:
        for c in s.fake_labels.unique().tolist():
            fake, real = s.fake[s.fake_labels == c], s.real[s.real_labels == c]
            if len(fake) > 1 and len(real) > 1:
                pairs.append((fake, real))
    if not pairs:
        pairs = [(s.fake, s.real)]
    ratios = [fake.float().std(0).mean() / real.float().std(0).mean().clamp_min(1e-8) for fake, real in pairs]
    return {"variety": torch.stack(ratios).mean().item()}


@METRICS.register("inception")
def _inception(s: EvalSet) -> dict[str, float]:
    """Inception-V3 FID and KID on min(n, len(real)) real images (slow on a CPU: ~20 images/s)."""
    if s.inception is None:
        raise ValueError("metric 'inception' needs Inception weights; pass --inception-weights PATH")
    real = s.real[: len(s.fake)]
    real_f, fake_f = (
        torch.cat([s.inception(x[i : i + 50]) for i in range(0, len(x), 50)]) for x in (real, s.fake)
    )
    return {
        "inception_fid": frechet_distance(real_f, fake_f),
        "inception_kid": kernel_inception_distance(real_f, fake_f, subset_size=min(1000, len(real_f))),
    }


@METRICS.register("swd")
def _swd(s: EvalSet) -> dict[str, float]:
    return {"swd": sliced_wasserstein(s.real, s.fake)}
