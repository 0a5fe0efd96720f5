"""The editing routes: invert, vary, interpolate (with a strip) and slider edits of an image the
client sends; the inversion is remembered between calls, files are marked and kept in the history."""

import base64
import io

import numpy as np
from PIL import Image

from ganstudio.provenance import read_provenance


def pixels(image_out) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(image_out["data"]))), dtype=np.int16)


def test_invert_vary_interpolate_and_edit_an_image(make_client):
    client = make_client(invert_steps=5)
    a, b = client.post("/v1/generate", json={"n": 2, "seed": 3, "label": 0}).json()["images"]
    source = {"image": a["data"], "label": 0}

    invert = client.post("/v1/invert", json=source)
    assert invert.status_code == 200, invert.text
    (recon,) = invert.json()["images"]
    assert recon["metadata"]["operation"] == "invert"
    assert read_provenance(io.BytesIO(base64.b64decode(recon["data"])))["ai_generated"]

    vary = client.post("/v1/vary", json=source | {"strength": 0.6, "n": 3, "seed": 7}).json()["images"]
    assert [v["seed"] for v in vary] == [7, 8, 9] and vary[0]["metadata"]["strength"] == 0.6
    assert np.abs(pixels(vary[0]) - pixels(vary[1])).max() > 0  # different seeds, different images

    morph = client.post("/v1/interpolate", json=source | {"image_b": b["data"], "frames": 4}).json()
    frames, strip = morph["images"][:4], morph["images"][4]
    assert [f["metadata"]["frame"] for f in frames] == [0, 1, 2, 3]
    width = pixels(frames[0]).shape[1]
    assert 4 * width <= pixels(strip).shape[1] < 5 * width  # four frames in a row (with gaps)
    assert strip["metadata"]["operation"] == "interpolate-strip"

    edit = client.post("/v1/edit", json=source | {"direction": "brightness", "strengths": [-1, 0, 1]})
    assert edit.status_code == 200, edit.text
    moved = edit.json()["images"]
    assert len(moved) == 3 and moved[1]["metadata"]["source"]["edit"] == "brightness +0"
    # strength 0 is the remembered inversion itself: the same pixels as /v1/invert gave
    assert np.abs(pixels(moved[1]) - pixels(recon)).max() <= 1
    # a trained attribute's slider may refuse to move an untrained model's image (it keeps the
    # item or stays put); a principal direction always moves it
    pca = client.post("/v1/edit", json=source | {"direction": "pca1", "strengths": [-2, 2]}).json()["images"]
    assert np.abs(pixels(pca[0]) - pixels(pca[1])).max() > 0

    unknown = client.post("/v1/edit", json=source | {"direction": "sparkle"})
    assert unknown.status_code == 400 and "valid:" in unknown.json()["error"]
    assert client.post("/v1/edit", json=source | {"direction": "pca1", "strengths": [9]}).status_code == 422
    assert client.post("/v1/vary", json=source | {"strength": 1.5}).status_code == 422
    assert client.post("/v1/invert", json={"image": "not base64!"}).status_code == 400

    operations = {e["operation"] for e in client.get("/v1/history").json()}
    assert {"generate", "invert", "vary", "interpolate", "edit"} <= operations
