"""The model card of a checkpoint: what a model is, what it was trained on and how."""

from __future__ import annotations

from ganstudio.config import Config
from ganstudio.training.prior import describe_prior


def model_card(config: Config, dataset_info: dict, counters: dict, prior_report: dict | None = None) -> str:
    classes = ", ".join(dataset_info["class_names"]) or "none"
    attributes = ", ".join(dataset_info["attributes"]) or "none"
    text = (
        f"yes, text encoder `{dataset_info['text_encoder']}` ({dataset_info['num_captioned']} captioned images)"
        if dataset_info.get("text_encoder")
        else "no"
    )
    return f"""# ganstudio model

- Architecture: {config.model.arch} ({config.preset} preset), {dataset_info["resolution"]} px, \
{dataset_info["channels"]} channel(s)
- Training data: {dataset_info["source"]} ({dataset_info["num_images"]} images, fingerprint \
{dataset_info["fingerprint"]}, licence: {dataset_info["licence"]})
- Classes: {classes}
- Attributes: {attributes}
- Text prompts: {text}
- Label prior: {describe_prior(prior_report)}
- Trained: {counters["kimg"]:.1f} kimg in {counters["elapsed_s"] / 60:.1f} minutes on {counters["machine"]}
- Command: `{counters.get("command") or "library call (ganstudio.training.loop.train)"}`
- Metrics: {counters.get("metrics") or "not measured yet (see `ganstudio evaluate`)"}

Every image this model generates through ganstudio is marked as AI-generated (IPTC
DigitalSourceType trainedAlgorithmicMedia) with the model id and seed. Generated images can
resemble training images; check outputs before publishing them.
"""
