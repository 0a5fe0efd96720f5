"""Vector export: a generated image traced into a colour SVG (vtracer, PyPI), transparency kept,
with the provenance a vector can carry — the same XMP fields as the raster files, as an XMP
packet in the SVG's `<metadata>` (the place the XMP spec gives SVG), and a C2PA manifest signed
over the final bytes (c2pa-python reads and signs image/svg+xml). A pixel watermark cannot live in
a vector: `verify` says so instead of reporting one missing.

SVG from outside (`verify`) is parsed with defusedxml: no DTDs, no entities, no external
references.
"""

from __future__ import annotations

import io
import re
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

TRACE_SCALE = 4  # traced at 4× so the curves are smooth (a 64-px drawing becomes a 256-unit SVG)
MAX_SVG_BYTES = 32 << 20
XMP_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "ganstudio": "https://github.com/ganstudio/ganstudio/ns/1.0/",
}


def trace(image: Image.Image, scale: int = TRACE_SCALE) -> str:
    """`image` (any mode) as an SVG document: enlarged `scale`× (Lanczos), alpha made binary at
    half (a vector edge is sharp; half-transparent fringes would trace as stripes), traced in
    colour with splines; fully transparent parts are left out of the drawing."""
    try:
        import vtracer
    except ImportError:
        raise ValueError("SVG export needs vtracer (pip install vtracer)") from None
    rgba = image.convert("RGBA").resize((image.width * scale, image.height * scale), Image.LANCZOS)
    pixels = np.asarray(rgba).copy()
    pixels[..., 3] = np.where(pixels[..., 3] >= 128, 255, 0)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, "PNG")
    return vtracer.convert_raw_image_to_svg(
        buffer.getvalue(), img_format="png", colormode="color", hierarchical="stacked", mode="spline",
        filter_speckle=2 * scale, color_precision=6, layer_difference=16, corner_threshold=60,
        length_threshold=4.0, splice_threshold=45, path_precision=2,
    )  # fmt: skip


def xmp_packet(fields: dict[str, Any]) -> str:
    """The XMP fields metadata.xmp_fields makes, as an XMP packet (RDF/XML)."""
    description = fields["Xmp.dc.description"]['lang="x-default"']
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:ganstudio="https://github.com/ganstudio/ganstudio/ns/1.0/">'
        f"<Iptc4xmpExt:DigitalSourceType>{escape(fields['Xmp.iptcExt.DigitalSourceType'])}</Iptc4xmpExt:DigitalSourceType>"
        f"<xmp:CreatorTool>{escape(fields['Xmp.xmp.CreatorTool'])}</xmp:CreatorTool>"
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(description)}</rdf:li></rdf:Alt></dc:description>'
        f"<ganstudio:generation>{escape(fields['Xmp.ganstudio.generation'])}</ganstudio:generation>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def encode(image: Image.Image, fields: dict[str, Any]) -> bytes:
    """The traced SVG with the XMP packet in `<metadata>`, right after the opening `<svg …>` tag."""
    svg = trace(image)
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S)  # the tracer's banner comment
    match = re.search(r"<svg\b[^>]*>", svg)
    if match is None:
        raise ValueError("the tracer returned no SVG element")
    opening = match.group(0)
    if "viewBox" not in opening:  # scales cleanly in a layout
        w, h = image.width * TRACE_SCALE, image.height * TRACE_SCALE
        opening = opening[:-1] + f' viewBox="0 0 {w} {h}">'
    body = svg[match.end() :]
    document = f"{svg[: match.start()]}{opening}<metadata>{xmp_packet(fields)}</metadata>{body}"
    return document.encode("utf-8")


def is_svg(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower())


def read_xmp(data: bytes) -> dict[str, Any]:
    """The XMP properties of an SVG, keyed as exiv2 keys them (Xmp.iptcExt.DigitalSourceType …);
    empty when it has none. Parsed without DTDs, entities or external references."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    if len(data) > MAX_SVG_BYTES:
        raise ValueError(f"the SVG is {len(data):,} bytes; at most {MAX_SVG_BYTES:,} are read")
    try:
        root = ElementTree.fromstring(data)
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as error:
        raise ValueError(f"not an SVG this can read ({str(error)[:80]})") from None
    if not root.tag.endswith("svg"):
        raise ValueError("not an SVG document")
    found = {}
    keys = {
        "Iptc4xmpExt": ("DigitalSourceType", "Xmp.iptcExt.DigitalSourceType"),
        "xmp": ("CreatorTool", "Xmp.xmp.CreatorTool"),
        "ganstudio": ("generation", "Xmp.ganstudio.generation"),
    }
    for prefix, (name, key) in keys.items():
        node = root.find(f".//{{{XMP_NS[prefix]}}}{name}")
        if node is not None and node.text is not None:
            found[key] = node.text
    return found


WATERMARK = {"detected": False, "score": None, "p_value": 1.0, "vector": True}  # verify's entry for an SVG
