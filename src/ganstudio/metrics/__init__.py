"""Evaluation: generate images, compare them with real ones, return a dict of metrics.

scores.py      the metrics (registered by name in `ganstudio.registry.METRICS`)
reference.py   the real images, their labels and cached reference-classifier features
evaluate.py    evaluate (a saved model), QuickScorer (during training), score_images
distances.py   FD, KID, precision/recall, SWD on feature or pixel sets
"""

from ganstudio.metrics.evaluate import QuickScorer, attribute_control, evaluate, score_images
from ganstudio.metrics.reference import ReferenceData, features
from ganstudio.metrics.scores import DEFAULT_METRICS, EvalSet

__all__ = [
    "DEFAULT_METRICS",
    "EvalSet",
    "QuickScorer",
    "ReferenceData",
    "attribute_control",
    "evaluate",
    "features",
    "score_images",
]
