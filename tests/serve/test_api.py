import asyncio
import base64
import io
import json
import time
import zipfile

import pytest
from PIL import Image, ImageDraw

from ganstudio.provenance import read_provenance
from tests.hostile import png_header_only
from tests.serve.conftest import two_class_folder


def drawing_png() -> bytes:
    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).rectangle((16, 16, 48, 48), outline=0, width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_health_and_models_describe_the_conditions(make_client, served_model):
    client = make_client()
    assert client.get("/v1/health").json()["status"] == "ok"
    (model,) = client.get("/v1/models").json()
    assert model["name"] == str(served_model) and model["classes"] == ["square", "dot"]
    assert model["prompts"] and model["sketches"] and model["attributes"][0]["name"] == "brightness"


def pixels(data: str) -> bytes:
    """The decoded pixels of a base64 image (the files differ: each carries its own signed manifest)."""
    return Image.open(io.BytesIO(base64.b64decode(data))).tobytes()


def test_generate_returns_marked_images_of_every_format(make_client):
    client = make_client()
    for fmt, mime in (("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")):
        body = {"n": 3, "seed": 5, "label": "square", "prompt": "a big square", "format": fmt}
        out = client.post("/v1/generate", json=body).json()
        assert [i["seed"] for i in out["images"]] == [5, 6, 7]
        for image in out["images"]:
            data = base64.b64decode(image["data"])
            assert image["mime"] == mime and client.get(image["url"]).content == data
            report = read_provenance(io.BytesIO(data))
            assert report["ai_generated"] and report["record"]["seed"] == image["seed"]
            assert report["record"]["prompt"] == "a big square"
    a = client.post("/v1/generate", json={"n": 2, "seed": 9}).json()["images"]
    b = client.post("/v1/generate", json={"n": 2, "seed": 9}).json()["images"]
    assert [pixels(x["data"]) for x in a] == [pixels(x["data"]) for x in b]  # same seed, same pixels


def test_negative_prompt_and_upscale_fields(make_client):
    client = make_client()
    body = {"n": 1, "seed": 4, "prompt": "a big square", "negative": "a tiny dot", "upscale": 4}
    out = client.post("/v1/generate", json=body).json()
    record = out["images"][0]["metadata"]
    assert record["negative"] == "a tiny dot" and record["upscale"] == {"scale": 4, "method": "lanczos"}
    with Image.open(io.BytesIO(base64.b64decode(out["images"][0]["data"]))) as image:
        served = image.size
    plain = client.post("/v1/generate", json={"n": 1, "seed": 4, "prompt": "a big square"}).json()
    with Image.open(io.BytesIO(base64.b64decode(plain["images"][0]["data"]))) as image:
        assert served == (4 * image.width, 4 * image.height)
    assert any("Lanczos" in note for note in out["notes"])
    assert client.post("/v1/generate", json={**body, "upscale": 2}).status_code == 422
    assert client.post("/v1/generate", json={**body, "negative_strength": 0}).status_code == 422


def test_a_prompt_outside_the_model_gets_a_note_or_a_refusal_when_strict(make_client):
    client = make_client()
    body = {"n": 1, "seed": 4, "prompt": "a tax form from the council"}
    out = client.post("/v1/generate", json=body).json()
    assert out["images"][0]["metadata"]["coverage"]["covered"] is False
    assert any("may not know what" in note for note in out["notes"])
    refused = client.post("/v1/generate", json={**body, "strict": True})
    assert refused.status_code in (400, 422) and "strict" in refused.text
    known = client.post("/v1/generate", json={**body, "prompt": "a big bright square", "strict": True})
    assert known.status_code == 200 and known.json()["images"][0]["metadata"]["coverage"]["covered"]


def test_sketch_as_base64_or_as_an_upload(make_client):
    client = make_client()
    png = drawing_png()
    as_json = client.post(
        "/v1/generate",
        json={"n": 1, "seed": 1, "sketch": "data:image/png;base64," + base64.b64encode(png).decode()},
    )
    assert as_json.status_code == 200 and as_json.json()["images"][0]["metadata"]["sketch"] == "drawing"
    upload = client.post(
        "/v1/generate/upload",
        data={"request": json.dumps({"n": 1, "seed": 1})},
        files={"sketch": ("s.png", png)},
    )
    assert upload.status_code == 200
    assert pixels(upload.json()["images"][0]["data"]) == pixels(as_json.json()["images"][0]["data"])


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"n": 65}, 400, "at most 64 images"),
        ({"n": 0}, 422, "n:"),
        ({"prompt": "x" * 301}, 400, "at most 300"),
        ({"label": "circle"}, 400, "label 'circle' is unknown"),
        ({"attributes": {"brightness": 9}}, 400, "outside what the model saw"),
        ({"attributes": {"weight": 1}}, 400, "attribute 'weight' is unknown"),
        ({"model": "nope"}, 404, "is not served here"),
        ({"sketch": "!!!"}, 400, "must be base64"),
        ({"seed": -1}, 422, "seed"),
        ({"format": "gif"}, 422, "format"),
        ({"prompt": "   "}, 400, "prompt is empty"),
    ],
)
def test_bad_requests_get_a_json_message(make_client, body, status, message):
    response = make_client().post("/v1/generate", json=body)
    assert response.status_code == status and message in response.json()["error"]
    assert "Traceback" not in response.text


def test_uploads_are_bounded_before_decoding(make_client, tmp_path):
    client = make_client(max_upload_bytes=50_000)
    png_header_only(tmp_path / "bomb.png", 20000, 20000)
    bomb = client.post(
        "/v1/generate/upload", files={"sketch": ("b.png", (tmp_path / "bomb.png").read_bytes())}
    )
    assert bomb.status_code == 413 and "pixels" in bomb.json()["error"]
    big = client.post("/v1/generate/upload", files={"sketch": ("b.png", b"\0" * 60_000)})
    assert big.status_code == 413
    junk = client.post("/v1/generate/upload", files={"sketch": ("b.png", b"not an image")})
    assert junk.status_code == 400 and "not an image" in junk.json()["error"]


def test_internal_errors_are_json_without_a_trace(make_client, monkeypatch):
    from ganstudio.pipeline import GenerationPipeline

    client = make_client()
    client.get("/v1/models")
    monkeypatch.setattr(GenerationPipeline, "run", lambda self, requests, batch_size=256: 1 / 0)
    response = client.post("/v1/generate", json={"n": 1})
    assert response.status_code == 500 and response.json() == {
        "error": "internal error; the server log has the details"
    }


def test_token_guards_every_route_but_health(make_client):
    client = make_client(token="s3cret")
    assert client.get("/v1/health").status_code == 200
    assert client.get("/v1/models").status_code == 401
    assert client.post("/v1/generate", json={"n": 1}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_outside_loopback_the_server_refuses_to_start_without_a_token(monkeypatch):
    from ganstudio.serve import is_loopback, serve

    monkeypatch.delenv("GANSTUDIO_TOKEN", raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
    with pytest.raises(ValueError, match="access token"):
        serve(host="0.0.0.0")


def test_requests_per_client_are_limited(make_client):
    client = make_client(requests_per_minute=3)
    codes = [client.get("/v1/models").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_cors_is_off_unless_configured(make_client):
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in make_client().options("/v1/generate", headers=headers).headers
    allowed = make_client(cors_origins=["https://studio.example"])
    response = allowed.options("/v1/generate", headers=headers | {"Origin": "https://studio.example"})
    assert response.headers["access-control-allow-origin"] == "https://studio.example"


def test_concurrent_requests_share_forward_passes(make_client):
    import httpx

    client = make_client(batch_wait_ms=50)
    app = client.app
    client.get("/v1/models")  # load the model

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7860") as http:
            bodies = [{"n": 2, "seed": i * 10} for i in range(20)]
            return await asyncio.gather(*(http.post("/v1/generate", json=b) for b in bodies))

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses)
    batcher = next(iter(app.state.studio.batchers.values()))
    assert batcher.batches < 20  # gathered, not one pass per request
    alone = client.post("/v1/generate", json={"n": 2, "seed": 30}).json()["images"]
    together = responses[3].json()["images"]
    assert [i["seed"] for i in together] == [30, 31] and len(alone) == 2


def test_verify_reads_the_marks(make_client):
    client = make_client()
    data = base64.b64decode(
        client.post("/v1/generate", json={"n": 1, "format": "jpeg"}).json()["images"][0]["data"]
    )
    report = client.post("/v1/verify", files={"file": ("x.jpg", data)}).json()
    assert report["metadata"]["ai_generated"] and report["format"] == "JPEG" and report["ganstudio"]
    assert report["c2pa"]["state"] in ("valid", "trusted")
    # this model draws 16 px: too small for the watermark to survive JPEG, so it makes no claim
    assert not report["watermark"]["detected"] and "too small" in report["watermark"]["unreadable"]
    data = base64.b64decode(client.post("/v1/generate", json={"n": 1}).json()["images"][0]["data"])
    report = client.post("/v1/verify", files={"file": ("x.png", data)}).json()
    assert report["format"] == "PNG" and report["watermark"]["detected"] and report["ganstudio"]
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    plain = client.post("/v1/verify", files={"file": ("plain.png", buffer.getvalue())}).json()
    assert not plain["ganstudio"] and plain["metadata"]["record"] is None


def test_training_data_stays_inside_the_data_root(make_client, tmp_path):
    root = tmp_path / "data"
    (root / "shoes").mkdir(parents=True)
    client = make_client(data_root=root)
    assert "shoes" in client.get("/v1/data").json()["folders"]
    for name in ("../", "/etc", "shoes/../../x", "missing"):
        response = client.post("/v1/jobs", json={"data": name, "kimg": 1})
        assert response.status_code == 400, name
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("../../escape.png", b"x")
    response = client.post(
        "/v1/jobs/upload", files={"file": ("d.zip", zipped.getvalue())}, data={"kimg": "1"}
    )
    assert response.status_code == 400 and "outside the folder" in response.json()["error"]
    assert not (tmp_path / "escape.png").exists()
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.png", b"\0" * 2_000_000)
    small = make_client(max_zip_bytes=1_000_000)
    response = small.post("/v1/jobs/upload", files={"file": ("d.zip", bomb.getvalue())}, data={"kimg": "1"})
    assert response.status_code == 400 and "expands past" in response.json()["error"]


@pytest.mark.slow
def test_a_training_job_runs_streams_progress_and_serves_its_model(make_client, tmp_path):
    root = two_class_folder(tmp_path / "data")
    client = make_client(data_root=root)
    job = client.post("/v1/jobs", json={"data": "set", "kimg": 0.128, "preset": "dcgan-32"}).json()
    assert job["state"] == "running"
    again = client.post("/v1/jobs", json={"data": "set", "kimg": 0.128})
    assert again.status_code == 400 and "already running" in again.json()["error"]
    deadline = time.monotonic() + 240
    while (status := client.get(f"/v1/jobs/{job['id']}").json())["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert status["state"] == "finished", status
    events = client.get(f"/v1/jobs/{job['id']}/events").text
    assert events.startswith("data: ") and '"state": "finished"' in events
    assert client.get(f"/v1/jobs/{job['id']}/samples").headers["content-type"] == "image/png"
    names = [m["name"] for m in client.get("/v1/models").json()]
    assert f"job:{job['id']}" in names
    out = client.post("/v1/generate", json={"model": f"job:{job['id']}", "label": "dark", "n": 2})
    assert out.status_code == 200 and out.json()["images"][0]["label"] == "dark"
    resumed = client.post(f"/v1/jobs/{job['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] == "running"
    cancelled = client.post(f"/v1/jobs/{job['id']}/cancel").json()
    assert cancelled["state"] in ("stopping", "finished", "cancelled")


def test_redraw_keeps_part_of_an_image_and_redraws_the_rest(make_client):
    client = make_client()
    drawn = client.post("/v1/generate", json={"n": 1, "seed": 1}).json()["images"][0]
    buffer = io.BytesIO()
    Image.new("L", (16, 16), 0).save(buffer, "PNG")
    empty = base64.b64encode(buffer.getvalue()).decode()
    Image.new("L", (16, 16), 255).save(buffer := io.BytesIO(), "PNG")
    full = base64.b64encode(buffer.getvalue()).decode()
    body = {"image": drawn["data"], "mask": full, "n": 2, "seed": 5, "label": 1}
    out = client.post("/v1/redraw", json=body)
    assert out.status_code == 200, out.text
    images = out.json()["images"]
    assert len(images) == 2 and images[0]["metadata"]["operation"] == "redraw"
    assert client.get(images[0]["url"]).status_code == 200
    refused = client.post("/v1/redraw", json=body | {"mask": empty})
    assert refused.status_code == 400 and "marks nothing" in refused.json()["error"]
    assert client.post("/v1/redraw", json=body | {"mask": "not base64!"}).status_code == 400
