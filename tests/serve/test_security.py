"""The studio on its default settings (loopback, no token) cannot be driven from another web page:
DNS rebinding (Host), cross-site requests (Origin/Referer), script in server strings (CSP, text
rendering); and one bad request, upload or reload never costs other requests or the server."""

import asyncio
import gc
import io
import json
import os
import re
import threading
import time
import weakref
import zipfile

import httpx
import pytest

EVIL = "https://evil.example"


def zip_of(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "host", ["evil.example:7862", "evil.example", "rebind.attacker.net:80", "localhost.evil.com"]
)
def test_a_rebound_host_name_is_refused(make_client, host):
    client = make_client()
    for method, path, body in (("GET", "/v1/data", None), ("POST", "/v1/generate", {"n": 1})):
        response = client.request(method, path, json=body, headers={"Host": host})
        assert response.status_code == 403, (path, response.text)
        assert "host name" in response.json()["error"]


@pytest.mark.parametrize(
    "host", ["127.0.0.1:7860", "localhost:7860", "[::1]:7860", "studio.localhost", "10.1.2.3"]
)
def test_loopback_names_and_ip_literals_are_served(make_client, host):
    assert make_client().get("/v1/data", headers={"Host": host}).status_code == 200


def test_a_host_given_with_allowed_host_is_served(make_client):
    client = make_client(allowed_hosts=["studio.example.org"])
    assert client.get("/v1/data", headers={"Host": "studio.example.org"}).status_code == 200
    assert client.get("/v1/data", headers={"Host": "other.example.org"}).status_code == 403


def test_a_cross_site_form_post_cannot_start_training_or_generate(make_client, tmp_path):
    client = make_client()
    upload = {"file": ("data.zip", zip_of({"a/x.png": png_bytes()}), "application/zip")}
    for headers in ({"Origin": EVIL}, {"Referer": f"{EVIL}/page"}, {"Origin": "null"}):
        response = client.post("/v1/jobs/upload", files=upload, data={"minutes": "1"}, headers=headers)
        assert response.status_code == 403, response.text
        assert "cross-site" in response.json()["error"]
        response = client.post(
            "/v1/generate/upload",
            data={"request": '{"n": 1}'},
            files={"sketch": ("s.png", png_bytes())},
            headers=headers,
        )
        assert response.status_code == 403
        assert client.post("/v1/generate", json={"n": 1}, headers=headers).status_code == 403
    assert not (tmp_path / "runs" / "uploads").exists()  # nothing was unpacked
    assert client.get("/v1/jobs").json() == []


def test_the_studios_own_origin_and_non_browser_clients_may_post(make_client):
    client = make_client(cors_origins=["https://designer.example"])
    own = {"Origin": "http://127.0.0.1:7860"}
    for headers in (own, {}, {"Origin": "https://designer.example"}):
        assert client.post("/v1/generate", json={"n": 1, "seed": 1}, headers=headers).status_code == 200
    # same host, other port: another origin
    assert (
        client.post("/v1/generate", json={"n": 1}, headers={"Origin": "http://127.0.0.1:9999"}).status_code
        == 403
    )


def test_every_response_carries_the_browser_protections(make_client):
    client = make_client()
    for path in ("/", "/v1/models", "/static/studio.js", "/v1/nothing"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"


def test_the_studio_page_has_no_inline_script_or_html_sinks():
    from ganstudio.serve.app import STATIC

    page = (STATIC / "index.html").read_text()
    assert "<script>" not in page
    assert re.search(r"\son[a-z]+\s*=", page, re.IGNORECASE) is None  # no inline event handlers
    scripts = sorted(STATIC.glob("*.js"))
    assert {"studio.js", "edit.js"} <= {s.name for s in scripts}
    for path in scripts:
        script = path.read_text()
        for sink in (".innerHTML =", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in script, (path.name, sink)


def test_one_poisoned_prompt_fails_alone_in_its_batch(make_client):
    client = make_client(requests_per_minute=10**6)
    app = client.app

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7860") as http:
            bodies = [{"n": 1, "seed": i, "prompt": "a round shape"} for i in range(20)]
            bodies.insert(7, {"n": 1, "seed": 99, "prompt": "a dark boot \ud800"})
            # json.dumps writes the lone surrogate as the escape \ud800, as a browser's JSON.stringify does
            return await asyncio.gather(
                *(
                    http.post(
                        "/v1/generate", content=json.dumps(b), headers={"Content-Type": "application/json"}
                    )
                    for b in bodies
                )
            )

    responses = asyncio.run(burst())
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 20 and codes[7] == 400, codes
    assert "surrogate" in responses[7].json()["error"]


def test_a_request_that_crashes_the_shared_pass_fails_alone(served_model):
    """Whatever one request raises inside the group's forward pass, the others are drawn."""
    from ganstudio.pipeline import GenerationPipeline
    from ganstudio.serve.batcher import Batcher

    pipe = GenerationPipeline.from_pretrained(served_model)
    real_run = pipe.run

    def run(requests):
        if any(r.records[0]["seed"] == 13 for r in requests):  # this request breaks whatever it is drawn with
            raise TypeError("a bug that only this request meets")
        return real_run(requests)

    pipe.run = run
    batcher = Batcher(pipe, max_wait_ms=50)

    async def burst():
        return await asyncio.gather(
            *(batcher.generate(n=1, seed=s) for s in (1, 13, 2, 3)), return_exceptions=True
        )

    outcomes = asyncio.run(burst())
    assert isinstance(outcomes[1], TypeError)
    assert all(not isinstance(o, Exception) for i, o in enumerate(outcomes) if i != 1)


def _job_model(studio, served_model, tmp_path):
    """A studio training job whose run folder holds a checkpoint (a copy of the served model)."""
    import shutil

    from ganstudio.serve.jobs import Job

    run = tmp_path / "runs" / "job1"
    shutil.copytree(served_model, run / "checkpoint")
    studio.jobs.jobs["job1"] = Job(
        "job1", "fashion-mnist", "fashion-mnist", run, None, 1.0, [], state="finished"
    )
    return run / "checkpoint" / "generator_ema.safetensors"


def test_reloading_a_job_model_frees_the_old_pipeline_and_its_threads(make_client, served_model, tmp_path):
    client = make_client(requests_per_minute=10**6)
    studio = client.app.state.studio
    weights = _job_model(studio, served_model, tmp_path)
    assert client.post("/v1/generate", json={"model": "job:job1", "n": 1}).status_code == 200
    first = weakref.ref(studio.pipes["job:job1"])
    threads = threading.active_count()
    gc.disable()  # as between a busy server's rare full collections
    try:
        for version in range(25):  # a new checkpoint each time
            os.utime(weights, (time.time(), time.time() + version + 1))
            assert client.post("/v1/generate", json={"model": "job:job1", "n": 1}).status_code == 200
        time.sleep(0.5)
        # threads end when a pipeline is replaced, not whenever a full garbage collection happens to run
        assert threading.active_count() <= threads + 2, threading.active_count()
    finally:
        gc.enable()
    gc.collect()
    assert first() is None  # the first pipeline was freed


def test_a_refused_upload_is_never_unpacked_and_failed_ones_leave_nothing(
    make_client, served_model, tmp_path
):
    client = make_client()
    uploads = tmp_path / "runs" / "uploads"
    good = zip_of({"a/x.png": png_bytes(), "b/y.png": png_bytes()})
    studio = client.app.state.studio
    _job_model(studio, served_model, tmp_path)
    studio.jobs.jobs["job1"].state = "running"  # the one job slot is taken
    studio.jobs.jobs["job1"].process = None
    response = client.post("/v1/jobs/upload", files={"file": ("d.zip", good)}, data={"minutes": "1"})
    assert response.status_code == 400 and "already running" in response.json()["error"]
    assert not uploads.exists() or not any(uploads.iterdir())
    studio.jobs.jobs.clear()
    bad = {
        "collision": zip_of({"a": b"file", "a/x.png": png_bytes()}),
        "dot": zip_of({".": b"x"}),
        "long-name": zip_of({"a/" + "n" * 300 + ".png": png_bytes()}),
        "corrupt-deflate": _corrupt(zip_of({"a/x.png": b"x" * 5000})),
        "unsupported-compression": _unknown_method(zip_of({"a/x.png": b"x" * 50}, zipfile.ZIP_STORED)),
        "not-a-zip": b"PK\x03\x04 nothing",
    }
    for name, data in bad.items():
        response = client.post("/v1/jobs/upload", files={"file": ("d.zip", data)}, data={"minutes": "1"})
        assert response.status_code == 400, (name, response.status_code, response.text)
        assert not uploads.exists() or not any(uploads.iterdir()), name


def _corrupt(data: bytes) -> bytes:
    start = data.index(b"a/x.png") + len("a/x.png")  # the local header's name; the data follows
    return data[:start] + bytes(b ^ 0x5A for b in data[start : start + 20]) + data[start + 20 :]


def _unknown_method(data: bytes) -> bytes:
    """A stored zip whose entries claim compression method 99 (AE-x encryption)."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = out.find(signature)
        out[at + offset : at + offset + 2] = (99).to_bytes(2, "little")
    return bytes(out)


def test_the_upload_space_is_bounded(make_client):
    client = make_client(max_upload_disk_bytes=0)
    response = client.post(
        "/v1/jobs/upload", files={"file": ("d.zip", zip_of({"a/x.png": png_bytes()}))}, data={"minutes": "1"}
    )
    assert response.status_code == 507


def test_wrong_tokens_are_rate_limited(make_client):
    client = make_client(token="s3cret", failed_logins_per_minute=5)
    codes = [
        client.get("/v1/models", headers={"Authorization": f"Bearer guess{i}"}).status_code for i in range(8)
    ]
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3
    assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_a_forwarded_for_header_from_loopback_does_not_escape_the_client_limit(served_model, tmp_path):
    import socket

    import uvicorn

    from ganstudio.serve import uvicorn_options
    from ganstudio.serve.app import Settings, create_app

    app = create_app(Settings(models=[str(served_model)], runs_dir=tmp_path / "runs", requests_per_minute=5))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **uvicorn_options(None)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        codes = [
            httpx.get(
                f"http://127.0.0.1:{port}/v1/data", headers={"X-Forwarded-For": f"203.0.113.{i}"}
            ).status_code
            for i in range(8)
        ]
    finally:
        server.should_exit = True
        thread.join(10)
    assert codes.count(429) == 3, codes


def test_job_records_and_errors_hold_no_server_paths(make_client, tmp_path):
    root = tmp_path / "data"
    (root / "visible").mkdir(parents=True)
    (root / ".hidden").mkdir()
    client = make_client(data_root=root)
    assert client.get("/v1/data").json()["folders"][-1] == "visible"
    for name in (".hidden", "../data/visible", str(root / "visible"), "x" * 300):
        response = client.post("/v1/jobs", json={"data": name, "minutes": 1})
        assert response.status_code == 400, name
        if str(tmp_path) not in name:  # the server never shows its own paths (only what was sent)
            assert str(tmp_path) not in response.text


def test_verify_hands_only_png_jpeg_and_webp_to_a_decoder(make_client):
    client = make_client()
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    for data in (eps, gif, b"BM" + b"\0" * 60):
        response = client.post("/v1/verify", files={"file": ("x.png", data)})
        assert response.status_code == 400 and "PNG, JPEG, WebP and SVG" in response.json()["error"]
    assert client.post("/v1/verify", files={"file": ("x.png", png_bytes())}).status_code == 200


def test_a_failed_jobs_error_names_files_not_server_paths(make_client, served_model, tmp_path):
    client = make_client()
    studio = client.app.state.studio
    _job_model(studio, served_model, tmp_path)
    job = studio.jobs.jobs["job1"]
    (job.run_dir / "train.log").write_text(f"error: {tmp_path}/runs/job1/data/broken.png is damaged\n")
    job.state, job.error = "failed", job._error_line()
    shown = client.get("/v1/jobs/job1").json()
    assert "broken.png is damaged" in shown["error"] and str(tmp_path) not in json.dumps(shown)


def test_the_api_docs_work_offline(make_client):
    """/docs is served from the package (fastapi-offline): no CDN, so it works without a network."""
    client = make_client()
    page = client.get("/docs").text
    assert "cdn" not in page.lower() and "jsdelivr" not in page
    bundle = next(part for part in page.split('"') if part.endswith("swagger-ui-bundle.js"))
    assert client.get(bundle).status_code == 200


def test_a_large_group_is_encoded_in_the_encoder_process_and_marked_alike(served_model):
    """A group of POOL_MIN_IMAGES or more is marked in the encoder process: every file carries
    the same pixels (watermark included), XMP record and valid C2PA manifest as the thread's files, and a
    bad request in the group still fails alone."""
    import io

    import numpy as np
    from PIL import Image

    from ganstudio.pipeline import GenerationPipeline
    from ganstudio.provenance import verify
    from ganstudio.serve.batcher import POOL_MIN_IMAGES, Batcher

    pipe = GenerationPipeline.from_pretrained(served_model)
    batcher = Batcher(pipe, max_wait_ms=200)
    n = POOL_MIN_IMAGES // 2

    async def burst():
        out = await asyncio.gather(
            batcher.generate(n=n, seed=1),
            batcher.generate(n=n, seed=100, format="jpeg", background="navy"),
            batcher.generate(n=1, seed=5, label="no such class"),
            return_exceptions=True,
        )
        await batcher.close()
        return out

    png, jpeg, bad = asyncio.run(burst())
    assert batcher.pool is not None, "the group should have gone to the encoder process"
    assert isinstance(bad, ValueError)
    for (result, files), fmt in ((png, "PNG"), (jpeg, "JPEG")):
        assert len(files) == n
        for image, data in zip(result.images[:3], files[:3], strict=True):
            report = verify(data)
            assert report["format"] == fmt and report["metadata"]["record"]["seed"] == image.record["seed"]
            assert report["c2pa"]["state"] in ("valid", "trusted")  # pixels (and watermark): below
            ours = io.BytesIO()
            image.save(ours, format=fmt, background="navy" if fmt == "JPEG" else "white")
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(Image.open(ours)))
