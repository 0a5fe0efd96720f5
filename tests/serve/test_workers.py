"""`ganstudio serve --workers 2`: two server processes on one port share the history, so an image
drawn by one is downloadable from the other; training jobs are refused with the reason."""

import subprocess
import sys
import time

import pytest

httpx = pytest.importorskip("httpx")


def test_two_worker_processes_serve_generate_download_and_refuse_jobs(served_model, tmp_path):
    from bench.serve_load import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "ganstudio", "serve", "--port", str(port), "--model", str(served_model)]
        + ["--workers", "2", "--runs", str(tmp_path / "runs"), "--requests-per-minute", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        workers = set()
        while len(workers) < 2:  # each worker process answers with its own id
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "two workers did not answer within 2 minutes"
            try:
                with httpx.Client(timeout=5) as client:  # a new connection: the kernel picks a worker
                    workers.add(client.get(f"{url}/v1/health").json()["worker"])
            except httpx.HTTPError:
                time.sleep(0.3)
        ids = []
        for seed in range(6):  # fresh connections spread over both workers
            with httpx.Client(timeout=60) as client:
                response = client.post(f"{url}/v1/generate", json={"n": 1, "seed": seed})
                assert response.status_code == 200, response.text
                ids.append(response.json()["images"][0]["id"])
        for image_id in ids:  # whichever worker answers, every file is there
            with httpx.Client(timeout=30) as client:
                got = client.get(f"{url}/v1/images/{image_id}")
                assert got.status_code == 200 and got.content[:8] == b"\x89PNG\r\n\x1a\n"
        with httpx.Client(timeout=30) as client:
            history = client.get(f"{url}/v1/history", params={"limit": 50}).json()
            assert {entry["id"] for entry in history} >= set(ids)
            job = client.post(f"{url}/v1/jobs", json={"data": "fashion-mnist", "minutes": 1})
            assert job.status_code == 400 and "--workers" in job.json()["error"]
    finally:
        server.terminate()
        server.wait(timeout=30)
