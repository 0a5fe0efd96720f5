"""Training a model's detector (detector.py): draw the model's samples, pair them with real
images, train, measure AUC as they are and after edits, and save it into the model folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ganstudio.provenance.detector import (
    EDITS,
    FALSE_POSITIVE_RATE,
    KINDS,
    Detector,
    DetectorNet,
    auc,
    domain_envelope,
    edit,
    pil,
    to_tensor,
)


def train_detector(
    fakes: torch.Tensor,
    reals: torch.Tensor,
    test_fakes: torch.Tensor,
    test_reals: torch.Tensor,
    steps: int = 1500,
    seed: int = 0,
    log: Any = None,
) -> Detector:
    """Train on generated and real images (N, C, H, W) uint8; measure on the test sets (never
    trained on): AUC as they are and after each of EDITS, and per KINDS entry the threshold that
    calls at most FALSE_POSITIVE_RATE of the real test images generated after each of its edits."""
    # a drawing with transparency is judged as it shows: composed on white (its first 3 channels)
    fakes, reals, test_fakes, test_reals = (x[:, :3] for x in (fakes, reals, test_fakes, test_reals))
    channels = reals.shape[1]
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    pools = []
    for images in (fakes, reals):  # every image once as is and twice after a random edit
        shown = pil(images)
        edited = [edit(im, "random", rng) for im in shown for _ in range(2)]
        pools.append(torch.cat([to_tensor(shown, channels), to_tensor(edited, channels)]))
    x = torch.cat(pools)
    y = torch.cat([torch.ones(len(pools[0])), torch.zeros(len(pools[1]))])
    weight = torch.where(y > 0, len(y) / (2 * len(pools[0])), len(y) / (2 * len(pools[1])))  # balanced
    net = DetectorNet(channels)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        pick = torch.randint(len(x), (128,), generator=g)
        batch = x[pick]
        flip = torch.rand(len(batch), generator=g) < 0.5
        batch = torch.where(flip.view(-1, 1, 1, 1), batch.flip(3), batch)
        loss = F.binary_cross_entropy_with_logits(net(batch), y[pick], weight=weight[pick])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log is not None and (step + 1) % 250 == 0:
            log(f"detector step {step + 1}/{steps}: loss {loss.item():.3f}")
    net.eval()
    detector = Detector(net, channels, {}, {}, {}, domain_envelope(reals))
    fake_pil, real_pil = pil(test_fakes), pil(test_reals)
    pos = {name: detector.scores([edit(im, name) for im in fake_pil]) for name in EDITS}
    neg = {name: detector.scores([edit(im, name) for im in real_pil]) for name in EDITS}
    for name, edits in KINDS.items():
        detector.thresholds[name] = max(float(torch.quantile(neg[e], 1 - FALSE_POSITIVE_RATE)) for e in edits)
        pooled = torch.cat([neg[e] for e in edits])
        detector.negatives[name] = [
            round(float(v), 4) for v in torch.quantile(pooled, torch.linspace(0, 1, 1001))
        ]
    threshold = {e: detector.thresholds[k] for k, edits in KINDS.items() for e in edits}
    report: dict[str, Any] = {
        "fakes": len(fakes),
        "reals": len(reals),
        "test": [len(test_fakes), len(test_reals)],
    }
    for name in EDITS:
        report[f"auc_{name}"] = round(auc(pos[name], neg[name]), 4)
        report[f"tpr_{name}"] = round(float((pos[name] > threshold[name]).float().mean()), 4)
        report[f"fpr_{name}"] = round(float((neg[name] > threshold[name]).float().mean()), 4)
    detector.report = report
    return detector


def build_for_folder(
    folder: Path, data: str | Path | None = None, steps: int = 1500, log: Any = None
) -> Detector:
    """Train and save a model folder's detector: its samples against its held-out real images
    (a built-in's test split) or, for data without one, its training images — 80% to train on,
    20% to measure."""
    from ganstudio.data import DataSource, load_dataset
    from ganstudio.modelfolder import read_config, read_dataset_info
    from ganstudio.pipeline import GenerationPipeline

    config, _, _ = read_config(folder)
    info = read_dataset_info(folder)
    source = DataSource.parse(data if data is not None else info.get("source", ""))
    if not source.loadable():
        raise ValueError(
            f"the training data {source} is not there any more; pass --data with where it is now"
        )
    # at the resolution the model draws (a cascade's config.data is its base's)
    real = load_dataset(
        source.heldout() or source, dataclasses.replace(config.data, resolution=info["resolution"])
    )
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    cut = int(len(real) * 0.8)
    reals, test_reals = real.images[order[:cut]], real.images[order[cut:]]
    pipe = GenerationPipeline.from_pretrained(folder)
    pipe.watermark, pipe.on_copy = None, "allow"  # unmarked: the detector must not learn the watermark
    prompted = bool(pipe.spec.text_encoder) and any(real.captions)

    def sample(picks: torch.Tensor, seed: int) -> torch.Tensor:
        """One unmarked sample per real image in `picks`, drawn as users draw them: with its
        caption on a text model, else with its class."""
        if prompted:
            drawn = [
                pipe(n=1, seed=seed + k, prompt=real.captions[i][0]).tensors
                if real.captions[i]
                else pipe(n=1, seed=seed + k).tensors
                for k, i in enumerate(picks.tolist())
            ]
            x = torch.cat(drawn)
        else:
            classes = [int(real.labels[i]) for i in picks]
            label = [pipe.class_names[c] for c in classes] if pipe.class_names and min(classes) >= 0 else None
            x = pipe(n=len(picks), seed=seed, label=label).tensors
        return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)

    if log is not None:
        log(f"detector: sampling {len(reals)} + {len(test_reals)} images from {pipe.model_id}")
    detector = train_detector(
        sample(order[:cut], 2 * 10**6), reals, sample(order[cut:], 3 * 10**6), test_reals, steps, log=log
    )
    detector.save(folder)
    return detector
