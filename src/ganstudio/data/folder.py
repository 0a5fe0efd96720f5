"""Read a user's image folder into a PackedDataset.

Conventions (ImageFolder and Hugging Face imagefolder):
- first-level sub-folder names are class labels; images directly in the root have none;
- an optional `metadata.jsonl` (one per folder) with `file_name` plus columns: `label`
  (overrides the sub-folder), `text` (caption or list of captions), numeric columns
  (user attributes, stored beside the measured ones); other columns are kept out;
- an optional sidecar `name.txt` beside `name.png`: one caption per non-empty line;
- a `sketch` column names the user's own sketch of that image (a file, relative to the
  metadata.jsonl): used instead of the extracted outline, and not trained on as an image;
- a `license` (or `licence`) column: counted into dataset.json and the model card; one that
  forbids training excludes the image, as do C2PA / PLUS data-mining prohibitions and the
  user's opt-out list (data/rights.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganstudio.config import DataConfig
from ganstudio.data import attributes as measured
from ganstudio.data.images import IMAGE_EXTENSIONS, ImageSkipped, load_image, parse_color
from ganstudio.data.packed import PackedDataset
from ganstudio.data.rights import OptOut, licence_of, refusal, summary

RESERVED_COLUMNS = {"file_name", "label", "text", "sketch", "license", "licence"}
FLOAT32_MAX = float(np.finfo(np.float32).max)
ProgressFn = Callable[[int, int], None]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def display_name(rel: str) -> str:
    """A file name as it can be shown and stored: bytes that are not UTF-8 become U+FFFD."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _inside(path: Path, root: Path) -> bool:
    """Whether `path`, links followed, stays inside the (resolved) dataset folder `root`."""
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symlink loop
        return False


def _usable_file(path: Path, root: Path, rel: str, problems: list[dict[str, str]]) -> bool:
    """A regular file inside the folder with a UTF-8 name; anything else is reported."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        problems.append(
            {"file": display_name(rel), "reason": "file name is not valid UTF-8; rename the file"}
        )
        return False
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        problems.append({"file": rel, "reason": "a broken link or a link loop"})
        return False
    if not target.is_relative_to(root):
        problems.append({"file": rel, "reason": "a link to a file outside the dataset folder; not read"})
        return False
    if not target.is_file():
        problems.append({"file": rel, "reason": "not a regular file (a FIFO, device or folder)"})
        return False
    return True


def scan(root: Path, problems: list[dict[str, str]] | None = None) -> list[Path]:
    """Image files under `root`, recursively, in a stable order (hidden files skipped). Links
    leading outside `root`, names that are not UTF-8 and special files are left out and, with
    `problems`, reported there."""
    problems = [] if problems is None else problems
    inside = root.resolve()
    files = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.suffix.lower() not in IMAGE_EXTENSIONS or any(
            s.startswith(".") for s in p.relative_to(root).parts
        ):
            continue
        try:
            if p.is_dir():
                continue
        except OSError:
            pass
        if _usable_file(p, inside, rel, problems):
            files.append(p)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _side_files(root: Path, problems: list[dict[str, str]] | None = None) -> list[Path]:
    """metadata.jsonl and caption files that may be read (regular, inside, UTF-8 names); the
    others are reported in `problems` when given."""
    inside, problems = root.resolve(), [] if problems is None else problems
    return sorted(
        p
        for p in root.rglob("*")
        if (p.name == "metadata.jsonl" or p.suffix == ".txt")
        and not any(s.startswith(".") for s in p.relative_to(root).parts)
        and _usable_file(p, inside, p.relative_to(root).as_posix(), problems)
    )


def _confined(root: Path, base: Path, name: str) -> str | None:
    """`name` (relative to `base`) as a path relative to `root`, or None when it is absolute or
    leads outside `root` (`..`, links)."""
    if not name or Path(name).is_absolute() or "\0" in name:
        return None
    rel = Path(os.path.normpath(os.path.relpath(base / name, root)))
    if rel.parts and rel.parts[0] == "..":
        return None
    return rel.as_posix() if _inside(root / rel, root.resolve()) else None


def _row_problem(row: dict[str, Any]) -> str | None:
    """Why a metadata row cannot be used (its image is skipped), or None."""
    label = row.get("label")
    if label is not None and (isinstance(label, bool) or not isinstance(label, str | int)):
        return f"label must be a string or a whole number, not {json.dumps(label)[:40]}"
    if isinstance(label, str) and not label.strip():
        return "label is empty"
    for key, value in row.items():
        big = _is_number(value) and abs(value) > FLOAT32_MAX or isinstance(value, float) and math.isinf(value)
        if key not in RESERVED_COLUMNS and big:
            return f"column {key!r}: {value:g} is too large for float32 (|x| ≤ {FLOAT32_MAX:.3g})"
    return None


def read_metadata(root: Path) -> tuple[dict[str, dict[str, Any] | None], list[dict[str, str]]]:
    """All metadata.jsonl rows under `root`, keyed by the image path relative to `root`. A row
    whose values cannot be used maps to None (its image is skipped); every problem is reported
    with the file and line."""
    rows: dict[str, dict[str, Any] | None] = {}
    first: dict[str, str] = {}
    problems: list[dict[str, str]] = []
    for meta in _side_files(root, problems):
        if meta.name != "metadata.jsonl":
            continue
        with open(meta, "rb") as f:
            for number, raw in enumerate(f, 1):
                where = f"{meta.relative_to(root).as_posix()}:{number}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    problems.append(
                        {"file": where, "reason": "line is not valid UTF-8; save the file as UTF-8"}
                    )
                    continue
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as error:
                    problems.append(
                        {"file": where, "reason": f"invalid JSON ({getattr(error, 'msg', 'too deep')})"}
                    )
                    continue
                if not isinstance(row, dict) or "file_name" not in row:
                    problems.append({"file": where, "reason": "row has no 'file_name'"})
                    continue
                if not isinstance(row["file_name"], str):
                    problems.append({"file": where, "reason": "file_name must be a string (a path)"})
                    continue
                rel = _confined(root, meta.parent, row["file_name"])
                if rel is None:
                    problems.append(
                        {
                            "file": where,
                            "reason": f"file_name {row['file_name']!r} is outside the dataset folder",
                        }
                    )
                    continue
                if rel in first:
                    problems.append(
                        {"file": where, "reason": f"a second row for {rel} (first at {first[rel]}); ignored"}
                    )
                    continue
                first[rel] = where
                sketch = row.get("sketch")
                if sketch is not None:
                    sketch_rel = _confined(root, meta.parent, sketch) if isinstance(sketch, str) else None
                    if sketch_rel is None:
                        problems.append(
                            {
                                "file": where,
                                "reason": f"sketch {json.dumps(sketch)[:60]} is not a path inside the dataset "
                                "folder; the outline is used instead",
                            }
                        )
                        row.pop("sketch")
                    else:
                        row["sketch"] = sketch_rel
                reason = _row_problem(row)
                if reason is not None:
                    problems.append({"file": where, "reason": f"{reason}; {rel} is skipped"})
                    rows[rel] = None
                    continue
                rows[rel] = row
    return rows, problems


def fingerprint_source(root: Path, config: DataConfig) -> tuple[str, list[dict[str, Any]]]:
    """SHA-256 of every image, metadata and caption file plus the preparation options and the
    opt-out list (a changed list prepares the folder again)."""
    manifest = []
    h = hashlib.sha256(
        json.dumps([config.resolution, config.fit, config.background, config.channels]).encode()
    )
    opt_out = OptOut.load(config.opt_out).key()
    if opt_out:
        h.update(f"opt-out\0{opt_out}\n".encode())
    for path in scan(root) + _side_files(root):
        entry = {"file": path.relative_to(root).as_posix(), "sha256": _sha256(path)}
        manifest.append(entry)
        h.update(f"{entry['file']}\0{entry['sha256']}\n".encode())
    return h.hexdigest()[:16], manifest


def _captions(path: Path, row: dict[str, Any], inside: Path) -> list[str]:
    captions: list[str] = []
    text = row.get("text")
    if isinstance(text, str) and text.strip():
        captions.append(text.strip())
    elif isinstance(text, list):
        captions += [t.strip() for t in text if isinstance(t, str) and t.strip()]
    sidecar = path.with_suffix(".txt")
    if sidecar.is_file() and _inside(sidecar, inside):
        captions += [
            line.strip()
            for line in sidecar.read_text(encoding="utf-8", errors="replace").splitlines()
            if line.strip()
        ]
    return captions


def prepare_folder(
    root: str | Path,
    config: DataConfig,
    progress: ProgressFn | None = None,
    fingerprint: tuple[str, list[dict[str, Any]]] | None = None,
) -> PackedDataset:
    """Decode every usable image under `root`; skipped files are listed with their reason.

    `fingerprint` is `fingerprint_source(root, config)` when the caller already computed it.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder {root} does not exist")
    skipped: list[dict[str, str]] = []
    files = scan(root, skipped)
    source_fp, manifest = fingerprint or fingerprint_source(root, config)
    rows, problems = read_metadata(root)
    skipped += problems
    opt_out, digests = OptOut.load(config.opt_out), {m["file"]: m["sha256"] for m in manifest}
    excluded: list[dict[str, str]] = []
    licences: dict[str, int] = {}
    background = parse_color(config.background)
    sketch_files = {row["sketch"] for row in rows.values() if row is not None and "sketch" in row}
    arrays, grays, labels_raw, captions, user_attrs, sketches = [], [], [], [], [], []
    for i, path in enumerate(files):
        rel = path.relative_to(root).as_posix()
        if rel in sketch_files or (rel in rows and rows[rel] is None):
            continue  # a user's sketch, or an image whose metadata row was rejected (reported)
        row = rows.get(rel) or {}
        reason = refusal(path, rel, digests.get(rel) or _sha256(path), row, opt_out)
        if reason is not None:
            excluded.append({"file": rel, "reason": reason})
            continue
        try:
            array, is_gray = load_image(path, config.resolution, config.fit, background)
        except ImageSkipped as reason:
            skipped.append({"file": rel, "reason": str(reason)})
            continue
        finally:
            if progress is not None:
                progress(i + 1, len(files))
        licences[licence_of(row)] = licences.get(licence_of(row), 0) + 1
        parts = Path(rel).parts
        label = row.get("label", parts[0] if len(parts) > 1 else None)
        arrays.append(array)
        grays.append(is_gray)
        labels_raw.append(None if label is None else str(label))
        captions.append(_captions(path, row, root.resolve()))
        sketches.append(_sketch(root, row, config, skipped))
        user_attrs.append({k: v for k, v in row.items() if k not in RESERVED_COLUMNS})
    if not arrays:
        reasons = "; ".join(f"{s['file']}: {s['reason']}" for s in (excluded + skipped)[:5])
        raise ValueError(
            f"no usable images in {root} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))} files"
            + (f"; skipped {len(excluded + skipped)}: {reasons}" if excluded or skipped else "")
            + ")"
        )
    channels = {"auto": 1 if all(grays) else 3, "1": 1, "3": 3}.get(config.channels)
    if channels is None:
        raise ValueError(f"data.channels {config.channels!r} is unknown; use auto, 1 or 3")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)
    if channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        images = (images.float() * weights).sum(dim=1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    class_names = sorted({label for label in labels_raw if label is not None}, key=_natural_key)
    index = {name: i for i, name in enumerate(class_names)}
    labels = torch.tensor([-1 if label is None else index[label] for label in labels_raw], dtype=torch.int64)
    names = measured.attribute_names(channels)
    values = measured.measure(images)
    user_names = sorted({k for row in user_attrs for k, v in row.items() if _is_number(v)} - set(names))
    if user_names:
        extra = torch.tensor(
            [
                [float(row[k]) if _is_number(row.get(k)) else math.nan for k in user_names]
                for row in user_attrs
            ],
            dtype=torch.float32,
        )
        values = torch.cat([values, extra], dim=1)
        names = names + user_names
    given = torch.tensor([s is not None for s in sketches])
    user_sketches = None
    if bool(given.any()):
        blank = np.zeros((config.resolution, config.resolution), np.uint8)
        user_sketches = torch.from_numpy(np.stack([blank if s is None else s for s in sketches]))[:, None]
    return PackedDataset(
        images=images,
        labels=labels,
        class_names=class_names,
        attributes=values,
        attribute_names=names,
        captions=captions,
        source=f"folder:{root.resolve()}#{source_fp}",
        manifest=manifest,
        skipped=skipped,
        excluded=excluded,
        rights=summary(excluded, licences) | {"opt_out_lists": len(opt_out.files)},
        sketches=user_sketches,
        sketch_given=given if user_sketches is not None else None,
    )


def _sketch(root: Path, row: dict[str, Any], config: DataConfig, skipped: list) -> np.ndarray | None:
    """A user's sketch of an image, framed exactly like the image: (R, R) uint8, 255 = stroke."""
    name = row.get("sketch")
    if not isinstance(name, str):
        return None
    try:
        array, _ = load_image(root / name, config.resolution, config.fit, (255, 255, 255))
    except (ImageSkipped, OSError) as reason:
        skipped.append({"file": name, "reason": f"sketch unusable ({reason}); the outline is used instead"})
        return None
    gray = array.astype(np.float32).mean(axis=2)  # (R, R)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = np.abs(gray - np.median(border))
    return (ink / max(float(ink.max()), 1.0) * 255).astype(np.uint8)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _natural_key(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name.lower())
