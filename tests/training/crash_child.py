"""Child process of test_crashes.py: train a tiny run and die (os._exit, like kill -9: no
cleanup runs) just before the K-th file-system step inside a checkpoint save.

    python -m tests.training.crash_child RUN_DIR KILL_AT SKIP_SAVES [--resume]

KILL_AT counts the steps (save_file, fsync, rmtree, os.replace) of the saves after the first
SKIP_SAVES; 0 = never. Exits 0 when training finished (printing the number of saves and
steps), 9 when killed.
"""

import os
import shutil
import sys

from safetensors import torch as st

from ganstudio import modelfolder
from ganstudio.config import apply_overrides
from ganstudio.training import checkpoint
from ganstudio.training.loop import train
from tests.conftest import TINY, shapes_dataset

KIMG = 0.064  # 8 steps of 8 images; a checkpoint every 2 steps
CONFIG = TINY + ["train.checkpoint_every_kimg=0.016", "train.augment=off"]


def main() -> None:
    run, kill_at, skip = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    state = {"saves": 0, "inside": False, "points": 0}

    def point(fn):
        def wrapped(*args, **kwargs):
            if state["inside"] and state["saves"] > skip:
                state["points"] += 1
                if state["points"] == kill_at:
                    os._exit(9)
            return fn(*args, **kwargs)

        return wrapped

    real_save = checkpoint.save_checkpoint

    def counted_save(*args, **kwargs):
        state["saves"] += 1
        state["inside"] = True
        try:
            return real_save(*args, **kwargs)
        finally:
            state["inside"] = False

    checkpoint.save_file = point(st.save_file)
    modelfolder.save_file = point(st.save_file)
    shutil.rmtree = point(shutil.rmtree)
    os.replace = point(os.replace)
    os.fsync = point(os.fsync)
    import ganstudio.training.loop as loop

    loop.save_checkpoint = counted_save
    config = apply_overrides(modelfolder.Config(), CONFIG)
    train(config, shapes_dataset(), run, kimg=KIMG, resume="--resume" in sys.argv)
    print(f"saves {state['saves']} points {state['points']}")  # how many steps could have been killed


if __name__ == "__main__":
    main()
