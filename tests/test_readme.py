"""Every `ganstudio` command in the README's code blocks runs, in README order, in a fresh folder
with the files the README assumes (photo.png, a.png, b.png, tee.png, sleeves.png, my-drawing.png,
made here from the bundled models), and writes what its text promises.

Commands checked elsewhere, not here (the documented checks):
- `make demo`, `make test`: CI runs `make test` on a fresh clone; `make demo` is run by hand from a
  fresh clone before each stop (the stop notes say when).
- `ganstudio serve` and the `curl` lines: tests/serve (the same routes, through the app).
- `ganstudio train …` on `path/to/folder`, `runs/mine`, `--eval-every`: tests/training and the slow
  job test; `ganstudio evaluate`: tests/metrics and the benches (BENCHMARKS.md gives each command).
- `generate --label bag -n 5000`: run here with -n 24 (streaming in chunks is tests/test_pipeline).
"""

import glob
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganstudio.cli import main

ROOT = Path(__file__).resolve().parents[1]
ELSEWHERE = ("path/to/folder", "runs/mine", "train ...", "ganstudio evaluate", "ganstudio serve")


def readme_commands() -> list[str]:
    """The `ganstudio …` lines of the README's bash blocks, comments cut, continuations joined."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["ganstudio"] and not any(skip in line for skip in ELSEWHERE):
                commands.append(shlex.join(words).replace("-n 5000", "-n 24"))
    return commands


def make_inputs(folder: Path) -> None:
    """The user's files the README's examples name."""
    from ganstudio import GenerationPipeline

    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    pipe(n=1, seed=2, label="sneaker").images[0].copy().save(folder / "photo.png")
    pipe(n=1, seed=3, label="sneaker").images[0].copy().save(folder / "a.png")
    pipe(n=1, seed=4, label="ankle boot").images[0].copy().save(folder / "b.png")
    pipe(n=1, seed=5, label="t-shirt/top").images[0].copy().save(folder / "tee.png")
    sleeves = np.zeros((32, 32), np.uint8)
    sleeves[8:20, :9] = sleeves[8:20, 23:] = 255
    Image.fromarray(sleeves).save(folder / "sleeves.png")
    shutil.copy(ROOT / "docs" / "sketches" / "07-sneaker.png", folder / "my-drawing.png")
    shutil.copytree(ROOT / "docs" / "sketches", folder / "docs" / "sketches")


@pytest.mark.slow
def test_every_readme_command_runs_and_writes_what_it_says(tmp_path, monkeypatch, capsys):
    commands = readme_commands()
    assert len(commands) >= 20 and any(c.startswith("ganstudio edit") for c in commands)
    make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    for command in commands:
        args = []
        for word in shlex.split(command)[1:]:
            args += sorted(glob.glob(word)) if "*" in word else [word]  # as the shell expands them
        assert main(args) == 0, f"{command}\n{capsys.readouterr().err[-2000:]}"
        capsys.readouterr()
        out = args[args.index("--out") + 1] if "--out" in args else None
        if out is not None:
            written = [p for p in Path(out).rglob("*") if p.is_file()]
            assert written, f"{command} wrote nothing to {out}"
    apples = [Image.open(p) for p in sorted(Path("out/apples").glob("*.png")) if "grid" not in p.name]
    assert len(apples) == 8 and all(a.mode == "RGBA" and a.size == (64, 64) for a in apples)
    assert Image.open(next(Path("out/big").glob("*.png"))).size == (256, 256)
    assert next(Path("out/svg").glob("*.svg")).read_text().lstrip().startswith(("<?xml", "<svg"))
    assert len(list(Path("out/morph").glob("*.webp"))) == 1
