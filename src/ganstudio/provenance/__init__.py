"""Provenance: every image the library writes says it is AI-generated, by which model, from
what — in its metadata (XMP/IPTC), a signed C2PA manifest, and an invisible watermark in its
pixels — and `verify` checks all three."""

from ganstudio.provenance.metadata import (
    DIGITAL_SOURCE_TYPE,
    read_provenance,
    save_marked,
    save_png,
)

__all__ = ["DIGITAL_SOURCE_TYPE", "read_provenance", "save_marked", "save_png", "verify"]


def verify(source, models=None):  # noqa: ANN001, ANN201 - see provenance.report.verify
    """Check a file's marks (see `ganstudio.provenance.report.verify`)."""
    from ganstudio.provenance.report import verify as check

    return check(source, models)
