"""The colour emoji corpus: nine emoji sets of the iconify project, fetched from the npm registry
(`npm pack @iconify-json/NAME`: a tarball holding `icons.json`, SVG bodies by name), joined by
concept across the sets, rendered with alpha by resvg (PyPI `resvg-py`) once per resolution and
cached.

Each concept (cat face, pizza, rocket …) is drawn by several sets in their own art style, which is
what lets a text-to-image model learn the concept apart from the style. Concepts are Unicode's
emoji names (Debian `unicode-data`, emoji-test.txt, which also gives the group and subgroup); a
set's icon joins a concept when its name, lower-cased with everything but letters and digits
removed (and a trailing "-1"/"-2" variant number dropped), equals the concept's. Skin-tone variants
are left out (the same concept in five skin colours would outweigh everything else).

Splits:
- "train": what a generator learns from — every set but HELDOUT_SET, minus the held-out pairs;
- "heldout-pairs": for 10% of the concepts drawn by five or more training sets, one of their
  styles (chosen by a hash, so the choice is fixed): "pizza in openmoji style" must still come
  out right although the model never saw an openmoji pizza;
- "heldout-set": HELDOUT_SET, a whole style never shown to a generator: the reference
  classifier's ceiling is measured on it;
- "test": every 10th image of "train" (the reference statistics' images; inside train, as the
  earlier emoji set's).

Licences are each package's own (`package.json`), kept per image with the attribution.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from ganstudio.paths import cache_dir

# set → the style as people say it (first: the style's name, then a plain description)
SETS: dict[str, tuple[str, str]] = {
    "noto": ("noto style", "glossy"),
    "twemoji": ("twemoji style", "flat"),
    "openmoji": ("openmoji style", "outlined"),
    "fluent-emoji-flat": ("fluent flat style", "flat"),
    "fluent-emoji": ("fluent 3D style", "3D"),
    "emojione": ("emojione style", "shaded"),
    "fxemoji": ("fxemoji style", "cartoon"),
    "streamline-emojis": ("streamline style", "hand-drawn"),
    "noto-v1": ("old noto style", "blobby"),
}
HELDOUT_SET = "noto-v1"  # never shown to a generator; the reference classifier's ceiling
STYLES = [s for s in SETS if s != HELDOUT_SET]  # the class of a training image: its style
HELDOUT_PAIR_SHARE = 0.10
MIN_STYLES_FOR_PAIRS = 5
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
VERSION = 1  # bump when the catalogue or the rendering changes, so cached renders are rebuilt
MEMBERS = ("icons.json", "package.json", "info.json")
MAX_ICONS_JSON = 256 << 20  # the largest set (fluent-emoji, 3D gradients) is ~90 MB


@dataclass(frozen=True)
class Icon:
    set: str
    name: str  # the icon's name in its set
    concept: str  # Unicode's emoji name, e.g. "cat face"
    group: str  # Unicode's emoji group, e.g. "animals & nature"
    subgroup: str  # e.g. "animal-mammal"


def key(name: str) -> str:
    """The join key: lower-case letters and digits only, a trailing variant number dropped."""
    name = re.sub(r"[-_ ]\d$", "", name.strip().lower())
    return re.sub(r"[^a-z0-9]", "", name)


def concepts() -> dict[str, tuple[str, str, str]]:
    """join key → (concept, group, subgroup) for every fully-qualified emoji without a skin tone."""
    if not EMOJI_TEST.is_file():
        raise RuntimeError("emoji: Unicode's emoji-test.txt is missing; run `apt-get install unicode-data`")
    found, group, subgroup = {}, "", ""
    for line in EMOJI_TEST.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip().lower()
            group = "people & body" if group == "component" else group
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line and "#" in line:
            name = re.sub(r"^\S+\s+E\d+\.\d+\s+", "", line.split("#", 1)[1].strip())
            if "skin tone" not in name:
                found.setdefault(key(name), (name.replace("⊛", "").strip(), group, subgroup))
    return found


def package_dir(name: str) -> Path:
    """The set's files (icons.json, package.json), fetched with `npm pack` into the cache once."""
    if name not in SETS:
        raise ValueError(f"emoji set {name!r} is unknown; sets: {', '.join(SETS)}")
    folder = cache_dir() / "iconify" / name
    if all((folder / member).is_file() for member in MEMBERS):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            f"emoji: the {name} set is not in the cache and npm is missing; install npm (Debian: "
            f"apt-get install npm) so `npm pack @iconify-json/{name}` can fetch it"
        )
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [npm, "pack", f"@iconify-json/{name}", "--pack-destination", tmp, "--silent"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise RuntimeError(f"emoji: `npm pack @iconify-json/{name}` failed: {done.stderr.strip()[:300]}")
        staging = folder.with_name(f".{name}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(tarballs[0]) as archive:  # only known members are read, never extracted
            for member in MEMBERS:
                info = archive.getmember(f"package/{member}")
                if not info.isfile() or info.size > MAX_ICONS_JSON:
                    raise RuntimeError(f"emoji: {name}'s {member} is not a plain file of a sane size")
                (staging / member).write_bytes(archive.extractfile(info).read())
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    return folder


def fetch_all() -> None:
    """Fetch every set into the cache (`make install` does this; rendering waits for first use)."""
    for name in SETS:
        package_dir(name)


def licence(name: str) -> tuple[str, str]:
    """(SPDX licence, attribution) of a set, from its package.json."""
    folder = package_dir(name)
    package = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    info = json.loads((folder / "info.json").read_text(encoding="utf-8"))
    spdx = str(package.get("license") or (info.get("license") or {}).get("spdx") or "unknown")
    author = (info.get("author") or {}).get("name") or "unknown"
    url = (info.get("author") or {}).get("url") or ""
    return spdx, f"{info.get('name') or name} by {author}" + (f" ({url})" if url else "")


def _load_icons(name: str) -> dict:
    path = package_dir(name) / "icons.json"
    if path.stat().st_size > MAX_ICONS_JSON:
        raise RuntimeError(f"emoji: {path} is larger than expected; delete it to fetch it again")
    return json.loads(path.read_text(encoding="utf-8"))


def catalogue() -> list[Icon]:
    """Every icon of the nine sets that joins a concept, in a fixed order (set, then name)."""
    known = concepts()
    icons = []
    for name in SETS:
        for icon_name in sorted(_load_icons(name)["icons"]):
            if "tone" in icon_name and re.search(r"tone\d|skin-tone", icon_name):
                continue
            match = known.get(key(icon_name))
            if match is not None:
                icons.append(Icon(name, icon_name, *match))
    return _one_per_concept(icons)


def _one_per_concept(icons: list[Icon]) -> list[Icon]:
    """A set may draw a concept twice (streamline's "cloud-1", "cloud-2"): keep the first."""
    seen, kept = set(), []
    for icon in icons:
        if (icon.set, icon.concept) not in seen:
            seen.add((icon.set, icon.concept))
            kept.append(icon)
    return kept


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def heldout_pairs(icons: list[Icon]) -> set[tuple[str, str]]:
    """(concept, set) pairs kept out of training: for HELDOUT_PAIR_SHARE of the concepts drawn by
    MIN_STYLES_FOR_PAIRS or more training sets, one of those sets."""
    styles: dict[str, list[str]] = {}
    for icon in icons:
        if icon.set != HELDOUT_SET:
            styles.setdefault(icon.concept, []).append(icon.set)
    pairs = set()
    for concept, sets in styles.items():
        if len(sets) >= MIN_STYLES_FOR_PAIRS and _hash(concept) % 1000 < HELDOUT_PAIR_SHARE * 1000:
            pairs.add((concept, sorted(sets)[_hash("style:" + concept) % len(sets)]))
    return pairs


def split_of(icon: Icon, pairs: set[tuple[str, str]]) -> str:
    if icon.set == HELDOUT_SET:
        return "heldout-set"
    return "heldout-pairs" if (icon.concept, icon.set) in pairs else "train"


def svg(icons_json: dict, name: str, resolution: int) -> str:
    """An icon's SVG document at `resolution` px (iconify keeps the body and the view box apart)."""
    icon = icons_json["icons"][name]
    width = icon.get("width", icons_json.get("width", 16))
    height = icon.get("height", icons_json.get("height", 16))
    left, top = icon.get("left", icons_json.get("left", 0)), icon.get("top", icons_json.get("top", 0))
    side = max(width, height)  # square, centred: the drawing keeps its aspect
    left -= (side - width) / 2
    top -= (side - height) / 2
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="{left} {top} {side} {side}" width="{resolution}" height="{resolution}">{icon["body"]}</svg>'
    )


def render(document: str, resolution: int) -> np.ndarray:
    """An SVG document → (4, R, R) uint8 RGBA; fully transparent pixels are white (so composing
    on white and dropping alpha agree)."""
    try:
        import resvg_py
    except ImportError:
        raise RuntimeError("emoji: rendering needs resvg-py (pip install resvg-py)") from None
    from PIL import Image

    png = bytes(resvg_py.svg_to_bytes(svg_string=document, width=resolution, height=resolution))
    with Image.open(io.BytesIO(png)) as image:
        rgba = np.asarray(image.convert("RGBA").resize((resolution, resolution)), dtype=np.uint8).copy()
    rgba[rgba[..., 3] == 0, :3] = 255
    return rgba.transpose(2, 0, 1)


def _render_set(job: tuple[str, list[str], int]) -> np.ndarray:
    name, icon_names, resolution = job
    icons_json = _load_icons(name)
    return np.stack([render(svg(icons_json, n, resolution), resolution) for n in icon_names])


def rendered(resolution: int, mmap: bool = False) -> tuple[list[Icon], np.ndarray]:
    """The catalogue and its renders (N, 4, R, R) uint8, cached per resolution; `mmap` maps the
    cache file instead of reading it (the 256-px renders are 3 GB)."""
    icons = catalogue()
    digest = hashlib.sha256(
        json.dumps([VERSION, resolution, [(i.set, i.name) for i in icons]]).encode()
    ).hexdigest()[:16]
    path = cache_dir() / "iconify" / f"render-{resolution}-{digest}.npy"
    if path.is_file():
        images = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        if images.shape == (len(icons), 4, resolution, resolution):
            return icons, images
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(name, [i.name for i in icons if i.set == name], resolution) for name in SETS]
    with ProcessPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(_render_set, jobs))
    images = np.concatenate([p for p in parts if len(p)])
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, images, allow_pickle=False)
    tmp.replace(path)
    return (icons, np.load(path, allow_pickle=False, mmap_mode="r")) if mmap else (icons, images)


def composed(rgba: np.ndarray) -> torch.Tensor:
    """(N, 4, R, R) uint8 straight RGBA → (N, 4, R, R) uint8 in ganstudio's 4-channel convention:
    the colour composed on white, then alpha (imaging.py). The one place the corpus is composed:
    the dataset, the upscaler's pairs, the classifier and the bench all read it this way."""
    import torch

    straight = torch.from_numpy(np.ascontiguousarray(rgba)).float() / 255
    alpha = straight[:, 3:]
    colour = straight[:, :3] * alpha + (1 - alpha)  # on white
    return (torch.cat([colour, alpha], 1) * 255).round().to(torch.uint8)


HUES = [(15, "red"), (40, "orange"), (70, "yellow"), (160, "green"), (200, "teal"), (255, "blue"),
        (290, "purple"), (335, "pink"), (360, "red")]  # fmt: skip


def colour_name(rgba: np.ndarray) -> str:
    """The drawing's main colour in a word, from its opaque pixels: black, white or grey where
    little is saturated, else the hue that covers the most saturated area (brown for dark orange)."""
    alpha = rgba[3].astype(np.float32) / 255
    rgb = rgba[:3].reshape(3, -1).T.astype(np.float32) / 255  # (P, 3)
    weight = alpha.reshape(-1)
    opaque = weight > 0.5
    if not opaque.any():
        return "clear"
    hsv = np.array([colorsys.rgb_to_hsv(*p) for p in rgb[opaque]])  # (P, 3)
    saturated = (hsv[:, 1] > 0.35) & (hsv[:, 2] > 0.2)
    if saturated.mean() < 0.3:
        value = hsv[:, 2].mean()
        return "black" if value < 0.3 else "white" if value > 0.85 else "grey"
    hues = hsv[saturated, 0] * 360
    counts = {}
    for hue in hues:
        word = next(w for limit, w in HUES if hue < limit)
        counts[word] = counts.get(word, 0) + 1
    word = max(counts, key=counts.get)
    if word == "orange" and hsv[saturated, 2].mean() < 0.6:
        return "brown"
    return word


def captions(icon: Icon, colour: str) -> list[str]:
    """Captions as a user would write them: the name, the name with its style in plain words,
    and with its measured colour."""
    concept = icon.concept.lower()
    name, plain = SETS[icon.set]
    subgroup = icon.subgroup.replace("-", " ")
    return [
        concept,
        f"{concept}, {plain}",
        f"{concept} in {name}",
        f"a {colour} {concept}",
        f"a {plain} {colour} {concept}, {subgroup}",
    ]
