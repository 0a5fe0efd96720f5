"""C2PA content credentials (c2pa-python, the `[provenance]` extra): sign each output's final
bytes with a manifest that says how it was made, and read them back.

The signer is the user's own certificate chain and key when configured (`GANSTUDIO_C2PA_CERT`
and `GANSTUDIO_C2PA_KEY`: PEM files, the chain leaf first); otherwise a local ES256 chain that
ganstudio makes on first use in its config folder (`GANSTUDIO_CONFIG`, default
~/.config/ganstudio/c2pa): a root CA and a leaf that is not a CA, with the emailProtection and
documentSigning extended key usages and an authority key identifier (C2PA refuses self-signed CA
signers and leaves without an EKU). Files signed by the local chain validate anywhere; they read
as *trusted* only where that root is a trust anchor (on this machine, or where the user adds it),
because nothing else vouches for it. A signature covers the bytes: any change, even a re-save,
breaks or removes it — the watermark is what survives.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

from ganstudio import __version__
from ganstudio.paths import config_home

DOCUMENT_SIGNING = "1.3.6.1.4.1.311.10.3.12"  # the documentSigning EKU C2PA accepts
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "SVG": "image/svg+xml"}
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
TRAINING_USES = ("cawg.ai_training", "cawg.ai_generative_training", "cawg.data_mining", "cawg.ai_inference")


def available() -> bool:
    try:
        import c2pa  # noqa: F401
    except ImportError:
        return False
    return True


def config_dir() -> Path:
    return config_home() / "c2pa"


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ganstudio (local signer)"),
        ]
    )


def _key_usage(sign_certs: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not sign_certs, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=sign_certs, crl_sign=sign_certs,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def make_local_chain(folder: Path) -> tuple[Path, Path, Path]:
    """Create root.pem, chain.pem (leaf then root) and signer.key in `folder` (0600, written once)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    user = os.environ.get("USER", "user")
    root = (
        x509.CertificateBuilder().subject_name(_name(f"ganstudio local root ({user})"))
        .issuer_name(_name(f"ganstudio local root ({user})")).public_key(root_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(_name(f"ganstudio local signer ({user})"))
        .issuer_name(root.subject).public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.EMAIL_PROTECTION, x509.ObjectIdentifier(DOCUMENT_SIGNING)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    key_bytes = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    paths = folder / "root.pem", folder / "chain.pem", folder / "signer.key"
    for path, data in zip(
        paths,
        (root.public_bytes(pem), leaf.public_bytes(pem) + root.public_bytes(pem), key_bytes),
        strict=True,
    ):
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return paths


@cache
def signer_files() -> tuple[bytes, bytes, bytes | None]:
    """(chain PEM, key PEM, local root PEM or None): the user's when configured, else the local
    chain (made on first use)."""
    cert, key = os.environ.get("GANSTUDIO_C2PA_CERT"), os.environ.get("GANSTUDIO_C2PA_KEY")
    if cert or key:
        if not (cert and key and Path(cert).is_file() and Path(key).is_file()):
            raise FileNotFoundError(
                "set both GANSTUDIO_C2PA_CERT (PEM chain, leaf first) and GANSTUDIO_C2PA_KEY (PEM key) to existing files"
            )
        return Path(cert).read_bytes(), Path(key).read_bytes(), None
    folder = config_dir()
    root, chain, key_path = folder / "root.pem", folder / "chain.pem", folder / "signer.key"
    if not (root.is_file() and chain.is_file() and key_path.is_file()):
        root, chain, key_path = make_local_chain(folder)
    return chain.read_bytes(), key_path.read_bytes(), root.read_bytes()


def manifest(record: dict[str, Any], title: str) -> dict[str, Any]:
    """The manifest of one generated image: a `c2pa.created` action (IPTC digital source type,
    software agent, model, weights hash, seed and conditions) and training/mining `notAllowed`."""
    model = str(record.get("model", "unknown"))
    parameters = {
        k: v for k, v in record.items() if k not in ("ai_generated", "digital_source_type", "software")
    }
    parameters["weights_sha256"] = record.get("weights_sha256") or model.partition("@")[2]
    return {
        "claim_generator_info": [{"name": "ganstudio", "version": __version__}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": record.get("digital_source_type", DIGITAL_SOURCE_TYPE),
                            "softwareAgent": {"name": "ganstudio", "version": __version__},
                            "parameters": parameters,
                        }
                    ]
                },
            },
            {
                "label": "cawg.training-mining",
                "data": {"entries": {use: {"use": "notAllowed"} for use in TRAINING_USES}},
            },
        ],
    }


def _context(trust_root: bytes | None, verify_after_sign: bool = True) -> Any:
    import c2pa

    settings: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}}
    if trust_root:
        settings["trust"] = {"user_anchors": trust_root.decode()}
        settings["verify"] = {"verify_trust": True}
    if not verify_after_sign:
        settings["verify"] = {**settings.get("verify", {}), "verify_after_sign": False}
    return c2pa.Context.builder().with_settings(c2pa.Settings.from_dict(settings)).build()


_signers = threading.local()


def _signing_tools(chain: bytes, key: bytes) -> tuple[Any, Any]:
    """This thread's (context, signer) for the chain and key, made once: building them cost a
    quarter of each file's signing time. The SDK's re-validation after signing is off (it
    doubled the time and checks only the manifest just built here; `verify` reads every file)."""
    import c2pa

    cached = getattr(_signers, "tools", None)
    if cached is None or cached[0] != (chain, key):
        if cached is not None:
            cached[2].close()
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
        cached = ((chain, key), _context(None, verify_after_sign=False), signer)
        _signers.tools = cached
    return cached[1], cached[2]


def sign(
    data: bytes, format: str, record: dict[str, Any], title: str, ingredients: list[tuple[str, bytes]] = ()
) -> bytes:
    """`data` (an encoded PNG/JPEG/WebP) with a signed C2PA manifest embedded; `ingredients`
    (title, PNG bytes) are inputs such as the user's sketch, recorded as `inputTo`."""
    import c2pa

    chain, key, _ = signer_files()
    mime = MIME[format]
    context, signer = _signing_tools(chain, key)
    builder = c2pa.Builder(manifest(record, title), context=context)
    for name, png in ingredients:
        builder.add_ingredient(
            json.dumps({"title": name, "relationship": "inputTo", "format": "image/png"}),
            "image/png",
            io.BytesIO(png),
        )
    out = io.BytesIO()
    try:
        builder.sign(signer, mime, io.BytesIO(data), out)
    finally:
        builder.close()
    return out.getvalue()


def read(data: bytes, format: str) -> dict[str, Any]:
    """What the file's C2PA manifest says: {"state": "absent" | "valid" | "trusted" | "invalid",
    "signer", "issuer", "trusted", "errors", "action", "training_mining"}. Trust comes from the
    local root (when this machine has one) as the only anchor."""
    import c2pa

    _, _, root = (None, None, None)
    folder = config_dir()
    if (folder / "root.pem").is_file():
        root = (folder / "root.pem").read_bytes()
    try:
        reader = c2pa.Reader(MIME[format], io.BytesIO(data), context=_context(root))
    except c2pa.C2paError as error:
        if (
            "ManifestNotFound" in type(error).__name__
            or "no JUMBF" in str(error)
            or "not found" in str(error).lower()
        ):
            return {"state": "absent"}
        return {"state": "invalid", "errors": [str(error)]}
    try:
        state = reader.get_validation_state() or "Invalid"
        store = json.loads(reader.json())
        results = reader.get_validation_results() or {}
    finally:
        reader.close()
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    info = active.get("signature_info", {})
    failures = (results.get("activeManifest") or {}).get("failure", [])
    created, training = None, None
    for assertion in active.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            created = next(
                (a for a in assertion["data"].get("actions", []) if a.get("action") == "c2pa.created"), None
            )
        if assertion.get("label") in ("cawg.training-mining", "c2pa.training-mining"):
            entries = assertion.get("data", {}).get("entries", {})
            training = {
                **(training or {}),
                **{k: v.get("use") for k, v in entries.items() if isinstance(v, dict)},
            }
    return {
        "state": {"Trusted": "trusted", "Valid": "valid"}.get(state, "invalid"),
        "trusted": state == "Trusted",
        "signer": info.get("common_name"),
        "issuer": info.get("issuer"),
        "errors": [f"{f.get('code')}: {f.get('explanation')}" for f in failures],
        "action": created,
        "ingredients": [i.get("title") for i in active.get("ingredients", [])],
        "training_mining": training,
    }
