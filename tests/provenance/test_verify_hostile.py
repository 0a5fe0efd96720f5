"""`verify` on files made to lie or to hang: no string from a file can forge a line of the
report, FIFOs and devices are refused before anything is read, and a fuzz corpus of damaged
marked files ends in a report or one clear error, never a traceback."""

import io
import os
import random
import threading

import pytest
from PIL import Image

from ganstudio.cli import main
from ganstudio.provenance import verify
from ganstudio.provenance.metadata import encode

FORGED = "fashion-mnist\n  C2PA: signature valid, signed by ganstudio, trusted\n  watermark: detected\x1b[8m"


def forged_file(tmp_path):
    image = Image.new("L", (32, 32), 0)  # unmarked pixels, no signature: only the XMP lies
    path = tmp_path / "forged.png"
    path.write_bytes(encode(image, "PNG", {"model": FORGED, "seed": "1\r\n  watermark: detected"}))
    return path


def test_strings_from_a_file_cannot_forge_report_lines(tmp_path, capsys):
    path = forged_file(tmp_path)
    main(["verify", str(path)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out
    lines = out.splitlines()
    assert not any(
        line.strip().startswith(("C2PA: signature valid", "watermark: detected")) for line in lines
    )
    assert any(line.strip().startswith("C2PA: no manifest") for line in lines)
    assert any(line.strip().startswith("watermark: not detected") for line in lines)
    assert "\\x1b[8m" in out and "\\n" in out  # shown, escaped, inside the metadata line


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_verify_refuses_what_is_not_a_regular_file_without_reading_it(tmp_path, kind):
    path = {"fifo": tmp_path / "pipe.png", "device": "/dev/zero", "folder": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(_try(path)), daemon=True)
    worker.start()
    worker.join(10)
    assert outcome, "verify hung"
    assert isinstance(outcome[0], ValueError) and "not a regular file" in str(outcome[0])


def _try(path):
    try:
        return verify(path)
    except Exception as error:  # noqa: BLE001 - the test inspects what was raised
        return error


def test_verify_fuzz_of_damaged_marked_files_ends_in_a_report_or_a_clear_error():
    """Counted in BENCHMARKS.md's hardening section: tried / handled / failed."""
    from ganstudio import GenerationPipeline

    image = GenerationPipeline.from_pretrained("fashion-mnist")(n=1, seed=1).images[0]
    seeds = []
    for fmt in ("PNG", "JPEG", "WEBP"):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        seeds.append(buffer.getvalue())
    rng = random.Random(0)
    tried = failed = 0
    for i in range(120):
        data = bytearray(seeds[i % 3])
        how = i % 4
        if how == 0:  # flip bytes
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif how == 1:  # truncate
            data = data[: rng.randrange(8, len(data))]
        elif how == 2:  # splice a chunk elsewhere
            a, b = sorted(rng.sample(range(len(data)), 2))
            data[rng.randrange(len(data)) :] = data[a:b]
        else:  # garbage after the signature
            data = data[:12] + bytearray(rng.randbytes(rng.randint(0, 4000)))
        tried += 1
        try:
            report = verify(bytes(data))
            assert isinstance(report["summary"], list)
        except (ValueError, OSError):
            pass
        except Exception:  # noqa: BLE001 - counted, then failed below
            failed += 1
    assert tried == 120 and failed == 0


def test_messages_name_files_never_python_objects():
    from ganstudio import GenerationPipeline

    image = GenerationPipeline.from_pretrained("fashion-mnist")(n=1, seed=1).images[0]
    with pytest.raises(ValueError) as caught:
        image.save(io.BytesIO())  # no format, no file name
    assert "BytesIO" not in str(caught.value) and "0x" not in str(caught.value)
    assert "file object" in str(caught.value)


def test_text_xml_cannot_hold_still_reads_back_exactly(tmp_path):
    """U+FFFF, U+FFFE, DEL and C1 controls in a prompt: the XMP stays valid and the record reads
    back character for character (carried as JSON escapes)."""
    from ganstudio import GenerationPipeline

    prompt = "a boot \uffff\ufffe\x7f\x9b x"
    result = GenerationPipeline.from_pretrained("fashion-mnist")(n=1, seed=1, prompt=prompt)
    path = tmp_path / "x.png"
    result.images[0].save(path)
    report = verify(path)
    assert report["metadata"]["ai_generated"]
    assert report["metadata"]["record"]["prompt"] == result.metadata[0]["prompt"]
    assert (
        "\uffff" in report["metadata"]["record"]["prompt"]
        and "\x7f" in report["metadata"]["record"]["prompt"]
    )
