import json

from PIL import Image

from ganstudio.cli import main
from ganstudio.provenance import read_provenance as read_png_provenance
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


def test_cli_trains_on_captions_and_generates_from_a_prompt_and_a_sketch(tmp_path, capsys, monkeypatch):
    """One command trains text + sketch conditioning on a captioned folder; generate follows both."""
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "imgs"
    folder.mkdir()
    rows = []
    for i in range(8):
        image = Image.new("L", (24, 24), 0)
        image.paste(220 if i % 2 else 90, (4, 4, 20, 20) if i % 2 else (9, 9, 15, 15))
        image.save(folder / f"{i}.png")
        rows.append(
            json.dumps(
                {"file_name": f"{i}.png", "text": ["a big bright block" if i % 2 else "a small dim dot"]}
            )
        )
    (folder / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    sets = [arg for item in TINY for arg in ("--set", item)]
    run = tmp_path / "run"
    args = ["train", "--data", str(folder), "--out", str(run), "--kimg", "0.016", "--text-encoder", "builtin"]
    assert main([*args, "--sketch", *sets]) == 0
    drawing = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    drawing.paste((0, 0, 0, 255), (20, 20, 80, 26))
    drawing.save(tmp_path / "drawing.png")
    out = tmp_path / "out"
    generate = [
        "generate",
        "--model",
        str(run),
        "-n",
        "2",
        "--out",
        str(out),
        "--prompt",
        "a big bright block",
    ]
    assert main([*generate, "--sketch", str(tmp_path / "drawing.png")]) == 0
    assert len(list(out.glob("image-a-big-bright-block-*.png"))) == 2
    assert main(["models"]) == 0
    assert main([*generate[:-2], "--prompt", " "]) == 2
    assert "prompt is empty" in capsys.readouterr().err
    (tmp_path / "bad.png").write_text("no")
    assert main([*generate, "--sketch", str(tmp_path / "bad.png")]) == 2
    assert "is not an image" in capsys.readouterr().err


def test_fit_prior_needs_classes_and_text_or_sketches(tmp_path, capsys, tiny_dataset):
    from ganstudio.config import Config, apply_overrides
    from ganstudio.training.loop import train

    train(apply_overrides(Config(), TINY), tiny_dataset, tmp_path / "run", kimg=0.008)
    assert main(["fit-prior", "--model", str(tmp_path / "run")]) == 2
    assert "neither text nor sketches" in capsys.readouterr().err
