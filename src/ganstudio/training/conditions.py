"""What the training loop feeds G and D besides images: the condition spec of a dataset, every
image's conditions, sampled captions, the sample-grid conditions, mismatched conditions for the
matching-aware loss, and augmentation that keeps (image, sketch) pairs aligned."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ganstudio.conditioning import Cond, CondSpec, load_text_encoder
from ganstudio.conditioning.cond import DEFAULT_SKETCH_MARGIN
from ganstudio.conditioning.sketch import sketch_margin
from ganstudio.conditioning.text import resolve_text_encoder
from ganstudio.config import TrainConfig, choices
from ganstudio.data.augment import augment
from ganstudio.data.captions import CaptionTable, caption_embeddings
from ganstudio.data.packed import PackedDataset
from ganstudio.paths import cache_dir


def cond_spec(
    dataset: PackedDataset,
    text_encoder: str = "",
    text_dim: int = 0,
    sketches: torch.Tensor | None = None,
    attributes: bool = True,
) -> CondSpec:
    """What the model is conditioned on. `attributes=False` leaves the dataset's attributes out
    (a run that drops them on every step, `train.attribute_drop=1`, cannot learn to follow them,
    and a model that lists them would mislead its users)."""
    stats = dataset.attribute_stats()
    names = list(dataset.attribute_names) if attributes else []
    return CondSpec(
        sketch_resolution=dataset.resolution if sketches is not None else 0,
        sketch_margin=sketch_margin(sketches) if sketches is not None else DEFAULT_SKETCH_MARGIN,
        num_classes=dataset.num_classes,
        attribute_names=names,
        attribute_mean=[stats[n]["mean"] for n in names],
        attribute_std=[max(stats[n]["std"], 1e-6) for n in names],
        text_encoder=text_encoder,
        text_dim=text_dim,
    )


@dataclass
class TrainingText:
    """Captions of the training images and their embeddings (computed once, cached)."""

    table: CaptionTable
    embeddings: torch.Tensor  # (U, T)
    encoder: str

    @classmethod
    def load(cls, dataset: PackedDataset, choice: str) -> TrainingText | None:
        name = resolve_text_encoder(choice, any(dataset.captions))
        if not name:
            return None
        table = CaptionTable(dataset.captions)
        encoder = load_text_encoder(name)
        return cls(table, caption_embeddings(table, encoder, dataset.fingerprint, cache_dir()), name)

    def fill(self, cond: Cond, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Put one sampled caption per row into `cond`; returns the caption indices (B,), -1 = none."""
        picked = self.table.sample(rows.cpu(), generator)
        cond.text = self.embeddings[picked.clamp_min(0)].to(cond.labels.device)
        cond.text_mask = (picked >= 0).to(cond.labels.device)
        return picked.to(cond.labels.device)


def dataset_conditions(dataset: PackedDataset, spec: CondSpec) -> Cond:
    """Every image's labels and attributes, normalised, as one Cond (missing values masked out);
    text is filled per step by `TrainingText.fill`."""
    values = dataset.attributes if spec.num_attributes else dataset.attributes[:, :0]
    mask = ~torch.isnan(values)
    mean, std = torch.tensor(spec.attribute_mean), torch.tensor(spec.attribute_std)
    normalised = torch.where(mask, (values - mean) / std, torch.zeros_like(values))
    n = len(dataset)
    none = torch.zeros(n, dtype=torch.bool)
    return Cond(
        dataset.labels.clamp_min(0),
        dataset.labels >= 0,
        normalised,
        mask,
        torch.zeros(n, 0),
        none,
        torch.zeros(n, 1, 0, 0),
        none,
    )


def grid_conditions(spec: CondSpec, text: TrainingText | None = None, columns: int = 8) -> Cond:
    """One row per class (first 10) when the model has classes; else, with text, one row per
    training caption (8 spread over the dataset); else 8 unconditional rows."""
    rows = min(spec.num_classes, 10) or 8
    cond = Cond.for_spec(spec, rows * columns)
    if spec.num_classes:
        cond.labels = torch.arange(rows).repeat_interleave(columns)
        cond.label_mask[:] = True
    elif text is not None:
        picked = torch.linspace(0, len(text.table.texts) - 1, rows).long()
        cond.text = text.embeddings[picked].repeat_interleave(columns, 0)
        cond.text_mask[:] = True
    return cond


MISMATCH_PAIRS = choices(TrainConfig, "mismatch_pairs")  # ("any", "same-class", "both")


def check_mismatch_pairs(pairs: str) -> None:
    if pairs not in MISMATCH_PAIRS:
        raise ValueError(f"train.mismatch_pairs {pairs!r} is unknown; use {', '.join(MISMATCH_PAIRS)}")


def mismatched(cond: Cond, captions: torch.Tensor | None, pairs: str = "any") -> tuple[Cond, torch.Tensor]:
    """Each image's conditions paired with another image's, and which rows truly differ (another
    class, another caption, or another image's sketch), for the matching-aware loss.

    `pairs`: "any" = the neighbour's conditions, label included; "same-class" = only the caption
    and sketch of the next image of the same class in the batch (images without a label pair
    among themselves), so D must read the words and strokes within a class, not only which class
    they name; "both" = the first half of the rows one way, the rest the other."""
    check_mismatch_pairs(pairs)
    n = len(cond)
    rows = torch.arange(n, device=cond.labels.device)
    roll = torch.roll(rows, 1)
    wrong_any = cond.select(roll)
    differs_any = cond.label_mask & wrong_any.label_mask & (cond.labels != wrong_any.labels)
    if captions is not None:
        differs_any |= cond.text_mask & wrong_any.text_mask & (captions != captions[roll])
    differs_any |= cond.sketch_mask & wrong_any.sketch_mask
    if pairs == "any":
        return wrong_any, differs_any
    same = same_class_partners(torch.where(cond.label_mask, cond.labels, -1))
    other = cond.select(same)
    wrong = dataclasses.replace(
        cond, text=other.text, text_mask=other.text_mask, sketch=other.sketch, sketch_mask=other.sketch_mask
    )
    differs = cond.sketch_mask & wrong.sketch_mask & (same != rows)
    if captions is not None:
        differs |= cond.text_mask & wrong.text_mask & (captions != captions[same])
    if pairs == "same-class":
        return wrong, differs
    first = rows < n // 2
    mixed = {
        f.name: torch.where(
            first.view(-1, *[1] * (getattr(wrong, f.name).dim() - 1)),
            getattr(wrong, f.name),
            getattr(wrong_any, f.name),
        )
        for f in dataclasses.fields(cond)
    }
    return dataclasses.replace(cond, **mixed), torch.where(first, differs, differs_any)


def same_class_partners(key: torch.Tensor) -> torch.Tensor:
    """For each row, another row with the same `key` (the next one, cyclically within the key's
    rows); a row alone with its key is its own partner. (B,) → (B,) indices."""
    n = len(key)
    sorted_key, order = torch.sort(key, stable=True)
    pos = torch.arange(n, device=key.device)
    starts = torch.ones(n, dtype=torch.bool, device=key.device)
    starts[1:] = sorted_key[1:] != sorted_key[:-1]
    group_start = torch.cummax(torch.where(starts, pos, 0), 0).values
    nxt = pos + 1
    last = torch.ones(n, dtype=torch.bool, device=key.device)  # last row of its group
    last[:-1] = starts[1:]
    nxt = torch.where(last, group_start, nxt)
    perm = torch.empty_like(order)
    perm[order] = order[nxt]
    return perm


def augment_pair(
    images: torch.Tensor, cond: Cond, policy: str, p: float, generator: torch.Generator
) -> tuple[torch.Tensor, Cond]:
    """DiffAugment the images; a sketch moves with its image (same shift and cutout) so pairs stay
    aligned, and only the image gets colour changes."""
    if p <= 0 or not bool(cond.sketch_mask.any()):
        return augment(images, policy, p, generator), cond
    channels = images.shape[1]
    both = augment(torch.cat([images, cond.sketch.to(images.dtype)], dim=1), policy, p, generator, channels)
    return both[:, :channels], dataclasses.replace(cond, sketch=both[:, channels:])
