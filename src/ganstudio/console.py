"""What the CLI shows on the terminal while it works, drawn by rich: a live progress bar on a
terminal, a plain line every few seconds in logs and CI, status lines — all on stderr so stdout
stays for results. Only the CLI imports this."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, TaskProgressColumn, TextColumn
from rich.progress import Progress as Bar

console = Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """A status line on stderr (printed as is: no markup)."""
    console.print(message, markup=False, soft_wrap=True)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, minutes = seconds // 3600, seconds // 60 % 60
    return f"{hours}:{minutes:02d}:{seconds % 60:02d}" if hours else f"{minutes}:{seconds % 60:02d}"


class ProgressPrinter:
    """Training progress: rich's live bar on a terminal; a line every `every_s` seconds in logs."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s, self.last = every_s, 0.0
        self.bar = None
        if console.is_terminal:
            self.bar = Bar(
                BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[status]}"), console=console
            )
            self.task = self.bar.add_task("train", total=1.0, status="starting")
            self.bar.start()

    def __call__(self, p) -> None:
        total = f"/{p.total_kimg:g}" if p.total_kimg else ""
        losses = " ".join(f"{k} {v:.3f}" for k, v in p.losses.items() if k.startswith("loss"))
        status = (
            f"{p.kimg:.1f}{total} kimg | {p.img_per_s:.0f} img/s | {losses} | "
            f"elapsed {_duration(p.elapsed_s)} ETA {_duration(p.eta_s)}"
        )
        if self.bar is not None:
            self.bar.update(self.task, completed=p.fraction, status=status)
            return
        now = time.monotonic()
        if now - self.last >= self.every_s or p.fraction >= 1.0:
            self.last = now
            say(f"{p.fraction:4.0%} | {status}")

    def done(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def data_progress(done: int, total: int) -> None:
    if done == total or done % 5000 == 0:
        say(f"decoding images {done}/{total}")
