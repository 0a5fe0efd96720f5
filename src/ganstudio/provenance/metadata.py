"""PNG provenance: IPTC DigitalSourceType `trainedAlgorithmicMedia` in XMP, plus model id and seed.

The XMP packet goes in the standard iTXt chunk `XML:com.adobe.xmp`, which Adobe tools, exiftool
and the IPTC's own checkers read; plain tEXt fields repeat the essentials for simple readers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from PIL import Image, PngImagePlugin

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
XMP_KEY = "XML:com.adobe.xmp"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
GANSTUDIO_NS = "https://github.com/ganstudio/ganstudio/ns/1.0/"


def _xmp(record: dict[str, Any]) -> str:
    description = escape(f"AI-generated image (ganstudio, model {record.get('model', 'unknown')})")
    details = escape(json.dumps(record, sort_keys=True), {'"': "&quot;"})  # an XML attribute value
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:ganstudio="https://github.com/ganstudio/ganstudio/ns/1.0/"
    Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}"
    xmp:CreatorTool="ganstudio"
    ganstudio:generation="{details}">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def save_marked(image: Image.Image, fp: Any, record: dict[str, Any], format: str | None = None) -> Any:
    """Save `image` marked as AI-generated with `record`, as PNG, JPEG or WebP (from `format`,
    else the file name's suffix): PNG as `save_png`; JPEG and WebP carry the same XMP packet
    (quality 95). `fp` is a path or a binary file object."""
    if format is None:
        suffix = Path(fp).suffix.lower() if isinstance(fp, str | Path) else ""
        if suffix not in FORMATS:
            raise ValueError(
                f"{fp}: generated images are written as {', '.join(FORMATS)} (marked as AI-generated); "
                "name the file with one of these suffixes"
            )
        format = FORMATS[suffix]
    format = format.upper().replace("JPG", "JPEG")
    if format == "PNG":
        if isinstance(fp, str | Path):
            return save_png(image, fp, record)
        Image.Image.save(image, fp, format="PNG", pnginfo=_png_info(record))
        return fp
    if format not in ("JPEG", "WEBP"):
        raise ValueError(f"format {format!r}: generated images are written as PNG, JPEG or WebP")
    if isinstance(fp, str | Path):
        Path(fp).parent.mkdir(parents=True, exist_ok=True)
    rgb = image if image.mode in ("RGB", "L") else image.convert("RGB")
    Image.Image.save(rgb, fp, format=format, quality=95, xmp=_xmp(record).encode("utf-8"))
    return Path(fp) if isinstance(fp, str | Path) else fp


def _png_info(record: dict[str, Any]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_itxt(XMP_KEY, _xmp(record), zip=False)
    info.add_text("AI-generated", "true")
    info.add_text("DigitalSourceType", DIGITAL_SOURCE_TYPE)
    info.add_text("Software", "ganstudio")
    info.add_itxt("ganstudio", json.dumps(record, sort_keys=True))
    return info


def save_png(image: Image.Image, path: str | Path, record: dict[str, Any]) -> Path:
    """Save `image` as PNG marked as AI-generated, with `record` (model, seed, conditions)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.Image.save(image, path, format="PNG", pnginfo=_png_info(record))
    return path


def read_provenance(source: str | Path | BinaryIO) -> dict[str, Any]:
    """What a PNG, JPEG or WebP says about itself: {"format", "ai_generated",
    "digital_source_type", "record"} (`record`: model, seed and conditions) read from its XMP
    packet; a file without one reads as not marked. Pixels are not decoded."""
    try:
        with Image.open(source) as image:
            fmt = image.format
            text = dict(getattr(image, "text", {}) or {})
            xmp = text.get(XMP_KEY) or image.info.get("xmp") or b""
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"not an image this can read ({error})") from None
    if isinstance(xmp, bytes):
        xmp = xmp.decode("utf-8", "replace")
    source_type, record = None, None
    if "<x:xmpmeta" in xmp:
        body = xmp[xmp.index("<x:xmpmeta") : xmp.rindex("</x:xmpmeta>") + len("</x:xmpmeta>")]
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            root = None
        if root is not None:
            for description in root.iter(f"{{{RDF}}}Description"):
                source_type = description.get(f"{{{IPTC_EXT}}}DigitalSourceType") or source_type
                details = description.get(f"{{{GANSTUDIO_NS}}}generation")
                if details:
                    try:
                        record = json.loads(details)
                    except json.JSONDecodeError:
                        record = None
    return {
        "format": fmt,
        "ai_generated": source_type == DIGITAL_SOURCE_TYPE,
        "digital_source_type": source_type,
        "record": record,
    }


def read_png_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance a PNG carries (see `read_provenance`), also checking its plain text chunks."""
    found = read_provenance(path)
    with Image.open(path) as image:
        text = dict(getattr(image, "text", {}) or {})
    found["ai_generated"] = found["ai_generated"] and text.get("AI-generated") == "true"
    return found
