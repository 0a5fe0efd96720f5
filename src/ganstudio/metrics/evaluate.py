"""Scoring a generator: `evaluate` for a saved model, `QuickScorer` for G_ema during training,
`score_images` for any generator's images (the benches score a standalone script's with it).
All three generate through `GenerationPipeline` and score against one `ReferenceData`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganstudio.metrics.distances import frechet_distance, sliced_wasserstein
from ganstudio.metrics.reference import ReferenceData, features
from ganstudio.metrics.scores import DEFAULT_METRICS, EvalSet
from ganstudio.registry import METRICS

DEFAULT_N = 2000  # answers in well under a minute on two CPU cores; pass -n 10000 for papers


def evaluate(
    model: str | Path,
    data: str | None = None,
    metrics: list[str] | None = None,
    n: int = DEFAULT_N,
    seed: int = 0,
    truncation: float = 1.0,
    inception_weights: str | Path | None = None,
    guidance: float | None = None,
    progress_fn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score a model against real images (default: the test split of its built-in dataset, else its
    training data). `guidance` defaults to the pipeline's, so the score is of what `generate`
    gives; pass 1 for the plain model. Returns {"model", "data", "n", "guidance", metric values…,
    "seconds"}."""
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
    say = progress_fn or (lambda _: None)
    say(f"loading the real images to compare with ({data or 'the model’s held-out data'})")
    reference = ReferenceData.for_model(pipe.dataset_info, data)
    labels = reference.eval_labels(n, seed) if pipe.class_names else None
    say(f"generating {n} images")
    fake = generate_for_scoring(pipe, n, labels, seed, truncation, guidance)
    say(f"scoring ({', '.join(names)})")
    result: dict[str, Any] = {"model": pipe.model_id, "data": str(reference.source), "n": n}
    result["guidance"] = pipe.guidance(guidance)
    result.update(score_images(fake, labels, reference, names, inception, pipe.class_names))
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def generate_for_scoring(
    pipe,
    n: int,
    labels: torch.Tensor | None,
    seed: int,
    truncation: float = 1.0,
    guidance: float | None = None,
) -> torch.Tensor:
    """n images (n, C, H, W) in [-1, 1] from seeded latents, for `labels` (None: unconditional)."""
    cond = pipe.make_cond(n, None if labels is None else labels.tolist())
    z = torch.randn(n, pipe.G.z_dim, generator=torch.Generator().manual_seed(seed))
    return pipe.generate(z, cond, truncation, guidance=guidance)


def score_images(
    fake: torch.Tensor,
    fake_labels: torch.Tensor | None,
    reference: ReferenceData,
    names: list[str] | None = None,
    inception: torch.nn.Module | None = None,
    class_names: list[str] | None = None,
) -> dict[str, Any]:
    """Score generated images (M, C, H, W) in [-1, 1], made for `fake_labels`, against
    `reference` with the metrics `names`."""
    names = names or DEFAULT_METRICS
    real_features = fake_features = fake_logits = None
    if reference.extractor is not None and any(m not in ("swd", "inception") for m in names):
        real_features = reference.real_features()
        fake_features, fake_logits = features(reference.extractor, fake)
    evalset = EvalSet(
        reference.images,
        fake,
        fake_labels,
        real_features,
        fake_features,
        fake_logits,
        inception,
        reference.labels,
    )
    result: dict[str, Any] = {"extractor": reference.extractor_name}
    for name in names:
        result.update(METRICS.get(name)(evalset))
    if "class_acc_per_class" in result and class_names:
        result["class_acc_per_class"] = {class_names[c]: v for c, v in result["class_acc_per_class"].items()}
    return result


class QuickScorer:
    """A cheap score of G_ema during training (lower is better), for keeping the best checkpoint:
    n images generated as `evaluate` generates them (same labels, the model's guidance). FD on
    the reference classifier's features and class accuracy where the dataset has a classifier,
    else SWD. `select` names the measure that decides: "fd" (or "swd"), or "class_acc" (scored
    as 1 − accuracy). Each call returns {"score", measures…}."""

    SELECT = ("fd", "class_acc")

    def __init__(
        self, reference: ReferenceData, config, n: int = 2000, seed: int = 0, select: str = "fd"
    ) -> None:
        if select not in self.SELECT:
            raise ValueError(f"unknown selection measure {select!r}; choose one of {', '.join(self.SELECT)}")
        if select == "class_acc" and (reference.extractor is None or not reference.has_labels):
            raise ValueError(
                f"selecting by class accuracy needs a dataset with classes and a reference classifier; "
                f"{reference.source} has none: use FD/SWD (the default)"
            )
        self.reference, self.config, self.n, self.seed, self.select = reference, config, n, seed, select
        self.name = select if reference.extractor is not None else "swd"

    @torch.no_grad()
    def __call__(self, G: torch.nn.Module) -> dict[str, float]:
        from ganstudio.pipeline import GenerationPipeline

        pipe = GenerationPipeline.from_modules(G, self.config)
        labels = self.reference.eval_labels(self.n, self.seed) if G.spec.num_classes else None
        cond = pipe.make_cond(self.n)
        if labels is not None:
            cond.labels, cond.label_mask[:] = labels, True
        z = torch.randn(self.n, G.z_dim, generator=torch.Generator().manual_seed(self.seed))
        fake = pipe.generate(z, cond, batch_size=500)
        if self.reference.extractor is None:
            swd = sliced_wasserstein(self.reference.images, fake)
            return {"score": swd, "swd": swd}
        feats, logits = features(self.reference.extractor, fake)
        out = {"fd": frechet_distance(self.reference.real_features(), feats)}
        if labels is not None:
            out["class_acc"] = (logits.argmax(1) == labels).float().mean().item()
        out["score"] = out["fd"] if self.select == "fd" else 1.0 - out["class_acc"]
        return out


@torch.no_grad()
def attribute_control(model: str | Path, n: int = 500, seed: int = 0) -> dict[str, dict[str, float]]:
    """How well requested measured attributes are met: for each attribute, ask for its dataset's
    10th, 50th and 90th percentile (approximated from mean ± 1.28 std), measure the generated
    images, and report the mean absolute error and the measured means per request."""
    from ganstudio.data import attributes as measured
    from ganstudio.imaging import to_uint8, visible
    from ganstudio.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_pretrained(model)
    names = measured.attribute_names(min(pipe.dataset_info["channels"], 3))
    report = {}
    for i, name in enumerate(names):
        if name not in pipe.attribute_names:
            continue
        j = pipe.attribute_names.index(name)
        mean, std = pipe.spec.attribute_mean[j], pipe.spec.attribute_std[j]
        targets = [mean - 1.28 * std, mean, mean + 1.28 * std]
        measured_means, errors = [], []
        for target in targets:
            values = measured.measure(
                to_uint8(visible(pipe(n=n, seed=seed, attributes={name: target}).tensors))
            )[:, i]
            measured_means.append(values.mean().item())
            errors.append((values - target).abs().mean().item())
        report[name] = {"targets": targets, "measured": measured_means, "mae": sum(errors) / len(errors)}
    return report
