"""What the CLI shows on the terminal while it works: a progress bar for training, decoding
progress and status lines, all on stderr so stdout stays for results. Only the CLI imports this."""

from __future__ import annotations

import sys
import time


def say(message: str) -> None:
    """A status line on stderr."""
    print(message, file=sys.stderr)


def _bar(fraction: float, width: int = 24) -> str:
    filled = int(round(fraction * width))
    return "█" * filled + "·" * (width - filled)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


class ProgressPrinter:
    """One redrawn line on a terminal; a line every few seconds in logs."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.tty = sys.stderr.isatty()
        self.every_s, self.last = every_s, 0.0

    def __call__(self, p) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < self.every_s and p.fraction < 1.0:
            return
        self.last = now
        total = f"/{p.total_kimg:g}" if p.total_kimg else ""
        losses = " ".join(f"{k} {v:.3f}" for k, v in p.losses.items() if k.startswith("loss"))
        line = (
            f"{_bar(p.fraction)} {p.fraction:4.0%} | {p.kimg:.1f}{total} kimg | {p.img_per_s:.0f} img/s | "
            f"{losses} | elapsed {_duration(p.elapsed_s)} ETA {_duration(p.eta_s)}"
        )
        print(
            ("\r" + line + "\033[K") if self.tty else line,
            end="" if self.tty else "\n",
            file=sys.stderr,
            flush=True,
        )

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def data_progress(done: int, total: int) -> None:
    if done == total or done % 500 == 0:
        print(
            f"\rdecoding images {done}/{total}",
            end="\n" if done == total else "",
            file=sys.stderr,
            flush=True,
        )
