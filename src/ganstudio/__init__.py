"""ganstudio: generative image AI built on GANs."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["GenerationPipeline", "GenerationResult"]


def __getattr__(name: str):
    # Imported on first use, so `import ganstudio.data` stays light.
    if name in __all__:
        from ganstudio import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'ganstudio' has no attribute {name!r}")
