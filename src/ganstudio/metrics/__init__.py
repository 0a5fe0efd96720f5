"""Evaluation: generate n images, compare them with real ones, return a dict of metrics.

Metrics are registered by name in `ganstudio.registry.METRICS`; each takes an `EvalSet` and
returns a dict of numbers. Features of the real images are cached by dataset fingerprint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ganstudio.metrics.classifier import WEIGHTS_DIR, load_reference_classifier
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


def extractor_for(dataset_source: str) -> str | None:
    """The reference classifier that fits a dataset, if one was trained for it."""
    name = dataset_source.removeprefix("builtin:").split(":")[0]
    return f"{name}-classifier" if (WEIGHTS_DIR / f"{name}-classifier.json").is_file() else None


@torch.no_grad()
def features(
    extractor: torch.nn.Module, images: torch.Tensor, batch: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    out = [extractor(images[i : i + batch].float()) for i in range(0, len(images), batch)]
    return torch.cat([f for f, _ in out]), torch.cat([lg for _, lg in out])


def evaluate(
    model: str | Path,
    data: str | None = None,
    metrics: list[str] | None = None,
    n: int = 10_000,
    seed: int = 0,
    truncation: float = 1.0,
    inception_weights: str | Path | None = None,
    guidance: float | None = None,
) -> dict[str, Any]:
    """Score a model against real images (default: the test split of its built-in dataset, else its
    training data). `guidance` defaults to the pipeline's, so the score is of what `generate`
    gives; pass 1 for the plain model. Returns {"model", "data", "n", "guidance", metric values…,
    "seconds"}."""
    from ganstudio.config import DataConfig
    from ganstudio.data import load_dataset
    from ganstudio.pipeline import GenerationPipeline

    start = time.perf_counter()
    names = metrics or DEFAULT_METRICS
    for name in names:
        METRICS.get(name)  # unknown names fail before any work, listing the valid ones
    inception = None
    if "inception" in names:
        from ganstudio.metrics.inception import load_inception

        inception = load_inception(inception_weights)  # fails early and clearly when absent
    pipe = GenerationPipeline.from_pretrained(model)
    info = pipe.dataset_info
    if data is None:
        source = info["source"]
        if source.startswith("builtin:"):
            data = source.removeprefix("builtin:").rsplit(":", 1)[0] + ":test"
        elif source.startswith("folder:"):
            data = source.removeprefix("folder:").split("#")[0]
        else:
            raise ValueError(f"cannot tell where the real images of {source!r} are; pass --data")
    channels = str(info["channels"])
    real_set = load_dataset(data, DataConfig(resolution=info["resolution"], channels=channels))
    fake_labels = eval_labels(real_set, n, seed) if pipe.class_names else None
    cond = pipe.make_cond(n, None if fake_labels is None else fake_labels.tolist())
    z = torch.randn(n, pipe.G.z_dim, generator=torch.Generator().manual_seed(seed))
    guidance = pipe.guidance(guidance)
    fake = pipe.generate(z, cond, truncation, guidance=guidance)
    result: dict[str, Any] = {"model": pipe.model_id, "data": data, "n": n, "guidance": guidance}
    result.update(score_images(fake, fake_labels, real_set, names, inception, pipe.class_names))
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def eval_labels(real_set, n: int, seed: int = 0) -> torch.Tensor | None:
    """n class labels drawn like the real images' (a seeded shuffle of their labels, repeated), or
    None when the real images have none."""
    pool = real_set.labels[real_set.labels >= 0]
    if not len(pool):
        return None
    pool = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))]
    return pool.repeat(n // len(pool) + 1)[:n]


def score_images(
    fake: torch.Tensor,
    fake_labels: torch.Tensor | None,
    real_set,
    names: list[str] | None = None,
    inception: torch.nn.Module | None = None,
    class_names: list[str] | None = None,
) -> dict[str, Any]:
    """Score generated images (M, C, H, W) in [-1, 1], made for `fake_labels`, against a real
    PackedDataset with the metrics `names`: what `evaluate` reports, for any generator (the
    benches score a standalone script's with it)."""
    from ganstudio.data.builtin import cache_dir

    names = names or DEFAULT_METRICS
    real = real_set.images.float() / 127.5 - 1  # (N, C, H, W)
    extractor_name = extractor_for(real_set.source)
    real_features = fake_features = fake_logits = None
    if extractor_name is not None and any(m not in ("swd", "inception") for m in names):
        extractor = load_reference_classifier(extractor_name)
        cache = cache_dir() / "metrics" / f"{real_set.fingerprint}-{extractor_name}.safetensors"
        if cache.is_file():
            real_features = load_file(str(cache))["features"]
        else:
            real_features, _ = features(extractor, real)
            cache.parent.mkdir(parents=True, exist_ok=True)
            save_file({"features": real_features.contiguous()}, str(cache))
        fake_features, fake_logits = features(extractor, fake)
    evalset = EvalSet(
        real, fake, fake_labels, real_features, fake_features, fake_logits, inception, real_set.labels
    )
    result: dict[str, Any] = {"extractor": extractor_name}
    for name in names:
        result.update(METRICS.get(name)(evalset))
    if "class_acc_per_class" in result and class_names:
        result["class_acc_per_class"] = {class_names[c]: v for c, v in result["class_acc_per_class"].items()}
    return result


class QuickScorer:
    """A cheap score of G_ema during training (lower is better), for keeping the best checkpoint:
    n images with labels drawn like the real ones, at `guidance` (pass the model's default,
    `config.model.guidance`, to score what `generate` gives). Measures FD on the reference classifier's features and class accuracy where
    the dataset has a classifier, else SWD. `select` names the measure that decides: "fd" (or
    "swd"), or "class_acc" (scored as 1 − accuracy). Each call returns {"score", measures…}."""

    SELECT = ("fd", "class_acc")

    def __init__(
        self,
        data: str,
        resolution: int,
        channels: int,
        n: int = 2000,
        seed: int = 0,
        select: str = "fd",
        guidance: float = 1.0,
    ) -> None:
        from ganstudio.config import DataConfig
        from ganstudio.data import load_dataset

        if select not in self.SELECT:
            raise ValueError(f"unknown selection measure {select!r}; choose one of {', '.join(self.SELECT)}")
        real_set = load_dataset(data, DataConfig(resolution=resolution, channels=str(channels)))
        self.real = real_set.images.float() / 127.5 - 1
        g = torch.Generator().manual_seed(seed)
        self.labels = real_set.labels[torch.randint(len(real_set), (n,), generator=g)]
        self.seed, self.n = seed, n
        name = extractor_for(real_set.source)
        self.extractor = load_reference_classifier(name) if name else None
        if select == "class_acc" and (self.extractor is None or not bool((self.labels >= 0).any())):
            raise ValueError(
                f"selecting by class accuracy needs a dataset with classes and a reference classifier; "
                f"{data} has none: use FD/SWD (the default)"
            )
        self.select, self.guidance = select, guidance
        self.name = select if self.extractor is not None else "swd"
        self.real_features = features(self.extractor, self.real)[0] if self.extractor is not None else None

    @torch.no_grad()
    def __call__(self, G: torch.nn.Module) -> dict[str, float]:
        from ganstudio.conditioning import Cond
        from ganstudio.pipeline import guided_map

        device = next(G.parameters()).device
        z = torch.randn(self.n, G.z_dim, generator=torch.Generator().manual_seed(self.seed)).to(device)
        cond = Cond.for_spec(G.spec, self.n, device)
        if G.spec.num_classes:
            cond.labels, cond.label_mask = self.labels.clamp_min(0).to(device), (self.labels >= 0).to(device)
        fake = []
        for i in range(0, self.n, 500):
            part = cond.select(slice(i, i + 500))
            w = guided_map(G, z[i : i + 500], part, self.guidance)
            fake.append(G.synthesize(w, part).clamp(-1, 1).float().cpu())
        fake = torch.cat(fake)
        if self.extractor is None:
            swd = sliced_wasserstein(self.real, fake)
            return {"score": swd, "swd": swd}
        feats, logits = features(self.extractor, fake)
        out = {"fd": frechet_distance(self.real_features, feats)}
        given = self.labels >= 0
        if bool(given.any()):
            out["class_acc"] = (logits.argmax(1)[given] == self.labels[given]).float().mean().item()
        out["score"] = out["fd"] if self.select == "fd" else 1.0 - out["class_acc"]
        return out


@torch.no_grad()
def attribute_control(model: str | Path, n: int = 500, seed: int = 0) -> dict[str, dict[str, float]]:
    """How well requested measured attributes are met: for each attribute, ask for its dataset's
    10th, 50th and 90th percentile (approximated from mean ± 1.28 std), measure the generated
    images, and report the mean absolute error and the measured means per request."""
    from ganstudio.data import attributes as measured
    from ganstudio.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_pretrained(model)
    names = measured.attribute_names(pipe.dataset_info["channels"])
    report = {}
    for i, name in enumerate(names):
        if name not in pipe.attribute_names:
            continue
        j = pipe.attribute_names.index(name)
        mean, std = pipe.spec.attribute_mean[j], pipe.spec.attribute_std[j]
        targets = [mean - 1.28 * std, mean, mean + 1.28 * std]
        measured_means, errors = [], []
        for target in targets:
            images = pipe(n=n, seed=seed, attributes={name: target}).tensors
            pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
            values = measured.measure(pixels)[:, i]
            measured_means.append(values.mean().item())
            errors.append((values - target).abs().mean().item())
        report[name] = {"targets": targets, "measured": measured_means, "mae": sum(errors) / len(errors)}
    return report
