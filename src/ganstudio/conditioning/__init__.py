"""Conditioners: everything a user can constrain generation with ends up in one `Cond`."""

from ganstudio.conditioning.cond import Cond, CondEmbedding, CondSpec
from ganstudio.conditioning.text import load_text_encoder, normalise_prompt

__all__ = ["Cond", "CondEmbedding", "CondSpec", "load_text_encoder", "normalise_prompt"]
