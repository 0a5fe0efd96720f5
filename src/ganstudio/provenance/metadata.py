"""IPTC/XMP metadata that standard tools read, written with exiv2 (pyexiv2): DigitalSourceType
`trainedAlgorithmicMedia`, creator tool and version, and the generation record (model id, seed,
conditions) as JSON in ganstudio's own XMP property; JPEGs also carry IPTC IIM Program fields.
PNG keeps the packet in its standard iTXt chunk, JPEG in APP1, WebP in its XMP chunk.

`encode` makes the bytes of a marked file; `save_marked` adds the C2PA signature over them
(signing.py) and writes atomically; `read_provenance` reads a file's marks back.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from ganstudio import __version__
from ganstudio.imaging import on_background

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GANSTUDIO_NS = "https://github.com/ganstudio/ganstudio/ns/1.0/"
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".svg": "SVG"}
QUALITY = 95  # JPEG and WebP


def _exiv2() -> Any:
    import pyexiv2

    if not getattr(_exiv2, "registered", False):
        try:
            pyexiv2.registerNs(GANSTUDIO_NS, "ganstudio")
        except Exception:  # noqa: BLE001 - already registered in this process
            pass
        _exiv2.registered = True
    return pyexiv2


# characters XML 1.0 cannot hold (C0 controls but tab/newline/CR, surrogates, U+FFFE/U+FFFF) and
# those readers alter (DEL, C1 controls)
XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def xml_safe_json(record: dict[str, Any]) -> str:
    """The record as JSON that XML can carry: every unsafe character as a JSON \\uXXXX escape,
    so the record reads back exactly as it was written."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False)
    return XML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def xmp_fields(record: dict[str, Any]) -> dict[str, Any]:
    model = XML_UNSAFE.sub("", str(record.get("model", "unknown")))
    return {
        "Xmp.iptcExt.DigitalSourceType": DIGITAL_SOURCE_TYPE,
        "Xmp.xmp.CreatorTool": f"ganstudio {__version__}",
        "Xmp.dc.description": {'lang="x-default"': f"AI-generated image (ganstudio, model {model})"},
        "Xmp.ganstudio.generation": xml_safe_json(record),
    }


def encode(
    image: Image.Image,
    format: str,
    record: dict[str, Any],
    background: tuple[int, int, int] = (255, 255, 255),
) -> bytes:
    """`image` encoded as PNG, JPEG or WebP with the XMP (and for JPEG, IPTC) marking. PNG and
    WebP keep transparency; JPEG, which has none, gets the image composed on `background`."""
    if format == "SVG":  # traced into a vector; the XMP packet goes into <metadata>
        from ganstudio.provenance import vector

        return vector.encode(image, xmp_fields(record))
    buffer = io.BytesIO()
    if format == "PNG":
        Image.Image.save(image, buffer, format="PNG")
    elif format == "WEBP" and image.mode == "RGBA":
        Image.Image.save(image, buffer, format=format, quality=QUALITY, exact=True)
    else:
        Image.Image.save(on_background(image, background), buffer, format=format, quality=QUALITY)
    with _exiv2().ImageData(buffer.getvalue()) as file:
        file.modify_xmp(xmp_fields(record))
        if format == "JPEG":
            file.modify_iptc(
                {"Iptc.Application2.Program": "ganstudio", "Iptc.Application2.ProgramVersion": __version__}
            )
        return file.get_bytes()


def format_of(fp: Any, format: str | None) -> str:
    if format is None:
        suffix = Path(fp).suffix.lower() if isinstance(fp, str | Path) else ""
        if suffix not in FORMATS:
            raise ValueError(
                f"{Path(fp).name if isinstance(fp, str | Path) else 'a file object'}: generated images are "
                f"written as {', '.join(FORMATS)} (marked as AI-generated); "
                "name the file with one of these suffixes"
            )
        return FORMATS[suffix]
    format = format.upper().replace("JPG", "JPEG")
    if format not in ("PNG", "JPEG", "WEBP", "SVG"):
        raise ValueError(f"format {format!r}: generated images are written as PNG, JPEG, WebP or SVG")
    return format


def marked_bytes(
    image: Image.Image,
    format: str,
    record: dict[str, Any],
    title: str = "image",
    ingredients: Any = (),
    background: tuple[int, int, int] = (255, 255, 255),
) -> bytes:
    """The bytes of a published file: metadata, then the C2PA signature over the final bytes
    (when c2pa-python is installed; otherwise a warning, once). The pixels' watermark is added
    earlier, by the pipeline."""
    from ganstudio.provenance import signing

    data = encode(image, format, record, background)
    if not signing.available():
        if not getattr(marked_bytes, "warned", False):
            warnings.warn(
                "c2pa-python is not installed: images carry metadata and the watermark but no signed "
                "C2PA manifest (pip install 'ganstudio[provenance]')",
                stacklevel=3,
            )
            marked_bytes.warned = True
        return data
    return signing.sign(data, format, record, title, list(ingredients))


def save_marked(
    image: Image.Image,
    fp: Any,
    record: dict[str, Any],
    format: str | None = None,
    ingredients: Any = (),
    background: tuple[int, int, int] = (255, 255, 255),
) -> Any:
    """Save `image` marked as AI-generated with `record`, as PNG, JPEG or WebP (from `format`,
    else the file name's suffix): XMP/IPTC metadata, then a C2PA manifest signed over the final
    bytes, with `ingredients` ((title, PNG bytes): the user's sketch) as inputs. A path is written
    atomically; `fp` may also be a binary file object."""
    format = format_of(fp, format)
    title = Path(fp).name if isinstance(fp, str | Path) else f"image.{format.lower()}"
    data = marked_bytes(image, format, record, title, ingredients, background)
    if not isinstance(fp, str | Path):
        fp.write(data)
        return fp
    path = Path(fp)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def save_png(image: Image.Image, path: str | Path, record: dict[str, Any]) -> Path:
    """Save `image` as a marked PNG (see `save_marked`)."""
    return save_marked(image, path, record, "PNG")


def _read_bytes(source: str | Path | BinaryIO) -> bytes:
    if isinstance(source, str | Path):
        return Path(source).read_bytes()
    return source.read()


def read_xmp(data: bytes) -> dict[str, Any]:
    """The XMP properties of an encoded image (empty when it has none or exiv2 cannot read it)."""
    try:
        with _exiv2().ImageData(data) as file:
            return file.read_xmp()
    except Exception:  # noqa: BLE001 - exiv2 raises plain RuntimeErrors for unreadable files
        return {}


def read_provenance(source: str | Path | BinaryIO | bytes) -> dict[str, Any]:
    """What a PNG, JPEG or WebP says about itself in its metadata: {"format", "ai_generated",
    "digital_source_type", "creator_tool", "record"} (`record`: model, seed and conditions).
    A file without the marking reads as not marked. Pixels are not decoded."""
    data = source if isinstance(source, bytes) else _read_bytes(source)
    from ganstudio.provenance import vector

    if vector.is_svg(data):
        fmt, xmp = "SVG", vector.read_xmp(data)
    else:
        try:
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise ValueError(f"not an image this can read ({error})") from None
        xmp = read_xmp(data)
    record = None
    if details := xmp.get("Xmp.ganstudio.generation"):
        try:
            record = json.loads(details)
        except (json.JSONDecodeError, TypeError, RecursionError):
            record = None
        if not isinstance(record, dict):  # a record is an object; anything else is not one
            record = None
    source_type = xmp.get("Xmp.iptcExt.DigitalSourceType")
    return {
        "format": fmt,
        "ai_generated": source_type == DIGITAL_SOURCE_TYPE,
        "digital_source_type": source_type,
        "creator_tool": xmp.get("Xmp.xmp.CreatorTool"),
        "record": record,
    }
