"""Fitting the label prior (conditioning/prior.py) on a labelled dataset, and storing it.

Both heads learn from the training data only: the text head from every (caption embedding,
class) pair, the sketch head from the training outlines roughened afresh each batch, exactly as
the generator sees them. A tenth of the images is held out to report each head's accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F

from ganstudio import modelfolder
from ganstudio.conditioning import CondSpec
from ganstudio.conditioning.prior import LabelPrior, wants_prior
from ganstudio.conditioning.sketch import roughen
from ganstudio.data.packed import PackedDataset
from ganstudio.training.conditions import TrainingText

BATCH = 256


def fit_label_prior(
    dataset: PackedDataset,
    spec: CondSpec,
    text: TrainingText | None,
    sketches: torch.Tensor | None,
    kimg: float,
    seed: int = 0,
    progress_fn: Callable[[str], None] | None = None,
    abort_fn: Callable[[], bool] | None = None,
) -> LabelPrior:
    """Train the heads the spec calls for on `kimg` thousand samples each; `prior.report` holds
    each head's accuracy on the held-out tenth ({"text_acc": …, "sketch_acc": …}). When `abort_fn`
    says so (a stop during start-up), each head stops where it is: usable, less accurate."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        prior = LabelPrior(spec)
    rng = torch.Generator().manual_seed(seed)
    labelled = torch.nonzero(dataset.labels >= 0).flatten()
    perm = labelled[torch.randperm(len(labelled), generator=rng)]
    n_val = max(1, len(perm) // 10) if len(perm) >= 20 else 0
    val, train = perm[:n_val], perm[n_val:]
    freq = torch.bincount(dataset.labels[labelled], minlength=spec.num_classes).float() + 1
    prior.log_class_freq.copy_((freq / freq.sum()).log())
    steps = max(1, round(kimg * 1000 / BATCH))
    report: dict[str, float] = {}

    if prior.text is not None and text is not None:
        # one row per (image, caption): every caption an image has is a training example
        index = text.table.index  # (N, max captions), -1 = none
        rows = train.repeat_interleave(index.shape[1])
        captions = index[train].flatten()
        keep = captions >= 0
        rows, captions = rows[keep], captions[keep]
        x, y = text.embeddings[captions].float(), dataset.labels[rows]

        def text_batch(i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            # a little noise on the unit-length embeddings stands in for wordings never seen
            return x[i] + 0.02 * torch.randn(x[i].shape, generator=rng), y[i]

        # a linear head costs next to nothing: at least four passes over the captions
        text_steps = max(steps, 4 * len(x) // BATCH)
        _fit(prior.text, text_batch, len(x), text_steps, rng, "text", progress_fn, abort_fn)
        val_captions = index[val, 0]
        ok = val_captions >= 0
        if bool(ok.any()):
            with torch.no_grad():
                guess = prior.text(text.embeddings[val_captions[ok]].float()).argmax(1)
            report["text_acc"] = (guess == dataset.labels[val[ok]]).float().mean().item()

    if prior.sketch is not None and sketches is not None:

        def sketch_batch(i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return roughen(sketches[train[i]].float() / 255, rng), dataset.labels[train[i]]

        _fit(prior.sketch, sketch_batch, len(train), steps, rng, "sketch", progress_fn, abort_fn)
        if n_val:
            held = roughen(sketches[val].float() / 255, torch.Generator().manual_seed(seed + 1))
            with torch.no_grad():
                guess = torch.cat([prior.sketch(c).argmax(1) for c in held.split(1024)])
            report["sketch_acc"] = (guess == dataset.labels[val]).float().mean().item()
    prior.report = report
    return prior.eval().requires_grad_(False)


def _fit(
    net: torch.nn.Module,
    batch_fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    size: int,
    steps: int,
    rng: torch.Generator,
    name: str,
    progress_fn: Callable[[str], None] | None,
    abort_fn: Callable[[], bool] | None = None,
) -> None:
    """AdamW with a cosine learning-rate decay over `steps` batches drawn at random."""
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    net.train()
    for step in range(steps):
        if abort_fn is not None and abort_fn():
            break
        inputs, labels = batch_fn(torch.randint(size, (BATCH,), generator=rng))
        loss = F.cross_entropy(net(inputs), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if progress_fn is not None and (step + 1) % max(1, steps // 4) == 0:
            progress_fn(f"label prior ({name} head): step {step + 1}/{steps}, loss {loss.item():.3f}")
    net.eval()


def add_label_prior(
    folder: Path,
    data: str | None = None,
    kimg: float | None = None,
    log_fn: Callable[[str], None] | None = None,
) -> LabelPrior:
    """Fit a label prior for an existing model folder on the data it was trained on (`data`, or
    the source its dataset.json names, checked by fingerprint) and write it into the folder."""
    from ganstudio.data import DataSource, load_dataset
    from ganstudio.data.sketches import dataset_sketches

    folder = Path(folder)
    config, spec, _ = modelfolder.read_config(folder)
    if not wants_prior(spec):
        raise ValueError(
            f"{folder}: a label prior needs a model trained with classes and with text or sketches; "
            "this one has " + ("no classes" if not spec.num_classes else "neither text nor sketches")
        )
    info = modelfolder.read_dataset_info(folder)
    source = DataSource.parse(data or info["source"])
    dataset = load_dataset(source, config.data)
    if dataset.fingerprint != info["fingerprint"]:
        raise ValueError(
            f"{source} (fingerprint {dataset.fingerprint}) is not the data {folder} was "
            f"trained on (fingerprint {info['fingerprint']}); pass that data with --data"
        )
    text = TrainingText.load(dataset, spec.text_encoder) if spec.has_text else None
    sketches = dataset_sketches(dataset) if spec.has_sketch else None
    prior = fit_label_prior(
        dataset,
        spec,
        text,
        sketches,
        config.train.prior_kimg if kimg is None else kimg,
        config.train.seed,
        log_fn,
    )
    modelfolder.save_label_prior(prior, folder)
    modelfolder.update_card(folder, label_prior=prior.report)
    return prior
