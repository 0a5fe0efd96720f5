"""Training rights of source images, read before anything trains on them.

A file is left out of a dataset, with the reason, when
- its C2PA manifest says `notAllowed` for AI training, generative AI training or data mining
  (`c2pa.training-mining` or `cawg.training-mining`; read whether or not the manifest validates:
  a damaged manifest still states its author's wish);
- its XMP carries the IPTC PLUS data-mining property (`plus:DataMining`) with a prohibition;
- its `license` (or `licence`) column in metadata.jsonl names a licence that forbids it
  ("all rights reserved", "noai", …);
- it is on the user's opt-out list: by file name (or path inside the folder) or by SHA-256,
  one per line, `#` comments. The lists read are `<config>/opt-out.txt` (GANSTUDIO_CONFIG, else
  ~/.config/ganstudio) and `data.opt_out` (`--opt-out FILE`).

Only the decision and its reason are kept; nothing from a file's own metadata (EXIF, GPS, names)
goes into the dataset, a model folder or an output.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganstudio.paths import config_home

PLUS_PROHIBITED = {  # IPTC PLUS DataMining values that rule out training a generator
    "DMI-PROHIBITED",
    "DMI-PROHIBITED-AIMLTRAINING",
    "DMI-PROHIBITED-GENAIMLTRAINING",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
    "DMI-PROHIBITED-SEECONSTRAINT",
}
REFUSED_USES = ("ai_training", "ai_generative_training", "data_mining")  # c2pa.* and cawg.* entries
NO_TRAINING_LICENCES = {"all rights reserved", "all-rights-reserved", "noai", "no-ai", "no ai", "proprietary"}
UNSPECIFIED = "unspecified"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_LIST_BYTES = 16 << 20


@dataclass
class OptOut:
    """The user's opt-out list: file names or folder-relative paths, and SHA-256 digests."""

    names: set[str] = field(default_factory=set)
    digests: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)  # the lists read

    @classmethod
    def load(cls, extra: str | Path | None = None) -> OptOut:
        """The config folder's opt-out.txt (when there is one) and `extra` (which must exist)."""
        found = cls()
        paths = [config_home() / "opt-out.txt"] + ([Path(extra)] if extra else [])
        for path in paths:
            if path == paths[0] and not path.is_file():
                continue
            if not path.is_file():
                raise ValueError(f"opt-out list {path} does not exist (data.opt_out / --opt-out)")
            if path.stat().st_size > MAX_LIST_BYTES:
                raise ValueError(f"opt-out list {path} is larger than {MAX_LIST_BYTES >> 20} MB")
            found.files.append(str(path))
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                entry = line.split("#", 1)[0].strip()
                if SHA256.match(entry.lower()):
                    found.digests.add(entry.lower())
                elif entry:
                    found.names.add(entry.strip("/"))
        return found

    def key(self) -> str:
        """What the list holds, for the prepared-dataset cache key: a changed list re-prepares."""
        return "\n".join(sorted(self.names) + sorted(self.digests))

    def reason(self, rel: str, sha256: str) -> str | None:
        if sha256 in self.digests:
            return "on the opt-out list (SHA-256)"
        if rel in self.names or Path(rel).name in self.names:
            return "on the opt-out list (file name)"
        return None


def check_packed(manifest: list[dict], excluded: list[dict], opt_out: OptOut, path: Path) -> None:
    """A packed dataset made before a file was opted out must not train: refuse it, clearly."""
    left_out = {e["file"] for e in excluded}
    for entry in manifest:
        if entry.get("file") not in left_out and opt_out.reason(
            str(entry.get("file")), str(entry.get("sha256"))
        ):
            raise ValueError(
                f"{path} holds {entry['file']}, which is on your opt-out list now; run `ganstudio prepare` "
                "on the source folder again to leave it out"
            )


def licence_of(row: dict) -> str:
    value = row.get("license", row.get("licence"))
    return value.strip() if isinstance(value, str) and value.strip() else UNSPECIFIED


def refusal(path: Path, rel: str, sha256: str, row: dict, opt_out: OptOut) -> str | None:
    """Why this file may not be trained on, or None."""
    reason = opt_out.reason(rel, sha256)
    if reason:
        return reason
    licence = licence_of(row)
    if licence.lower() in NO_TRAINING_LICENCES:
        return f"its licence ({licence}, metadata.jsonl) does not allow training"
    with open(path, "rb") as f:
        data = f.read()
    return _xmp_refusal(data) or _c2pa_refusal(data, path)


def _xmp_refusal(data: bytes) -> str | None:
    if b"DataMining" not in data:  # cheap: most files carry no PLUS data-mining property
        return None
    import pyexiv2

    try:
        with pyexiv2.ImageData(data) as image:
            xmp = image.read_xmp()
    except Exception:  # noqa: BLE001 - exiv2 raises its own types for unreadable metadata
        xmp = {}
    value = next((v for k, v in xmp.items() if k.endswith("DataMining")), None)
    if value is None:  # exiv2 could not parse the packet: read the value from the raw text
        match = re.search(rb"DataMining[^A-Za-z]{1,8}[^\"<]*?(DMI-[A-Z-]+)", data)
        value = match.group(1).decode() if match else ""
    code = str(value).rstrip("/").rsplit("/", 1)[-1].upper()
    if code in PLUS_PROHIBITED:
        return f"its XMP says plus:DataMining {code}"
    return None


_warned = False


def _c2pa_refusal(data: bytes, path: Path) -> str | None:
    if b"c2pa" not in data:  # no JUMBF manifest store in the file
        return None
    global _warned
    try:
        import c2pa  # noqa: F401
    except ImportError:
        if not _warned:
            _warned = True
            warnings.warn(
                "files with C2PA manifests were found but c2pa-python is not installed, so their "
                "training/mining assertions are not read: pip install 'ganstudio[provenance]'",
                stacklevel=2,
            )
        return None
    from ganstudio.provenance.metadata import format_of
    from ganstudio.provenance.signing import read

    try:
        found = read(data, format_of(path, None))
    except (ValueError, KeyError):
        return None  # a format C2PA cannot read here (GIF, BMP…)
    refused = sorted(
        use for use, rule in (found.get("training_mining") or {}).items()
        if rule == "notAllowed" and use.split(".", 1)[-1] in REFUSED_USES
    )  # fmt: skip
    if refused:
        return f"its C2PA manifest says notAllowed for {', '.join(refused)}"
    return None


def summary(excluded: list[dict[str, str]], licences: dict[str, int]) -> dict:
    """What dataset.json and the model card record: counts, never file names."""
    by: dict[str, int] = {}
    for item in excluded:
        kind = item["reason"].split(" (")[0].split(" says")[0]
        by[kind] = by.get(kind, 0) + 1
    return {"excluded": len(excluded), "excluded_by": by, "licences": dict(sorted(licences.items()))}


def describe_rights(rights: dict[str, Any] | None) -> str:
    """The model card's line about what the training data's rights allowed (counts, no names)."""
    if not rights:
        return "not recorded (prepared before ganstudio read training rights)"
    licences = ", ".join(f"{k} ({v})" for k, v in rights.get("licences", {}).items()) or "none"
    excluded = rights.get("excluded", 0)
    why = ", ".join(f"{k}: {v}" for k, v in rights.get("excluded_by", {}).items())
    return f"licences {licences}; {excluded} file(s) excluded" + (f" ({why})" if why else "")
