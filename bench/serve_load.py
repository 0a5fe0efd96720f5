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
import random
import shlex
import socket
import statistics
import subprocess
import sys
import time

from bench.report import ROOT, machine_line, write_section

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


async def clients(url: str, model: str, classes: list[str], count: int, seconds: float, n: int) -> dict:
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    sent = 0
    stop = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while time.perf_counter() < stop and sent < MAX_REQUESTS:
            sent += 1
            body = {"model": model, "n": n, "seed": random.randrange(2**31)}
            if classes:
                body["label"] = random.choice(classes)
            start = time.perf_counter()
            try:
                response = await http.post(f"{url}/v1/generate", json=body)
                ok = response.status_code == 200 and len(response.json()["images"]) == n
            except httpx.HTTPError as error:
                ok, response = False, error
            latencies.append(time.perf_counter() - start)
            if not ok:
                failures.append(str(getattr(response, "text", response))[:200])

    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        began = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(count)))
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
    args = parser.parse_args()
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 300:
        raise SystemExit("--clients 1..200 and --seconds 1..300: this bench stays bounded")

    import httpx

    from ganstudio.pipeline import GenerationPipeline

    classes = GenerationPipeline.from_pretrained(args.model, device="cpu").class_names
    batch = args.clients * args.n  # what the batcher can gather when every client waits
    own = pipeline_throughput(args.model, batch)
    print(f"pipeline alone: {own:.0f} images/s in batches of {batch}", flush=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "ganstudio", "serve", "--port", str(port), "--model", args.model],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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
        result = asyncio.run(clients(url, args.model, classes, args.clients, args.seconds, args.n))
    finally:
        server.terminate()
        server.wait(timeout=30)
    ratio = result["images_per_s"] / own
    print(result, f"ratio {ratio:.2f}", flush=True)

    command = "python -m bench.serve_load " + shlex.join(sys.argv[1:])
    body = f"""{machine_line()}; {datetime.date.today()}. Command: `{command}`

{args.clients} concurrent clients for {args.seconds:g} s on loopback, each sending `POST /v1/generate`
(model {args.model}, a random class, n={args.n}, PNG) one after another; the server (`ganstudio serve`,
its own process) and the clients share the machine's cores.

| requests | failed | p50 latency | p95 latency | images/s served | pipeline alone (batches of {batch}) | served / alone |
|---|---|---|---|---|---|---|
| {result["requests"]} | {result["failures"]} | {result["p50_ms"]:.0f} ms | {result["p95_ms"]:.0f} ms | {result["images_per_s"]:.0f} | {own:.0f} | **{ratio:.0%}** |
"""
    if result["failure_examples"]:
        body += "\nFailures, first ones: " + "; ".join(result["failure_examples"]) + "\n"
    write_section(ROOT / "BENCHMARKS.md", args.section, body)


if __name__ == "__main__":
    main()
