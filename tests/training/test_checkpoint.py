import os
import subprocess
import sys

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


def test_a_second_training_into_the_same_folder_is_refused(tiny_config, tiny_dataset, tmp_path):
    run = tmp_path / "run"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.mkdir()
        (run / ".lock").write_text(f"{sleeper.pid}\n")
        with pytest.raises(ValueError, match=f"being trained by process {sleeper.pid}"):
            train(tiny_config, tiny_dataset, run, kimg=0.008)
    finally:
        sleeper.kill()
        sleeper.wait()
    train(tiny_config, tiny_dataset, run, kimg=0.008)  # the lock of a dead process is taken over
    assert not (run / ".lock").exists()
    with RunLock(run):
        assert (run / ".lock").read_text().strip() == str(os.getpid())
