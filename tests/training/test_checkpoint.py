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
        racers = [context.Process(target=_race, args=(tmp_path / f"run{trial}", barrier, results)) for _ in range(2)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)
        outcomes = sorted(results.get(timeout=5) for _ in racers)
        both += outcomes == ["got", "got"]
    assert both == 0
