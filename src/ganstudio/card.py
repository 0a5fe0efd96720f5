"""The model card: its fields (stored in config.json) and the Markdown rendered from them
(`model_card.md`). Names from the data (classes, attributes, licences) are written as literal
text, never markup."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ganstudio.config import Config
from ganstudio.data.rights import describe_rights

CARD_NOTICE = """Every image this model generates through ganstudio is marked as AI-generated (IPTC
DigitalSourceType trainedAlgorithmicMedia) with the model id and seed. Generated images can
resemble training images; check outputs before publishing them."""


def describe_prior(report: dict[str, float] | None) -> str:
    """The model card's line about the label prior."""
    if report is None:
        return "none"
    heads = ", ".join(f"{k.removesuffix('_acc')} head {v:.1%}" for k, v in report.items())
    measured = f"held-out accuracy: {heads}" if heads else "too few labelled images to hold some out"
    return f"class read from a prompt or sketch when no label is given ({measured})"


def markdown_text(value: Any) -> str:
    """A name from the data (a class, an attribute, a licence) as literal Markdown text: HTML
    and Markdown's own characters escaped, line breaks flattened, so a name is never markup."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join("\\" + ch if ch in "\\`*_[]()#|!" else ch for ch in text)


@dataclass
class Card:
    """The model card's fields (stored in config.json; model_card.md is rendered from them)."""

    kimg: float | None = None
    minutes: float | None = None
    machine: str | None = None
    command: str | None = None
    label_prior: dict[str, float] | None = None
    metrics: str | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Card:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in (values or {}).items() if k in known})

    def render(self, config: Config, dataset_info: dict[str, Any]) -> str:
        classes = ", ".join(markdown_text(c) for c in dataset_info.get("class_names") or []) or "none"
        attributes = ", ".join(markdown_text(a) for a in dataset_info.get("attributes") or []) or "none"
        text = (
            f"yes, text encoder `{dataset_info['text_encoder']}` "
            f"({dataset_info.get('num_captioned', 0)} captioned images)"
            if dataset_info.get("text_encoder")
            else "no"
        )
        arch = config.model.arch
        if config.model.cascade != 1:  # models/cascade.py
            arch = f"{arch} at {dataset_info['resolution'] // config.model.cascade} px, then a {config.model.cascade}× GAN upsampler"
        lines = [
            "# ganstudio model",
            "",
            f"- Architecture: {arch} ({config.preset} preset), {dataset_info['resolution']} px, "
            f"{dataset_info['channels']} channel(s)",
            f"- Training data: {markdown_text(dataset_info['source'])} ({dataset_info['num_images']} images, "
            f"fingerprint {markdown_text(dataset_info['fingerprint'])}, licence: "
            f"{markdown_text(dataset_info.get('licence', 'unknown'))})",
            f"- Classes: {classes}",
            f"- Attributes: {attributes}",
            f"- Text prompts: {text}",
            f"- Label prior: {describe_prior(self.label_prior)}",
            f"- Training rights: {describe_rights(dataset_info.get('rights'))}",
        ]
        if self.kimg is not None:
            lines.append(
                f"- Trained: {self.kimg:.1f} kimg in {self.minutes or 0:.1f} minutes on {self.machine}"
            )
        lines.append(f"- Command: `{self.command or 'library call (ganstudio.training.loop.train)'}`")
        lines.append(f"- Metrics: {self.metrics or 'not measured yet (see `ganstudio evaluate`)'}")
        lines += ["", CARD_NOTICE, *[f"\n{note}" for note in self.notes]]
        return "\n".join(lines) + "\n"
