"""User conditions — a class name or index, attribute values, a prompt, a drawing — checked and
turned into a `Cond` batch, as methods of `GenerationPipeline` (a mixin, so pipeline.py stays
about generation). Every error names what is valid."""

from __future__ import annotations

from typing import Any

import torch

from ganstudio import wordsteer
from ganstudio.conditioning import Cond, describing, load_text_encoder, normalise_prompt
from ganstudio.conditioning.sketch import normalise_sketch
from ganstudio.conditioning.text import MAX_PROMPT_WORDS

ENGLISH_ENCODERS = {"builtin", "minilm"}  # the shipped encoders; a user's own may read other languages


class UserConditions:
    describing_words = "auto"  # "small", "red", "patterned" … in prompts: wordsteer.ROUTES

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset_info.get("class_names", []))

    @property
    def attribute_names(self) -> list[str]:
        return list(self.spec.attribute_names)

    def label_index(self, label: int | str) -> int:
        names = self.class_names
        if not names:
            raise ValueError(f"model {self.model_id} was trained without classes; do not pass label")
        if isinstance(label, bool) or not isinstance(label, int | str):
            raise ValueError(f"label {label!r} must be a class index or name; valid: {', '.join(names)}")
        if isinstance(label, str) and label.strip().isdigit():
            label = int(label)
        if isinstance(label, int):
            if 0 <= label < len(names):
                return label
            raise ValueError(
                f"label index {label} is out of range 0..{len(names) - 1}; classes: {', '.join(names)}"
            )
        lowered = [n.lower() for n in names]
        if label.strip().lower() in lowered:
            return lowered.index(label.strip().lower())
        raise ValueError(f"label {label!r} is unknown; valid labels: {', '.join(names)}")

    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """The model's text encoder applied to a prompt: (1, T). Empty prompts are an error;
        prompts over MAX_PROMPT_WORDS words are cut there (`GenerationResult.notes` says so)."""
        return self._encode(normalise_prompt(prompt))

    def read_prompt(self, prompt: str, strict: bool) -> tuple[str, dict | None, list[str]]:
        """(the normalised prompt, its coverage check or None, notes for the user); a prompt the
        model does not cover is refused when `strict`."""
        words = len(str(prompt).split())
        prompt, coverage, notes = normalise_prompt(prompt), None, []
        if words > MAX_PROMPT_WORDS:
            notes.append(f"the prompt has {words} words; only the first {MAX_PROMPT_WORDS} were used")
        if self.coverage is not None and self.spec.has_text:
            # the thing asked for: its describing words are read apart (describing.py)
            plain = describing.without_describing_words(prompt)
            embedding = self._encode(prompt) if plain == prompt else self._encode_other(plain)
            coverage, note = self.coverage.note(prompt, embedding)
            if note and strict:
                raise ValueError(f"{note}. Refused (strict); leave strict off to draw it anyway")
            notes += [note] if note else []
        if not any("a" <= ch <= "z" for ch in prompt) and self.spec.text_encoder in ENGLISH_ENCODERS:
            notes.append(
                f"the prompt has no Latin-script words; this model's text encoder "
                f"({self.spec.text_encoder}) learnt English, so it may not understand it: try English words"
            )
        return prompt, coverage, notes

    def _encode(self, prompt: str) -> torch.Tensor:
        """`encode_prompt` for a prompt already normalised."""
        if not self.spec.has_text:
            raise ValueError(
                f"model {self.model_id} was trained without text, so it cannot follow a prompt; "
                "train on a dataset with captions (metadata.jsonl `text` or .txt files) to use prompts"
            )
        # the last prompt's embedding is kept: the coverage check and the conditions both need it
        last = getattr(self, "_last_prompt", None)
        if last is None or last[0] != prompt:
            last = self._last_prompt = (prompt, load_text_encoder(self.spec.text_encoder).encode([prompt]))
        return last[1]

    def _encode_other(self, text: str) -> torch.Tensor:
        """A text's embedding without replacing the prompt's, kept for the conditions."""
        return load_text_encoder(self.spec.text_encoder).encode([text])

    def normalise_sketch(self, sketch: Any) -> torch.Tensor:
        """A drawing (PIL image, path or array; any size, mode and polarity) → (1, 1, R, R)."""
        if not self.spec.has_sketch:
            raise ValueError(
                f"model {self.model_id} was trained without sketches; train with --sketch "
                "(model.sketch=true) to turn drawings into images"
            )
        return normalise_sketch(sketch, self.spec.sketch_resolution, self.spec.sketch_margin)

    def make_cond(
        self,
        n: int,
        label: int | str | list | None = None,
        attributes: dict[str, float] | None = None,
        prompt: str | None = None,
        sketch: Any = None,
        infer_label: bool = True,
    ) -> Cond:
        """Turn user conditions into a Cond for `n` images (label may be one value or a list of n).
        With `infer_label`, a prompt or sketch without a label also gets the class the model's
        label prior reads from it (see `infer_labels`)."""
        prompt = normalise_prompt(prompt) if prompt is not None else None
        return self._conditions(n, label, attributes, prompt, sketch, infer_label)

    def _conditions(
        self,
        n: int,
        label: int | str | list | None,
        attributes: dict[str, float] | None,
        prompt: str | None,
        sketch: Any,
        infer_label: bool,
    ) -> Cond:
        """`make_cond` for a prompt already normalised."""
        cond = Cond.for_spec(self.spec, n)
        if sketch is not None:
            cond.sketch = self.normalise_sketch(sketch).expand(n, -1, -1, -1)
            cond.sketch_mask[:] = True
        if prompt is not None:
            cond.text = self._encode(prompt).expand(n, -1)
            cond.text_mask[:] = True
        if label is not None:
            labels = label if isinstance(label, list | tuple) else [label] * n
            if len(labels) != n:
                raise ValueError(f"label list has {len(labels)} entries but n={n}")
            cond.labels = torch.tensor([self.label_index(x) for x in labels])
            cond.label_mask[:] = True
        for name, value in (attributes or {}).items():
            if name not in self.spec.attribute_names:
                valid = ", ".join(self.spec.attribute_names) or "none (this model has no attributes)"
                raise ValueError(f"attribute {name!r} is unknown; valid attributes: {valid}")
            i = self.spec.attribute_names.index(name)
            try:
                raw = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"attribute {name}={value!r} must be a number") from None
            seen = self.dataset_info.get("attributes", {}).get(name)
            if seen:
                margin = 0.25 * (seen["max"] - seen["min"]) + 1e-3
                if not seen["min"] - margin <= raw <= seen["max"] + margin:
                    raise ValueError(
                        f"attribute {name}={raw:g} is outside what the model saw in training "
                        f"({seen['min']:.3g}..{seen['max']:.3g}); pick a value in that range"
                    )
            cond.attributes[:, i] = (raw - self.spec.attribute_mean[i]) / self.spec.attribute_std[i]
            cond.attribute_mask[:, i] = True
        return self.infer_labels(cond) if infer_label else cond

    def attribute_notes(self, attributes: dict[str, float] | None) -> list[str]:
        """A note for each attribute value more than 2 standard deviations from the training
        images' mean: allowed (within the range seen), but few images were like it, so many
        draws come out garbled; the note names the range that draws well."""
        notes = []
        for name, value in (attributes or {}).items():
            if name not in self.spec.attribute_names:
                continue  # refused by make_cond with the list of valid names
            i = self.spec.attribute_names.index(name)
            mean, std = self.spec.attribute_mean[i], self.spec.attribute_std[i]
            z = (float(value) - mean) / std
            if abs(z) > 2:
                notes.append(
                    f"{name}={float(value):g} is {abs(z):.1f} standard deviations {'below' if z < 0 else 'above'} "
                    f"the training images' mean ({mean:.2f}): few were like that, so expect some garbled "
                    f"images; {mean - 2 * std:.2f}–{mean + 2 * std:.2f} draws best"
                )
        return notes

    def request_conditions(
        self,
        n: int,
        label: Any,
        attributes: dict | None,
        prompt: str | None,
        sketch: Any,
        infer_label: bool,
        negative: str | None,
        latents: tuple[torch.Tensor, float, float],
    ) -> tuple[Cond, Cond | None, torch.Tensor, list[str], list[dict]]:
        """A request's conditions (prompt already normalised) and latents (z, truncation,
        guidance): (cond, the negative prompt's branch or None, z, notes, per row what the
        prompt's describing words set: wordsteer.py)."""
        away = None
        if negative is not None:
            cond = self._conditions(n, label, attributes, prompt, sketch, infer_label=False)
            cond, away = self.negative_conditions(cond, negative, infer_label)
        else:
            cond = self._conditions(n, label, attributes, prompt, sketch, infer_label)
        z = latents[0]
        if prompt is None or self.describing_words == "off":
            return cond, away, z, [], [{} for _ in range(n)]
        conds = [cond] if away is None else [cond, away]
        z, notes, words = wordsteer.read_words(self, prompt, attributes, *latents, *conds)
        return cond, away, z, notes, words

    def infer_labels(self, cond: Cond, avoid: Cond | None = None) -> Cond:
        """Where an image has a prompt or a sketch but no label, add the class the label prior
        finds most likely (models without a prior: unchanged); `avoid`, a negative prompt's
        conditions, steers the pick away from what it names. The generator follows a label far
        more reliably than words or outlines alone, and still gets the prompt and sketch."""
        return cond if self.label_prior is None else self.label_prior.infer_labels(cond, avoid)

    def negative_conditions(self, cond: Cond, negative: str, infer_label: bool) -> tuple[Cond, Cond]:
        """For a negative prompt: (cond with its class inferred away from what the negative
        names, the negative branch). `cond` comes without inferred classes. The class is steered
        by the label prior (never the class the negative names); w by the words: the branch is
        cond with the negative's words in place of the prompt's, so pushing w away from it moves
        only what the words say. (A branch with the negative's own class as well jumps w outside
        what the generator learnt: "something to wear on the upper body" minus "a coat" drew
        coats 33% of the time instead of 6%, BENCHMARKS.md, words.)"""
        words = self._encode(negative)
        avoid = Cond.for_spec(self.spec, len(cond))
        avoid.text, avoid.text_mask = words.expand(len(cond), -1), torch.ones_like(cond.text_mask)
        if infer_label and self.label_prior is not None:
            cond = self.infer_labels(cond, avoid)
        away = cond.select(slice(None))
        away.text, away.text_mask = avoid.text, avoid.text_mask
        return cond, away
