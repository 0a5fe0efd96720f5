"""Text → image on fashion-mnist: does the generator follow words it never saw in training?

    python -m bench.text --model fashion-mnist --model runs/fashion-builtin/checkpoint

For each model: (1) held-out prompts — paraphrases that occur in no training caption — each
generated n times from the prompt alone (no label), judged by the reference classifier;
(2) the 10k test images' own captions as prompts (one per image, no label): FD against the test
images and class accuracy. Both with the model's label prior picking the class from the prompt
(what `pipe(prompt=...)` does by default) and without it (the generator's text pathway alone).
The table goes into BENCHMARKS.md (section `text`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import sys

import torch

from bench.report import ROOT, write_section
from ganstudio.conditioning import load_text_encoder
from ganstudio.config import DataConfig
from ganstudio.data import load_dataset
from ganstudio.data.captions import CaptionTable
from ganstudio.imaging import from_uint8
from ganstudio.metrics import features
from ganstudio.metrics.classifier import load_reference_classifier
from ganstudio.metrics.distances import frechet_distance
from ganstudio.pipeline import GenerationPipeline

# prompt → the class a reader expects; none of these strings occurs in a training caption
HELD_OUT = {
    "a sleeveless tank top": "t-shirt/top",
    "a short sleeve tee shirt": "t-shirt/top",
    "slacks": "trouser",
    "a pair of chinos": "trouser",
    "a hoodie": "pullover",
    "a turtleneck": "pullover",
    "a gown": "dress",
    "a sundress": "dress",
    "a parka": "coat",
    "a raincoat": "coat",
    "flip flops": "sandal",
    "open-toed summer shoes": "sandal",
    "a flannel shirt": "shirt",
    "a dress shirt with buttons": "shirt",
    "running shoes": "sneaker",
    "tennis shoes": "sneaker",
    "a purse": "bag",
    "a leather satchel": "bag",
    "a chelsea boot": "ankle boot",
    "winter booties": "ankle boot",
}
# a second list, written after the label prior's recipe was fixed (the first list had been looked at)
FRESH = {
    "a crop top": "t-shirt/top",
    "a graphic tee": "t-shirt/top",
    "leggings": "trouser",
    "a pair of joggers": "trouser",
    "a fleece sweatshirt": "pullover",
    "a cable-knit crewneck": "pullover",
    "an evening gown": "dress",
    "a slip dress": "dress",
    "a trench coat": "coat",
    "a padded anorak": "coat",
    "gladiator sandals": "sandal",
    "pool slides": "sandal",
    "an oxford button-down": "shirt",
    "a linen blouse": "shirt",
    "basketball shoes": "sneaker",
    "canvas plimsolls": "sneaker",
    "a clutch purse": "bag",
    "a backpack": "bag",
    "hiking boots": "ankle boot",
    "a combat boot": "ankle boot",
}


@torch.no_grad()
def nearest_caption_accuracy(
    encoder, train, prompts: dict[str, str], k: int = 10
) -> tuple[float, dict[str, str]]:
    """What the text encoder alone allows: for each held-out prompt, the majority class of the k
    training captions nearest to it (cosine). A prompt whose neighbours belong to another class
    cannot be expected to come out right from any generator trained on these captions."""
    from ganstudio.data.captions import caption_embeddings
    from ganstudio.paths import cache_dir

    table = CaptionTable(train.captions)
    bank = torch.nn.functional.normalize(
        caption_embeddings(table, encoder, train.fingerprint, cache_dir()), dim=1
    )
    votes = torch.zeros(len(table.texts), len(train.class_names))  # caption → how often each class has it
    rows = torch.arange(len(train)).repeat_interleave(table.index.shape[1])
    flat = table.index.flatten()
    keep = flat >= 0
    votes.index_put_((flat[keep], train.labels[rows[keep]]), torch.ones(int(keep.sum())), accumulate=True)
    queries = torch.nn.functional.normalize(encoder.encode(list(prompts)), dim=1)
    nearest = (queries @ bank.T).topk(k, dim=1).indices  # (P, k)
    picked = {}
    for prompt, idx in zip(prompts, nearest, strict=True):
        picked[prompt] = train.class_names[int(votes[idx].sum(0).argmax())]
    accuracy = sum(picked[p] == c for p, c in prompts.items()) / len(prompts)
    return accuracy, picked


@torch.no_grad()
def held_out_accuracy(
    pipe: GenerationPipeline,
    classifier,
    n: int,
    guidance: float | None,
    prompts: dict[str, str] = HELD_OUT,
    infer_label: bool = True,
) -> dict[str, float]:
    """For each held-out prompt, the fraction of n images from the prompt alone (no label given)
    that the reference classifier places in the expected class."""
    per_prompt = {}
    for prompt, expected in prompts.items():
        images = pipe(n=n, seed=0, prompt=prompt, guidance=guidance, infer_label=infer_label).tensors
        _, logits = features(classifier, images)
        per_prompt[prompt] = (logits.argmax(1) == pipe.class_names.index(expected)).float().mean().item()
    return per_prompt


def prior_accuracy(pipe: GenerationPipeline, prompts: dict[str, str]) -> float | None:
    """How often the label prior alone picks the expected class of a prompt (None: no prior)."""
    if pipe.label_prior is None:
        return None
    picked = [pipe.make_cond(1, prompt=p).labels.item() for p in prompts]
    return sum(pipe.class_names[c] == e for c, e in zip(picked, prompts.values(), strict=True)) / len(prompts)


@torch.no_grad()
def score(
    model: str, n: int, classifier, train, train_captions: set[str], test, guidance: float | None
) -> dict:
    pipe = GenerationPipeline.from_pretrained(model)
    leaked = [p for p in [*HELD_OUT, *FRESH] if any(p in c for c in train_captions)]
    if leaked:
        raise SystemExit(f"held-out prompts occur in training captions: {leaked}")
    result = {"model": model, "encoder": pipe.spec.text_encoder, "has_prior": pipe.label_prior is not None}
    for infer in (True, False) if pipe.label_prior is not None else (False,):
        key = "prior" if infer else "plain"
        for name, prompts in (("held_out", HELD_OUT), ("fresh", FRESH)):
            per_prompt = held_out_accuracy(pipe, classifier, n, guidance, prompts, infer)
            result[f"{name}_acc_{key}"] = sum(per_prompt.values()) / len(per_prompt)
            result[f"{name}_per_prompt_{key}"] = per_prompt
    result["prior_acc_held_out"] = prior_accuracy(pipe, HELD_OUT)
    result["prior_acc_fresh"] = prior_accuracy(pipe, FRESH)
    encoder = load_text_encoder(pipe.spec.text_encoder)
    ceiling, nearest_class = nearest_caption_accuracy(encoder, train, {**HELD_OUT, **FRESH})
    result["nearest_caption_acc_held_out"] = nearest_caption_accuracy(encoder, train, HELD_OUT)[0]
    result["nearest_caption_acc_fresh"] = nearest_caption_accuracy(encoder, train, FRESH)[0]
    # the test images' own captions, one per image, prompt only
    table = CaptionTable(test.captions)
    embeddings = encoder.encode(table.texts)
    picked = table.sample(torch.arange(len(test)), torch.Generator().manual_seed(0))
    cond = pipe.make_cond(len(test))
    cond.text, cond.text_mask[:] = embeddings[picked], True
    z = torch.randn(len(test), pipe.G.z_dim, generator=torch.Generator().manual_seed(1))
    real_features, _ = features(classifier, from_uint8(test.images))
    for key, c in (("plain", cond), ("prior", pipe.infer_labels(cond))):
        if key == "prior" and pipe.label_prior is None:
            continue
        fake_features, fake_logits = features(classifier, pipe.generate(z, c, guidance=guidance))
        result[f"caption_fd_{key}"] = frechet_distance(real_features, fake_features)
        result[f"caption_class_acc_{key}"] = (fake_logits.argmax(1) == test.labels).float().mean().item()
    result["nearest_caption_class"] = nearest_class
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--model", action="append", required=True, help="text-conditioned fashion-mnist model"
    )
    parser.add_argument("-n", type=int, default=100, help="images per held-out prompt")
    parser.add_argument("--guidance", type=float, help="condition guidance (default: the model's own)")
    parser.add_argument("--section", default="text")
    args = parser.parse_args()
    train = load_dataset("fashion-mnist", DataConfig())
    train_captions = {c for cs in train.captions for c in cs}
    test = load_dataset("fashion-mnist:test", DataConfig())
    classifier = load_reference_classifier("fashion-mnist-classifier")
    rows = [score(m, args.n, classifier, train, train_captions, test, args.guidance) for m in args.model]
    print(json.dumps(rows, indent=2))
    lines = [
        f"Held-out prompts: {len(HELD_OUT)} paraphrases that occur in no training caption, {args.n} images each "
        "from the prompt alone (no label), judged by the reference classifier. Test captions: one of each "
        "test image's captions as the prompt (no label), 10k images, FD against the 10k test images. "
        f"Guidance {'each model' + chr(39) + 's own' if args.guidance is None else format(args.guidance, 'g')} "
        "(1 = the plain model; see the `guidance` section).",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; torch "
        f"{torch.__version__}; {datetime.date.today()}; command `python -m bench.text {shlex.join(sys.argv[1:])}`.",
        "",
        "| model | text encoder | class from | held-out prompts ↑ | fresh prompts ↑ | label prior alone "
        "(held-out / fresh) | encoder's nearest-caption (held-out / fresh) | test-caption class acc ↑ | "
        "test-caption FD ↓ |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    modes = {"prior": "label prior + prompt (default)", "plain": "prompt only (`infer_label=False`)"}
    for r in rows:
        for key, mode in modes.items():
            if f"held_out_acc_{key}" not in r:
                continue
            prior = f"{r['prior_acc_held_out']:.0%} / {r['prior_acc_fresh']:.0%}" if key == "prior" else "—"
            lines.append(
                f"| {r['model']} | {r['encoder']} | {mode} | {r[f'held_out_acc_{key}']:.1%} | "
                f"{r[f'fresh_acc_{key}']:.1%} | {prior} | {r['nearest_caption_acc_held_out']:.0%} / "
                f"{r['nearest_caption_acc_fresh']:.0%} | {r[f'caption_class_acc_{key}']:.1%} | "
                f"{r[f'caption_fd_{key}']:.2f} |"
            )
    lines += [
        "",
        "Held-out prompts: the list written with the text capability; fresh prompts: a second list written "
        "after the label prior's recipe was fixed (nothing was tuned on it). The label prior is a linear "
        "classifier from the text embedding to the class, fitted on the training captions "
        "(`ganstudio/conditioning/prior.py`); with it, the generator gets the prompt and the class the "
        "prior reads from it. The nearest-caption column is what the text encoder alone allows: a prompt "
        "counts when the majority class of its 10 nearest training captions (cosine similarity) is the "
        "expected one.",
    ]
    lines += ["", "Per prompt (expected class): label prior + prompt / prompt only:", ""]
    lines.append("| prompt | expected | " + " | ".join(f"{r['model']} ({r['encoder']})" for r in rows) + " |")
    lines.append("|---|---|" + "---|" * len(rows))
    for name, prompts in (("held_out", HELD_OUT), ("fresh", FRESH)):
        for prompt, expected in prompts.items():
            cells = []
            for r in rows:
                shown = [
                    f"{r[f'{name}_per_prompt_{key}'][prompt]:.0%}"
                    for key in modes
                    if f"{name}_per_prompt_{key}" in r
                ]
                cells.append(" / ".join(shown) + f" (nearest: {r['nearest_caption_class'][prompt]})")
            lines.append(f"| {prompt} | {expected} | " + " | ".join(cells) + " |")
    write_section(ROOT / "BENCHMARKS.md", args.section, "\n".join(lines))


if __name__ == "__main__":
    main()
