"""Grids of generated images — one row per class, per prompt or per set of conditions, the same
seeds in every row — as methods of `GenerationPipeline` (a mixin, so pipeline.py stays one
screenful of generation). Options every row shares (truncation, guidance, upscale, negative …)
pass through to `prepare` as they are, so a new option needs no change here."""

from __future__ import annotations

from typing import Any

import torch

from ganstudio.conditioning import normalise_prompt
from ganstudio.results import GenerationResult


class Grids:
    def class_grid(
        self,
        per_class: int = 8,
        seed: int = 0,
        attributes: dict[str, float] | None = None,
        prompt: str | None = None,
        sketch: Any = None,
        **options: Any,
    ) -> GenerationResult:
        """The same `per_class` seeds for every class, one row per class."""
        if not self.class_names:
            raise ValueError(f"model {self.model_id} has no classes; use -n instead of --per-class")
        if per_class < 1:
            raise ValueError(f"per_class={per_class}: ask for at least one image per class")
        return self.rows_grid(
            [dict(label=i, prompt=prompt, sketch=sketch) for i in range(len(self.class_names))],
            per_class,
            seed,
            attributes,
            row_labels=self.class_names,
            **options,
        )

    def prompt_grid(
        self,
        prompts: list[str],
        per_prompt: int = 8,
        seed: int = 0,
        infer_label: bool = True,
        **options: Any,
    ) -> GenerationResult:
        """The same `per_prompt` seeds for every prompt, one row per prompt."""
        return self.rows_grid(
            [dict(prompt=p, infer_label=infer_label) for p in prompts],
            per_prompt,
            seed,
            row_labels=[normalise_prompt(p) for p in prompts],
            **options,
        )

    def rows_grid(
        self,
        rows: list[dict[str, Any]],
        per_row: int = 8,
        seed: int = 0,
        attributes: dict[str, float] | None = None,
        row_labels: list[str] | None = None,
        **options: Any,
    ) -> GenerationResult:
        """One row of `per_row` images (the same seeds) for each dict of conditions in `rows`;
        `row_labels` are written left of the rows in the grid; `options` go to every row's
        `prepare` (a row's own dict wins)."""
        requests = [self.prepare(per_row, seed, attributes=attributes, **(options | row)) for row in rows]
        results = self.run(requests)  # every row in shared forward passes
        return GenerationResult(
            [im for r in results for im in r.images],
            [m for r in results for m in r.metadata],
            grid_columns=per_row,
            tensors=torch.cat([r.tensors for r in results]),
            notes=list(dict.fromkeys(note for r in results for note in r.notes)),
            row_labels=row_labels,
        )
