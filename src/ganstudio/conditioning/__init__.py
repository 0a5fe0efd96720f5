"""Conditioners: everything a user can constrain generation with ends up in one `Cond`."""

from ganstudio.conditioning.cond import Cond, CondEmbedding, CondSpec

__all__ = ["Cond", "CondEmbedding", "CondSpec"]
