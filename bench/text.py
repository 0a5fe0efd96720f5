"""Text → image on fashion-mnist: does the generator follow words it never saw in training?

    python bench/text.py --model fashion-mnist --model runs/fashion-builtin/checkpoint

For each model: (1) held-out prompts — paraphrases that occur in no training caption — each
generated n times from the prompt alone (no label), judged by the reference classifier;
(2) the 10k test images' own captions as prompts (one per image, no label): FD against the test
images and class accuracy. The table goes into BENCHMARKS.md (section `text`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import sys
from pathlib import Path

import torch

from ganstudio.conditioning import load_text_encoder
from ganstudio.config import DataConfig
from ganstudio.data import load_dataset
from ganstudio.data.captions import CaptionTable
from ganstudio.metrics import features
from ganstudio.metrics.classifier import load_reference_classifier
from ganstudio.metrics.distances import frechet_distance
from ganstudio.pipeline import DEFAULT_GUIDANCE, GenerationPipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from report import write_section  # noqa: E402

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


@torch.no_grad()
def nearest_caption_accuracy(encoder, train, k: int = 10) -> tuple[float, dict[str, str]]:
    """What the text encoder alone allows: for each held-out prompt, the majority class of the k
    training captions nearest to it (cosine). A prompt whose neighbours belong to another class
    cannot be expected to come out right from any generator trained on these captions."""
    from ganstudio.data import cache_dir
    from ganstudio.data.captions import caption_embeddings

    table = CaptionTable(train.captions)
    bank = torch.nn.functional.normalize(
        caption_embeddings(table, encoder, train.fingerprint, cache_dir()), dim=1
    )
    votes = torch.zeros(len(table.texts), len(train.class_names))  # caption → how often each class has it
    rows = torch.arange(len(train)).repeat_interleave(table.index.shape[1])
    flat = table.index.flatten()
    keep = flat >= 0
    votes.index_put_((flat[keep], train.labels[rows[keep]]), torch.ones(int(keep.sum())), accumulate=True)
    queries = torch.nn.functional.normalize(encoder.encode(list(HELD_OUT)), dim=1)
    nearest = (queries @ bank.T).topk(k, dim=1).indices  # (P, k)
    picked = {}
    for prompt, idx in zip(HELD_OUT, nearest, strict=True):
        picked[prompt] = train.class_names[int(votes[idx].sum(0).argmax())]
    accuracy = sum(picked[p] == c for p, c in HELD_OUT.items()) / len(HELD_OUT)
    return accuracy, picked


@torch.no_grad()
def held_out_accuracy(pipe: GenerationPipeline, classifier, n: int, guidance: float) -> dict[str, float]:
    """For each held-out prompt, the fraction of n images from the prompt alone that the reference
    classifier places in the expected class."""
    per_prompt = {}
    for prompt, expected in HELD_OUT.items():
        images = pipe(n=n, seed=0, prompt=prompt, guidance=guidance).tensors
        _, logits = features(classifier, images)
        per_prompt[prompt] = (logits.argmax(1) == pipe.class_names.index(expected)).float().mean().item()
    return per_prompt


@torch.no_grad()
def score(model: str, n: int, classifier, train, train_captions: set[str], test, guidance: float) -> dict:
    pipe = GenerationPipeline.from_pretrained(model)
    leaked = [p for p in HELD_OUT if any(p in c for c in train_captions)]
    if leaked:
        raise SystemExit(f"held-out prompts occur in training captions: {leaked}")
    per_prompt = held_out_accuracy(pipe, classifier, n, guidance)
    held_out = sum(per_prompt.values()) / len(per_prompt)
    encoder = load_text_encoder(pipe.spec.text_encoder)
    ceiling, nearest_class = nearest_caption_accuracy(encoder, train)
    # the test images' own captions, one per image, prompt only
    table = CaptionTable(test.captions)
    embeddings = encoder.encode(table.texts)
    picked = table.sample(torch.arange(len(test)), torch.Generator().manual_seed(0))
    cond = pipe.make_cond(len(test))
    cond.text, cond.text_mask[:] = embeddings[picked], True
    z = torch.randn(len(test), pipe.G.z_dim, generator=torch.Generator().manual_seed(1))
    fake = pipe.generate(z, cond, guidance=guidance)
    fake_features, fake_logits = features(classifier, fake)
    real_features, _ = features(classifier, test.images.float() / 127.5 - 1)
    return {
        "model": model,
        "encoder": pipe.spec.text_encoder,
        "held_out_acc": held_out,
        "nearest_caption_acc": ceiling,
        "nearest_caption_class": nearest_class,
        "per_prompt": per_prompt,
        "caption_fd": frechet_distance(real_features, fake_features),
        "caption_class_acc": (fake_logits.argmax(1) == test.labels).float().mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--model", action="append", required=True, help="text-conditioned fashion-mnist model"
    )
    parser.add_argument("-n", type=int, default=100, help="images per held-out prompt")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE, help="condition guidance")
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
        f"Guidance {args.guidance:g} (1 = the plain model; see the `guidance` section).",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; torch "
        f"{torch.__version__}; {datetime.date.today()}; command `python bench/text.py {shlex.join(sys.argv[1:])}`.",
        "",
        "| model | text encoder | held-out prompt accuracy ↑ | encoder's nearest-caption accuracy | "
        "test-caption class acc ↑ | test-caption FD ↓ |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['encoder']} | {r['held_out_acc']:.1%} | {r['nearest_caption_acc']:.0%} | "
            f"{r['caption_class_acc']:.1%} | {r['caption_fd']:.2f} |"
        )
    lines += [
        "",
        "The nearest-caption column is what the text encoder alone allows: a held-out prompt counts when "
        "the majority class of its 10 nearest training captions (cosine similarity of embeddings) is the "
        "expected one. A generator that follows the training captions perfectly should reach about this.",
    ]
    lines += ["", "Per held-out prompt (expected class):", ""]
    lines.append("| prompt | expected | " + " | ".join(f"{r['model']} ({r['encoder']})" for r in rows) + " |")
    lines.append("|---|---|" + "---|" * len(rows))
    for prompt, expected in HELD_OUT.items():
        lines.append(
            f"| {prompt} | {expected} | "
            + " | ".join(
                f"{r['per_prompt'][prompt]:.0%} (nearest: {r['nearest_caption_class'][prompt]})" for r in rows
            )
            + " |"
        )
    write_section(ROOT / "BENCHMARKS.md", args.section, "\n".join(lines))


if __name__ == "__main__":
    main()
