"""`verify(path)`: what a file carries and whether it holds — the XMP/IPTC marking, the C2PA
manifest (valid, trusted, tampered or absent, and who signed it), and the invisible watermark
with its confidence; when neither the signature nor the watermark holds, the detectors of the
bundled models (and of the models named) give their guess. Used by `ganstudio verify` and
`/v1/verify`."""

from __future__ import annotations

import io
import os
import stat
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image

from ganstudio.provenance import signing, vector
from ganstudio.provenance.detector import Detector
from ganstudio.provenance.metadata import read_provenance
from ganstudio.provenance.watermark import shipped

MAX_PIXELS = 4096 * 4096


def verify(source: str | Path | bytes, models: list[str] | None = None) -> dict[str, Any]:
    """Check one file (a path or its bytes). Returns {"format", "metadata", "c2pa", "watermark",
    "detector", "ganstudio", "likely_generated", "summary"}: `ganstudio` is true when a mark holds
    (a valid signature, the watermark, or the metadata's own claim); `detector` (None when a
    signature or the watermark holds) lists each detector's guess — of the bundled models and of
    `models` (model folders with a detector) — and `likely_generated` is whether any says so."""
    data = read_file(Path(source)) if isinstance(source, str | Path) else bytes(source)
    if sniff(data) is None:
        raise ValueError("verify reads PNG, JPEG, WebP and SVG files; this is none of them")
    metadata = read_provenance(data)
    fmt = metadata.pop("format")
    if fmt in signing.MIME and signing.available():
        c2pa = signing.read(data, fmt)
    else:
        c2pa = {"state": "unchecked" if fmt in signing.MIME else "absent"}
    signed = c2pa["state"] in ("valid", "trusted") and _ganstudio_agent(c2pa)
    if fmt == "SVG":  # no pixels: no watermark to read and nothing for a detector to judge
        return _report(fmt, metadata, c2pa, dict(vector.WATERMARK), None, signed)
    with Image.open(io.BytesIO(data)) as image:
        if image.width * image.height > MAX_PIXELS:
            raise ValueError(
                f"the image is {image.width}×{image.height}; verify reads at most 4096×4096 pixels"
            )
        try:
            watermark = shipped().detect(image)
        except OSError as error:  # a damaged file: the pixels cannot be decoded
            watermark = {"detected": False, "score": None, "p_value": 1.0, "error": str(error)}
        detector = None
        if not signed and not watermark["detected"] and not watermark.get("error"):
            detector = [
                {"model": name, **d.detect(image)} for name, d in detectors(tuple(models or ())).items()
            ]
    return _report(fmt, metadata, c2pa, watermark, detector, signed)


def _report(
    fmt: str, metadata: dict, c2pa: dict, watermark: dict, detector: list | None, signed: bool
) -> dict:
    guessed = bool(detector and any(d["generated"] for d in detector))
    return {
        "format": fmt,
        "metadata": metadata,
        "c2pa": c2pa,
        "watermark": watermark,
        "detector": detector,
        "ganstudio": bool(signed or watermark["detected"] or metadata["ai_generated"]),
        "likely_generated": bool(signed or watermark["detected"] or guessed),
        "summary": summary(metadata, c2pa, watermark) + _detector_lines(detector),
    }


MAX_FILE_BYTES = 256 << 20
SIGNATURES = {"png": (b"\x89PNG\r\n\x1a\n",), "jpeg": (b"\xff\xd8\xff",), "webp": (b"RIFF",)}


def sniff(data: bytes) -> str | None:
    """The format by its first bytes (PNG, JPEG, WebP or SVG), or None: only these reach a decoder."""
    for fmt, heads in SIGNATURES.items():
        if data.startswith(heads) and (fmt != "webp" or data[8:12] == b"WEBP"):
            return fmt
    return "svg" if vector.is_svg(data) else None


def read_file(path: Path) -> bytes:
    """A regular file's bytes, its size checked first: a FIFO, a device (/dev/zero) or a folder
    is refused before anything is read."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path.name} is not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path.name} is {info.st_size:,} bytes; verify reads at most {MAX_FILE_BYTES:,}")
    with open(path, "rb") as f:
        return f.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES]


@cache
def detectors(models: tuple[str, ...] = ()) -> dict[str, Detector]:
    """The detectors of the bundled models and of `models` (names or folders), loaded once."""
    from ganstudio.modelfolder import bundled_models, resolve

    found = {}
    for name in (*bundled_models(), *models):
        folder, model = resolve(name)
        detector = Detector.load(folder)
        if detector is not None:
            found[model] = detector
        elif name in models:
            raise ValueError(f"{name} has no detector; train one with `ganstudio detector --model {name}`")
    return found


def shown(value: Any, limit: int = 200) -> str:
    """A string read from a file, made safe to print: quoted, every control, format and
    line-breaking character escaped (never interpreted by a terminal), cut at `limit`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a number cannot hold a control character
    text = str(value)
    cut = len(text) > limit
    escaped = "".join(
        ch
        if ch.isprintable() and ch not in '"\\'
        else ("\\" + ch if ch in '"\\' else ch.encode("unicode_escape").decode("ascii"))
        for ch in text[:limit]
    )
    return f'"{escaped}"' + ("…" if cut else "")


def _detector_lines(detector: list[dict[str, Any]] | None) -> list[str]:
    if detector is None:
        return []
    silent = [d for d in detector if d["generated"] is None]
    judged = [d for d in detector if d["generated"] is not None]
    hits = [d for d in judged if d["generated"]]
    if not hits:
        if judged:
            return [f"detector: looks real to {len(judged)} model detector(s)"]
        if silent:
            return [
                f"detector: no opinion — the image is unlike what the {len(silent)} model detector(s) "
                f"learnt to judge ({silent[0]['no_opinion']})"
            ]
        return ["detector: none installed"]
    return [
        f"detector: likely made by {d['model']} (score {d['score']}; {d['p_real']:.1%} of real images score as "
        "high) — a statistical guess, not proof"
        for d in hits
    ]


def _ganstudio_agent(c2pa: dict[str, Any]) -> bool:
    agent = (c2pa.get("action") or {}).get("softwareAgent") or {}
    return isinstance(agent, dict) and agent.get("name") == "ganstudio"


def summary(metadata: dict[str, Any], c2pa: dict[str, Any], watermark: dict[str, Any]) -> list[str]:
    """One plain line per mark."""
    record = metadata.get("record") or {}
    if metadata["ai_generated"]:
        what = ", ".join(
            f"{k} {shown(record[k])}" for k in ("label", "prompt", "sketch") if record.get(k) is not None
        )
        lines = [
            f"metadata: AI-generated (IPTC trainedAlgorithmicMedia) by {shown(record.get('model', '?'))}, "
            f"seed {shown(record.get('seed', '?'))}" + (f", {what}" if what else "")
        ]
    else:
        lines = ["metadata: no AI-generated marking (a re-encode or an editor can strip it)"]
    state = c2pa["state"]
    if state in ("valid", "trusted"):
        trust = (
            "trusted (this machine's ganstudio root)"
            if c2pa.get("trusted")
            else "not on this machine's trust list"
        )
        lines.append(
            f"C2PA: signature valid, signed by {shown(c2pa.get('signer'))} ({shown(c2pa.get('issuer'))}), {trust}"
        )
    elif state == "invalid":
        lines.append(
            "C2PA: TAMPERED or broken — "
            + "; ".join(shown(e) for e in c2pa.get("errors") or ["the manifest does not validate"])
        )
    elif state == "unchecked":
        lines.append("C2PA: not checked (pip install 'ganstudio[provenance]')")
    else:
        lines.append("C2PA: no manifest (never signed, or removed by a re-save)")
    if watermark["detected"]:
        lines.append(
            f"watermark: detected (score {watermark['score']}, p ≤ {max(watermark['p_value'], 1e-4):.0e} by chance)"
        )
    elif watermark.get("error"):
        lines.append(f"watermark: cannot be read, the pixels do not decode ({shown(watermark['error'])})")
    elif watermark.get("vector"):
        lines.append(
            "watermark: none — a vector file holds no pixels, so a pixel watermark cannot live in it"
        )
    elif watermark.get("unreadable"):
        lines.append(f"watermark: cannot be read: {watermark['unreadable']}")
    else:
        lines.append(f"watermark: not detected (score {watermark['score']})")
    return lines
