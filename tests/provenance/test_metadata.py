import io
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from ganstudio.provenance import DIGITAL_SOURCE_TYPE, read_provenance, save_marked, save_png
from ganstudio.provenance.metadata import encode

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


def test_xmp_packet_is_well_formed_xml_that_carries_the_record():
    record = {"model": "m@1", "seed": 3, "prompt": 'a "quoted" <boot> & more', "label": None}
    data = encode(Image.new("L", (8, 8)), "PNG", record)
    with Image.open(io.BytesIO(data)) as image:
        xmp = image.text["XML:com.adobe.xmp"]
    root = ET.fromstring(xmp.split("?>", 1)[1].rsplit("<?xpacket", 1)[0])
    values = {}
    for description in root.iter(f"{RDF}Description"):
        values |= description.attrib
        values |= {child.tag: child.text for child in description}
    assert values["{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert json.loads(values["{https://github.com/ganstudio/ganstudio/ns/1.0/}generation"]) == record


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="Debian libimage-exiftool-perl is not installed")
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_exiftool_reads_the_marking_in_every_format(tmp_path, suffix):
    record = {"model": "m@1", "seed": 3, "prompt": 'a "quoted" boot', "label": None}
    path = save_marked(Image.new("RGB", (8, 8)), tmp_path / f"a{suffix}", record)
    out = subprocess.run(
        ["exiftool", "-json", "-XMP-iptcExt:DigitalSourceType", "-XMP-xmp:CreatorTool", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    (tags,) = json.loads(out.stdout)
    assert tags["DigitalSourceType"] == DIGITAL_SOURCE_TYPE and tags["CreatorTool"].startswith("ganstudio")
    assert read_provenance(path)["record"] == record


def test_unmarked_file_reads_as_not_marked(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    assert read_provenance(tmp_path / "plain.png")["ai_generated"] is False
    assert save_png(Image.new("L", (8, 8)), tmp_path / "m.png", {"seed": 1}).is_file()
