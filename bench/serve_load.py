"""Load on `ganstudio serve` (loopback only, bounded in time and count): C concurrent clients for
S seconds, each sending generate requests (a random class, n images, PNG) one after another.

    python -m bench.serve_load [--clients 50] [--seconds 60] [--n 4] [--model fashion-mnist]

The server runs in its own process (uvicorn, as `ganstudio serve` does); the clients share the
machine with it. Reported: requests, failures, p50/p95 latency, images/s, and — in the same run,
right before — the pipeline's own throughput drawing the same kind of images in batches as large
as the server can gather (no HTTP, no file encoding), with the ratio (target: at least 80%).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import shlex
import socket
import statistics
import subprocess
import sys
import time

from bench.report import ROOT, machine_line, write_section

NOTE = """What the served rate is short of, measured while building the server (2026-12-01): every group
was full (all 50 clients' 200 images in one `run`), the event loop idled about 60% of the time
(cProfile of the server), and the clients, the HTTP parsing and the PNG encoding (0.14 ms an
image, on a second thread overlapping the next group) share the same two cores the pipeline
alone has to itself. Steps that moved it: gathering requests in the batcher with one thread
hand-over per group instead of three per request, uvloop + httptools (`uvicorn[standard]`), and a
hand-rolled client in the bench (an httpx client used a whole core at 120 requests/s and capped
the first measurement at 455 images/s, 22%). Still missed: **≥ 80%** on this 2-core machine;
on a machine with cores to spare for HTTP, or a GPU doing the drawing, the same design leaves
the model the only busy part."""
MAX_REQUESTS = 100_000  # a hard bound on what one run may send


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pipeline_throughput(model: str, batch: int, seconds: float = 15.0) -> float:
    """Images/s of GenerationPipeline drawing label-conditioned batches of `batch`, in-process."""
    from ganstudio.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_pretrained(model, device="cpu")
    classes = pipe.class_names
    pipe(n=batch, seed=0, label=classes[0] if classes else None)  # warm up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        labels = [random.choice(classes) for _ in range(batch)] if classes else None
        pipe(n=batch, seed=count, label=labels)
        count += batch
    return count / (time.perf_counter() - start)


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a kept-alive connection: (status, body). Hand-rolled so the 50
    clients cost the shared CPU little (an httpx client used a whole core at ~120 requests/s)."""
    writer.write(
        b"POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(v) for k, _, v in (line.partition(":") for line in lines[1:]) if k.lower() == "content-length"
    )
    return status, await reader.readexactly(length)


async def clients(port: int, model: str, classes: list[str], count: int, seconds: float, n: int) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    sent = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop and sent < MAX_REQUESTS:
                sent += 1
                body = {"model": model, "n": n, "seed": random.randrange(2**31)}
                if classes:
                    body["label"] = random.choice(classes)
                start = time.perf_counter()
                try:
                    status, data = await post(reader, writer, json.dumps(body).encode())
                    ok = status == 200 and len(json.loads(data)["images"]) == n
                    problem = f"{status}: {data[:200]!r}"
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    ok, problem = False, f"{type(error).__name__}: {error}"
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                latencies.append(time.perf_counter() - start)
                if not ok:
                    failures.append(problem)
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(count)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "failures": len(failures),
        "failure_examples": failures[:3],
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "images_per_s": (len(latencies) - len(failures)) * n / elapsed,
        "elapsed_s": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="fashion-mnist")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("-n", type=int, default=4, help="images per request")
    parser.add_argument("--section", default="serve-load")
    parser.add_argument(
        "--server-threads", type=int, default=0, help="torch threads in the server (0 = default)"
    )
    args = parser.parse_args()
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 300:
        raise SystemExit("--clients 1..200 and --seconds 1..300: this bench stays bounded")

    import httpx

    from ganstudio.pipeline import GenerationPipeline

    classes = GenerationPipeline.from_pretrained(args.model, device="cpu").class_names
    batch = args.clients * args.n  # what the batcher can gather when every client waits
    own_before = pipeline_throughput(args.model, batch)
    print(f"pipeline alone: {own_before:.0f} images/s in batches of {batch}", flush=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "ganstudio", "serve", "--port", str(port), "--model", args.model]
        + ["--requests-per-minute", "1000000"],  # every client here is 127.0.0.1
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **({"OMP_NUM_THREADS": str(args.server_threads)} if args.server_threads else {})},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {server.stdout.read() if server.stdout else ''}")
            time.sleep(0.3)
        httpx.post(f"{url}/v1/generate", json={"model": args.model, "n": 1}, timeout=120)  # load the model
        before = httpx.get(f"{url}/v1/health").json()["generated"]
        result = asyncio.run(clients(port, args.model, classes, args.clients, args.seconds, args.n))
        after = httpx.get(f"{url}/v1/health").json()["generated"]
        result["images_per_batch"] = (after["images"] - before["images"]) / max(
            after["batches"] - before["batches"], 1
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    own_after = pipeline_throughput(args.model, batch)  # this machine's speed drifts: measured on both sides
    own = (own_before + own_after) / 2
    ratio = result["images_per_s"] / own
    print(result, f"ratio {ratio:.2f}", flush=True)

    command = "python -m bench.serve_load " + shlex.join(sys.argv[1:])
    body = f"""{machine_line()}; {datetime.date.today()}. Command: `{command}`

{args.clients} concurrent clients for {args.seconds:g} s on loopback, each sending `POST /v1/generate`
(model {args.model}, a random class, n={args.n}, PNG) one after another; the server (`ganstudio serve`,
its own process) and the clients share the machine's cores.

| requests | failed | p50 latency | p95 latency | images/s served | images per forward group | pipeline alone (batches of {batch}; before / after) | served / alone |
|---|---|---|---|---|---|---|---|
| {result["requests"]} | {result["failures"]} | {result["p50_ms"]:.0f} ms | {result["p95_ms"]:.0f} ms | {result["images_per_s"]:.0f} | {result["images_per_batch"]:.0f} | {own:.0f} ({own_before:.0f} / {own_after:.0f}) | **{ratio:.0%}** |
"""
    body += "\n" + NOTE + "\n"
    if result["failure_examples"]:
        body += "\nFailures, first ones: " + "; ".join(result["failure_examples"]) + "\n"
    write_section(ROOT / "BENCHMARKS.md", args.section, body)


if __name__ == "__main__":
    main()
