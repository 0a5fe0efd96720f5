"""Training jobs for the server: each job is `ganstudio train` in its own process (a crash or a
cancel never takes the server down), writing a normal run folder; progress is read from the
run's metrics.jsonl. Cancel is the CLI's first Ctrl-C (finish the step, write a checkpoint);
resume is `--resume` on the same folder."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganstudio.config import available_presets

BUILTIN_DATA = ("fashion-mnist", "emoji", "emoji-font")


def file_names_only(line: str) -> str:
    """A log line as clients see it: file names, never where the server keeps them."""
    return re.sub(r"(?<![\w.])/(?:[^\s'\"/]+/)+([^\s'\"/]*)", r"\1", line)


@dataclass
class Job:
    id: str
    data: str  # what the user chose: a folder under the data root, an upload, or a built-in name
    source: str  # what `--data` gets
    run_dir: Path
    kimg: float | None
    minutes: float | None
    options: list[str]
    process: subprocess.Popen | None = None
    state: str = "starting"  # running, stopping, finished, cancelled, failed
    error: str | None = None
    started: float = field(default_factory=time.time)
    cancel_requested: bool = False
    points: list[dict[str, float]] = field(default_factory=list)  # loss history for the plot
    last: dict[str, Any] = field(default_factory=dict)
    _offset: int = 0

    def refresh(self) -> None:
        self._read_metrics()
        if self.process is None or self.state in ("finished", "cancelled", "failed"):
            return
        code = self.process.poll()
        if code is None:
            return
        if code == 0:
            self.state = "cancelled" if self.cancel_requested else "finished"
        else:
            self.state, self.error = "failed", self._error_line() or f"training exited with status {code}"

    def _read_metrics(self) -> None:
        path = self.run_dir / "metrics.jsonl"
        if not path.is_file():
            return
        with open(path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "loss_d" in row:
                self.last = row
                self.points.append({k: row[k] for k in ("kimg", "loss_d", "loss_g") if k in row})
        if len(self.points) > 600:  # keep the plot light: every other point of the older half
            self.points = self.points[:300:2] + self.points[300:]

    def _error_line(self) -> str | None:
        log = self.run_dir / "train.log"
        if not log.is_file():
            return None
        lines = log.read_text(errors="replace").splitlines()
        errors = [line for line in lines if line.startswith("error:")]
        line = errors[-1].removeprefix("error:").strip() if errors else (lines[-1] if lines else None)
        return None if line is None else file_names_only(line)[:500]

    def _phase(self) -> str | None:
        """While no training step has been logged: what the start-up is doing (the log's last line,
        file names only), since loading data and fitting the label prior come before the clock."""
        if self.last or self.state not in ("running", "stopping"):
            return None
        log = self.run_dir / "train.log"
        lines = log.read_text(errors="replace").splitlines()[-20:] if log.is_file() else []
        lines = [line.strip() for line in lines if line.strip() and not line.startswith(" ")]
        line = lines[-1] if lines else "starting Python and loading the data"
        return "preparing: " + file_names_only(line)[:200]

    def describe(self) -> dict[str, Any]:
        self.refresh()
        kimg = float(self.last.get("kimg", 0.0))
        rate = float(self.last.get("img_per_s", 0.0))
        if self.kimg:
            fraction = min(kimg / self.kimg, 1.0)
            eta = (self.kimg - kimg) * 1000 / rate if rate > 0 else None
        else:  # the run's own training clock: start-up work is not counted
            elapsed = float(self.last.get("elapsed_s", 0.0))
            fraction = min(elapsed / (self.minutes * 60), 1.0)
            eta = max(self.minutes * 60 - elapsed, 0.0) if self.last else None
        done = self.state in ("finished", "cancelled", "failed")
        return {
            "id": self.id,
            "data": self.data,
            "state": self.state,
            "phase": self._phase(),
            "error": self.error,
            "kimg": round(kimg, 3),
            "total_kimg": self.kimg,
            "minutes": self.minutes,
            "fraction": 1.0 if self.state == "finished" else fraction,
            "img_per_s": round(rate, 1),
            "eta_s": None if done or eta is None else round(eta, 1),
            "losses": {k: v for k, v in self.last.items() if k.startswith("loss")},
            "has_samples": (self.run_dir / "samples" / "latest.png").is_file(),
            "has_model": (self.run_dir / "checkpoint" / "config.json").is_file(),
            "model": f"job:{self.id}",  # never a server path
        }


class Jobs:
    def __init__(
        self, runs_dir: Path, data_root: Path | None, max_running: int = 1, workers: int = 1
    ) -> None:
        self.runs_dir, self.data_root, self.max_running = Path(runs_dir), data_root, max_running
        self.workers = workers  # server processes: jobs are kept by one, so several mean none
        self.jobs: dict[str, Job] = {}

    def folders(self) -> list[str]:
        """Dataset choices: the built-ins and the folders directly under the data root."""
        found = []
        if self.data_root is not None and self.data_root.is_dir():
            found = sorted(
                p.name for p in self.data_root.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        return [*BUILTIN_DATA, *found]

    def resolve_data(self, name: str) -> str:
        """A dataset name from a client → the `--data` argument; never a path outside the root."""
        if name in BUILTIN_DATA:
            return name
        if self.data_root is None:
            raise ValueError(
                "this server has no data root (ganstudio serve --data-root); use a built-in dataset"
            )
        # only what /v1/data lists: a visible folder directly under the root (no paths, no hidden ones)
        if name not in self.folders():
            raise ValueError(
                f"data {name[:80]!r} is not a folder in the data root; choose one of: {', '.join(self.folders())}"
            )
        return str(self.data_root.resolve() / name)

    def running(self) -> int:
        for job in self.jobs.values():
            job.refresh()
        return sum(1 for job in self.jobs.values() if job.state in ("starting", "running", "stopping"))

    def start(
        self,
        data: str,
        kimg: float | None,
        minutes: float | None,
        preset: str,
        sketch: bool,
        source: str | None = None,
    ) -> Job:
        if (kimg is None) == (minutes is None):
            raise ValueError("give exactly one of kimg or minutes")
        presets = available_presets()  # the one list of presets: the YAML files beside the config
        if preset not in presets:
            raise ValueError(f"preset {preset[:40]!r} is unknown; use one of {', '.join(presets)}")
        self.check_room()
        job_id = secrets.token_hex(6)
        options = ["--preset", preset] + (["--sketch"] if sketch else [])
        job = Job(
            job_id, data, source or self.resolve_data(data), self.runs_dir / job_id, kimg, minutes, options
        )
        self._launch(job, resume=False)
        self.jobs[job_id] = job
        return job

    def check_room(self) -> None:
        """Raises ValueError when no further job may start now."""
        if self.workers > 1:
            raise ValueError(
                f"this server runs {self.workers} worker processes, each with its own job list: "
                "training from the studio needs one (start ganstudio serve without --workers)"
            )
        if self.running() >= self.max_running:
            raise ValueError(
                f"{self.max_running} training job(s) already running (the server's limit); "
                "wait for one to finish or cancel it"
            )

    def _launch(self, job: Job, resume: bool) -> None:
        job.run_dir.mkdir(parents=True, exist_ok=True)
        length = ["--kimg", f"{job.kimg:g}"] if job.kimg else ["--minutes", f"{job.minutes:g}"]
        command = [
            sys.executable,
            "-m",
            "ganstudio",
            "train",
            "--data",
            job.source,
            "--out",
            str(job.run_dir),
        ]
        command += length + job.options + (["--resume"] if resume else [])
        log = open(job.run_dir / "train.log", "ab")  # noqa: SIM115 - owned by the child from here
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        # The child starts with SIGINT blocked (a mask survives exec): a Stop pressed while Python
        # starts and loads the data waits, pending, until `ganstudio train` has installed its
        # handler and unblocks it, so it is a clean stop instead of a KeyboardInterrupt trace.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            job.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            log.close()
        job.state, job.error, job.cancel_requested, job.started = "running", None, False, time.time()

    def get(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise KeyError(job_id)
        return self.jobs[job_id]

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.refresh()
        if job.state == "running" and job.process is not None:
            job.cancel_requested, job.state = True, "stopping"
            job.process.send_signal(signal.SIGINT)  # the CLI finishes the step and checkpoints
        return job

    def resume(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.refresh()
        if job.state in ("running", "stopping", "starting"):
            raise ValueError(f"job {job_id} is still {job.state}")
        if not (job.run_dir / "checkpoint").is_dir():
            raise ValueError(f"job {job_id} has no checkpoint to resume from; start a new job")
        self.check_room()
        self._launch(job, resume=True)
        return job

    def close(self) -> None:
        for job in self.jobs.values():
            if job.process is not None and job.process.poll() is None:
                job.process.send_signal(signal.SIGINT)


def extract_zip(data: bytes, target: Path, max_bytes: int, max_files: int = 100_000) -> Path:
    """Unpack an uploaded zip of images into `target`, refusing members that leave the folder,
    links, and archives that expand past `max_bytes` or `max_files` (zip bombs)."""
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ValueError("the upload is not a zip archive") from None
    members = archive.infolist()
    if len(members) > max_files:
        raise ValueError(f"the zip holds {len(members):,} entries; at most {max_files:,}")
    target.mkdir(parents=True, exist_ok=False)
    root, written = target.resolve(), 0
    try:
        for member in members:
            name = member.filename
            shown = name[:80] + ("…" if len(name) > 80 else "")
            mode = member.external_attr >> 16
            if member.is_dir() or stat.S_ISLNK(mode):
                continue
            parts = Path(name).parts
            if any(len(part.encode()) > 255 for part in parts) or len(name.encode()) > 1024:
                raise ValueError(
                    f"zip entry {shown!r} has a name too long for a file system (255 bytes a part)"
                )
            path = (root / name).resolve()
            if Path(name).is_absolute() or not path.is_relative_to(root) or path == root:
                raise ValueError(f"zip entry {shown!r} points outside the folder")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(path, "wb") as dst:
                    while block := src.read(1 << 20):
                        written += len(block)
                        if written > max_bytes:
                            raise ValueError(f"the zip expands past {max_bytes:,} bytes (the server's limit)")
                        dst.write(block)
            except (FileExistsError, IsADirectoryError, NotADirectoryError):
                raise ValueError(
                    f"zip entry {shown!r} collides with another entry (a file and a folder of one name)"
                ) from None
            except NotImplementedError:
                raise ValueError(
                    f"zip entry {shown!r} uses a compression this server cannot read; use deflate"
                ) from None
            except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError) as error:
                raise ValueError(
                    f"zip entry {shown!r} is damaged ({type(error).__name__}); zip the folder again"
                ) from None
    except Exception:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
