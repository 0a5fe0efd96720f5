"""Studio training jobs on a busy machine: a Stop pressed while the job still starts is a clean
stop, start-up work is shown as such, and progress follows the run's own training clock."""

import json
import time

from ganstudio.serve.jobs import Job, Jobs
from tests.serve.conftest import two_class_folder


def test_a_stop_while_the_job_starts_is_clean(tmp_path):
    root = two_class_folder(tmp_path / "data")
    jobs = Jobs(tmp_path / "runs", root)
    job = jobs.start("set", kimg=None, minutes=1, preset="dcgan-32", sketch=False)
    assert job.describe()["phase"].startswith("preparing: ")
    time.sleep(0.2)  # Python is still importing torch: without the blocked signal, a trace
    jobs.cancel(job.id)
    deadline = time.monotonic() + 180
    while job.describe()["state"] == "stopping":
        assert time.monotonic() < deadline, "the stop was not honoured"
        time.sleep(0.2)
    log = (job.run_dir / "train.log").read_text()
    assert job.state == "cancelled" and job.error is None, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log
    assert "stopping after this step" in log


def test_progress_follows_the_runs_training_clock(tmp_path):
    job = Job("j", "set", "set", tmp_path, kimg=None, minutes=2, options=[], state="running")
    tmp_path.joinpath("train.log").write_text(f"data: {tmp_path}/set — 16 images\nlabel prior: fitting\n")
    before = job.describe()
    assert before["phase"] == "preparing: label prior: fitting" and before["eta_s"] is None
    assert str(tmp_path) not in json.dumps(before)  # clients see file names only
    row = {"step": 20, "kimg": 1.28, "img_per_s": 90.0, "elapsed_s": 30.0, "loss_d": 1.2, "loss_g": 0.9}
    tmp_path.joinpath("metrics.jsonl").write_text(json.dumps(row) + "\n")
    after = job.describe()
    assert after["phase"] is None and after["fraction"] == 0.25 and after["eta_s"] == 90.0
    assert job.points == [{"kimg": 1.28, "loss_d": 1.2, "loss_g": 0.9}]
