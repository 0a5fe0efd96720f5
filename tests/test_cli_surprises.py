"""What a first-time user tripped over in the CLI: each case is one clear outcome."""

import pytest

from ganstudio import __version__
from ganstudio.cli import main
from ganstudio.provenance import read_png_provenance


def generate(tmp_path, *args):
    return main(["generate", "--model", "fashion-mnist", "--out", str(tmp_path / "out"), *args])


def test_generating_twice_into_one_folder_keeps_the_first_results(tmp_path, capsys):
    assert generate(tmp_path, "--label", "bag", "-n", "1") == 0
    assert "wrote 1 image and a grid" in capsys.readouterr().out
    first = (tmp_path / "out" / "grid.png").read_bytes()
    assert generate(tmp_path, "--label", "bag", "-n", "1", "--seed", "5") == 0
    out = capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["grid-2.png", "grid.png", "image-bag-000000.png", "image-bag-000005.png"]
    assert (tmp_path / "out" / "grid.png").read_bytes() == first and "grid-2.png" in out
    assert generate(tmp_path, "--label", "bag", "-n", "1", "--overwrite") == 0
    assert not (tmp_path / "out" / "grid-3.png").exists()
    assert "//" not in out


def test_conflicting_or_repeated_flags_are_errors(tmp_path, capsys):
    assert generate(tmp_path, "--per-class", "2", "--label", "bag") == 2
    assert "--per-class draws every class" in capsys.readouterr().err
    assert generate(tmp_path, "--per-class", "2", "-n", "3") == 2
    assert generate(tmp_path, "--per-class", "0") == 2
    assert "at least one image per class" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        generate(tmp_path, "--prompt", "a bag", "--prompt", "a boot")
    assert "--prompt was given twice" in capsys.readouterr().err
    (tmp_path / "file.png").write_bytes(b"x")
    assert main(["generate", "--label", "bag", "-n", "1", "--out", str(tmp_path / "file.png")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert generate(tmp_path, "--seed", str(2**63), "-n", "1") == 2
    assert "seed" in capsys.readouterr().err


def test_random_seed_is_printed_and_recorded(tmp_path, capsys):
    assert generate(tmp_path, "--label", "bag", "-n", "1", "--seed", "random") == 0
    err = capsys.readouterr().err
    seed = int(err.split("seed: ")[1].split()[0])
    image = next((tmp_path / "out").glob("image-*.png"))
    assert read_png_provenance(image)["record"]["seed"] == seed


def test_prompts_file_draws_a_labelled_row_per_prompt(tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# my prompts\na dark ankle boot\n\nwhite sneakers\n")
    assert generate(tmp_path, "--prompts-file", str(prompts), "-n", "2") == 0
    assert "wrote 4 images" in capsys.readouterr().out
    records = [read_png_provenance(p)["record"] for p in (tmp_path / "out").glob("image-*.png")]
    assert sorted({r["prompt"] for r in records}) == ["a dark ankle boot", "white sneakers"]
    prompts.write_text("\n# nothing\n")
    assert generate(tmp_path, "--prompts-file", str(prompts)) == 2
    assert "holds no prompts" in capsys.readouterr().err


def test_long_prompt_gets_a_note_not_a_python_warning(tmp_path, capsys, recwarn):
    assert generate(tmp_path, "--prompt", "boot " * 60, "-n", "1") == 0
    err = capsys.readouterr().err
    assert "note: the prompt has 60 words; only the first 48 were used" in err
    assert not [w for w in recwarn if "words" in str(w.message)]


def test_version_and_defaults_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert f"ganstudio {__version__}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "lower is more typical, less varied (default: 1.0)" in help_text  # --truncation
    assert "--device DEVICE auto (a GPU when present), cpu or cuda (default: auto)" in help_text
