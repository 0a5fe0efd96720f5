"""A corpus of hostile inputs, built on the fly: dataset folders and model folders that are broken,
malicious or merely unusual. Each case is a function that spoils a good folder and says what must
happen: the item is skipped with a reason (dataset), one clear error naming the file (model), or
the input works. Used by tests/test_hostile_inputs.py; the counts are in BENCHMARKS.md."""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

OUTSIDE = "outside-secret"  # a marker file beside every dataset folder: it must never be read


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares `width` x `height` pixels but holds one tiny IDAT (a decompression bomb
    for any reader that trusts the header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def good_image(path: Path, value: int = 200, mode: str = "RGB", size: int = 20) -> None:
    array = np.full((size, size, 3), 255, np.uint8)
    array[4:-4, 4:-4] = value
    Image.fromarray(array).convert(mode).save(path)


def write_rows(root: Path, *rows: object, raw: bytes | None = None) -> None:
    text = (
        raw
        if raw is not None
        else "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()
    )
    (root / "metadata.jsonl").write_bytes(text)


# Dataset folder cases: name → (spoil(root) → None, expected: a substring of the skip reason, or
# "ok" when the odd file must be used as an image, or "error" when the whole folder is refused).
DatasetCase = tuple[Callable[[Path], None], str]


def _symlink(target: str | Path, link: Path) -> None:
    os.symlink(target, link)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _save_animated(path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)


def _rotated_jpeg(path: Path) -> None:
    image = Image.new("RGB", (24, 12), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    image.save(path, exif=exif)


DATASET_CASES: dict[str, DatasetCase] = {
    # files that are not what they claim
    "truncated-png": (
        lambda r: (r / "x.png").write_bytes((r / "a.png").read_bytes()[:60]),
        "corrupt or truncated",
    ),
    "zero-byte-png": (lambda r: (r / "x.png").write_bytes(b""), "empty file"),
    "text-named-png": (lambda r: (r / "x.png").write_text("hello"), "not an image"),
    "html-named-jpg": (lambda r: (r / "x.jpg").write_text("<html></html>"), "not an image"),
    "random-bytes-webp": (lambda r: (r / "x.webp").write_bytes(os.urandom(500)), "not an image"),
    "png-header-only": (lambda r: (r / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n"), "not an image"),
    "bomb-400-megapixels": (lambda r: png_header_only(r / "x.png", 20000, 20000), "decompression bomb"),
    "bomb-81-megapixels": (lambda r: png_header_only(r / "x.png", 9000, 9000), "decompression bomb"),
    "bomb-1x4-billion": (lambda r: png_header_only(r / "x.png", 1, 2**31 - 1), "decompression bomb"),
    "zero-width-png": (lambda r: png_header_only(r / "x.png", 0, 10), "not an image|corrupt"),
    # unusual but valid images: used
    "cmyk-jpeg": (lambda r: good_image(r / "x.jpg", mode="CMYK"), "ok"),
    "16-bit-gray-png": (
        lambda r: Image.fromarray((np.arange(400).reshape(20, 20) * 100).astype(np.uint16)).save(r / "x.png"),
        "ok",
    ),
    "grayscale-jpeg": (lambda r: good_image(r / "x.jpg", mode="L"), "ok"),
    "1-bit-png": (lambda r: good_image(r / "x.png", mode="1"), "ok"),
    "palette-transparent-png": (
        lambda r: Image.new("P", (16, 16), 0).save(r / "x.png", transparency=0),
        "ok",
    ),
    "gray-alpha-png": (lambda r: good_image(r / "x.png", mode="LA"), "ok"),
    "animated-gif": (lambda r: _save_animated(r / "x.gif"), "ok"),
    "animated-webp": (lambda r: _save_animated(r / "x.webp"), "ok"),
    "exif-rotated-jpeg": (lambda r: _rotated_jpeg(r / "x.jpg"), "ok"),
    "one-pixel-png": (lambda r: Image.new("RGB", (1, 1), (9, 9, 9)).save(r / "x.png"), "ok"),
    "1x1000-strip": (lambda r: Image.new("RGB", (1, 1000), (9, 9, 9)).save(r / "x.png"), "ok"),
    "uppercase-suffix": (lambda r: good_image(r / "X.PNG"), "ok"),
    # links, special files, names
    "symlink-to-etc-passwd": (lambda r: _symlink("/etc/passwd", r / "x.png"), "outside the dataset folder"),
    "symlink-to-image-outside": (
        lambda r: _symlink(r.parent / "outside.png", r / "x.png"),
        "outside the dataset folder",
    ),
    "symlink-loop-file": (
        lambda r: (_symlink(r / "y.png", r / "x.png"), _symlink(r / "x.png", r / "y.png")),
        "link loop",
    ),
    "symlink-loop-dir": (lambda r: _symlink(r, r / "loop"), "ok-nothing"),
    "dangling-symlink": (lambda r: _symlink(r / "missing.png", r / "x.png"), "broken link"),
    "fifo-png": (lambda r: _fifo(r / "x.png"), "not a regular file"),
    "directory-named-png": (lambda r: (r / "x.png").mkdir(), "ok-nothing"),
    "non-utf8-name": (
        lambda r: good_image(Path(os.fsdecode(os.fsencode(r) + b"/bad-\xff.png"))),
        "not valid UTF-8",
    ),
    "hidden-file": (lambda r: (r / ".DS_Store.png").write_bytes(b"junk"), "ok-nothing"),
    # metadata.jsonl rows
    "metadata-not-utf8": (
        lambda r: write_rows(r, raw=b'{"file_name": "a.png", "text": "caf\xe9"}\n'),
        "not valid UTF-8",
    ),
    "metadata-invalid-json": (lambda r: write_rows(r, '{"file_name": "a.png",'), "invalid JSON"),
    "metadata-array-row": (lambda r: write_rows(r, [1, 2]), "no 'file_name'"),
    "metadata-no-file-name": (lambda r: write_rows(r, {"label": "x"}), "no 'file_name'"),
    "metadata-deep-nesting": (lambda r: write_rows(r, "[" * 100000 + "]" * 100000), "invalid JSON"),
    "file-name-number": (lambda r: write_rows(r, {"file_name": 7}), "must be a string"),
    "file-name-null": (lambda r: write_rows(r, {"file_name": None}), "must be a string"),
    "file-name-list": (lambda r: write_rows(r, {"file_name": ["a.png"]}), "must be a string"),
    "file-name-absolute": (
        lambda r: write_rows(r, {"file_name": "/etc/passwd"}),
        "outside the dataset folder",
    ),
    "file-name-dotdot": (
        lambda r: write_rows(r, {"file_name": "../outside.png"}),
        "outside the dataset folder",
    ),
    "file-name-empty": (lambda r: write_rows(r, {"file_name": ""}), "outside the dataset folder"),
    "sketch-dotdot": (
        lambda r: write_rows(r, {"file_name": "a.png", "sketch": "../outside.png"}),
        "not a path inside the dataset folder",
    ),
    "sketch-etc-passwd": (
        lambda r: write_rows(r, {"file_name": "a.png", "sketch": "../../../../../../etc/passwd"}),
        "not a path inside the dataset folder",
    ),
    "sketch-absolute": (
        lambda r: write_rows(r, {"file_name": "a.png", "sketch": "/etc/passwd"}),
        "not a path inside the dataset folder",
    ),
    "sketch-number": (lambda r: write_rows(r, {"file_name": "a.png", "sketch": 5}), "not a path inside"),
    "sketch-symlink-outside": (
        lambda r: (
            _symlink(r.parent / "outside.png", r / "s.png"),
            write_rows(r, {"file_name": "a.png", "sketch": "s.png"}),
        ),
        "outside the dataset folder",
    ),
    "label-list": (lambda r: write_rows(r, {"file_name": "a.png", "label": ["a", "b"]}), "label must be"),
    "label-nan": (lambda r: write_rows(r, '{"file_name": "a.png", "label": NaN}'), "label must be"),
    "label-dict": (lambda r: write_rows(r, {"file_name": "a.png", "label": {"x": 1}}), "label must be"),
    "label-bool": (lambda r: write_rows(r, {"file_name": "a.png", "label": True}), "label must be"),
    "label-empty": (lambda r: write_rows(r, {"file_name": "a.png", "label": " "}), "label is empty"),
    "attribute-1e308": (
        lambda r: write_rows(r, {"file_name": "a.png", "size": 1e308}),
        "too large for float32",
    ),
    "attribute-minus-1e39": (
        lambda r: write_rows(r, {"file_name": "a.png", "size": -1e39}),
        "too large for float32",
    ),
    "attribute-infinity": (
        lambda r: write_rows(r, '{"file_name": "a.png", "size": Infinity}'),
        "too large for float32",
    ),
    "duplicate-rows": (
        lambda r: write_rows(r, {"file_name": "a.png", "label": "x"}, {"file_name": "a.png", "label": "y"}),
        "a second row for a.png",
    ),
    "metadata-fifo": (lambda r: _fifo(r / "metadata.jsonl"), "not a regular file"),
    "metadata-directory": (lambda r: (r / "metadata.jsonl").mkdir(), "not a regular file"),
    "metadata-symlink-outside": (
        lambda r: _symlink(r.parent / OUTSIDE, r / "metadata.jsonl"),
        "outside the dataset folder",
    ),
    "caption-symlink-outside": (
        lambda r: _symlink(r.parent / OUTSIDE, r / "a.txt"),
        "outside the dataset folder",
    ),
    "caption-not-utf8": (lambda r: (r / "a.txt").write_bytes(b"caf\xe9 au lait\n"), "ok-nothing"),
}


def make_dataset_folder(base: Path) -> Path:
    """A good folder (two images) and, beside it, files no preparation may read."""
    root = base / "data"
    root.mkdir()
    good_image(root / "a.png", 120)
    good_image(root / "b.png", 40)
    good_image(base / "outside.png", 250)
    (base / OUTSIDE).write_text('{"file_name": "../outside.png", "label": "stolen"}\n')
    return root


# Model folder cases: spoil(folder) → None; expected: a substring of the one clear error.
ModelCase = tuple[Callable[[Path], None], str]


def _edit_config(folder: Path, change: Callable[[dict], object]) -> None:
    raw = json.loads((folder / "config.json").read_text())
    result = change(raw)
    (folder / "config.json").write_text(json.dumps(raw if result is None else result))


def _set(path: str, value: object) -> Callable[[dict], None]:
    def change(raw: dict) -> None:
        node = raw
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        node[last] = value

    return change


def _nan_weights(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "generator_ema.safetensors"))
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].clone().fill_(float("nan"))
    save_file(state, str(folder / "generator_ema.safetensors"))


def _wrong_shape(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "generator_ema.safetensors"))
    key = next(k for k, v in state.items() if v.dim() >= 2)
    state[key] = state[key][:1].contiguous()
    save_file(state, str(folder / "generator_ema.safetensors"))


def _huge_header(folder: Path) -> None:
    """A safetensors header claiming a 2**40-element tensor in a 100-byte file."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 2**42]}}).encode()
    (folder / "generator_ema.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 100)


def _only_a_pickle(folder: Path) -> None:
    for path in list(folder.iterdir()):
        path.unlink()
    (folder / "model.pt").write_bytes(b"\x80\x04evil")


MODEL_CASES: dict[str, ModelCase] = {
    "config-is-a-list": (lambda f: _edit_config(f, lambda raw: [raw]), "not a ganstudio model config"),
    "config-invalid-json": (lambda f: (f / "config.json").write_text("{"), "not valid JSON"),
    "config-not-utf8": (lambda f: (f / "config.json").write_bytes(b'{"format": "\xff"}'), "not valid JSON"),
    "config-huge": (lambda f: (f / "config.json").write_bytes(b" " * (17 << 20)), "far smaller"),
    "config-missing-cond": (
        lambda f: _edit_config(f, lambda raw: raw.pop("cond") and None),
        "'config' and 'cond'",
    ),
    "config-cond-is-a-list": (lambda f: _edit_config(f, _set("cond", [])), "'config' and 'cond'"),
    "config-unknown-cond-key": (lambda f: _edit_config(f, _set("cond.evil", 1)), "config.json"),
    "format-version-string": (lambda f: _edit_config(f, _set("format_version", "1")), "format version 1"),
    "format-version-true": (lambda f: _edit_config(f, _set("format_version", True)), "format version"),
    "format-missing": (lambda f: _edit_config(f, _set("format", None)), "not a ganstudio model config"),
    "channel-max-1e9": (
        lambda f: _edit_config(f, _set("config.model.channel_max", 1_000_000_000)),
        "channel_max",
    ),
    "channel-base-huge": (
        lambda f: _edit_config(f, _set("config.model.channel_base", 10**15)),
        "channel_base",
    ),
    "z-dim-zero": (lambda f: _edit_config(f, _set("config.model.z_dim", 0)), "z_dim"),
    "z-dim-negative": (lambda f: _edit_config(f, _set("config.model.z_dim", -5)), "z_dim"),
    "z-dim-string": (lambda f: _edit_config(f, _set("config.model.z_dim", "abc")), "z_dim"),
    "z-dim-other-number": (lambda f: _edit_config(f, _set("config.model.z_dim", 64)), "has shape"),
    "resolution-not-power-of-two": (lambda f: _edit_config(f, _set("resolution", 24)), "power of two"),
    "resolution-huge": (lambda f: _edit_config(f, _set("resolution", 1 << 20)), "resolution"),
    "channels-five": (lambda f: _edit_config(f, _set("channels", 5)), "channels"),
    "classes-1e12": (lambda f: _edit_config(f, _set("cond.num_classes", 10**12)), "num_classes"),
    "text-dim-huge": (lambda f: _edit_config(f, _set("cond.text_dim", 10**9)), "text_dim"),
    "attribute-lists-differ": (lambda f: _edit_config(f, _set("cond.attribute_mean", [])), "attribute"),
    "guidance-nan": (lambda f: _edit_config(f, _set("config.model.guidance", float("nan"))), "finite"),
    "arch-unknown": (lambda f: _edit_config(f, _set("config.model.arch", "evil")), "evil"),
    "weights-truncated": (
        lambda f: (f / "generator_ema.safetensors").write_bytes(
            (f / "generator_ema.safetensors").read_bytes()[:300]
        ),
        "generator_ema.safetensors",
    ),
    "weights-zero-bytes": (
        lambda f: (f / "generator_ema.safetensors").write_bytes(b""),
        "generator_ema.safetensors",
    ),
    "weights-are-a-png": (
        lambda f: Image.new("RGB", (64, 64)).save(f / "generator_ema.safetensors", format="PNG"),
        "generator_ema.safetensors",
    ),
    "weights-huge-header": (_huge_header, "generator_ema.safetensors"),
    "weights-wrong-shape": (_wrong_shape, "has shape"),
    "weights-nan": (_nan_weights, "NaN"),
    "weights-missing": (lambda f: (f / "generator_ema.safetensors").unlink(), "missing"),
    "dataset-json-missing": (lambda f: (f / "dataset.json").unlink(), "dataset.json"),
    "dataset-json-list": (lambda f: (f / "dataset.json").write_text("[]"), "dataset.json"),
    "dataset-json-invalid": (lambda f: (f / "dataset.json").write_text("{"), "dataset.json"),
    "only-a-pickle": (_only_a_pickle, "pickle checkpoints are refused"),
    "class-names-integers": (lambda f: _edit_dataset(f, "class_names", [1, 2]), "class_names"),
    "attributes-a-list": (lambda f: _edit_dataset(f, "attributes", ["a"]), "attributes"),
    "attribute-min-string": (
        lambda f: _edit_dataset(f, "attributes", {"a": {"min": "low", "max": 1.0}}),
        "finite numbers",
    ),
    "sketch-margin-string": (lambda f: _edit_config(f, _set("cond.sketch_margin", "x")), "finite"),
    "sketch-margin-negative": (lambda f: _edit_config(f, _set("cond.sketch_margin", -12)), "sketch_margin"),
    "attribute-std-zero": (lambda f: _edit_config(f, _set("cond.attribute_std", [0.0])), "attribute_std"),
    "attribute-name-number": (lambda f: _edit_config(f, _set("cond.attribute_names", [5])), "strings"),
}


def _edit_dataset(folder: Path, key: str, value: object) -> None:
    info = json.loads((folder / "dataset.json").read_text())
    info[key] = value
    (folder / "dataset.json").write_text(json.dumps(info))
