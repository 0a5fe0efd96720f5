import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from ganstudio.training.checkpoint import RunLock, find_checkpoint
from ganstudio.training.loop import train


def test_a_crash_inside_the_swap_never_loses_the_last_checkpoint(tiny_config, tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train(tiny_config, tiny_dataset, run, kimg=0.016)
    # a crash after the first rename of a swap leaves only .checkpoint.old (and a temp folder)
    os.replace(run / "checkpoint", run / ".checkpoint.old")
    (run / ".checkpoint.tmp").mkdir()
    assert find_checkpoint(run) == run / ".checkpoint.old"
    # the next run resumes from it and its first save keeps it until the new one is in place
    train(tiny_config, tiny_dataset, run, kimg=0.032, resume=True)
    assert find_checkpoint(run) == run / "checkpoint"
    assert not (run / ".checkpoint.old").exists() and not (run / ".checkpoint.tmp").exists()


HOLD_LOCK = """
import sys, time
from pathlib import Path
from ganstudio.training.checkpoint import RunLock
with RunLock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_training_into_the_same_folder_is_refused(tiny_config, tiny_dataset, tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match=f"being trained by process {holder.pid}"):
            train(tiny_config, tiny_dataset, run, kimg=0.008)
    finally:
        holder.kill()  # kill -9: the OS drops its lock, nothing stale is left to take over
        holder.wait()
    train(tiny_config, tiny_dataset, run, kimg=0.008)
    with RunLock(run):
        assert (run / ".lock").read_text().strip() == str(os.getpid())
        with pytest.raises(ValueError, match="being trained"), RunLock(run):
            pass
    assert (run / ".lock").read_text() == ""  # released: no PID names a holder


def _race(run, barrier, results):
    barrier.wait()  # both leave the barrier at the same instant
    try:
        with RunLock(run):
            time.sleep(0.05)  # held past the other one's attempt
            results.put("got")
    except ValueError:
        results.put("refused")


def test_two_processes_taking_the_lock_at_the_same_instant_never_both_get_it(tmp_path):
    context = multiprocessing.get_context("fork")  # forked racers start in milliseconds
    barrier, results, both = context.Barrier(2), context.Queue(), 0
    for trial in range(150):
        racers = [
            context.Process(target=_race, args=(tmp_path / f"run{trial}", barrier, results)) for _ in range(2)
        ]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)
        outcomes = sorted(results.get(timeout=5) for _ in racers)
        both += outcomes == ["got", "got"]
    assert both == 0


def _damage(path, how):
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "garbage":
        path.write_bytes(os.urandom(4096))


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage", "no counters", "bad counters"])
def test_a_damaged_training_state_is_a_clear_error_never_a_restart_at_step_0(
    tiny_config, tiny_dataset, tmp_path, how
):
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    train(tiny_config, tiny_dataset, run, kimg=0.016)
    path = run / "checkpoint" / "training_state.safetensors"
    if how in ("no counters", "bad counters"):
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata())
        if how == "no counters":
            meta.pop("counters")
        else:
            meta["counters"] = json.dumps({"step": -5, "images": "many", "elapsed_s": 1.0})
        save_file(load_file(str(path)), str(path), metadata=meta)
    else:
        _damage(path, how)
    with pytest.raises(ValueError, match="no readable checkpoint") as caught:
        train(tiny_config, tiny_dataset, run, kimg=0.032, resume=True)
    assert "training_state.safetensors" in str(caught.value) or "counter" in str(caught.value)


def test_resume_falls_back_to_the_previous_checkpoint_when_the_newest_is_damaged(
    tiny_config, tiny_dataset, tmp_path
):
    run = tmp_path / "run"
    train(tiny_config, tiny_dataset, run, kimg=0.016)
    import shutil

    shutil.copytree(run / "checkpoint", run / ".checkpoint.old")
    _damage(run / "checkpoint" / "training_state.safetensors", "truncated")
    logs = []
    train(tiny_config, tiny_dataset, run, kimg=0.032, resume=True, log_fn=logs.append)
    assert any("newer one is damaged" in line for line in logs)
    assert find_checkpoint(run) == run / "checkpoint"


def test_a_full_disk_is_a_clear_error_and_keeps_the_previous_checkpoint(
    tiny_config, tiny_dataset, tmp_path, monkeypatch
):
    import errno

    from ganstudio.training import checkpoint as ckpt

    run = tmp_path / "run"
    train(tiny_config, tiny_dataset, run, kimg=0.016)
    before = (run / "checkpoint" / "training_state.safetensors").read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", full)
    with pytest.raises(ValueError, match="disk is full.*previous checkpoint is intact"):
        train(tiny_config, tiny_dataset, run, kimg=0.032, resume=True)
    assert (run / "checkpoint" / "training_state.safetensors").read_bytes() == before
    assert not (run / ".checkpoint.tmp").exists()
