"""Provenance: every image the library writes says it is AI-generated, by which model, from what."""

from ganstudio.provenance.metadata import (
    DIGITAL_SOURCE_TYPE,
    read_png_provenance,
    read_provenance,
    save_marked,
    save_png,
)

__all__ = ["DIGITAL_SOURCE_TYPE", "read_png_provenance", "read_provenance", "save_marked", "save_png"]
