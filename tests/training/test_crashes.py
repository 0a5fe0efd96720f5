"""Fault injection: training is killed (os._exit, as kill -9) before each file-system step of a
checkpoint save — once, and twice in a row — and must always leave a complete checkpoint that
--resume continues from to the end."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file

from ganstudio.training.checkpoint import find_checkpoint
from tests.training.crash_child import KIMG

ROOT = Path(__file__).resolve().parents[2]
# save_file, fsync, rmtree and os.replace calls in one checkpoint save (with the near-copy index;
# config.json and dataset.json each written through a temporary file)
STEPS_PER_SAVE = 20


def child(run: Path, kill_at: int, skip_saves: int, resume: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tests.training.crash_child", str(run), str(kill_at), str(skip_saves)]
    return subprocess.run(
        command + (["--resume"] if resume else []), cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def assert_complete_checkpoint(run: Path) -> None:
    folder = find_checkpoint(run)
    assert folder is not None, f"no checkpoint left in {sorted(p.name for p in run.iterdir())}"
    for name in ("generator", "generator_ema", "discriminator", "training_state"):
        assert load_file(str(folder / f"{name}.safetensors"))


def finish_and_check(run: Path) -> None:
    done = child(run, 0, 0, resume=True)
    assert done.returncode == 0, done.stderr[-2000:]
    with safe_open(str(run / "checkpoint" / "training_state.safetensors"), framework="pt") as f:
        counters = json.loads(f.metadata()["counters"])
    assert counters["kimg"] == pytest.approx(KIMG)
    assert not (run / ".checkpoint.tmp").exists() and not (run / ".checkpoint.old").exists()


def test_the_child_counts_every_step_of_a_save(tmp_path):
    done = child(tmp_path / "run", 0, 1)
    assert done.returncode == 0, done.stderr[-2000:]
    saves, points = (int(v) for v in done.stdout.split()[1::2])
    assert points == (saves - 1) * STEPS_PER_SAVE


@pytest.mark.slow
def test_a_kill_at_any_step_of_the_swap_leaves_a_checkpoint_to_resume(tmp_path):
    for k in range(1, STEPS_PER_SAVE + 1):
        run = tmp_path / f"kill-{k}"
        killed = child(run, k, 1)
        assert killed.returncode == 9, f"step {k}: {killed.stderr[-2000:]}"
        assert_complete_checkpoint(run)
        finish_and_check(run)


@pytest.mark.slow
def test_two_kills_in_a_row_inside_the_swap_still_leave_a_checkpoint(tmp_path):
    first = tmp_path / "first"
    # killed between the swap's two renames: only .checkpoint.old and the temp folder remain
    assert child(first, STEPS_PER_SAVE - 1, 1).returncode == 9
    assert not (first / "checkpoint").exists() and (first / ".checkpoint.old").is_dir()
    for k in range(1, STEPS_PER_SAVE + 1):
        run = tmp_path / f"again-{k}"
        shutil.copytree(first, run, symlinks=True)
        killed = child(run, k, 0, resume=True)
        assert killed.returncode == 9, f"step {k}: {killed.stderr[-2000:]}"
        assert_complete_checkpoint(run)
        finish_and_check(run)
