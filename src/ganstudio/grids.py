"""Grids of generated images — one row per class, per prompt or per set of conditions, the same
seeds in every row — as methods of `GenerationPipeline` (a mixin, so pipeline.py stays one
screenful of generation)."""

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
        truncation: float = 1.0,
        prompt: str | None = None,
        sketch: Any = None,
        guidance: float | None = None,
        upscale: int = 1,
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
            truncation,
            guidance,
            row_labels=self.class_names,
            upscale=upscale,
        )

    def prompt_grid(
        self,
        prompts: list[str],
        per_prompt: int = 8,
        seed: int = 0,
        truncation: float = 1.0,
        guidance: float | None = None,
        infer_label: bool = True,
        upscale: int = 1,
    ) -> GenerationResult:
        """The same `per_prompt` seeds for every prompt, one row per prompt."""
        return self.rows_grid(
            [dict(prompt=p, infer_label=infer_label) for p in prompts],
            per_prompt,
            seed,
            truncation=truncation,
            guidance=guidance,
            row_labels=[normalise_prompt(p) for p in prompts],
            upscale=upscale,
        )

    def rows_grid(
        self,
        rows: list[dict[str, Any]],
        per_row: int = 8,
        seed: int = 0,
        attributes: dict[str, float] | None = None,
        truncation: float = 1.0,
        guidance: float | None = None,
        row_labels: list[str] | None = None,
        upscale: int = 1,
    ) -> GenerationResult:
        """One row of `per_row` images (the same seeds) for each dict of conditions in `rows`;
        `row_labels` are written left of the rows in the grid."""
        requests = [
            self.prepare(
                per_row,
                seed,
                attributes=attributes,
                truncation=truncation,
                guidance=guidance,
                upscale=upscale,
                **row,
            )
            for row in rows
        ]
        results = self.run(requests)  # every row in shared forward passes
        return GenerationResult(
            [im for r in results for im in r.images],
            [m for r in results for m in r.metadata],
            grid_columns=per_row,
            tensors=torch.cat([r.tensors for r in results]),
            notes=list(dict.fromkeys(note for r in results for note in r.notes)),
            row_labels=row_labels,
        )
