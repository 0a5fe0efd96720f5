import json

from PIL import Image

from ganstudio.cli import main
from ganstudio.provenance import read_png_provenance
from tests.conftest import TINY


def test_prepare_train_resume_generate_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    for name, value in (("light", 220), ("dark", 40)):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (20, 20 + i), value).save(tmp_path / "imgs" / name / f"{i}.png")
    (tmp_path / "imgs" / "light" / "broken.png").write_bytes(b"\x89PNG\r\n")
    sets = [arg for item in TINY for arg in ("--set", item)]
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "imgs"), "--out", str(run), "--kimg", "0.016", *sets]) == 0
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "imgs"),
                "--out",
                str(run),
                "--kimg",
                "0.032",
                "--resume",
                *sets,
            ]
        )
        == 0
    )
    state = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert state["kimg"] == 0.032
    assert (
        main(
            [
                "generate",
                "--model",
                str(run),
                "--label",
                "DARK",
                "-n",
                "3",
                "--seed",
                "4",
                "--attr",
                "brightness=0.1",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "marked as AI-generated" in out
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["grid.png", "image-dark-000004.png", "image-dark-000005.png", "image-dark-000006.png"]
    assert read_png_provenance(tmp_path / "out" / "image-dark-000004.png")["record"]["label"] == "dark"


def test_cli_errors_are_one_actionable_line(tmp_path, capsys):
    assert (
        main(
            [
                "generate",
                "--model",
                "fashion-mnist",
                "--label",
                "spaceship",
                "-n",
                "1",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "valid labels: t-shirt/top, trouser" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    assert "neither a folder" in capsys.readouterr().err


def test_dry_run_prints_the_resolved_config(capsys):
    assert (
        main(["train", "--data", "fashion-mnist", "--out", "unused", "--dry-run", "--set", "train.batch=32"])
        == 0
    )
    config = json.loads(capsys.readouterr().out)
    assert config["train"]["batch"] == 32 and config["preset"] == "cpu-32"
