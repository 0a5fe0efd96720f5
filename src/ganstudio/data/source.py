"""A dataset's identity, parsed once: a built-in name with its split ("fashion-mnist",
"fashion-mnist:test"), an image folder, or a packed `.gsd` file. The same type reads what a
model folder's dataset.json records ("builtin:fashion-mnist:train", "folder:/path#fingerprint").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "test")
# built-ins with splits of their own (data/iconify.py: concept × style pairs and a whole style held out)
EXTRA_SPLITS = {"emoji": ("train", "test", "heldout-pairs", "heldout-set", "all")}


@dataclass(frozen=True)
class DataSource:
    kind: str  # "builtin", "folder" or "packed"
    name: str  # the built-in's name, or the path
    split: str = "train"  # built-ins only

    @classmethod
    def parse(cls, text: str | Path) -> DataSource:
        """What a user typed (--data) or what dataset.json recorded, as a DataSource. An existing
        path wins over a built-in of the same name; unknown names are an error listing the valid ones."""
        from ganstudio.data import builtin  # noqa: F401  (registers the built-ins)
        from ganstudio.registry import DATASETS

        text = str(text)
        kind, _, rest = text.partition(":")
        if kind == "folder" and rest:  # dataset.json of a folder: "folder:/abs/path#fingerprint"
            return cls("folder", rest.rpartition("#")[0] or rest)
        if kind == "builtin" and rest:
            text = rest
        path = Path(text)
        if path.exists():
            return cls("packed" if path.is_file() else "folder", str(path))
        name, _, split = text.partition(":")
        if name in DATASETS:
            split = split or "train"
            splits = EXTRA_SPLITS.get(name, SPLITS)
            if split not in splits:
                raise ValueError(f"dataset {text!r}: split {split!r} is unknown; use {' or '.join(splits)}")
            return cls("builtin", name, split)
        raise ValueError(
            f"dataset {text!r} is neither a folder, a .gsd file nor a built-in dataset; "
            f"built-in datasets: {', '.join(DATASETS.names())}"
        )

    def __str__(self) -> str:
        """The form `load_dataset` and --data take."""
        if self.kind != "builtin":
            return self.name
        return self.name if self.split == "train" else f"{self.name}:{self.split}"

    @property
    def builtin(self) -> str | None:
        return self.name if self.kind == "builtin" else None

    def test_split(self) -> DataSource:
        """Real images to score a model of this data against: a built-in's held-out split, else
        the data itself (a folder has no split)."""
        return DataSource("builtin", self.name, "test") if self.kind == "builtin" else self

    def heldout(self) -> DataSource | None:
        """The held-out split of a built-in whose test images are not in its training split
        (emoji's test split is a subset of its whole set); None for everything else."""
        from ganstudio.data.builtin import SEPARATE_TEST_SPLIT

        if self.kind == "builtin" and self.split == "train" and self.name in SEPARATE_TEST_SPLIT:
            return DataSource("builtin", self.name, "test")
        return None

    def loadable(self) -> bool:
        """Whether the data is still there (a folder or file may have moved since training)."""
        return self.kind == "builtin" or Path(self.name).exists()
