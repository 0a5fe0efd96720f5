"""Data-parallel training under torchrun with 2 gloo processes on the CPU: the same global batch
gives the losses of one process, rank 0 alone writes, and a killed 2-process run resumes — with
2 processes and with 1."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from tests.conftest import TINY, shapes_dataset

SETTINGS = [*TINY, "train.augment=off"]


def launch(data: Path, run: Path, kimg: float, processes: int, *extra: str, wait: bool = True):
    sets = [arg for item in SETTINGS for arg in ("--set", item)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command += ["-m", "ganstudio", "train", "--data", str(data), "--out", str(run), "--kimg", str(kimg)]
    command += ["--text-encoder", "none", *sets, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if not wait:
        return subprocess.Popen(
            command,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def losses(run: Path) -> list[tuple[int, float, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss_d"], r["loss_g"]) for r in rows if "loss_d" in r]


def counters(run: Path) -> dict:
    with safe_open(str(run / "checkpoint" / "training_state.safetensors"), framework="pt") as f:
        return json.loads(f.metadata()["counters"])


def kill_tree(pid: int) -> None:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, tree = [pid], []
    while todo:
        tree.append(todo.pop())
        todo += parents.get(tree[-1], [])
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def data(tmp_path) -> Path:
    return shapes_dataset().save(tmp_path / "shapes.gsd")


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(data, tmp_path):
    launch(data, tmp_path / "one", 0.08, 1)
    launch(data, tmp_path / "two", 0.08, 2)
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert (
        [s for s, _, _ in two] == [s for s, _, _ in one] == list(range(1, 11))
    )  # one writer, every step once
    gaps = [abs(a - b) for (_, *x), (_, *y) in zip(one, two, strict=True) for a, b in zip(x, y, strict=True)]
    # the same data, latents and updates; only BatchNorm sees 4 images per rank instead of 8
    assert sum(gaps) / len(gaps) < 0.03 and max(gaps) < 0.15, gaps
    assert counters(tmp_path / "two")["kimg"] == pytest.approx(0.08)


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_with_two_or_one(data, tmp_path):
    run = tmp_path / "run"
    job = launch(data, run, 100, 2, "--set", "train.checkpoint_every_kimg=0.2", wait=False)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoint" / "training_state.safetensors").is_file():
            assert job.poll() is None and time.monotonic() < deadline, job.stderr.read() if job.stderr else ""
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        kill_tree(job.pid)  # kill -9 the launcher and both ranks (torchrun gives them their own sessions)
        job.wait()
    start = counters(run)["kimg"]
    assert 0 < start < 100
    launch(data, run, round(start + 0.08, 3), 2, "--resume")
    assert counters(run)["kimg"] == pytest.approx(start + 0.08, abs=0.008)
    launch(data, run, round(start + 0.16, 3), 1, "--resume")  # another rank count, same global batch
    assert counters(run)["kimg"] == pytest.approx(start + 0.16, abs=0.008)
    steps = [s for s, _, _ in losses(run)]
    assert steps[-1] == round((start + 0.16) * 1000 / 8)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_and_nccl_when_gpus_are_present(data, tmp_path):
    launch(data, tmp_path / "one", 0.08, 1, "--device", "cuda")
    assert counters(tmp_path / "one")["kimg"] == pytest.approx(0.08)
    if torch.cuda.device_count() >= 2:
        launch(data, tmp_path / "two", 0.08, 2, "--device", "cuda")
        assert counters(tmp_path / "two")["kimg"] == pytest.approx(0.08)
