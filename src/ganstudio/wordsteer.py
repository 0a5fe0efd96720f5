"""Describing words applied to a request: what conditioning/describing.py reads from a prompt,
turned into attribute conditions and latent steps for a pipeline's images.

- An attribute the model takes as a condition (brightness, coverage, saturation, hue) is set
  per image: a step of the class's own spread from what the image would have been, measured on a
  first drawing without it (`describing.stepped`); a hue is set as named.
- A word whose measure no condition carries (texture: "patterned", "plain"; "striped" is read as
  patterned, there is no stripe measure), or whose condition the model did not learn for the
  class (`means`: fashion-mnist's coverage for tops), moves the latent z along a direction
  measured on the model's own drawings of the class: the difference of the mean latents of its
  highest and lowest quarters on the measure, scaled so that the step moves the measure by one
  standard deviation on average over a calibration draw, and never longer than MAX_STEP of a
  latent (`latent_step`).
- Neither where the model's text path already follows the word (`text_follows`): both together
  push twice as far, past what the model draws well (BENCHMARKS.md, describing-words).

`pipe.describing_words` picks the route: "auto" (the above), "always" (the text-path check
skipped: every word the model has a condition or a direction for is applied), "off" (the text
path alone). Everything is measured with the model's own attribute measures, never with an
evaluation network, and kept per model in the cache folder (`_Memo`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import torch

from ganstudio.conditioning import Cond, describing, normalise_prompt
from ganstudio.data import attributes as measured
from ganstudio.imaging import to_uint8, visible
from ganstudio.paths import cache_dir, write_text_atomically

ROUTES = ("auto", "always", "off")
LATENT_MEASURES = {"texture": measured.texture}  # measures steered in z, not conditions
FIT_DRAWS, CALIBRATION_DRAWS = 512, 128
PROBE_DRAWS = 96  # drawings a class's condition and latent step are compared on
LATENT_MARGIN = 0.1  # the latent step replaces a condition followed by < FOLLOW_RATE if this much better
MEMO_VERSION = 1  # bump when a probe changes, so stored findings are measured again
MAX_MEMO_BYTES = 4 << 20  # the probes' file in the cache folder, read only below this size
MAX_STEP = 0.35  # a one-σ latent step is at most this share of a latent's typical length (√z_dim)


class _Memo:
    """What the probes found for one model, in memory and, for a model with a weights digest in
    its id (every loaded folder), in the cache folder: a CLI run does not measure the same word
    again. A missing, unreadable or odd file is measured anew."""

    def __init__(self, model_id: str) -> None:
        self.path, self.data = None, {}
        if "@" in model_id:
            safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", model_id)
            self.path = cache_dir() / "words" / f"{safe}-v{MEMO_VERSION}.json"
            try:
                if self.path.stat().st_size <= MAX_MEMO_BYTES:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                    self.data = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                pass

    def get(self, key: str, check: Callable[[Any], bool]) -> Any:
        value = self.data.get(key)
        try:
            return value if value is not None and check(value) else None
        except (TypeError, ValueError):
            return None

    def put(self, key: str, value: Any) -> Any:
        self.data[key] = value
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomically(self.path, json.dumps(self.data))
            except OSError:
                pass  # a read-only cache: measured again next time
        return value


def _memo(pipe: Any) -> _Memo:
    if "_words_memo" not in pipe.__dict__:
        pipe._words_memo = _Memo(pipe.model_id)
    return pipe._words_memo


def _measure(images: torch.Tensor, name: str) -> torch.Tensor:
    shown = to_uint8(visible(images))
    if name in LATENT_MEASURES:
        return LATENT_MEASURES[name](shown)
    return measured.measure(shown)[:, measured.attribute_names(shown.shape[1]).index(name)]


def read_words(
    pipe: Any,
    prompt: str,
    given: dict[str, float] | None,
    z: torch.Tensor,
    truncation: float,
    guidance: float,
    *conds: Cond,
) -> tuple[torch.Tensor, list[str], list[dict]]:
    """Apply a prompt's describing words to a request: attributes on the rows of `conds` (the
    request and its negative branch alike), latent steps on z. Returns (z, notes for the user,
    per row what was set: {"attributes": {name: value}, "latent_steps": {name: step in standard
    deviations}, "text": {name: the words left to the text path, which follows them}})."""
    channels = int(pipe.dataset_info.get("channels") or 1)
    steerable = list(pipe.attribute_names) + [m for m in LATENT_MEASURES if m not in pipe.attribute_names]
    reading = describing.read(prompt, steerable, channels)
    notes, rows = list(reading.notes), [{} for _ in range(len(z))]
    stats, first, drawn = pipe.dataset_info.get("attributes", {}), conds[0], None
    labels = [int(x) if bool(m) else None for x, m in zip(first.labels, first.label_mask, strict=True)]
    one = len(set(labels)) == 1 and labels[0] is not None
    class_name = pipe.class_names[labels[0]] if one else None
    words, start = " and ".join, z
    for name, (step, phrases, _) in reading.targets.items():
        if name in (given or {}):
            notes.append(f"{words(map(repr, phrases))} not read: {name}={given[name]:g} was given")
            continue
        if name not in stats and name not in LATENT_MEASURES:
            continue
        if text_follows(pipe, tuple(phrases), name, step)[0] and pipe.describing_words == "auto":
            for row in rows:  # the words work through the text path: recorded, nothing added
                row.setdefault("text", {})[name] = words(phrases)
            continue
        latent = [name != "hue" and means(pipe, name, step, c) == "latent" for c in labels]
        if name != "hue" and (note := weak(pipe, name, step, labels)):
            notes.append(note)
        if any(latent):
            z = z.clone()
            for row in (r for r, steered in enumerate(latent) if steered):
                z[row] += step * latent_step(pipe, name, labels[row])
                rows[row].setdefault("latent_steps", {})[name] = step
            notes.append(describing.describe_step(name, step, phrases, class_name, name in stats))
        if all(latent):
            continue
        if name == "hue":
            values = [step] * len(labels)
        else:
            if drawn is None:  # one first drawing for every stepped attribute
                drawn = pipe.generate(z, first, truncation, guidance=guidance)
            now = _measure(drawn, name)
            values = [
                describing.stepped(stats[name], float(v), step, c) for v, c in zip(now, labels, strict=True)
            ]
        i = pipe.attribute_names.index(name)
        normalised = (torch.tensor(values) - pipe.spec.attribute_mean[i]) / pipe.spec.attribute_std[i]
        keep = torch.tensor([not steered for steered in latent])
        for cond in conds:
            cond.attributes[keep, i] = normalised[keep]
            cond.attribute_mask[keep, i] = True
        for row, value in enumerate(values):
            if not latent[row]:
                rows[row].setdefault("attributes", {})[name] = round(value, 4)
        conditioned = [v for v, steered in zip(values, latent, strict=True) if not steered]
        notes.append(describing.describe_target(name, step, phrases, conditioned, class_name))
    return _capped(start, z, notes), notes, rows


def _capped(start: torch.Tensor, z: torch.Tensor, notes: list[str]) -> torch.Tensor:
    """z with the words' latent steps together no longer than MAX_STEP of a latent: two steps
    ("small" and "striped") each at the cap add up to a latent the mapping never met (noise)."""
    if z is start:
        return z
    moved = z - start  # (B, z_dim)
    longest = MAX_STEP * z.shape[1] ** 0.5
    scale = (longest / moved.norm(dim=1, keepdim=True).clamp_min(1e-9)).clamp(max=1.0)
    if bool((scale < 1).any()):
        notes.append("the words' latent steps together were shortened to stay where the model draws well")
    return start + moved * scale


def means(pipe: Any, name: str, step: float, label: int | None) -> str:
    """ "condition" or "latent" for a class: the model's condition (stepped from each drawing)
    unless it moves measure `name` the named way for fewer than FOLLOW_RATE of the class's
    drawings and a latent step moves LATENT_MARGIN more of them (fashion-mnist's coverage for
    tops) — measured on PROBE_DRAWS of its own drawings, the share kept for `weak`; measures no
    condition carries: "latent". Kept (`_Memo`)."""
    if name not in pipe.attribute_names:
        return "latent"
    memo, key = _memo(pipe), f"means|{name}|{step > 0}|{label}"
    found = memo.get(key, lambda v: v[0] in ("condition", "latent") and 0 <= float(v[1]) <= 1)
    if found is None:
        z = pipe.latents(range(1 << 41, (1 << 41) + PROBE_DRAWS))
        cond = pipe.make_cond(len(z), label=label, infer_label=False)
        now = _measure(pipe.generate(z, cond), name)
        stats, i = pipe.dataset_info["attributes"][name], pipe.attribute_names.index(name)
        values = torch.tensor([describing.stepped(stats, float(v), step, label) for v in now])
        stepped = cond.select(slice(None))
        stepped.attributes[:, i] = (values - pipe.spec.attribute_mean[i]) / pipe.spec.attribute_std[i]
        stepped.attribute_mask[:, i] = True
        by_condition = _measure(pipe.generate(z, stepped), name)
        by_latent = _measure(pipe.generate(z + step * latent_step(pipe, name, label), cond), name)
        side = 1.0 if step > 0 else -1.0
        rates = [
            (torch.sign(after - now) == side).float().mean().item() for after in (by_condition, by_latent)
        ]
        # the condition is what the model learnt; the latent step is the fallback where it did not
        fallback = rates[0] < describing.FOLLOW_RATE and rates[1] >= rates[0] + LATENT_MARGIN
        found = memo.put(key, ["latent" if fallback else "condition", rates[1] if fallback else rates[0]])
    return found[0]


def weak(pipe: Any, name: str, step: float, labels: list[int | None]) -> str | None:
    """A note when the means chosen moved `name` the named way for fewer than FOLLOW_RATE of the
    class's test drawings: the model met few such images, so the word does little."""
    memo = _memo(pipe)
    rates = [memo.data.get(f"means|{name}|{step > 0}|{c}", [None, 1.0])[1] for c in set(labels)]
    worst = min((float(r) for r in rates), default=1.0)
    if worst >= describing.FOLLOW_RATE:
        return None
    way = "up" if step > 0 else "down"
    return f"this model moves {name} {way} for only {worst:.0%} of its test drawings of this kind: expect little change"


def text_follows(pipe: Any, phrases: tuple[str, ...], name: str, value: float) -> tuple[bool, float]:
    """Does the model's text path already move measure `name` the way the words name
    (`describing.follows`)? Measured once per model (kept) on PROBE_SEEDS seeds of PROBE_CAPTIONS of
    its training captions, with and without the words, on its own drawings. A model without a
    caption bank (coverage) is taken not to follow them."""
    memo, key = _memo(pipe), f"follows|{name}|{' '.join(phrases)}|{value > 0}"
    found = memo.get(key, lambda v: isinstance(v[0], bool) and 0 <= float(v[1]) <= 1)
    if found is not None:
        return found[0], float(found[1])
    bank = pipe.coverage.names if pipe.coverage is not None else []
    if not bank:
        return False, 0.0
    count = min(len(bank), describing.PROBE_CAPTIONS)
    captions = [bank[k * len(bank) // describing.PROBE_CAPTIONS] for k in range(count)]
    z = pipe.latents(range(describing.PROBE_SEEDS)).repeat(len(captions), 1)

    def draw(texts: list[str]) -> torch.Tensor:
        cond = Cond.cat([pipe.make_cond(describing.PROBE_SEEDS, prompt=t) for t in texts])
        return _measure(pipe.generate(z, cond), name)

    base = draw([normalise_prompt(c) for c in captions])
    with_words = draw([normalise_prompt(describing.worded(c, " ".join(phrases))) for c in captions])
    if name in LATENT_MEASURES:
        spread = float(base.std())
    else:
        spread = pipe.spec.attribute_std[pipe.attribute_names.index(name)]
    follows, rate = describing.follows(base, with_words, name, value, spread)
    memo.put(key, [follows, rate])
    return follows, rate


def latent_step(pipe: Any, name: str, label: int | None) -> torch.Tensor:
    """The step in z (z_dim,) that raises measure `name` by about one standard deviation for the
    class `label`: the mean latent of its highest minus its lowest quarter among FIT_DRAWS
    drawings, scaled on CALIBRATION_DRAWS others so that the step moves the measure one standard
    deviation on average. Kept (`_Memo`)."""
    memo, key = _memo(pipe), f"step|{name}|{label}"
    found = memo.get(key, lambda v: len(v) == pipe.G.z_dim and all(map(math.isfinite, v)))
    if found is not None:
        return torch.tensor(found, dtype=torch.float32)
    seeds = range(1 << 40, (1 << 40) + FIT_DRAWS + CALIBRATION_DRAWS)  # away from the seeds people use
    z = pipe.latents(seeds)
    cond = pipe.make_cond(len(z), label=label, infer_label=False)
    values = _measure(pipe.generate(z, cond), name)
    fit, check = values[:FIT_DRAWS], values[FIT_DRAWS:]
    low, high = fit.quantile(0.25), fit.quantile(0.75)
    direction = z[:FIT_DRAWS][fit >= high].mean(0) - z[:FIT_DRAWS][fit <= low].mean(0)
    calibration = cond.select(slice(FIT_DRAWS, None))
    moved = _measure(pipe.generate(z[FIT_DRAWS:] + direction, calibration), name) - check
    gain = float(moved.mean())
    step = direction * (float(fit.std()) / gain) if gain > 1e-6 else torch.zeros_like(direction)
    longest = MAX_STEP * len(step) ** 0.5  # further, z leaves the shell the mapping was trained on
    step = step * min(1.0, longest / max(float(step.norm()), 1e-9))
    memo.put(key, step.tolist())
    return step
